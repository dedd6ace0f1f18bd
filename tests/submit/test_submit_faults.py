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
from tests.plan_factory import layered_plan, plan_tasks


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
