"""`submit --create-job` creates the job while the plan is parsed (one round trip less before
the first task), once the plan's files passed their checksums. A submission that stops before
using that job leaves it as it is (another run may already be filling it) and says so; the
next submission uses it."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

import dagbatch.submit.submission as submission
from dagbatch.emulator.server import EmulatorServer
from dagbatch.errors import PlanError
from dagbatch.submit.journal import JournalExists
from dagbatch.submit.submission import submit_plan
from tests.plan_factory import layered_plan
from tests.submit_helpers import create_job, make_client


def _creations(server: EmulatorServer) -> int:
    return int(server.store.stats()["requests"].get("createjob", 0))


def _parse_waiting_for_a_creation(
    monkeypatch: pytest.MonkeyPatch, server: EmulatorServer, wait_s: float
) -> list[int]:
    """Make the plan's parsing wait (up to ``wait_s``) until the emulator has been asked to
    create a job: -> the creations seen by the end of each parse."""
    seen: list[int] = []
    real = submission.parse_plan_steps

    def steps(files: Any) -> Generator[None, None, Any]:
        deadline = time.monotonic() + wait_s
        while _creations(server) == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
            yield  # a pause of the parse: the event loop goes on
        seen.append(_creations(server))
        return (yield from real(files))

    monkeypatch.setattr(submission, "parse_plan_steps", steps)
    return seen


def _rewrite_batch_consistently(plan: Path, index: int, body: bytes) -> None:
    """Replace a batch file and its checksum in plan.json together: the files still match
    their checksums, but the batch no longer parses."""
    name = f"{index:06d}.json"
    (plan / "batches" / name).write_bytes(body)
    manifest = json.loads((plan / "plan.json").read_text())
    for entry in manifest["batches"]:
        if entry["file"].endswith(name):
            entry["sha256"] = hashlib.sha256(body).hexdigest()
    (plan / "plan.json").write_text(json.dumps(manifest))


def test_the_job_is_created_while_the_plan_is_parsed(
    emulator: EmulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan = layered_plan(tmp_path / "plan", tasks=600, waves=2, pool_id="p")
    seen = _parse_waiting_for_a_creation(monkeypatch, emulator, wait_s=10)

    report = submit_plan(plan, job_id="job", client=make_client(emulator), create_job=True)

    assert report.ok and report.job_created and report.confirmed == 600
    assert seen == [1]  # asked for before the parse was over
    assert _creations(emulator) == 1
    assert emulator.store.stats()["jobs"] == {"job": 600}


def test_a_plan_that_fails_to_parse_leaves_the_job_it_created_for_the_next_run(
    emulator: EmulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan = layered_plan(tmp_path / "plan", tasks=300, waves=2, pool_id="p")
    good = (plan / "batches" / "000002.json").read_bytes()
    _rewrite_batch_consistently(plan, 2, b'{"value": [')
    seen = _parse_waiting_for_a_creation(monkeypatch, emulator, wait_s=10)

    with pytest.raises(PlanError, match=r"000002\.json is not valid JSON") as info:
        submit_plan(plan, job_id="job", client=make_client(emulator), create_job=True)

    assert seen == [1]
    assert "job 'job' was created while the plan was read; no task was sent to it" in str(
        info.value
    )
    stats = emulator.store.stats()
    assert stats["jobs"] == {"job": 0} and "deletejob" not in stats["requests"]

    # The plan mended, the next submission uses that job.
    _rewrite_batch_consistently(plan, 2, good)
    report = submit_plan(plan, job_id="job", client=make_client(emulator), create_job=True)
    assert report.ok and report.confirmed == 300 and not report.job_created


def test_a_submission_refused_after_the_early_creation_leaves_the_other_runs_job(
    emulator: EmulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two submissions of one plan at once. A creates the job early; while A parses the plan,
    B finds the job, fills it and writes its journal; A is then refused (the journal exists).
    B's job, created by A, stays with B's tasks."""
    plan = layered_plan(tmp_path / "plan", tasks=300, waves=2, pool_id="p")
    real = submission.parse_plan_steps
    other: list[Any] = []

    def steps(files: Any) -> Generator[None, None, Any]:
        deadline = time.monotonic() + 10
        # Until the emulator holds the job A asked for (not only the request's arrival: B's
        # request must find it made).
        while "job" not in emulator.store.stats()["jobs"] and time.monotonic() < deadline:
            time.sleep(0.01)
            yield  # A's creation goes out and is answered meanwhile
        loaded = yield from real(files)
        assert _creations(emulator) == 1
        monkeypatch.setattr(submission, "parse_plan_steps", real)  # B parses as usual
        # B, while A is still reading its plan (submit_plan runs it on a thread of its own).
        other.append(submit_plan(plan, job_id="job", client=make_client(emulator), create_job=True))
        return loaded

    monkeypatch.setattr(submission, "parse_plan_steps", steps)
    with pytest.raises(JournalExists):
        submit_plan(plan, job_id="job", client=make_client(emulator), create_job=True)

    (b,) = other
    assert b.ok and b.confirmed == 300 and not b.job_created  # A created it
    stats = emulator.store.stats()
    assert stats["jobs"] == {"job": 300} and "deletejob" not in stats["requests"]


def test_a_job_that_existed_is_left_alone_when_the_plan_fails_to_parse(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    create_job(emulator, "job")
    plan = layered_plan(tmp_path / "plan", tasks=300, waves=2, pool_id="p")
    _rewrite_batch_consistently(plan, 1, b"[]")

    with pytest.raises(PlanError, match="not a task collection body") as info:
        submit_plan(plan, job_id="job", client=make_client(emulator), create_job=True)

    assert "was created while the plan was read" not in str(info.value)
    stats = emulator.store.stats()
    assert "job" in stats["jobs"] and "deletejob" not in stats["requests"]


def test_a_resumed_submission_does_not_ask_for_the_job_early(
    emulator: EmulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a journal, the job must first be checked against it (prepare_job): nothing is
    created before the plan is read."""
    plan = layered_plan(tmp_path / "plan", tasks=300, waves=2, pool_id="p")
    submit_plan(plan, job_id="job", client=make_client(emulator), create_job=True)
    assert _creations(emulator) == 1
    seen = _parse_waiting_for_a_creation(monkeypatch, emulator, wait_s=0)

    report = submit_plan(
        plan, job_id="job", client=make_client(emulator), create_job=True, resume=True
    )

    assert report.ok and report.previously_confirmed == 300
    assert seen == [1] and _creations(emulator) == 1
