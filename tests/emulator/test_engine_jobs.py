"""The engine across jobs: which job's ready task starts first, and which jobs a task's end
looks at (``Engine._ready_jobs``: only those with a task that may start)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from dagbatch.emulator.simulate import SimulatedRunner
from tests.engine_pool import WAIT, Pool


@pytest.fixture
def pool() -> Iterator[Pool]:
    p = Pool(SimulatedRunner(), slots=1)
    yield p
    p.engine.stop()


def _tasks(prefix: str, n: int) -> list[dict[str, Any]]:
    return [{"id": f"{prefix}{i}", "commandLine": "/bin/true"} for i in range(n)]


def test_the_higher_priority_job_s_tasks_start_first(pool: Pool) -> None:
    pool.engine.hold()
    low = pool.job("low", priority=-5)
    high = pool.job("high", priority=100)
    same = pool.job("same-as-low", priority=-5)  # created later: after "low" at equal priority
    pool.add(low, *_tasks("l", 5))
    pool.add(same, *_tasks("s", 5))
    pool.add(high, *_tasks("h", 5))
    pool.engine.release()
    pool.wait(low, high, same)
    with pool.store.lock:
        starts = sorted(
            (t, job.task_ids[pos])
            for job in (low, high, same)
            for pos, t in enumerate(job.task_start)
        )
    order = [task_id for _, task_id in starts]
    assert order == [f"h{i}" for i in range(5)] + [f"l{i}" for i in range(5)] + [
        f"s{i}" for i in range(5)
    ]


def test_a_task_s_end_looks_only_at_jobs_with_a_task_that_may_start(pool: Pool) -> None:
    done = [pool.job(f"done{i}") for i in range(3)]
    for job in done:
        pool.add(job, *_tasks("t", 2))
    pool.wait(*done)
    pool.engine.hold()
    waiting = pool.job("waiting")
    pool.add(waiting, *_tasks("w", 3))
    with pool.store.lock:
        # The finished jobs leave the set when a dispatch finds their queues empty.
        assert pool.engine._jobs_with_ready_tasks() == [waiting]
        assert list(pool.engine._ready_jobs.values()) == [waiting]
        # A deleted job leaves it too, even with tasks still queued.
        pool.engine.delete_job(waiting)
    pool.engine.release()
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        with pool.store.lock:
            if not pool.engine._ready_jobs:
                break
        time.sleep(0.005)
    with pool.store.lock:
        assert pool.engine._ready_jobs == {}
        assert waiting.completed_tasks == 0  # deleted before any of its tasks started


def test_a_disabled_job_keeps_its_place_and_runs_when_enabled_again(pool: Pool) -> None:
    pool.engine.hold()
    job = pool.job("paused")
    pool.add(job, *_tasks("p", 3))
    with pool.store.lock:
        job.state = "disabled"
    pool.engine.release()
    time.sleep(0.05)
    with pool.store.lock:
        assert job.completed_tasks == 0
        assert list(pool.engine._ready_jobs.values()) == [job]
        job.state = "active"
        pool.engine.wake()
    pool.wait(job)
    with pool.store.lock:
        assert job.completed_tasks == 3


def test_the_pool_going_quiet_is_signalled(pool: Pool) -> None:
    pool.engine.hold()
    job = pool.job("chain")
    pool.add(
        job,
        {"id": "a", "commandLine": "x"},
        {"id": "b", "commandLine": "x", "dependsOn": {"taskIds": ["a"]}},
    )
    pool.engine.quiet.clear()
    pool.engine.release()
    assert pool.engine.quiet.wait(WAIT)
    with pool.store.lock:
        # Set only once the chain's last task ended: nothing ran or was due in between.
        assert job.completed_tasks == 2 and pool.engine.idle(job)
