"""``dagbatch.locks``: one holder at a time; a file system without locks does not stop a run."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from dagbatch import locks


def test_one_holder_at_a_time_and_the_lock_goes_with_the_file(tmp_path: Path) -> None:
    path = tmp_path / "marker"
    with open(path, "a+b") as first:
        assert locks.try_lock(first)
        with open(path, "a+b") as second:
            assert not locks.try_lock(second)  # another open file of the same process too
    with open(path, "a+b") as third:
        assert locks.try_lock(third)  # closed, the first gave it up


def test_a_file_system_without_locks_grants_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """flock on some network file systems fails with ENOLCK: that is no holder, and the run
    must not stop on it (it ended in a traceback)."""
    assert locks.fcntl is not None

    def no_locks(fd: int, op: int) -> None:
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(locks.fcntl, "flock", no_locks)
    with open(tmp_path / "marker", "a+b") as fh:
        assert locks.try_lock(fh)
