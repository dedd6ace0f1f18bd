"""`dagbatch watch`: the status, refreshed until the job completes or is stuck."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from dagbatch.observe.model import FinishReport, JobStatus
from dagbatch.observe.service import JobService
from dagbatch.observe.status import STDERR_TASKS, WorkflowView, build_status, read_snapshot
from dagbatch.observe.steer import finish

#: Verdicts that end a watch.
FINAL = frozenset({"complete", "stuck", "terminated"})


@dataclass(frozen=True)
class Tick:
    """One refresh: the status, seconds since the watch began, completions per second since
    then, and the report of a ``finish`` done at this refresh."""

    status: JobStatus
    elapsed: float
    rate: float
    finished: FinishReport | None = None


async def watch(
    service: JobService,
    view: WorkflowView | Callable[[], WorkflowView] | None,
    *,
    interval: float = 2.0,
    timeout: float | None = None,
    finish_when_stuck: bool = False,
    stderr_tasks: int = STDERR_TASKS,
) -> AsyncIterator[Tick]:
    """Yield a ``Tick`` per refresh until the verdict is final (complete, stuck, terminated)
    or ``timeout`` seconds pass. With ``finish_when_stuck`` a stuck job is finished (its
    tasks that can never run terminated) and watched on until it completes."""
    began = time.monotonic()
    first_completed: int | None = None
    finished_once = False
    while True:
        loaded, snap = await read_snapshot(service, view, stderr_tasks=stderr_tasks)
        view = loaded
        status, _ = build_status(loaded, snap)
        completed = status.states.get("completed", 0)
        if first_completed is None:
            first_completed = completed
        elapsed = time.monotonic() - began
        rate = (completed - first_completed) / elapsed if elapsed > 0 else 0.0
        report: FinishReport | None = None
        if finish_when_stuck and status.verdict == "stuck" and not finished_once:
            report = await finish(service, loaded, snap)
            finished_once = True
            yield Tick(status, elapsed, rate, report)
            if report.terminated:
                await asyncio.sleep(min(interval, 0.5))
                continue
            return
        yield Tick(status, elapsed, rate)
        if status.verdict in FINAL:
            return
        if timeout is not None and elapsed >= timeout:
            return
        await asyncio.sleep(interval)
