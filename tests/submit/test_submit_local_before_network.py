"""A submission finds what is wrong on this machine before its first request
(``dagbatch.submit.journal.check_new_journal``): with ``create_job`` and no journal yet, the
job is asked for while the plan is parsed, before the journal is opened; a journal path that
cannot be used stops the submission before that request is even begun."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

import dagbatch.submit.submission as submission
from dagbatch.errors import JournalWriteError, PlanError
from dagbatch.submit.journal import check_new_journal
from dagbatch.submit.submission import submit_plan
from tests.conftest import EmulatorFactory
from tests.plan_factory import layered_plan
from tests.submit_helpers import make_client


def test_a_journal_path_under_a_file_stops_create_job_before_any_request(
    emulator_factory: EmulatorFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = emulator_factory()
    begun: list[str] = []
    real = submission.create_early

    def recorded(*args: Any, **kwargs: Any) -> Any:
        begun.append("create_early")
        return real(*args, **kwargs)

    monkeypatch.setattr(submission, "create_early", recorded)
    plan = layered_plan(tmp_path / "plan", tasks=20, waves=2, pool_id="p")
    in_the_way = tmp_path / "a-file"
    in_the_way.write_text("not a directory\n", encoding="utf-8")
    with pytest.raises(PlanError, match="cannot read journal"):
        submit_plan(
            plan,
            job_id="job",
            client=make_client(server),
            create_job=True,
            journal_path=in_the_way / "journal.jsonl",
        )
    assert begun == []  # the job's creation was never begun
    assert server.store.stats()["requestsTotal"] == 0
    assert server.store.job_ids() == []


def test_a_new_journal_in_a_missing_directory_is_fine(tmp_path: Path) -> None:
    check_new_journal(tmp_path / "new" / "deeper" / "journal.jsonl")  # Journal.open makes them
    assert not (tmp_path / "new").exists()  # and the check wrote nothing


def test_a_new_journal_needs_a_directory(tmp_path: Path) -> None:
    in_the_way = tmp_path / "a-file"
    in_the_way.write_text("x", encoding="utf-8")
    with pytest.raises(PlanError, match="cannot read journal"):
        check_new_journal(in_the_way / "deeper" / "journal.jsonl")


def test_a_new_journal_needs_a_directory_it_can_write(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        if os.access(locked, os.W_OK):
            pytest.skip("this user writes into read-only directories (root)")
        with pytest.raises(JournalWriteError, match="not a directory this user can write"):
            check_new_journal(locked / "sub" / "journal.jsonl")
    finally:
        locked.chmod(0o700)
