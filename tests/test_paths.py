"""dagbatch.paths.write_whole: a report or a picture is written whole or not at all."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dagbatch.paths import write_whole


def test_a_file_is_replaced_whole_and_nothing_is_left_beside_it(tmp_path: Path) -> None:
    report = tmp_path / "r.json"
    report.write_bytes(b"old")
    write_whole(report, b"new")
    assert report.read_bytes() == b"new" and os.listdir(tmp_path) == ["r.json"]


def test_a_write_cut_short_leaves_the_previous_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A process ended while writing (a hangup after the run) left half a report."""
    report = tmp_path / "r.json"
    report.write_bytes(b"old")

    def cut(src: object, dst: object) -> None:
        raise KeyboardInterrupt  # the end of the process, before the rename

    monkeypatch.setattr(os, "replace", cut)
    with pytest.raises(KeyboardInterrupt):
        write_whole(report, b"x" * 100_000)
    assert report.read_bytes() == b"old" and os.listdir(tmp_path) == ["r.json"]


def test_a_device_is_written_as_it_is() -> None:
    write_whole(Path(os.devnull), b"anything")  # no file beside /dev/null, no rename over it
    assert Path(os.devnull).is_char_device()
