"""20,000 tasks through an emulator that fails a lot: every task lands once, in wave order."""

from __future__ import annotations

import asyncio
from pathlib import Path

from dagbatch.emulator import DEV_ACCOUNT, DEV_KEY
from dagbatch.emulator.server import EmulatorServer
from dagbatch.submit.auth import SharedKeyAuth
from dagbatch.submit.client import BatchClient
from dagbatch.submit.journal import read_journal
from dagbatch.submit.retry import RetryPolicy
from dagbatch.submit.submission import submit_plan
from tests.conftest import EmulatorFactory
from tests.plan_factory import layered_plan, plan_tasks, write_plan
from tests.sdk_checks import assert_job_holds_plan
from tests.submit_helpers import make_client


def test_20000_tasks_under_faults_land_exactly_once_in_wave_order(
    emulator_factory: EmulatorFactory, tmp_path: Path
) -> None:
    server: EmulatorServer = emulator_factory(
        task_server_error=0.10,  # per task
        busy=0.05,  # per request: 503 ServerBusy with Retry-After
        drop=0.02,  # per request: store a random prefix, then drop the connection
        throttle=0.01,  # 429 with Retry-After
        internal=0.01,  # 500
        retry_after=0,
        seed=11,
    )
    plan = layered_plan(tmp_path / "plan", tasks=20_000, waves=5, parents=3, pool_id="p", seed=5)
    sleeps: list[float] = []

    async def fast_sleep(seconds: float) -> None:
        sleeps.append(seconds)
        await asyncio.sleep(min(seconds, 0.01))

    client = BatchClient(
        server.endpoint,
        SharedKeyAuth(DEV_ACCOUNT, DEV_KEY),
        retry=RetryPolicy(max_retries=12, base_delay=0.01, max_delay=0.05, sleep=fast_sleep),
    )
    report = submit_plan(plan, job_id="job", client=client, create_job=True, concurrency=16)

    assert report.ok, report.failures[:5]
    assert report.confirmed == report.total == 20_000
    stats = server.store.stats()
    assert stats["faults"]["task_server_error"] > 1000
    assert stats["faults"]["drop"] > 0 and stats["faults"]["busy"] > 0
    assert report.retries > 0 and sleeps

    # Exactly once, with the plan's content.
    expected = plan_tasks(plan)
    order = server.store.task_ids("job")
    assert len(order) == len(set(order)) == 20_000
    assert stats["tasksAdded"] == 20_000
    stored = {t["id"]: t for t in server.store.tasks("job")}
    assert all(stored[t["id"]] == t for _, t in expected)

    # Wave order: no task was stored before any of its parents (all in earlier waves).
    position = {task_id: n for n, task_id in enumerate(order)}
    wave_of = {t["id"]: w for w, t in expected}
    for wave, task in expected:
        for parent in task.get("dependsOn", {}).get("taskIds", []):
            assert wave_of[parent] < wave
            assert position[parent] < position[task["id"]]
    # And more strongly: every task of wave k was stored before any task of wave k+1.
    waves_in_order = [wave_of[task_id] for task_id in order]
    assert waves_in_order == sorted(waves_in_order)

    # Tasks re-sent after a dropped connection came back TaskExists and were verified.
    assert report.verified_existing == stats["taskResults"].get("TaskExists", 0)
    assert report.added + report.verified_existing == 20_000
    assert read_journal(report.journal_path).confirmed == set(order)
    assert report.job_task_count == 20_000
    # And as a user sees it through the official SDK.
    assert_job_holds_plan(server.endpoint, DEV_ACCOUNT, DEV_KEY, "job", [t for _, t in expected])


def test_parents_in_the_same_batch_land_first_under_per_task_errors(
    emulator_factory: EmulatorFactory, tmp_path: Path
) -> None:
    """Chains inside one batch: a parent's servererror never lets its child land before it.

    Before, the whole batch went out at once; the children of the tasks that failed landed
    first (19 of 100 in a chain). Now a task goes out only after its parents in the batch are
    confirmed.
    """
    server: EmulatorServer = emulator_factory(
        task_server_error=0.2, drop=0.05, retry_after=0, seed=4
    )
    chain = [{"id": "c0", "commandLine": "echo 0"}]
    chain += [
        {"id": f"c{i}", "commandLine": f"echo {i}", "dependsOn": {"taskIds": [f"c{i - 1}"]}}
        for i in range(1, 100)
    ]
    # A fan-out inside one batch, with integer ids and a range: 1 -> 2..60, then 61 on all.
    fan = [{"id": "1", "commandLine": "root"}]
    fan += [
        {"id": str(i), "commandLine": f"leaf {i}", "dependsOn": {"taskIds": ["1"]}}
        for i in range(2, 61)
    ]
    fan.append(
        {
            "id": "61",
            "commandLine": "join",
            "dependsOn": {"taskIdRanges": [{"start": 1, "end": 60}]},
        }
    )
    plan = write_plan(tmp_path / "plan", [(1, chain), (1, fan)], pool_id="p")
    client = BatchClient(
        server.endpoint,
        SharedKeyAuth(DEV_ACCOUNT, DEV_KEY),
        retry=RetryPolicy(max_retries=20, base_delay=0.001, max_delay=0.002),
    )
    report = submit_plan(plan, job_id="job", client=client, create_job=True)
    assert report.ok, report.failures[:5]
    assert server.store.stats()["faults"]["task_server_error"] > 10
    assert_job_holds_plan(server.endpoint, DEV_ACCOUNT, DEV_KEY, "job", chain + fan)


def test_retries_are_counted_only_when_they_are_made(
    emulator_factory: EmulatorFactory, tmp_path: Path
) -> None:
    """With --max-retries 0 nothing is retried: the report said '100 retries' (each give-up
    was counted as a retry first), and the reason said the service 'kept' answering."""
    server: EmulatorServer = emulator_factory(task_server_error=1.0, busy=0.0)
    plan = layered_plan(tmp_path / "plan", tasks=30, waves=1, pool_id="p")
    report = submit_plan(
        plan, job_id="job", client=make_client(server, max_retries=0), create_job=True
    )
    assert report.retries == 0 and report.requests == 1
    assert {f.kind for f in report.failures} == {"gaveup"}
    assert "gave up after 0 retries: the service answered servererror" in (
        report.failures[0].message
    )
    # With two retries allowed, two are made and counted.
    again = submit_plan(
        plan,
        job_id="job2",
        client=make_client(server, max_retries=2),
        create_job=True,
        journal_path=tmp_path / "j2.jsonl",
    )
    assert again.retries == 2 and again.requests == 3


def test_a_service_gone_quiet_at_the_end_still_gives_the_report(
    emulator_factory: EmulatorFactory, tmp_path: Path
) -> None:
    """The job's update to terminatejob and the task counts that end a submission failing
    past their retries (the service gone, or silent) ended it with one error line: no
    report of what landed, no word of terminatejob left unset."""
    server: EmulatorServer = emulator_factory(
        internal=1.0, operations=frozenset({"gettaskcounts", "updatejob"}), retry_after=0
    )
    plan = layered_plan(
        tmp_path / "plan",
        tasks=300,
        waves=2,
        parents=1,
        pool_id="p",
        seed=1,
        on_all_tasks_complete="terminatejob",
    )
    client = BatchClient(
        server.endpoint,
        SharedKeyAuth(DEV_ACCOUNT, DEV_KEY),
        retry=RetryPolicy(max_retries=1, base_delay=0.01, max_delay=0.01),
    )
    report = submit_plan(plan, job_id="job", client=client, create_job=True)

    assert report.confirmed == report.total == 300
    assert len(server.store.task_ids("job")) == 300
    assert any(note.startswith("the job's tasks were not counted: ") for note in report.notes)
    assert any(
        note.startswith("onAllTasksComplete: terminatejob was not set (") for note in report.notes
    )
    assert not report.job_terminate_set
