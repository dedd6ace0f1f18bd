"""After submit: see a running job in the workflow's own terms, and never leave one hanging.

The Python API (the commands `dagbatch status`, `watch`, `rerun` and `finish` are thin shells
over it)::

    from dagbatch.observe import status, rerun, finish
    s = status("plan")                 # JobStatus: verdict, states, outcomes, running, failed,
                                       # stranded
    print(s.verdict, [x.explain() for x in s.stranded])
    rerun("plan", failed=True)         # RerunReport: reactivates failed tasks
    finish("plan")                     # FinishReport: terminates tasks that can never run

Each takes a plan directory (or ``job_id=`` alone: the tasks' own definitions are read from
the service) and ``client=`` (a ``dagbatch.submit.client.BatchClient``; by default one from
``AZURE_BATCH_ENDPOINT``, ``AZURE_BATCH_ACCOUNT`` and ``AZURE_BATCH_ACCESS_KEY``). The plain
functions work in a script and in a notebook (where an event loop already runs); the
``*_async`` ones are for async code.

``outcome`` explains, task by task, why tasks of a finished run never ran (the report of
`dagbatch run`); it rests on the same analysis (``stranded``).
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import TypeVar

from dagbatch.asyncrun import run_sync
from dagbatch.defaults import MAX_STDERR_TASKS, STDERR_TASKS
from dagbatch.errors import ConfigError
from dagbatch.observe import steer
from dagbatch.observe.model import (
    FailedTask,
    FailureInfo,
    FinishReport,
    JobStatus,
    Missing,
    RerunPlan,
    RerunReport,
    RunningTask,
    Strand,
    TaskProblem,
    WaveCount,
)
from dagbatch.observe.service import JobService
from dagbatch.observe.status import (
    Snapshot,
    WorkflowView,
    build_status,
    load_view,
    read_snapshot,
)
from dagbatch.observe.steer import FinishProgress
from dagbatch.plan import check_plan_dir_type
from dagbatch.submit.client import BatchClient, check_client, connect
from dagbatch.submit.concurrency import check_concurrency

__all__ = [
    "FailedTask",
    "FailureInfo",
    "FinishProgress",
    "FinishReport",
    "JobStatus",
    "Missing",
    "RerunPlan",
    "RerunReport",
    "RunningTask",
    "Strand",
    "TaskProblem",
    "WaveCount",
    "finish",
    "finish_async",
    "rerun",
    "rerun_async",
    "status",
    "status_async",
]

T = TypeVar("T")
PlanDir = str | Path | None


async def _with_client(
    client: BatchClient | None,
    body: Callable[[BatchClient], Awaitable[T]],
    *,
    close: bool,
) -> T:
    """Run ``body`` with ``client`` (or one from the environment, always closed after); a
    given client's connections are closed too when ``close`` (a sync call: its event loop
    ends here; the client opens new ones on its next use)."""
    own = client is None
    if client is not None:
        check_client(client)
    used = client or connect()
    try:
        return await body(used)
    finally:
        if own or close:
            await used.aclose()


def _check_target(plan_dir: PlanDir, job_id: str | None) -> None:
    """``ConfigError`` for a plan directory or job id of the wrong type, before anything is
    read or a client made."""
    if plan_dir is not None:
        check_plan_dir_type(plan_dir)
    if plan_dir is not None and not os.fspath(plan_dir):
        # Path("") is the working directory: an empty name (a variable that expanded to
        # nothing) is refused, as the commands refuse it, rather than read as ".".
        raise ConfigError("an empty path names no plan directory (give None and job_id instead)")
    if not isinstance(job_id, str | None):
        raise ConfigError(f"job_id is the job's id, a str, not {type(job_id).__name__}")


async def _open(
    plan_dir: PlanDir, job_id: str | None, client: BatchClient, *, stderr_tasks: int
) -> tuple[JobService, WorkflowView, Snapshot]:
    client.prefetch_auth()  # an Entra token is fetched while the plan loads
    view = load_view(Path(plan_dir) if plan_dir is not None else None, job_id)
    jid = view.job_id if view is not None else job_id
    if not jid:
        raise ConfigError("give a plan directory or a job id")
    service = JobService(client, jid)
    view, snap = await read_snapshot(service, view, stderr_tasks=stderr_tasks)
    return service, view, snap


async def status_async(
    plan_dir: PlanDir = None,
    *,
    job_id: str | None = None,
    client: BatchClient | None = None,
    stderr_tasks: int = STDERR_TASKS,
    _close: bool = False,
) -> JobStatus:
    """Where is the workflow? (see ``status``)"""
    _check_target(plan_dir, job_id)
    if (
        isinstance(stderr_tasks, bool)
        or not isinstance(stderr_tasks, int)
        or not 0 <= stderr_tasks <= MAX_STDERR_TASKS
    ):
        raise ConfigError(
            f"--stderr-tasks must be a whole number from 0 to {MAX_STDERR_TASKS}, not "
            f"{stderr_tasks!r}"
        )

    async def body(c: BatchClient) -> JobStatus:
        _, view, snap = await _open(plan_dir, job_id, c, stderr_tasks=stderr_tasks)
        return build_status(view, snap)[0]

    return await _with_client(client, body, close=_close)


def status(
    plan_dir: PlanDir = None,
    *,
    job_id: str | None = None,
    client: BatchClient | None = None,
    stderr_tasks: int = STDERR_TASKS,
) -> JobStatus:
    """Read the job and map it onto the plan: counts by state and wave, running tasks, failed
    ones (with the tail of stderr.txt of the first ``stderr_tasks``), the tasks that can never
    run with the chain that strands each, and the verdict."""
    return run_sync(
        status_async(plan_dir, job_id=job_id, client=client, stderr_tasks=stderr_tasks, _close=True)
    )


async def rerun_async(
    plan_dir: PlanDir = None,
    *,
    job_id: str | None = None,
    failed: bool = False,
    tasks: Iterable[str] | str = (),
    client: BatchClient | None = None,
    dry_run: bool = False,
    concurrency: int | None = None,
    progress: FinishProgress | None = None,
    _close: bool = False,
) -> RerunReport:
    """Reactivate failed tasks (see ``rerun``)."""
    _check_target(plan_dir, job_id)
    check_concurrency(concurrency)
    names = steer.rerun_selection(failed, tasks)

    async def body(c: BatchClient) -> RerunReport:
        service, view, snap = await _open(plan_dir, job_id, c, stderr_tasks=0)
        pending = steer.read_pending(view, snap.job) if failed else frozenset()
        plan = steer.plan_rerun(view, snap, failed=failed, tasks=names, pending=pending)
        if dry_run:
            return RerunReport(plan=plan, reactivated=(), errors=())
        return await steer.rerun(
            service, view, snap, plan, concurrency=concurrency, progress=progress
        )

    return await _with_client(client, body, close=_close)


def rerun(
    plan_dir: PlanDir = None,
    *,
    job_id: str | None = None,
    failed: bool = False,
    tasks: Iterable[str] | str = (),
    client: BatchClient | None = None,
    dry_run: bool = False,
    concurrency: int | None = None,
    progress: FinishProgress | None = None,
) -> RerunReport:
    """Reactivate the failed tasks (``failed=True``) or the named ones (``tasks``: the user's
    names or ids; a single string is one task), or both (neither: ``ConfigError``) with
    Batch's reactivate task, so the tasks waiting on them run. The report's
    ``plan`` says which stranded tasks resume and which stay stuck; ``RefusedError`` where
    Batch cannot reactivate (a completed job), with the fix. ``concurrency``: reactivate
    requests in flight, fixed (1-256); None: adaptive, as `dagbatch submit`'s.
    ``progress(done, total)``: as ``finish``'s, for each reactivate request. A rerun cut
    short is finished by the next ``failed=True`` one (see ``steer.read_pending``)."""
    return run_sync(
        rerun_async(
            plan_dir,
            job_id=job_id,
            failed=failed,
            tasks=tasks,
            client=client,
            dry_run=dry_run,
            concurrency=concurrency,
            progress=progress,
            _close=True,
        )
    )


async def finish_async(
    plan_dir: PlanDir = None,
    *,
    job_id: str | None = None,
    client: BatchClient | None = None,
    require_stuck: bool = True,
    progress: FinishProgress | None = None,
    concurrency: int | None = None,
    _close: bool = False,
) -> FinishReport:
    """Terminate the tasks that can never run (see ``finish``)."""
    _check_target(plan_dir, job_id)
    check_concurrency(concurrency)

    async def body(c: BatchClient) -> FinishReport:
        service, view, snap = await _open(plan_dir, job_id, c, stderr_tasks=0)
        return await steer.finish(
            service,
            view,
            snap,
            require_stuck=require_stuck,
            progress=progress,
            concurrency=concurrency,
        )

    return await _with_client(client, body, close=_close)


def finish(
    plan_dir: PlanDir = None,
    *,
    job_id: str | None = None,
    client: BatchClient | None = None,
    require_stuck: bool = True,
    progress: FinishProgress | None = None,
    concurrency: int | None = None,
) -> FinishReport:
    """When only tasks that can never run remain, terminate them (Batch's terminate task) so
    the job completes; the report lists each with its chain, ``skipped`` where the parent
    succeeded (a failure handler not needed). Never touches a task that could still run.

    ``progress(done, total)`` hears of each terminate request as it ends (one a task, so
    thousands take a while): ``dagbatch.observe.progress.count_progress`` makes the line
    `dagbatch finish` shows on stderr. ``concurrency``: terminate requests in flight, fixed
    (1-256); None (the default): adaptive, as `dagbatch submit`'s.

    ``dagbatch run`` calls this at its end (``require_stuck=True``): a local run of a
    workflow whose failure handlers were not needed ends with them skipped and the job
    completed."""
    return run_sync(
        finish_async(
            plan_dir,
            job_id=job_id,
            client=client,
            require_stuck=require_stuck,
            progress=progress,
            concurrency=concurrency,
            _close=True,
        )
    )
