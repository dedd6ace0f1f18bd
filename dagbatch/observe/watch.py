"""`dagbatch watch`: the status, refreshed until the job completes or is stuck."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from dagbatch.defaults import STDERR_TASKS
from dagbatch.observe.model import FinishReport, JobStatus
from dagbatch.observe.service import JobService
from dagbatch.observe.status import (
    Progress,
    Snapshot,
    WorkflowView,
    build_status,
    read_snapshot,
)
from dagbatch.observe.steer import FinishProgress, finish

#: Verdicts that end a watch.
FINAL = frozenset({"complete", "stuck", "terminated"})
#: Refreshes in a row that may reuse the last listing while nothing seems to change.
MAX_REUSED = 10


def _fingerprint(job: Mapping[str, Any], counts: Mapping[str, int]) -> tuple[Any, ...]:
    """What must stay the same for the last listing to stand: the job's state and
    modification, and the task counts."""
    return (job.get("state"), job.get("lastModified"), tuple(sorted(counts.items())))


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
    finish_progress: FinishProgress | None = None,
    listing: Progress | None = None,
    analysing: Progress | None = None,
) -> AsyncIterator[Tick]:
    """Yield a ``Tick`` per refresh until the verdict is final (complete, stuck, terminated)
    or ``timeout`` seconds pass. With ``finish_when_stuck`` a stuck job is finished (its
    tasks that can never run terminated, ``finish_progress(done, total)`` told of each, as
    ``steer.finish`` tells it) and watched on until it completes. ``listing`` and
    ``analysing``: ``read_snapshot``'s and ``build_status``'s ``progress``, for the first
    refresh (the one before anything is shown)."""
    began = time.monotonic()
    service.client.prefetch_auth()  # an Entra token is fetched while the plan loads
    first_completed: int | None = None
    finished_once = False
    last: tuple[WorkflowView, Snapshot, tuple[Any, ...]] | None = None
    reused = 0
    while True:
        fresh = True
        if last is not None and reused < MAX_REUSED:
            # Two cheap calls first: while the job's state and its task counts are what
            # they were, the last listing still stands (a 100,000-task job is not listed
            # again every few seconds for nothing). At least every MAX_REUSED refreshes it is
            # read whole anyway: the counts "may not always be up to date".
            job, counts = await asyncio.gather(service.job(), service.task_counts())
            if _fingerprint(job, counts) == last[2]:
                loaded, snap = last[0], replace(last[1], at=datetime.now(UTC))
                reused += 1
                fresh = False
        first = first_completed is None
        if fresh:
            loaded, snap = await read_snapshot(
                service, view, stderr_tasks=stderr_tasks, progress=listing if first else None
            )
            last = (loaded, snap, _fingerprint(snap.job, snap.service_counts))
            reused = 0
        view = loaded
        status, _ = build_status(loaded, snap, progress=analysing if first else None)
        completed = status.states.get("completed", 0)
        if first_completed is None:
            first_completed = completed
        elapsed = time.monotonic() - began
        rate = (completed - first_completed) / elapsed if elapsed > 0 else 0.0
        report: FinishReport | None = None
        if finish_when_stuck and status.verdict == "stuck" and not finished_once:
            report = await finish(service, loaded, snap, progress=finish_progress)
            finished_once = True
            yield Tick(status, elapsed, rate, report)
            if report.terminated:
                last = None  # the job changed: read it whole
                await asyncio.sleep(min(interval, 0.5))
                continue
            return
        yield Tick(status, elapsed, rate)
        if status.verdict in FINAL:
            return
        if timeout is not None and elapsed >= timeout:
            return
        wait = interval
        if timeout is not None:  # the last refresh comes at the timeout, not an interval on
            wait = max(0.0, min(wait, timeout - (time.monotonic() - began)))
        await asyncio.sleep(wait)
