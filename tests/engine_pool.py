"""An emulator engine driven without HTTP, for the engine tests: make jobs, add tasks, wait."""

from __future__ import annotations

import json
import time
from typing import Any

from dagbatch.emulator.scheduler import Engine, Runner
from dagbatch.emulator.store import EmulatorStore, Job

WAIT = 30.0  # seconds: the bound of every wait


class Pool:
    """An engine over a store of its own, running tasks with ``runner`` on ``slots`` slots."""

    def __init__(self, runner: Runner, slots: int) -> None:
        self.store = EmulatorStore()
        self.engine = Engine(self.store, runner, slots=slots)
        self.engine.start()

    def job(self, job_id: str, **spec: Any) -> Job:
        t = time.time()
        job = Job(id=job_id, spec={"id": job_id, **spec}, created=t, modified=t, serial=0)
        with self.store.lock:
            self.store.jobs[job_id.lower()] = job
            self.engine.job_created(job)
        return job

    def add(self, job: Job, *tasks: dict[str, Any]) -> None:
        t = time.time()
        with self.store.lock:
            items = []
            for task in tasks:
                self.store.add_task(job, task["id"], json.dumps(task).encode(), t)
                items.append((len(job.task_ids) - 1, task))
            self.engine.tasks_added(job, items)
            self.engine.wake()

    def wait(self, *jobs: Job) -> None:
        """Until every task of ``jobs`` completed (AssertionError after ``WAIT``)."""
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            with self.store.lock:
                if all(j.completed_tasks == j.live_tasks for j in jobs):
                    return
            time.sleep(0.005)
        raise AssertionError(f"the tasks of {[j.id for j in jobs]} did not complete in {WAIT} s")
