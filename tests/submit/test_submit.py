"""dagbatch.submit.submission and `dagbatch submit` against the emulator on 127.0.0.1."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from dagbatch.emulator import DEV_KEY, FaultConfig
from dagbatch.emulator.server import EmulatorServer
from dagbatch.errors import BatchServiceError, ConfigError, JobMismatch, PlanError
from dagbatch.plan import Batch, load_plan
from dagbatch.submit.auth import SharedKeyAuth
from dagbatch.submit.client import BatchClient
from dagbatch.submit.journal import Journal, JournalExists, RunHeader, read_journal
from dagbatch.submit.retry import RetryPolicy
from dagbatch.submit.submission import (
    default_journal_path,
    submit_plan,
)
from tests.plan_factory import layered_plan, plan_tasks, write_plan
from tests.submit_helpers import (
    add_task_directly,
    create_job,
    delete_task_directly,
    make_client,
    no_sleep,
)

# --- the happy path ----------------------------------------------------------------------------


def test_submit_sends_exact_bodies_in_wave_order(emulator: EmulatorServer, tmp_path: Path) -> None:
    plan = layered_plan(tmp_path / "plan", tasks=1000, waves=4, per_batch=100, pool_id="p")
    report = submit_plan(
        plan, job_id="job", client=make_client(emulator), create_job=True, concurrency=4
    )
    assert report.ok and report.total == report.confirmed == report.added == 1000
    assert report.failures == () and report.not_submitted == ()
    assert report.requests == 12 and report.retries == 0 and report.job_created

    expected = plan_tasks(plan)
    stored = list(emulator.store.tasks("job"))
    assert sorted(t["id"] for t in stored) == sorted(t["id"] for _, t in expected)
    by_id = {t["id"]: t for t in stored}
    assert all(by_id[t["id"]] == t for _, t in expected)  # every byte that was in the plan
    _assert_wave_order(emulator.store.task_ids("job"), expected)

    journal = read_journal(default_journal_path(plan, "job"))
    assert journal.confirmed == {t["id"] for _, t in expected}
    assert journal.job_events == {"created"}


def _assert_wave_order(order: list[str], expected: list[tuple[int, dict[str, Any]]]) -> None:
    """Every task was stored after all its parents (which sit in earlier waves)."""
    position = {task_id: n for n, task_id in enumerate(order)}
    wave_of = {t["id"]: w for w, t in expected}
    checked = 0
    for wave, task in expected:
        for parent in task.get("dependsOn", {}).get("taskIds", []):
            assert wave_of[parent] < wave
            assert position[parent] < position[task["id"]], (parent, task["id"])
            checked += 1
    assert checked > 0


def test_terminatejob_is_set_after_the_last_task(emulator: EmulatorServer, tmp_path: Path) -> None:
    plan = layered_plan(
        tmp_path / "plan", tasks=150, waves=2, pool_id="p", on_all_tasks_complete="terminatejob"
    )
    report = submit_plan(plan, job_id="job", client=make_client(emulator), create_job=True)
    assert report.ok and report.job_terminate_set
    job = emulator.store.job("job")
    assert job is not None and job.spec["onAllTasksComplete"] == "terminatejob"
    assert job.state == "active"  # it has tasks that did not complete yet
    assert emulator.store.stats()["requests"]["updatejob"] == 1


def test_existing_job_with_matching_settings_is_used(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    create_job(emulator, onTaskFailure="noaction")
    plan = layered_plan(tmp_path / "plan", tasks=10, waves=2, pool_id="p")
    report = submit_plan(plan, job_id="job", client=make_client(emulator), create_job=True)
    assert report.ok and not report.job_created


def test_existing_job_with_other_settings_is_refused(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    create_job(emulator, usesTaskDependencies=False)
    plan = layered_plan(tmp_path / "plan", tasks=10, waves=2, pool_id="p")
    with pytest.raises(JobMismatch, match="usesTaskDependencies"):
        submit_plan(plan, job_id="job", client=make_client(emulator), create_job=True)
    assert emulator.store.task_count("job") == 0


def test_create_job_refuses_an_existing_job_on_another_pool_or_priority(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    """'An existing job with the same settings is used': one on another pool, of another
    priority, was used all the same, and said nothing."""
    create_job(emulator, "other-pool", poolInfo={"poolId": "elsewhere"})
    create_job(emulator, "other-priority", priority=-500)
    plan = layered_plan(tmp_path / "plan", tasks=10, waves=2, pool_id="p")
    for job_id, setting in (("other-pool", "poolInfo.poolId"), ("other-priority", "priority")):
        with pytest.raises(JobMismatch, match=rf"different settings \({re.escape(setting)}\)"):
            submit_plan(plan, job_id=job_id, client=make_client(emulator), create_job=True)
        assert emulator.store.task_count(job_id) == 0


def test_a_job_without_job_actions_is_refused_for_a_plan_that_sets_them(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    """Without --create-job, every task of such a plan failed (Batch refuses a jobAction
    under onTaskFailure noaction), with a --resume hint that could never work."""
    create_job(emulator, onTaskFailure="noaction")
    plan = layered_plan(
        tmp_path / "plan", tasks=10, waves=2, on_task_failure="performexitoptionsjobaction"
    )
    with pytest.raises(JobMismatch, match="refuses every such task"):
        submit_plan(plan, job_id="job", client=make_client(emulator))
    assert emulator.store.task_count("job") == 0


def test_missing_job_without_create_job_is_an_error(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    plan = layered_plan(tmp_path / "plan", tasks=10, waves=1)
    with pytest.raises(BatchServiceError, match="--create-job"):
        submit_plan(plan, job_id="job", client=make_client(emulator))


def test_a_completed_job_is_refused_before_any_task_is_sent(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    plan = layered_plan(tmp_path / "plan", tasks=10, waves=2, pool_id="p")
    assert submit_plan(plan, job_id="job", client=make_client(emulator), create_job=True).ok
    job = emulator.store.job("job")
    assert job is not None
    with emulator.engine.cond:
        emulator.engine.terminate_job(job, "UserTerminate")
    # Everything had landed: a resume has nothing to send, and is not refused.
    again = submit_plan(plan, job_id="job", client=make_client(emulator), resume=True)
    assert again.ok and again.previously_confirmed == 10
    # Tasks left to send: Batch would refuse every request (409 JobCompleted); said once,
    # before any is sent, with the way out.
    sent = emulator.store.stats()["requests"]["addtaskcollection"]
    fresh = tmp_path / "fresh.jsonl"
    with pytest.raises(BatchServiceError, match=r"is completed \(UserTerminate\)") as raised:
        submit_plan(plan, job_id="job", client=make_client(emulator), journal_path=fresh)
    assert raised.value.code == "JobCompleted"
    assert "--job-id job-2 --create-job" in str(raised.value)
    assert emulator.store.stats()["requests"]["addtaskcollection"] == sent


# --- plan and journal checks ------------------------------------------------------------------


def test_tampered_batch_file_is_refused_before_sending(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    plan = layered_plan(tmp_path / "plan", tasks=300, waves=2, pool_id="p")
    path = plan / "batches" / "000002.json"
    path.write_bytes(path.read_bytes().replace(b"echo", b"ECHO"))
    with pytest.raises(PlanError, match=r"000002\.json does not match plan\.json"):
        submit_plan(plan, job_id="job", client=make_client(emulator), create_job=True)
    assert emulator.store.stats()["requestsTotal"] == 0


def test_a_plan_already_loaded_is_sent_as_loaded_and_must_be_of_the_directory(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    plan = layered_plan(tmp_path / "plan", tasks=300, waves=2, pool_id="p")
    other = layered_plan(tmp_path / "other", tasks=200, waves=2, pool_id="p")
    loaded = load_plan(plan)
    with pytest.raises(ConfigError, match="the loaded plan is of"):
        submit_plan(other, job_id="x", client=make_client(emulator), plan=loaded)
    assert emulator.store.stats()["requestsTotal"] == 0
    # The files are not read again: what was loaded is what goes out (a batch file changed
    # after loading is not noticed; the caller loaded it, and checked it then).
    path = plan / "batches" / "000002.json"
    path.write_bytes(path.read_bytes().replace(b"echo", b"ECHO"))
    report = submit_plan(
        plan, job_id="job", client=make_client(emulator), create_job=True, plan=loaded
    )
    assert report.ok and report.confirmed == 300
    assert [t["commandLine"] for t in emulator.store.tasks("job")] == [
        t["commandLine"] for b in loaded.batches for t in b.tasks
    ]
    # The caller's plan keeps its parsed bodies (`dagbatch run` reads them afterwards).
    assert all("tasks" in b.__dict__ for b in loaded.batches)


def test_a_held_pool_takes_a_chain_in_the_plans_requests(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    """A chain packed 100 links to a request goes a link a request (parents first); to a
    pool that starts nothing before the submission ends (`dagbatch run`'s), the plan's own
    requests go out whole: a 200,000-link chain took minutes to rehearse."""

    def link(n: int) -> dict[str, Any]:
        task: dict[str, Any] = {"id": f"c{n}", "commandLine": "x"}
        if n:
            task["dependsOn"] = {"taskIds": [f"c{n - 1}"]}
        return task

    links = [link(n) for n in range(250)]
    batches = [(1, links[:100]), (2, links[100:200]), (3, links[200:])]
    for held, requests in ((False, 250), (True, 3)):
        plan = write_plan(tmp_path / f"plan-{held}", batches, pool_id="p")
        report = submit_plan(
            plan,
            job_id=f"job-{held}".lower(),
            client=make_client(emulator),
            create_job=True,
            pool_held=held,
        )
        assert report.ok and report.confirmed == 250 and report.requests == requests
        stored = {t["id"]: t for t in emulator.store.tasks(f"job-{held}".lower())}
        assert [stored[t["id"]] for t in links] == links


def test_parsed_bodies_go_once_their_batch_is_confirmed(
    emulator: EmulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A plan the submission loads itself lets each batch's parsed bodies go as soon as the
    batch is confirmed (not all at the end), and never before: a split batch only after
    all of its segments."""

    def task(n: int, parents: tuple[int, ...] = ()) -> dict[str, Any]:
        body: dict[str, Any] = {"id": f"t{n}", "commandLine": f"echo {n}"}
        if parents:
            body["dependsOn"] = {"taskIds": [f"t{p}" for p in parents]}
        return body

    # Batch 1 holds t1 and its child t2, so it goes in two requests; batch 2 waits for both.
    batches = [
        (1, [task(0), task(1), task(2, (1,)), task(3)]),
        (2, [task(4, (0, 2)), task(5, (3,))]),
        (2, [task(6), task(7)]),
    ]
    plan = write_plan(tmp_path / "plan", batches, pool_id="p")
    forgotten: list[tuple[int, bool]] = []
    forget = Batch.forget_tasks

    def record(batch: Batch) -> None:
        held = set(emulator.store.task_ids("job"))
        forgotten.append((batch.index, set(batch.task_ids) <= held))
        forget(batch)

    monkeypatch.setattr(Batch, "forget_tasks", record)
    report = submit_plan(
        plan, job_id="job", client=make_client(emulator), create_job=True, concurrency=4
    )
    assert report.ok and report.requests == 4  # batch 1 split in two
    assert sorted(index for index, _ in forgotten) == [1, 2, 3]  # each once
    assert all(stored for _, stored in forgotten)


def test_existing_journal_without_resume_is_refused(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    plan = layered_plan(tmp_path / "plan", tasks=10, waves=1, pool_id="p")
    assert submit_plan(plan, job_id="job", client=make_client(emulator), create_job=True).ok
    # That submission is whole: the refusal says so, and how to submit the plan again.
    with pytest.raises(JournalExists) as refused:
        submit_plan(plan, job_id="job", client=make_client(emulator))
    assert "'job' was already submitted whole from this plan" in str(refused.value)
    assert "all 10 tasks confirmed" in str(refused.value)
    assert "name a new job (--job-id job-2 --create-job)" in str(refused.value)
    again = submit_plan(plan, job_id="job", client=make_client(emulator), resume=True)
    assert again.ok and again.previously_confirmed == 10 and again.requests == 0


# --- TaskExists ---------------------------------------------------------------------------------


def test_colliding_task_not_sent_by_us_is_a_conflict(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    create_job(emulator)
    # Identical to the plan's task, but not added by this submission: still a conflict.
    add_task_directly(emulator, "job", {"id": "t1-3", "commandLine": "/bin/sh -c 'echo 1 3'"})
    add_task_directly(emulator, "job", {"id": "t1-5", "commandLine": "somebody else's"})
    plan = layered_plan(tmp_path / "plan", tasks=20, waves=2)
    report = submit_plan(plan, job_id="job", client=make_client(emulator))
    assert not report.ok
    assert {(f.task_id, f.code, f.kind) for f in report.failures} == {
        ("t1-3", "TaskExists", "conflict"),
        ("t1-5", "TaskExists", "conflict"),
    }
    message = {f.task_id: f.message for f in report.failures}
    # Each says how the task in the job compares with the plan's.
    assert message["t1-3"].startswith("conflict: a task with this id, the same as the plan's,")
    assert "differs from the one in the plan (commandLine" in message["t1-5"]
    assert emulator.store.task("job", "t1-5") == {"id": "t1-5", "commandLine": "somebody else's"}
    assert len(report.not_submitted) == 10  # wave 2 waits until wave 1 fully landed
    assert emulator.store.task_count("job") == 10
    # The task the same as the plan's is named in a note, with the way to take it as ours.
    assert any(
        note.startswith("1 task(s) already in the job are the same as the plan's")
        and "--resume --adopt-existing" in note
        for note in report.notes
    )
    assert report.adopted == 0


def test_a_lost_journal_is_a_conflict_until_adopt_existing_takes_the_same_tasks(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    """The plan went to the job whole, then its journal was lost: a new submission finds
    every task there. Without --adopt-existing each of them stays a conflict, also on
    --resume (the sends of the run that found them are not what made them); with it, one
    run takes them all, and a task that differs from the plan's is still a conflict."""
    plan = layered_plan(tmp_path / "plan", tasks=300, waves=3, pool_id="p")
    first = submit_plan(
        plan,
        job_id="job",
        client=make_client(emulator),
        create_job=True,
        journal_path=tmp_path / "lost.jsonl",
    )
    assert first.ok
    journal = tmp_path / "new.jsonl"
    again = submit_plan(plan, job_id="job", client=make_client(emulator), journal_path=journal)
    assert not again.ok and again.added == 0
    assert {f.kind for f in again.failures} == {"conflict"}
    assert len(again.failures) + len(again.not_submitted) == 300
    resumed = submit_plan(
        plan, job_id="job", client=make_client(emulator), resume=True, journal_path=journal
    )
    assert not resumed.ok and resumed.confirmed == 0 and resumed.verified_existing == 0
    assert {f.kind for f in resumed.failures} == {"conflict"}

    # One task of the last wave was changed in the job meanwhile (deleted, added anew).
    changed = next(t for w, t in plan_tasks(plan) if w == 3)
    delete_task_directly(emulator, "job", changed["id"])
    add_task_directly(emulator, "job", {**changed, "commandLine": "changed by hand"})
    adopted = submit_plan(
        plan,
        job_id="job",
        client=make_client(emulator),
        resume=True,
        adopt_existing=True,
        journal_path=journal,
    )
    assert [(f.task_id, f.kind) for f in adopted.failures] == [(changed["id"], "conflict")]
    assert "differs from the one in the plan (commandLine" in adopted.failures[0].message
    assert adopted.adopted == 299 and adopted.confirmed == 299 and adopted.added == 0
    assert emulator.store.task("job", changed["id"])["commandLine"] == "changed by hand"
    assert emulator.store.task_count("job") == 300
    assert read_journal(journal).confirmed == {t["id"] for _, t in plan_tasks(plan)} - {
        changed["id"]
    }


def test_a_conflict_deleted_then_sent_by_an_interrupted_resume_is_ours(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    """Another task held t1-3; the user deleted it and resumed; that run added the plan's
    t1-3 and was killed before the answer. The next --resume called our own task foreign
    (the conflict record outweighed the later send)."""
    create_job(emulator)
    add_task_directly(emulator, "job", {"id": "t1-3", "commandLine": "someone else's"})
    plan = layered_plan(tmp_path / "plan", tasks=20, waves=2)
    journal = tmp_path / "j.jsonl"
    first = submit_plan(plan, job_id="job", client=make_client(emulator), journal_path=journal)
    assert [(f.task_id, f.kind) for f in first.failures] == [("t1-3", "conflict")]
    delete_task_directly(emulator, "job", "t1-3")
    mine = next(t for _, t in plan_tasks(plan) if t["id"] == "t1-3")
    add_task_directly(emulator, "job", mine)  # what the interrupted run's request did
    loaded = load_plan(plan)
    batch = next(b for b in loaded.batches if "t1-3" in b.task_ids)
    with journal.open("ab") as f:  # its run header and send record, then the kill
        header = {"t": "run", "plan": loaded.sha256, "job": "job", "endpoint": emulator.endpoint}
        f.write(orjson.dumps(header) + b"\n")
        f.write(orjson.dumps({"t": "send", "b": batch.index, "ids": ["t1-3"]}) + b"\n")
    report = submit_plan(
        plan, job_id="job", client=make_client(emulator), resume=True, journal_path=journal
    )
    assert report.ok and report.verified_existing == 1 and report.adopted == 0


def test_a_conflict_stays_one_after_a_resume_that_gave_up(
    emulator_factory: Any, tmp_path: Path
) -> None:
    """A foreign t1-3 (the same as the plan's), then a resume whose requests were all
    answered 503: its 'gave up' record replaced the conflict, and the next resume counted
    the foreign task as ours."""
    busy = emulator_factory()
    create_job(busy)
    mine = {"id": "t1-3", "commandLine": "/bin/sh -c 'echo 1 3'"}
    add_task_directly(busy, "job", mine)
    plan = layered_plan(tmp_path / "plan", tasks=20, waves=2)
    journal = tmp_path / "j.jsonl"
    first = submit_plan(plan, job_id="job", client=make_client(busy), journal_path=journal)
    assert [(f.task_id, f.kind) for f in first.failures] == [("t1-3", "conflict")]
    busy.set_faults(FaultConfig(busy=1.0))
    gave_up = submit_plan(
        plan,
        job_id="job",
        client=make_client(busy, max_retries=1),
        resume=True,
        journal_path=journal,
    )
    assert {f.kind for f in gave_up.failures} == {"gaveup"}
    busy.set_faults(FaultConfig())
    again = submit_plan(
        plan, job_id="job", client=make_client(busy), resume=True, journal_path=journal
    )
    assert [(f.task_id, f.kind) for f in again.failures] == [("t1-3", "conflict")]
    assert again.verified_existing == 0


def test_adopt_existing_takes_only_a_task_made_as_the_plans_would_be(
    emulator_factory: Any, tmp_path: Path
) -> None:
    """A foreign task with the plan's command line but an admin identity, a container, no
    retry limit and two slots was adopted as 'the same as the plan's'; one that could not
    be read was counted as verified (ours) after a re-send, or said to be given up on."""
    server = emulator_factory()
    create_job(server)
    extra = {
        "userIdentity": {"autoUser": {"scope": "pool", "elevationLevel": "admin"}},
        "containerSettings": {"imageName": "other:latest"},
        "constraints": {"maxTaskRetryCount": -1},
        "requiredSlots": 2,
    }
    plan = layered_plan(tmp_path / "plan", tasks=20, waves=1)
    tasks = {t["id"]: t for _, t in plan_tasks(plan)}
    add_task_directly(server, "job", {**tasks["t1-3"], **extra})
    add_task_directly(server, "job", tasks["t1-5"])  # made as the plan's: adopted
    report = submit_plan(plan, job_id="job", client=make_client(server), adopt_existing=True)
    assert [(f.task_id, f.kind) for f in report.failures] == [("t1-3", "conflict")]
    for name in ("userIdentity", "containerSettings", "constraints.maxTaskRetryCount"):
        assert name in report.failures[0].message
    assert "requiredSlots" in report.failures[0].message
    assert report.adopted == 1 and report.added == 18

    # A foreign task that cannot be read (every GET 500) is a conflict saying so: not
    # re-sent until it passes for ours, nor 'given up'.
    unread = emulator_factory(internal=1.0, operations=frozenset({"gettask"}))
    create_job(unread)
    add_task_directly(unread, "job", tasks["t1-5"])
    report = submit_plan(
        plan,
        job_id="job",
        client=make_client(unread, max_retries=1),
        adopt_existing=True,
        journal_path=tmp_path / "unread.jsonl",
    )
    assert [(f.task_id, f.kind) for f in report.failures] == [("t1-5", "conflict")]
    assert "could not be read to compare it" in report.failures[0].message
    assert report.verified_existing == 0 and report.adopted == 0


def _journal_with_sends(plan: Path, job_id: str, endpoint: str, path: Path) -> None:
    """A journal of an interrupted run: every task sent, none confirmed."""
    loaded = load_plan(plan)
    journal, _ = Journal.open(path, RunHeader(loaded.sha256, job_id, endpoint), resume=False)
    for batch in loaded.batches:
        journal.sending(batch.index, batch.task_ids)
    journal.close()


def test_resume_verifies_possibly_landed_tasks(emulator: EmulatorServer, tmp_path: Path) -> None:
    plan = layered_plan(tmp_path / "plan", tasks=250, waves=2, pool_id="p")
    first = submit_plan(
        plan,
        job_id="job",
        client=make_client(emulator),
        create_job=True,
        journal_path=tmp_path / "first.jsonl",
    )
    assert first.ok
    journal = tmp_path / "interrupted.jsonl"
    _journal_with_sends(plan, "job", emulator.endpoint, journal)
    report = submit_plan(
        plan, job_id="job", client=make_client(emulator), resume=True, journal_path=journal
    )
    assert report.ok and report.verified_existing == 250 and report.added == 0
    assert emulator.store.stats()["requests"]["gettask"] == 250
    assert read_journal(journal).confirmed == {t["id"] for _, t in plan_tasks(plan)}


def test_resume_reports_a_possibly_landed_task_that_differs(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    create_job(emulator)
    add_task_directly(emulator, "job", {"id": "t1-2", "commandLine": "different"})
    plan = layered_plan(tmp_path / "plan", tasks=10, waves=1)
    journal = tmp_path / "interrupted.jsonl"
    _journal_with_sends(plan, "job", emulator.endpoint, journal)
    report = submit_plan(
        plan, job_id="job", client=make_client(emulator), resume=True, journal_path=journal
    )
    assert [(f.task_id, f.kind) for f in report.failures] == [("t1-2", "conflict")]
    assert "commandLine" in report.failures[0].message
    assert emulator.store.task("job", "t1-2") == {"id": "t1-2", "commandLine": "different"}
    assert report.confirmed == 9


def test_client_errors_are_collected_and_later_waves_held(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    bad = {
        "id": "bad",
        "commandLine": "x",
        "exitConditions": {"default": {"jobAction": "terminate"}},  # job is noaction: 400
    }
    plan = write_plan(
        tmp_path / "plan",
        [
            (1, [{"id": "a", "commandLine": "x"}, bad]),
            (2, [{"id": "c", "commandLine": "x", "dependsOn": {"taskIds": ["a"]}}]),
        ],
        pool_id="p",
    )
    report = submit_plan(plan, job_id="job", client=make_client(emulator), create_job=True)
    assert not report.ok
    assert [(f.task_id, f.code, f.kind) for f in report.failures] == [
        ("bad", "InvalidPropertyValue", "clienterror")
    ]
    assert report.not_submitted == ("c",)
    assert emulator.store.task_ids("job") == ["a"]


def test_resume_without_an_earlier_run_says_it_started_afresh(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    plan = layered_plan(tmp_path / "plan", tasks=10, waves=1, pool_id="p")
    report = submit_plan(
        plan, job_id="job", client=make_client(emulator), create_job=True, resume=True
    )
    assert report.ok and report.added == 10
    assert any("started the submission afresh" in note for note in report.notes)
    # A real resume says nothing of the kind.
    again = submit_plan(plan, job_id="job", client=make_client(emulator), resume=True)
    assert again.ok and not any("afresh" in note for note in again.notes)


def test_after_a_failure_the_segments_waiting_for_a_slot_are_not_sent(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    """'A task that does not land stops the submission: no further request is started.' The
    batches of one wave are all ready at once and wait for the concurrency gate; once a task
    failed, those still waiting are held back too, not only the segments not started yet."""
    bad = {
        "id": "bad",
        "commandLine": "x",
        "exitConditions": {"default": {"jobAction": "terminate"}},  # job is noaction: 400
    }
    batches = [(1, [bad, {"id": "a0", "commandLine": "x"}])] + [
        (1, [{"id": f"b{n}-{k}", "commandLine": "x"} for k in range(3)]) for n in range(1, 5)
    ]
    plan = write_plan(tmp_path / "plan", batches, pool_id="p")
    report = submit_plan(
        plan, job_id="job", client=make_client(emulator), create_job=True, concurrency=1
    )
    assert [(f.task_id, f.kind) for f in report.failures] == [("bad", "clienterror")]
    assert report.requests == 1  # only the first batch left
    assert emulator.store.task_ids("job") == ["a0"]
    held = [f"b{n}-{k}" for n in range(1, 5) for k in range(3)]
    assert list(report.not_submitted) == held  # each reported, in plan order
    assert read_journal(default_journal_path(plan, "job")).sent == {"bad", "a0"}


def test_body_too_large_is_split_in_halves(emulator: EmulatorServer, tmp_path: Path) -> None:
    # 100 tasks of ~15 KB: a 1.5 MB body, over the 1 MB limit of 2025-06-01.
    tasks = [
        {
            "id": f"big{i}",
            "commandLine": "x",
            "environmentSettings": [{"name": "E", "value": "v" * 15000}],
        }
        for i in range(100)
    ]
    plan = write_plan(tmp_path / "plan", [(1, tasks)], pool_id="p")
    report = submit_plan(plan, job_id="job", client=make_client(emulator), create_job=True)
    assert report.ok and report.confirmed == 100
    stats = emulator.store.stats()
    assert stats["responses"]["413"] == 1
    assert stats["requests"]["addtaskcollection"] == 3  # the whole, then its two halves
    assert emulator.store.task_ids("job") == [f"big{i}" for i in range(100)]


def _mock_reads(request: httpx.Request, added: list[str]) -> httpx.Response | None:
    """The job, its task counts and its task list, for a mock service that added ``added``."""
    path = request.url.path
    if path == "/jobs/job":
        return httpx.Response(200, json={"id": "job", "usesTaskDependencies": True})
    if path == "/jobs/job/taskcounts":
        counts = {"active": len(added), "running": 0, "completed": 0}
        return httpx.Response(200, json={"taskCounts": counts})
    if path == "/jobs/job/tasks" and request.method == "GET":
        return httpx.Response(200, json={"value": [{"id": i} for i in added]})
    return None


def test_body_too_large_for_a_single_task_fails_it(tmp_path: Path) -> None:
    """A service with a smaller limit than the plan assumed (only a mock can do that)."""
    sizes: list[int] = []
    added: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        read = _mock_reads(request, added)
        if read is not None:
            return read
        body = orjson.loads(request.content)
        sizes.append(len(body["value"]))
        if any(t["id"] == "huge" for t in body["value"]):
            return httpx.Response(
                413, json={"code": "RequestBodyTooLarge", "message": {"value": "big"}}
            )
        added.extend(t["id"] for t in body["value"])
        return httpx.Response(
            200, json={"value": [{"taskId": t["id"], "status": "success"} for t in body["value"]]}
        )

    tasks = [{"id": f"t{i}", "commandLine": "x"} for i in range(8)]
    tasks.insert(5, {"id": "huge", "commandLine": "x"})
    plan = write_plan(tmp_path / "plan", [(1, tasks)])
    client = BatchClient(
        "https://acct.example",
        SharedKeyAuth("acct", DEV_KEY),
        transport=httpx.MockTransport(handler),
        retry=RetryPolicy(sleep=no_sleep),
    )
    report = submit_plan(plan, job_id="job", client=client)
    assert [(f.task_id, f.code) for f in report.failures] == [("huge", "RequestBodyTooLarge")]
    assert report.confirmed == 8
    assert sizes == [9, 4, 5, 2, 1, 1, 3]  # halves, depth first, in order


def test_failure_messages_are_redacted_everywhere(tmp_path: Path) -> None:
    secret = "sv=2024&sig=Zm9vYmFyc2VjcmV0"

    def handler(request: httpx.Request) -> httpx.Response:
        read = _mock_reads(request, [])
        if read is not None:
            return read
        return httpx.Response(
            200,
            json={
                "value": [
                    {
                        "taskId": "a",
                        "status": "clienterror",
                        "error": {
                            "code": "InvalidPropertyValue",
                            "message": {"value": f"cannot read https://s.blob/c/f?{secret}"},
                        },
                    }
                ]
            },
        )

    plan = write_plan(tmp_path / "plan", [(1, [{"id": "a", "commandLine": "x"}])])
    client = BatchClient(
        "https://acct.example",
        SharedKeyAuth("acct", DEV_KEY),
        transport=httpx.MockTransport(handler),
        retry=RetryPolicy(sleep=no_sleep),
    )
    report = submit_plan(plan, job_id="job", client=client)
    assert report.failures[0].message == "cannot read https://s.blob/c/f?sv=2024&sig=REDACTED"
    journal_text = default_journal_path(plan, "job").read_text()
    assert "Zm9vYmFy" not in journal_text and "sig=REDACTED" in journal_text
