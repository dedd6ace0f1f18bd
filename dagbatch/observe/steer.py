"""`dagbatch rerun` and `dagbatch finish`: act on a job so it never hangs.

- ``plan_rerun`` (pure) says which failed tasks will be reactivated, which stranded tasks will
  then be able to run and which stay stuck for other reasons; ``rerun`` does it through Batch's
  reactivate task operation [BATCH_FACTS 7].
- ``finish_targets`` (pure) is every task that can never run; ``finish`` terminates them
  (Batch's terminate task), so a job set to ``terminatejob`` completes. It never touches a
  task that could still run.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from dagbatch.errors import ConfigError, RefusedError, no_such_tasks
from dagbatch.gcpause import gc_paused
from dagbatch.observe.model import (
    FinishReport,
    JobStatus,
    RerunPlan,
    RerunReport,
    Strand,
    TaskProblem,
    TaskRecord,
)
from dagbatch.observe.progress import halves
from dagbatch.observe.service import JobService, Pace, for_each
from dagbatch.observe.status import Progress, Snapshot, WorkflowView, build_status
from dagbatch.observe.stranded import (
    JobTasks,
    analyse,
    children_first,
    parent_ids,
    resolve_exit,
    served_by,
    strand_of,
    succeeded_by_exit_code,
    terminated_satisfies_of,
)
from dagbatch.plan import next_job_id

#: ``progress(done, total)`` of ``finish``: terminate requests ended so far, of how many.
FinishProgress = Callable[[int, int], None]

#: Job states in which Batch refuses to reactivate a task [BATCH_FACTS 7].
_NO_REACTIVATE_STATES = ("completed", "terminating", "deleting")


def _resolve_names(
    view: WorkflowView, wanted: Iterable[str], records: Mapping[str, TaskRecord]
) -> tuple[list[str], list[str]]:
    """Task ids for names the user gave (ignoring case): the user's names first (the names
    ``status`` shows; a renumbered plan's ids are other tasks' names too), then ids; and the
    unknown ones. A name two tasks share (the display name of a child's barriers) is refused:
    the id says which."""
    by_name: dict[str, list[str]] = {}
    for task_id, name in view.names.items():
        by_name.setdefault(name.lower(), []).append(task_id)
    by_id = {task_id.lower(): task_id for task_id in records}
    found: list[str] = []
    unknown: list[str] = []
    for w in wanted:
        named = by_name.get(w.lower(), [])
        if len(named) > 1:
            raise ConfigError(
                f"--task {w!r} names {len(named)} tasks ({', '.join(sorted(named)[:5])}"
                f"{' ...' if len(named) > 5 else ''}): give the task's id"
            )
        tid = named[0] if named else by_id.get(w.lower())
        if tid is None:
            unknown.append(w)
        else:
            found.append(tid)
    return found, unknown


def rerun_selection(failed: bool, tasks: Iterable[str] | str) -> tuple[str, ...]:
    """The tasks a rerun names, checked before anything is read: one name given as a plain
    string is that one task (not its letters), every name must be a string, and a rerun
    must choose something (``failed`` or some ``tasks``): ``ConfigError`` otherwise, the one
    rule for ``rerun`` and `dagbatch rerun`."""
    names = (tasks,) if isinstance(tasks, str) else tuple(tasks)
    wrong = [t for t in names if not isinstance(t, str)]
    if wrong:
        raise ConfigError(
            f"the tasks to rerun are names or ids (strings), not {type(wrong[0]).__name__} "
            f"({wrong[0]!r})"
        )
    if not failed and not names:
        raise ConfigError(
            "say what to rerun: the failed tasks (--failed, failed=True) or named ones "
            "(--task ID, repeatable; tasks=[...])"
        )
    return names


def plan_rerun(
    view: WorkflowView,
    snap: Snapshot,
    *,
    failed: bool = False,
    tasks: Iterable[str] | str = (),
    pending: Collection[str] = frozenset(),
    progress: Progress | None = None,
) -> RerunPlan:
    """What ``rerun`` will do (pure): the failed tasks to reactivate (``failed``: every task
    that ran and failed; ``tasks``: the named ones, see ``rerun_selection``), plus the tasks
    that were terminated while stranded behind them (so their chain can run again), the
    stranded tasks that will then be able to run, and those that stay stuck for other
    reasons. ``pending``: what a rerun cut short was still to bring back (``read_pending``),
    brought back with ``failed``. Made with the cyclic collector paused
    (``dagbatch.gcpause``): a few objects a task of the job, none in a cycle. ``progress``:
    as ``build_status``'s, of the analysis of the job."""
    tasks = rerun_selection(failed, tasks)
    with gc_paused():
        return _plan_rerun(
            view, snap, failed=failed, tasks=tasks, pending=pending, progress=progress
        )


def _plan_rerun(
    view: WorkflowView,
    snap: Snapshot,
    *,
    failed: bool,
    tasks: Iterable[str],
    pending: Collection[str],
    progress: Progress | None,
) -> RerunPlan:
    records = snap.records
    # Two analyses of the job, before and after the rerun (what resumes): one count.
    before_rerun, after_rerun = halves(progress)
    status, analysis = build_status(view, snap, progress=before_rerun)
    refused: list[TaskProblem] = []
    job_state = status.job_state
    chosen: list[str] = []
    job_tasks = JobTasks(records)
    order = _order(view, records)  # plan order: parents before children
    resumed = pending if failed else frozenset()  # a cut-short rerun's, with --failed only
    if failed:
        failed_ids = {f.id for f in status.failed}
        chosen.extend(t for t in order if t in failed_ids)
        # Tasks terminated while they waited (by finish, behind a failure) whose parent was
        # then rerun by hand, and that nothing holds back now: nothing else would ever bring
        # them back. Not one whose parent was terminated too (that chain comes back from its
        # failed root), nor one a user terminated while it could run (no parent started
        # after it ended: terminating it was the user's choice).
        chosen.extend(
            t
            for t in order
            if records[t].state == "completed"
            and records[t].started is None
            and records[t].failed
            and t not in analysis.blocked
            and t not in failed_ids
            and _parent_ran_since(view, t, records, job_tasks)
            and not _terminated_parents(view, t, records, job_tasks)
        )
    named, unknown = _resolve_names(view, tasks, records)
    if unknown:
        # A usage error, before anything is done: a mistyped name must not leave the rest
        # reactivated and the typo reported as something Batch refused.
        known = {name.lower(): name for name in view.names.values()}
        known.update({tid.lower(): view.name(tid) for tid in records})
        raise no_such_tasks("--task", unknown, known, f"job {view.job_id}")
    for tid in named:
        if tid in chosen:
            continue
        rec = records.get(tid)
        if rec is None:
            refused.append(TaskProblem(tid, view.name(tid), "is not in the job (not submitted?)"))
            continue
        if rec.state != "completed":
            why = f"is {rec.state}: only a completed task can be rerun"
            if tid in analysis.blocked:
                # Stranded: what holds it back is the task to rerun, and it comes back too.
                root = analysis.root_of(tid)
                root_rec = records.get(root)
                if root_rec is not None and root_rec.failed:
                    why += (
                        f"; it waits on {view.name(root)}, which failed: rerun that "
                        f"(--task {view.name(root)}, or --failed) and it runs"
                    )
            refused.append(TaskProblem(tid, view.name(tid), why))
        elif not rec.failed:
            refused.append(
                TaskProblem(
                    tid,
                    view.name(tid),
                    "completed successfully (exit code 0): Batch reactivates only failed tasks",
                )
            )
        elif succeeded_by_exit_code(view.definitions.get(tid), rec):
            # Batch calls it failed and would reactivate it; the workflow counts it a success,
            # as status does: its dependents ran already and would not run again.
            refused.append(
                TaskProblem(
                    tid,
                    view.name(tid),
                    f"succeeded: its exit code {rec.exit_code} counts as a success "
                    "(satisfy_exit_codes), and its dependents already ran on it",
                )
            )
        else:
            chosen.append(tid)
    # A named task that never ran, behind a parent that never ran either and is not brought
    # back with it: reactivated, it would be judged on that termination, and a failure
    # handler would run although what it guards never ran (what finish's children-first
    # order prevents).
    coming_back = _brought_back(view, order, records, job_tasks, chosen, resumed)
    removed = False
    for tid in [t for t in named if t in chosen and t not in coming_back.cancelled]:
        rec = records[tid]
        cut = [
            p
            for p in _terminated_parents(view, tid, records, job_tasks)
            if p not in coming_back.tasks
        ]
        held = (
            _blocking_parents(view, tid, records, job_tasks, coming_back.tasks)
            if rec.started is None and not cut
            else []
        )
        if held:
            # Its parent ran and ended in a way that blocks it, and is not rerun with it:
            # reactivated alone it would wait for ever again (a review reactivated three
            # tasks only to see them stranded again).
            chosen.remove(tid)
            removed = True
            parent = records[held[0]]
            fix = (
                f"Rerun {view.name(held[0])} (--task it, or --failed): "
                f"{view.name(tid)} comes back with it"
                if parent.failed
                else "A failure handler whose parent succeeded is not needed: nothing to rerun"
            )
            refused.append(
                TaskProblem(
                    tid,
                    view.name(tid),
                    f"never ran, and its parent {view.name(held[0])} exited "
                    f"{parent.exit_code}, for which its dependencyAction is block: "
                    f"reactivated alone it would wait for ever again. {fix}",
                )
            )
            continue
        if rec.started is None and cut:
            chosen.remove(tid)
            removed = True
            refused.append(
                TaskProblem(
                    tid,
                    view.name(tid),
                    f"never ran, and neither did its parent {view.name(cut[0])} (terminated "
                    "while it waited): reactivated alone it would run on that termination, "
                    "not on what its parent does. Rerun the failed task that held the chain "
                    "back (--failed, or --task it): the terminated tasks behind it come back "
                    "with it, in order",
                )
            )
    if job_state in _NO_REACTIVATE_STATES and chosen:
        why = (
            f"job {view.job_id!r} is {job_state}: Batch cannot reactivate the tasks of a "
            f"{job_state} job. Fix: "
        )
        if not view.planned:
            # Read from the job alone: no plan of dagbatch's is known to have made it.
            raise RefusedError(
                why + "add the failed tasks and the tasks that never ran to a new job (with "
                "the client that made this one; or, for a dagbatch plan, `dagbatch submit "
                f"PLAN_DIR --job-id {_new_job(view)} --create-job`)"
            )
        raise RefusedError(
            why + "submit the plan again into a new job, e.g. "
            f"`dagbatch submit {view.plan_dir or 'PLAN_DIR'} --job-id {_new_job(view)} "
            "--create-job`"
        )
    if removed:
        coming_back = _brought_back(view, order, records, job_tasks, chosen, resumed)
    cancelled = coming_back.cancelled
    # Parents before children (plan order): a child is never active while a parent it will
    # wait on is still recorded as terminated.
    position = {t: n for n, t in enumerate(order)}
    reactivate = sorted([*chosen, *cancelled], key=position.__getitem__)
    simulated = dict(records)
    for t in reactivate:
        simulated[t] = TaskRecord(t, "active")
    after = analyse(view.definitions, simulated, progress=after_rerun)
    before_stuck = [s.task_id for s in status.stranded]
    resumes = [view.name(t) for t in before_stuck if t not in after.blocked]
    resumes += [
        view.name(t) for t in cancelled if t not in after.blocked and t not in view.barriers
    ]
    serving = served_by(view.barriers)
    still = tuple(
        strand_of(
            after,
            t,
            simulated,
            names=view.names,
            barriers=view.barriers,
            definitions=view.definitions,
            served_by=serving,
        )
        for t in _order(view, simulated)
        if t in after.blocked and simulated[t].state == "active" and t not in view.barriers
    )
    if progress is not None:
        progress(len(records), len(records))
    return RerunPlan(
        job_id=view.job_id,
        reactivate=tuple(reactivate),
        names=dict(view.names),
        resumes=tuple(resumes),
        still_stuck=still,
        refused=tuple(refused),
        job_disabled=job_state in ("disabled", "disabling"),
    )


@dataclass(frozen=True)
class _BroughtBack:
    tasks: frozenset[str]  # the chosen tasks and those below
    cancelled: list[str]  # the tasks terminated while they waited behind them, in plan order


def pending_path(view: WorkflowView) -> Path:
    """Where a rerun writes down what it is bringing back: beside the plan's journal in the
    plan directory, or under ``.dagbatch/JOB/`` where the job is read without a plan."""
    if view.plan_dir:
        return Path(view.plan_dir) / f"rerun-{view.job_id}.pending.json"
    return Path(".dagbatch") / view.job_id / "rerun.pending.json"


def write_pending(
    view: WorkflowView, task_ids: Iterable[str], job: Mapping[str, Any]
) -> Path | None:
    """Write down the tasks a rerun is about to reactivate (with those an earlier rerun cut
    short left that are still to come back: ``still_pending``); None where it cannot be
    written (a read-only plan directory: the rerun goes on, as it did before). ``job``: the
    job as the service gave it; its ``creationTime`` ties the record to this very job, not
    to one deleted and made again under the same id (``read_pending``)."""
    path = pending_path(view)
    tasks = list(dict.fromkeys(task_ids))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(orjson.dumps(_record(view, tasks, job)))
    except OSError:
        return None
    return path


def _record(view: WorkflowView, tasks: Sequence[str], job: Mapping[str, Any]) -> dict[str, Any]:
    created = job.get("creationTime")
    return {"jobId": view.job_id, **({"jobCreated": created} if created else {}), "tasks": tasks}


def settle_pending(
    view: WorkflowView, reactivated: Collection[str], job: Mapping[str, Any]
) -> None:
    """Take the tasks a rerun reactivated off its record; what is left (a reactivate the
    service refused, an earlier rerun's tasks this one did not take) stays for the next
    ``rerun --failed``. A record left empty goes, with the ``.dagbatch/JOB/`` directories it
    made where they hold nothing else."""
    left = [t for t in sorted(read_pending(view, job)) if t not in reactivated]
    path = pending_path(view)
    if left:
        with contextlib.suppress(OSError):
            path.write_bytes(orjson.dumps(_record(view, left, job)))
        return
    path.unlink(missing_ok=True)
    if not view.plan_dir:
        for folder in (path.parent, path.parent.parent):
            with contextlib.suppress(OSError):  # not empty, or gone: left as it is
                folder.rmdir()


def still_pending(
    view: WorkflowView, records: Mapping[str, TaskRecord], job: Mapping[str, Any]
) -> list[str]:
    """The tasks on an earlier rerun's record that are still terminated without having run
    (the others have come back, or run, since), in id order: a ``--task`` rerun in between
    keeps them on the record, for the next ``rerun --failed``."""
    return sorted(
        t
        for t in read_pending(view, job)
        if (rec := records.get(t)) is not None
        and rec.state == "completed"
        and rec.started is None
        and rec.failed
    )


def read_pending(view: WorkflowView, job: Mapping[str, Any]) -> frozenset[str]:
    """What a rerun of this job cut short was still to bring back (``write_pending``);
    nothing when there is no such record, or it is not one, or it was written for another
    job of that id: one made at another time than ``job`` (the job as the service gives it
    now) was deleted since, and its tasks are not this job's to bring back."""
    try:
        data = orjson.loads(pending_path(view).read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return frozenset()
    if not isinstance(data, dict) or data.get("jobId") != view.job_id:
        return frozenset()
    created, now = data.get("jobCreated"), job.get("creationTime")
    if created and now and created != now:
        return frozenset()
    tasks = data.get("tasks")
    return (
        frozenset(t for t in tasks if isinstance(t, str))
        if isinstance(tasks, list)
        else frozenset()
    )


def _new_job(view: WorkflowView) -> str:
    """A job id not yet used for this plan: no submission journal of it in the plan
    directory, nor beside it (where a workflow file's submission keeps it)."""
    plan_dir = Path(view.plan_dir) if view.plan_dir else None
    return next_job_id(view.job_id, plan_dir, plan_dir.parent if plan_dir else None)


def _brought_back(
    view: WorkflowView,
    order: Sequence[str],
    records: Mapping[str, TaskRecord],
    job_tasks: JobTasks,
    chosen: Sequence[str],
    pending: Collection[str] = frozenset(),
) -> _BroughtBack:
    """Tasks terminated while they waited behind a chosen task (e.g. by `finish`) wait
    again: every completed task that never started and depends, directly or through such
    tasks, on one being reactivated (``order``: the job's tasks, parents first). Through
    tasks that still wait, too: a `finish` cut short leaves some of a chain active and the
    rest terminated.

    Only those terminated once that task had ended (they could never run then): a task a
    user terminated while the task it waited on was still running could still have run,
    and stays as the user left it. Each task brought back carries the end of the chosen task
    it waits behind (the earliest, when several), so a task terminated behind it is judged
    by that end too. ``pending``: the tasks a rerun cut short was to bring back
    (``read_pending``); those still terminated come back whatever the times say (that rerun
    reran their root, whose end is now a later one)."""
    behind: dict[str, datetime | None] = {t: records[t].end_time for t in chosen}
    cancelled: list[str] = []
    for t in order:
        rec = records[t]
        if t in behind or rec.started is not None:
            continue
        if rec.state == "active":
            # Waiting behind a task being reactivated: what was terminated behind it is.
            parents = parent_ids(view.definitions.get(t), job_tasks)
            waits = [behind[p] for p in parents if p in behind]
            if waits:
                known = [e for e in waits if e is not None]
                behind[t] = min(known) if known else None
            continue
        if rec.state != "completed" or not rec.failed:
            continue
        if t in pending:
            behind[t] = None
            cancelled.append(t)
            continue
        parents = parent_ids(view.definitions.get(t), job_tasks)
        ends = [behind[p] for p in parents if p in behind]
        if not ends:
            continue
        ended = rec.end_time
        known = [e for e in ends if e is not None]
        if ended is not None and known and len(known) == len(ends) and ended < min(known):
            continue  # terminated while what it waited on still ran: the user's doing
        behind[t] = min(known) if known else None
        cancelled.append(t)
    return _BroughtBack(frozenset(behind), cancelled)


def _blocking_parents(
    view: WorkflowView,
    task_id: str,
    records: Mapping[str, TaskRecord],
    job_tasks: JobTasks,
    coming_back: Iterable[str],
) -> list[str]:
    """The parents of ``task_id`` that ran, ended in a way that blocks their dependents
    (their ``exitConditions``' dependencyAction for that ending), and are not reactivated
    with it, in id order."""
    again = set(coming_back)
    return sorted(
        p
        for p in parent_ids(view.definitions.get(task_id), job_tasks)
        if p not in again
        and (rec := records.get(p)) is not None
        and rec.state == "completed"
        and rec.started is not None
        and resolve_exit(
            d.exit_conditions if (d := view.definitions.get(p)) else None, rec
        ).dependency_action
        == "block"
    )


def _parent_ran_since(
    view: WorkflowView, task_id: str, records: Mapping[str, TaskRecord], job_tasks: JobTasks
) -> bool:
    """Whether a parent of ``task_id`` started after it ended (it was rerun since)."""
    ended = records[task_id].end_time
    if ended is None:
        return False
    return any(
        (started := records[p].start_time) is not None and started > ended
        for p in parent_ids(view.definitions.get(task_id), job_tasks)
    )


def _terminated_parents(
    view: WorkflowView, task_id: str, records: Mapping[str, TaskRecord], job_tasks: JobTasks
) -> list[str]:
    """The parents of ``task_id`` that completed without ever starting (terminated while
    they waited), in id order."""
    return sorted(
        p
        for p in parent_ids(view.definitions.get(task_id), job_tasks)
        if records[p].state == "completed" and records[p].started is None
    )


def _order(view: WorkflowView, records: Mapping[str, TaskRecord]) -> list[str]:
    """The job's task ids, parents before children: the plan's order (a plan is in
    topological order) when the job holds only the plan's tasks, else sorted by their
    dependencies, the plan's or the job's order kept among tasks that do not depend on each
    other. The service lists a job's tasks in the order they were added, which need not be
    parents first: the SDK's ``create_tasks`` adds a list from its end."""
    seen = [t for t in view.plan_ids() if t in records]
    known = set(seen)
    others = [t for t in records if t not in known]
    if view.planned and not others:
        return seen
    layers = children_first(seen + others, view.definitions, records)
    return [t for layer in reversed(layers) for t in layer]


async def rerun(
    service: JobService,
    view: WorkflowView,
    snap: Snapshot,
    plan: RerunPlan | None = None,
    *,
    concurrency: int | None = None,
    progress: FinishProgress | None = None,
) -> RerunReport:
    """Reactivate the tasks of ``plan`` (computed from ``snap`` when not given).
    ``concurrency``: reactivate requests in flight, fixed; None: adaptive (``Pace``).
    ``progress(done, total)``: as ``finish``'s, one call a reactivate request (one a task:
    Batch has no bulk reactivate, and 100,000 of them take a while)."""
    pace = Pace(concurrency)
    plan = plan or plan_rerun(view, snap)
    # Parents first: a child reactivated while its parent still shows its old ending would
    # be decided by that ending. What is to come back is written down first: cut short
    # (Ctrl-C), the next `rerun --failed` brings back the rest, which the times alone no
    # longer tell (their root has run again since they were terminated).
    errors: dict[str, BaseException] = {}
    record = write_pending(
        view, [*still_pending(view, snap.records, snap.job), *plan.reactivate], snap.job
    )
    layers = children_first(plan.reactivate, view.definitions, snap.records)
    each_done = _counter(progress, len(plan.reactivate))
    for layer in reversed(layers):
        errors.update(await for_each(layer, service.reactivate, pace=pace, each_done=each_done))
    done = tuple(t for t in plan.reactivate if t not in errors)
    if record is not None:
        settle_pending(view, frozenset(done), snap.job)
    problems = tuple(
        TaskProblem(t, view.name(t), str(errors[t])) for t in plan.reactivate if t in errors
    )
    return RerunReport(plan=plan, reactivated=done, errors=problems)


async def finish(
    service: JobService,
    view: WorkflowView,
    snap: Snapshot,
    *,
    require_stuck: bool = True,
    progress: FinishProgress | None = None,
    concurrency: int | None = None,
    analysing: Progress | None = None,
) -> FinishReport:
    """Terminate the tasks that can never run (Batch's terminate task), so the job can end.

    With ``require_stuck`` (the default) nothing is done unless only such tasks remain (the
    verdict is ``stuck``); without it, the stranded tasks are terminated while others run.
    Tasks that could still run, run or wait on a missing task are never touched.
    ``progress(done, total)`` is called once the tasks to terminate are known (``done`` 0)
    and as each terminate request ends (one request a task: Batch has no bulk terminate),
    from the event loop's thread; never when there is nothing to terminate.
    ``concurrency``: terminate requests in flight, fixed; None (the default): adaptive, as
    `dagbatch submit`'s (``Pace``). ``analysing``: as ``build_status``'s ``progress``, of
    the analysis that finds them.
    """
    pace = Pace(concurrency)
    status, analysis = build_status(view, snap, progress=analysing)
    if require_stuck and status.verdict != "stuck":
        return FinishReport(view.job_id, status.verdict, (), (), _left_alone(status))
    records = snap.records
    active_blocked = [
        t
        for t in dict.fromkeys([*view.definitions, *records])
        if t in analysis.blocked and t in records and records[t].state == "active"
    ]
    # Only what is still active now ($filter state eq 'active'): a task that moved on since
    # the snapshot is left alone.
    still = set(await service.ids_in_state("active"))
    active_blocked = [t for t in active_blocked if t in still]
    # Children first where it matters: terminating a task completes it with a failure, which
    # would start a dependent still waiting that runs on it (a handler: the parent's
    # exitConditions satisfy on that ending). Below a parent that blocks on it (Batch's
    # default) child and parent go in the same layer: a stranded chain ends in one round.
    with gc_paused():  # a few objects a task, none in a cycle (dagbatch.gcpause)
        satisfies = {t: terminated_satisfies_of(view.definitions, t) for t in active_blocked}
        layers = children_first(
            active_blocked, view.definitions, records, ordered=satisfies.__getitem__
        )
    errors: dict[str, BaseException] = {}
    # Once the requests are about to go: the count's rate is theirs, not the ordering's.
    each_done = _counter(progress, len(active_blocked))
    for layer in layers:
        errors.update(await for_each(layer, service.terminate, pace=pace, each_done=each_done))
    # The status already holds the strand of each active blocked task (not a barrier's).
    known = {s.task_id: s for s in status.stranded}
    strands: list[Strand] = []
    serving = served_by(view.barriers)
    for t in active_blocked:
        if t in view.barriers:
            continue
        s = known.get(t) or strand_of(
            analysis,
            t,
            records,
            names=view.names,
            barriers=view.barriers,
            definitions=view.definitions,
            served_by=serving,
        )
        if errors and any(b in errors for b in s.barriers):
            s = replace(s, barriers=tuple(b for b in s.barriers if b not in errors))
        strands.append(s)
    problems = tuple(
        TaskProblem(t, view.name(t), str(errors[t])) for t in active_blocked if t in errors
    )
    return FinishReport(
        job_id=view.job_id,
        verdict_before=status.verdict,
        terminated=tuple(s for s in strands if s.task_id not in errors),
        errors=problems,
        left_alone=_left_alone(status),
    )


def _counter(progress: FinishProgress | None, total: int) -> Callable[[], None] | None:
    """``progress(0, total)`` now, and a hook that counts each request that ends; None when
    there is no progress to tell or nothing to do."""
    if progress is None or not total:
        return None
    progress(0, total)
    done = 0

    def each_done() -> None:
        nonlocal done
        done += 1
        progress(done, total)

    return each_done


def _left_alone(status: JobStatus) -> int:
    o = status.outcomes
    return o.get("waiting", 0) + o.get("running", 0)
