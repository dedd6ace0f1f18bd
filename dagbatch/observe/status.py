"""`dagbatch status`: where is my workflow? The service's task records mapped onto the plan.

``WorkflowView`` is the workflow's side (task definitions, waves, barriers and the user's names,
from a plan directory or, without one, from the tasks the service lists); ``build_status`` is
the pure computation of a ``JobStatus`` from a view and the records; ``read_status`` reads the
job through the REST API and builds it.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dagbatch.defaults import STDERR_TASKS
from dagbatch.errors import ConfigError, PlanError
from dagbatch.gcpause import gc_paused
from dagbatch.observe.model import (
    OUTCOMES,
    TASK_STATES,
    Definitions,
    FailedTask,
    JobStatus,
    RunningTask,
    Strand,
    TaskDefinition,
    TaskRecord,
    Verdict,
    WaveCount,
)
from dagbatch.observe.service import CONCURRENCY, JobService
from dagbatch.observe.stranded import (
    TASK_ENDED,
    Analysis,
    analyse,
    barrier_children,
    missing_of,
    resolve_exit,
    served_by,
    strand_kind,
    strand_of,
    succeeded_by_exit_code,
)
from dagbatch.plan import PLAN_FILE, LoadedPlan, PlanManifest, load_plan
from dagbatch.servicetime import parse_service_time

#: ``progress(done, total)``: how far a long pass over a job's tasks is.
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class WorkflowView:
    """The workflow's side of a job: each task's definition, its wave, the barriers (each
    mapped to the child it serves) and the user's names of renumbered ids (plan.json
    ``idMap``: new id -> original name)."""

    job_id: str
    definitions: Mapping[str, TaskDefinition]
    waves: Mapping[str, int] = field(default_factory=dict)
    barriers: Mapping[str, str] = field(default_factory=dict)  # barrier id -> child id
    names: Mapping[str, str] = field(default_factory=dict)
    planned: bool = False  # built from a plan directory (waves and names known)
    plan_dir: str | None = None  # that directory, for the commands a message suggests

    @classmethod
    def from_plan(cls, plan: LoadedPlan, job_id: str | None = None) -> WorkflowView:
        bodies: dict[str, dict[str, Any]] = {}
        waves: dict[str, int] = {}
        for batch in plan.batches:
            wave = batch.wave
            for body in batch.tasks:
                bodies[body["id"]] = body
                waves[body["id"]] = wave
        definitions = Definitions(bodies)
        barriers = barrier_children(definitions, plan.manifest.barriers)
        names = dict(plan.manifest.idMap)
        for b, child in barriers.items():
            names[b] = f"barrier of {names.get(child, child)}"
        jid = job_id or plan.manifest.jobId
        if not jid:
            raise ConfigError("the plan names no job: pass --job-id")
        return cls(
            jid, definitions, waves, barriers, names, planned=True, plan_dir=str(plan.directory)
        )

    @classmethod
    def from_service(cls, job_id: str, definitions: Mapping[str, TaskDefinition]) -> WorkflowView:
        """Without a plan: the tasks' own dependsOn/exitConditions, no waves, ids as names."""
        return cls(job_id, definitions)

    def name(self, task_id: str) -> str:
        return self.names.get(task_id, task_id)

    def in_plan(self, task_id: str) -> bool:
        """Whether ``task_id`` is one of the plan's tasks (not one the job holds beside
        them, whose definition was read from the service: ``with_outside``)."""
        defs = self.definitions
        return defs.planned(task_id) if isinstance(defs, Definitions) else task_id in defs

    def plan_ids(self) -> Iterable[str]:
        """The plan's task ids, in its order."""
        defs = self.definitions
        return defs.planned_ids() if isinstance(defs, Definitions) else iter(defs)

    def with_outside(self, bodies: Mapping[str, Mapping[str, Any]]) -> WorkflowView:
        """This view, analysing beside the plan's tasks the job's others (``bodies``: as the
        service lists them): their parents and exit conditions are theirs, not unknown."""
        defs = self.definitions
        if not bodies or not isinstance(defs, Definitions):
            return self
        return replace(self, definitions=defs.with_outside(bodies))


@dataclass(frozen=True)
class Snapshot:
    """What the service said about a job at one moment (the input of ``build_status``)."""

    job: Mapping[str, Any]
    records: Mapping[str, TaskRecord]
    service_counts: Mapping[str, int]
    at: datetime
    stderr: Mapping[str, str | None] = field(default_factory=dict)


def check_job_holds_plan(
    job_id: str, plan_ids: Collection[str], records: Collection[str], plan_dir: str | None = None
) -> None:
    """``ConfigError`` (a usage error) when the job holds tasks but none of the plan's: what
    is read of it would say every task of the plan is missing from a job the plan never went
    to. An empty job passes (the plan may not be submitted yet). `status` and `show
    --job-id` both refuse it."""
    if records and not any(t in records for t in plan_ids):
        raise ConfigError(
            f"job {job_id} holds none of the plan's {len(plan_ids):,} tasks (it holds "
            f"{len(records):,} others): it was not submitted from {plan_dir or 'this plan'}; "
            "name the job the plan went to (--job-id), or give the plan the job came from"
        )


def job_has_ended(job: Mapping[str, Any]) -> bool:
    """Whether no task of the job starts again: it is completed or terminating."""
    return str(job.get("state", "active")) in ("completed", "terminating")


def task_outcome(
    task_id: str,
    record: TaskRecord,
    analysis: Analysis,
    records: Mapping[str, TaskRecord],
    definitions: Mapping[str, TaskDefinition],
    *,
    job_ended: bool,
) -> str:
    """What happened to one task (one of ``OUTCOMES``): the one decision behind the counts
    of `dagbatch status` and the states `dagbatch show --job-id` draws.

    ``analysis`` is ``stranded.analyse`` over ``records``; ``job_ended``: the job is
    completed or terminating (``job_has_ended``). A task that completed without starting
    never ran: ``skipped`` when a parent that succeeded holds it back (a handler not
    needed), else ``cancelled`` (e.g. `finish` terminated it, whether or not what it waited
    on still blocks it). A task left active in a job that has ended is ``cancelled`` too,
    blocked or not: Batch leaves active tasks active when a job terminates and starts none
    of them again [BATCH_FACTS 5, Terminate Job], so the job's end, not a parent, is why it
    never runs (a handler not needed stays ``skipped``)."""
    state = record.state
    if state in ("running", "preparing"):
        return "running"
    blocked = task_id in analysis.blocked
    if state == "active":
        if blocked:
            kind = strand_kind(analysis, task_id, records, definitions)
            if kind == "cycle":  # counted with the tasks a parent's ending strands
                kind = "stranded"
            return "cancelled" if job_ended and kind == "stranded" else kind
        return "cancelled" if job_ended else "waiting"
    if blocked:  # completed without running: terminated while blocked
        return (
            "skipped"
            if strand_kind(analysis, task_id, records, definitions) == "skipped"
            else "cancelled"
        )
    if record.failed and record.started is None:
        # Terminated while it waited, and what it waited on does not block it now (e.g. a
        # failure handler whose parent was terminated after it): it never ran.
        return "cancelled"
    if record.failed and not succeeded_by_exit_code(definitions.get(task_id), record):
        return "failed"
    return "succeeded"  # a success, or an exit code its exitConditions count as one


def build_status(
    view: WorkflowView, snap: Snapshot, *, progress: Progress | None = None
) -> tuple[JobStatus, Analysis]:
    """The ``JobStatus`` of a snapshot, and the analysis it rests on (pure). A few objects
    a task, none in a cycle: made with the cyclic collector paused (``dagbatch.gcpause``).

    ``progress(done, total)``: how far it is, of the job's tasks (``total``), now and then
    and at the end: the analysis counts for the first half of each task, its outcome the
    second."""
    with gc_paused():
        return _build_status(view, snap, progress)


#: Tasks between two calls of a pass's ``progress``.
PROGRESS_EVERY = 4096


def _build_status(
    view: WorkflowView, snap: Snapshot, progress: Progress | None
) -> tuple[JobStatus, Analysis]:
    records = snap.records
    size = len(records)
    if progress is not None:
        progress(0, size)
    analysis = analyse(
        view.definitions,
        records,
        progress=(lambda done, _: progress(done // 2, size)) if progress is not None else None,
    )
    barriers = view.barriers
    job = snap.job
    job_state = str(job.get("state", "active"))
    exec_info = job.get("executionInfo") if isinstance(job.get("executionInfo"), dict) else {}
    reason = exec_info.get("terminateReason") if isinstance(exec_info, dict) else None

    states: Counter[str] = Counter({s: 0 for s in TASK_STATES})
    outcomes: Counter[str] = Counter({o: 0 for o in OUTCOMES})
    by_wave: dict[int, Counter[str]] = {}
    running: list[RunningTask] = []
    failed: list[FailedTask] = []
    stranded: list[Strand] = []
    cancelled: list[str] = []
    pending = False  # some task can still run or is running
    ordered = list(view.plan_ids()) if view.planned else sorted(records, key=_id_order)
    if view.planned:
        check_job_holds_plan(view.job_id, ordered, records, view.plan_dir)
    held = _held_by_missing(view.definitions, records, analysis) if analysis.missing else set()
    ended = job_has_ended(job)  # no task of the job starts again
    disabled = job_state in ("disabled", "disabling")  # none starts until it is enabled
    not_in_job = [view.name(t) for t in ordered if t not in records and t not in barriers]
    not_in_plan: list[str] = []
    if view.planned and len(records) > len(ordered) - len(not_in_job) - len(barriers):
        # The job holds tasks the plan does not (added by hand, or by another plan): they
        # are the job's, and a range of the plan may select one; counted after the plan's.
        not_in_plan = sorted((t for t in records if not view.in_plan(t)), key=_id_order)
        ordered += not_in_plan

    serving = served_by(barriers)  # once, not a pass over the barriers a stranded task

    def strand_for(tid: str) -> Strand:
        return strand_of(
            analysis,
            tid,
            records,
            names=view.names,
            barriers=barriers,
            definitions=view.definitions,
            served_by=serving,
        )

    definitions = view.definitions
    seen = 0
    by_exit_code = 0  # succeeded, by an exit code Batch records as a failure
    for tid in ordered:
        rec = records.get(tid)
        if rec is None:
            continue
        seen += 1
        if progress is not None and not seen % PROGRESS_EVERY:
            progress((size + seen) // 2, size)
        outcome = task_outcome(tid, rec, analysis, records, definitions, job_ended=ended)
        if outcome == "running":
            pending = True
        elif outcome == "waiting":
            if tid not in held:
                pending = True
        elif outcome in ("stranded", "skipped") and rec.state == "active" and tid not in barriers:
            stranded.append(strand_for(tid))
        if outcome == "running":
            seconds = (snap.at - rec.start_time).total_seconds() if rec.start_time else None
            running.append(RunningTask(tid, view.name(tid), rec.state, rec.start_time, seconds))
        if outcome == "failed":
            failed.append(
                FailedTask(
                    tid,
                    view.name(tid),
                    rec.exit_code,
                    rec.failure,
                    rec.end_time,
                    rec.retry_count,
                    snap.stderr.get(tid),
                )
            )
        if tid in barriers:
            continue  # folded into the child it serves
        if outcome == "cancelled":
            cancelled.append(view.name(tid))
        elif outcome == "succeeded" and rec.failed:
            by_exit_code += 1
        states[rec.state] += 1
        outcomes[outcome] += 1
        wave = view.waves.get(tid)
        if wave is not None:
            # (Not setdefault: its default, a new Counter, would be built for every task.)
            in_wave = by_wave.get(wave)
            if in_wave is None:
                in_wave = by_wave[wave] = Counter(dict.fromkeys(OUTCOMES, 0))
            in_wave[outcome] += 1

    if progress is not None:
        progress(size, size)
    running.sort(key=lambda r: (r.start_time is None, r.start_time or snap.at))
    failed.sort(key=lambda f: (f.end_time is None, f.end_time or snap.at))
    terminated_by: str | None = None
    verdict: Verdict
    if ended and reason != "AllTasksComplete":
        verdict = "terminated"
        if reason == "TaskFailed":
            terminated_by = _ending_task(view, records, job, "terminate")
    elif ended and (not records or not_in_job):
        # Completed with tasks still to come: onAllTasksComplete terminatejob set before the
        # last task was added ends the job as soon as the tasks it holds have completed, and
        # a job holding none at once [BATCH_FACTS run-time rules 6]; no task can be added to it now.
        verdict = "terminated"
    elif records and all(r.state == "completed" for r in records.values()):
        # Every task the job holds has completed; if the plan has tasks it does not hold
        # (a submission cut short), the workflow cannot complete until they are added.
        verdict = "stuck" if not_in_job else "complete"
    elif (pending and not (disabled and not running)) or not records:
        verdict = "running"
    else:
        # Only tasks that can never run remain, or the job is disabled and nothing runs:
        # nothing moves until someone acts.
        verdict = "stuck"
    disabled_by = _ending_task(view, records, job, "disable") if disabled else None
    created = parse_service_time(job.get("creationTime"))
    status = JobStatus(
        job_id=view.job_id,
        job_state=job_state,
        terminate_reason=str(reason) if reason is not None else None,
        verdict=verdict,
        terminated_by=terminated_by,
        disabled_by=disabled_by,
        cancelled=tuple(cancelled),
        total=sum(1 for t in records if t not in barriers),
        barriers=sum(1 for t in records if t in barriers),
        states=dict(states),
        outcomes=dict(outcomes),
        succeeded_by_exit_code=by_exit_code,
        waves=tuple(WaveCount(w, dict(c)) for w, c in sorted(by_wave.items())),
        running=tuple(running),
        failed=tuple(failed),
        stranded=tuple(stranded),
        missing=tuple(
            missing_of(analysis, t, view.names) for t in ordered if t in analysis.missing
        ),
        not_in_job=tuple(not_in_job),
        not_in_plan=tuple(not_in_plan),
        planned=view.planned,
        service_counts=dict(snap.service_counts),
        elapsed=_age(job, created, snap.at),
    )
    return status, analysis


def _age(job: Mapping[str, Any], created: datetime | None, now: datetime) -> float | None:
    """Seconds from the job's creation to now, or to its end once it has ended: the age of
    a job that ended an hour ago is not an hour more than it ran."""
    if created is None:
        return None
    end = parse_service_time((job.get("executionInfo") or {}).get("endTime"))
    return ((end or now) - created).total_seconds()


def _id_order(task_id: str) -> tuple[int, int, str]:
    return (0, int(task_id), "") if task_id.isdigit() else (1, 0, task_id)


def _held_by_missing(
    definitions: Mapping[str, TaskDefinition],
    records: Mapping[str, TaskRecord],
    analysis: Analysis,
) -> set[str]:
    """The active tasks that wait on a task the job does not hold, directly
    (``analysis.missing``) or through a parent that does: none of them can start until
    that task is added. Repeated until nothing is added (one pass when the tasks come
    parents first, as a plan's do)."""
    held = set(analysis.missing)
    folded = {t.lower() for t in held}
    numbers = {int(t) for t in held if t.isascii() and t.isdigit()}  # what a range selects
    waiting = [
        t
        for t, r in records.items()
        if r.state == "active" and t not in held and t not in analysis.blocked
    ]
    grew = True
    while grew:
        grew = False
        for tid in waiting:
            if tid in held:
                continue
            d = definitions.get(tid)
            if d is None:
                continue
            if any(p.lower() in folded for p in d.depends_on.task_ids) or any(
                a <= n <= b for a, b in d.depends_on.ranges for n in numbers
            ):
                held.add(tid)
                folded.add(tid.lower())
                if tid.isascii() and tid.isdigit():
                    numbers.add(int(tid))
                grew = True
    return held


def _ending_task(
    view: WorkflowView, records: Mapping[str, TaskRecord], job: Mapping[str, Any], action: str
) -> str | None:
    """The task whose ending's ``jobAction`` is ``action`` (``terminate`` or ``disable``; the
    job's onTaskFailure being ``performexitoptionsjobaction`` [BATCH_FACTS 5]); the earliest
    to end if several."""
    if str(job.get("onTaskFailure", "noaction")).lower() != "performexitoptionsjobaction":
        return None
    latest = datetime.max.replace(tzinfo=UTC)
    ending: list[tuple[datetime, str]] = []
    for tid, rec in records.items():
        if rec.state != "completed" or (rec.failure and rec.failure.code == TASK_ENDED):
            continue  # a task terminated by a user fires no jobAction
        d = view.definitions.get(tid)
        if resolve_exit(d.exit_conditions if d else None, rec).job_action == action:
            ending.append((rec.end_time or latest, tid))
    return view.name(min(ending)[1]) if ending else None


#: The states ``taskCounts`` counts every task in once (``succeeded`` and ``failed`` split
#: ``completed``).
_COUNTED_STATES = ("active", "running", "completed")


async def read_job(
    service: JobService, *, definitions: bool = False, progress: Progress | None = None
) -> tuple[dict[str, Any], dict[str, int], dict[str, TaskRecord], Mapping[str, TaskDefinition]]:
    """The job, its task counts and every task's record (and definition: ``definitions``),
    read at once. ``progress(done, total)``: the tasks listed so far after each page, of the
    job's count of them (its task counts, read at the same time: told once they are known;
    a listing of 200,000 tasks is 200 pages), and ``(done, done)`` at the end."""
    expected: list[int] = []  # the job's count of its tasks, once it is known
    listed_so_far = [0]

    async def task_counts() -> dict[str, int]:
        counts = await service.task_counts()
        expected.append(sum(counts.get(s, 0) for s in _COUNTED_STATES))
        if progress is not None and expected[0] and not listed_so_far[0]:
            progress(0, expected[0])  # the count starts (its rate is from now)
        return counts

    def listed(done: int) -> None:
        listed_so_far[0] = done
        if progress is not None and expected and expected[0]:
            # Counts "may not always be up to date": never more done than told of.
            progress(done, max(done, expected[0]))

    job, counts, (records, defs) = await asyncio.gather(
        service.job(),
        task_counts(),
        service.tasks(definitions=definitions, listed=listed if progress else None),
    )
    if progress is not None:
        progress(len(records), len(records))
    return job, counts, records, defs


async def read_snapshot(
    service: JobService,
    view: WorkflowView | Callable[[], WorkflowView] | None,
    *,
    stderr_tasks: int = STDERR_TASKS,
    progress: Progress | None = None,
) -> tuple[WorkflowView, Snapshot]:
    """Read the job, its task counts and every task's record (with the definitions when
    there is no plan), then the stderr.txt tails of the first failed tasks.

    ``view`` may be a function that loads it (e.g. reads a plan directory): it then runs in a
    thread while the tasks are listed, so reading the plan overlaps the service's answers.
    ``progress``: the listing's (``read_job``)."""
    loading = (
        asyncio.ensure_future(asyncio.to_thread(view))
        if view is not None and not isinstance(view, WorkflowView)
        else None
    )
    try:
        job, counts, records, defs = await read_job(
            service, definitions=view is None, progress=progress
        )
    finally:
        if loading is not None and not loading.done():
            await asyncio.wait([loading])
    if loading is not None:
        view = loading.result()
    elif view is None:
        view = WorkflowView.from_service(service.job_id, defs)
    assert isinstance(view, WorkflowView)
    if view.planned:
        # Tasks beside the plan's (added by hand, or by another plan): analysed as the
        # plan's are, from their own dependsOn and exitConditions; not counted as waiting
        # on nothing (a stuck job read as running).
        outside = [t for t in records if t not in view.definitions]
        if outside:
            view = view.with_outside(await service.definitions_of(outside))
    at = datetime.now(UTC)
    snap = Snapshot(job, records, counts, at)
    if stderr_tasks > 0:
        # The tasks that ran and failed (those that never started are not worth a read).
        latest = datetime.max.replace(tzinfo=UTC)
        ran = sorted(
            (r.end_time or latest, r.id)
            for r in records.values()
            if r.failed and r.started is not None
        )
        wanted = [tid for _, tid in ran[:stderr_tasks]]
        gate = asyncio.Semaphore(CONCURRENCY)

        async def tail(tid: str) -> tuple[str, str | None]:
            async with gate:
                return tid, await service.stderr_tail(tid)

        tails = dict(await asyncio.gather(*(tail(t) for t in wanted)))
        snap = Snapshot(job, records, counts, at, tails)
    return view, snap


def plan_job_id(plan_dir: Path, job_id: str | None) -> str:
    """The job a plan directory is for (``job_id`` when given), from plan.json alone."""
    if job_id:
        return job_id
    try:
        manifest = PlanManifest.model_validate_json((Path(plan_dir) / PLAN_FILE).read_bytes())
    except (OSError, ValueError) as exc:
        raise PlanError(
            f"{plan_dir} is not a plan directory: cannot read {PLAN_FILE} ({exc})"
        ) from exc
    if not manifest.jobId:
        raise ConfigError("the plan names no job: pass --job-id")
    return manifest.jobId


def plan_view(plan_dir: Path, job_id: str | None) -> WorkflowView:
    """The view of a plan directory (``job_id`` overrides its jobId)."""
    return WorkflowView.from_plan(load_plan(plan_dir, order=False), job_id)


def load_view(plan_dir: Path | None, job_id: str | None) -> WorkflowView | None:
    """The view of a plan directory (None without one: the service's definitions are used)."""
    if plan_dir is None:
        return None
    return WorkflowView.from_plan(load_plan(plan_dir, order=False), job_id)
