"""The data objects of `dagbatch status`, `rerun` and `finish`: what the service says about a
task, the workflow's view of it, and the reports. Plain frozen dataclasses with ``to_dict``
(the ``--json`` shape), usable from a notebook.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import chain
from typing import Any, Literal, NamedTuple

from dagbatch.gcpause import gc_paused
from dagbatch.servicetime import parse_service_time

#: Task states of the service [BATCH_FACTS 1].
TaskState = Literal["active", "preparing", "running", "completed"]
TASK_STATES: tuple[TaskState, ...] = ("active", "preparing", "running", "completed")
_STATES = frozenset(TASK_STATES)

#: The answer to "where is my workflow?".
Verdict = Literal["complete", "running", "stuck", "terminated"]

#: Why an active task can never run: a parent ``failed`` (the usual stranding), or a parent
#: ``succeeded`` and the dependency only runs on failure (a failure handler not needed: the
#: intended ending, reported as skipped).
StrandKind = Literal["stranded", "skipped", "cycle"]


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


@dataclass(frozen=True, slots=True)
class FailureInfo:
    """``executionInfo.failureInfo`` [BATCH_FACTS 1]."""

    category: str | None
    code: str | None
    message: str | None

    def to_dict(self) -> dict[str, Any]:
        return {"category": self.category, "code": self.code, "message": self.message}

    @classmethod
    def from_wire(cls, raw: Any) -> FailureInfo | None:
        if not isinstance(raw, dict):
            return None
        return cls(
            category=_str_or_none(raw.get("category")),
            code=_str_or_none(raw.get("code")),
            message=_str_or_none(raw.get("message")),
        )


def _str_or_none(value: Any) -> str | None:
    return None if value is None else str(value)


@dataclass(frozen=True, slots=True)
class Dependencies:
    """A task's ``dependsOn``: exact ids and inclusive integer ranges [BATCH_FACTS 4]."""

    task_ids: tuple[str, ...] = ()
    ranges: tuple[tuple[int, int], ...] = ()

    @classmethod
    def from_wire(cls, raw: Any) -> Dependencies:
        if not raw:
            return NO_DEPENDENCIES
        ids = raw.get("taskIds")
        ranges = raw.get("taskIdRanges")
        if not ids and not ranges:
            return NO_DEPENDENCIES
        return cls(
            tuple(ids) if ids else (),
            tuple((int(r["start"]), int(r["end"])) for r in ranges) if ranges else (),
        )

    def __bool__(self) -> bool:
        return bool(self.task_ids or self.ranges)


NO_DEPENDENCIES = Dependencies()


@dataclass(frozen=True, slots=True)
class TaskDefinition:
    """What the analysis needs of a task's body: its dependencies and ``exitConditions``."""

    id: str
    depends_on: Dependencies = NO_DEPENDENCIES
    exit_conditions: Mapping[str, Any] | None = None

    @classmethod
    def from_wire(cls, body: Mapping[str, Any]) -> TaskDefinition:
        ec = body.get("exitConditions")
        return cls(
            id=str(body["id"]),
            depends_on=Dependencies.from_wire(body.get("dependsOn")),
            exit_conditions=ec if isinstance(ec, dict) else None,
        )


class Definitions(Mapping[str, TaskDefinition]):
    """Task definitions by id, built from the task bodies on first use: a status of a
    100,000-task plan reads the definitions of the few tasks it analyses, not of all.

    ``outside``: the bodies of tasks a job holds beside a plan's (added by hand, or by
    another plan), read from the service: analysed with the plan's, yet not the plan's
    (``planned``, ``planned_ids``)."""

    def __init__(
        self,
        bodies: Mapping[str, Mapping[str, Any]],
        outside: Mapping[str, Mapping[str, Any]] | None = None,
    ):
        self._bodies = bodies
        self._outside: Mapping[str, Mapping[str, Any]] = outside or {}
        self._made: dict[str, TaskDefinition] = {}

    def with_outside(self, outside: Mapping[str, Mapping[str, Any]]) -> Definitions:
        """These definitions and those of ``outside``'s bodies (tasks beside the plan's)."""
        return Definitions(self._bodies, {**self._outside, **outside})

    def planned(self, task_id: str) -> bool:
        """Whether ``task_id`` is one of the plan's (or the listing's) own, not outside."""
        return task_id in self._bodies

    def planned_ids(self) -> Iterator[str]:
        """The ids of the plan's own tasks, in its order."""
        return iter(self._bodies)

    def _body(self, task_id: str) -> Mapping[str, Any] | None:
        body = self._bodies.get(task_id)
        return body if body is not None or not self._outside else self._outside.get(task_id)

    def __getitem__(self, task_id: str) -> TaskDefinition:
        made = self._made.get(task_id)
        if made is None:
            body = self._body(task_id)
            if body is None:
                raise KeyError(task_id)
            made = self._made[task_id] = TaskDefinition.from_wire(body)
        return made

    def get(  # type: ignore[override]
        self, task_id: str, default: TaskDefinition | None = None
    ) -> TaskDefinition | None:
        """As ``Mapping.get``, without its ``KeyError`` round trip (called once a task by
        every analysis)."""
        made = self._made.get(task_id)
        if made is not None:
            return made
        body = self._body(task_id)
        if body is None:
            return default
        made = self._made[task_id] = TaskDefinition.from_wire(body)
        return made

    def __contains__(self, task_id: object) -> bool:
        return task_id in self._bodies or task_id in self._outside

    def __iter__(self) -> Iterator[str]:
        if not self._outside:
            return iter(self._bodies)
        return chain(self._bodies, self._outside)

    def __len__(self) -> int:
        return len(self._bodies) + len(self._outside)

    def raw_exit_conditions(self, task_id: str) -> Any:
        """The task's ``exitConditions`` as sent (None when absent or unknown)."""
        body = self._body(task_id) if isinstance(task_id, str) else None
        return body.get("exitConditions") if body is not None else None

    def raw_depends_on(self, task_id: str) -> tuple[Any, Any] | None:
        """The task's ``dependsOn.taskIds`` and ``dependsOn.taskIdRanges`` as sent (None for a
        task it does not hold), without making its ``TaskDefinition``."""
        body = self._body(task_id)
        if body is None:
            return None
        dep = body.get("dependsOn")
        return (dep.get("taskIds"), dep.get("taskIdRanges")) if dep else (None, None)

    def raw_dependencies(self) -> Iterator[tuple[str, Any, Any]]:
        """(task id, ``dependsOn.taskIds``, ``dependsOn.taskIdRanges``) as sent, for the tasks
        that depend on any."""
        for bodies in (self._bodies, self._outside):
            for tid, body in bodies.items():
                dep = body.get("dependsOn")
                if dep:
                    yield tid, dep.get("taskIds"), dep.get("taskIdRanges")


def _record_time(value: str | float | None) -> datetime | None:
    """A ``TaskRecord`` time: as the service wrote it, or epoch seconds."""
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC)
    return parse_service_time(value)


class TaskRecord(NamedTuple):
    """One task as the service reports it (the ``$select``-ed fields of a list answer).

    The start and end times are kept as the service wrote them (or, from a local run, as
    epoch seconds) and read when asked for (``start_time``, ``end_time``): a 100,000-task
    listing needs only a few of them. A named tuple, not a frozen dataclass: as immutable, and
    made in a quarter of the time (one a task of every listing and every local run).
    """

    id: str
    state: TaskState
    exit_code: int | None = None
    result: str | None = None  # success | failure, only when completed
    failure: FailureInfo | None = None
    started: str | float | None = None  # executionInfo.startTime as sent (or epoch seconds)
    ended: str | float | None = None  # executionInfo.endTime as sent (or epoch seconds)
    retry_count: int = 0

    @property
    def start_time(self) -> datetime | None:
        return _record_time(self.started)

    @property
    def end_time(self) -> datetime | None:
        return _record_time(self.ended)

    @classmethod
    def from_wire(cls, raw: Mapping[str, Any]) -> TaskRecord:
        state = raw.get("state", "active")
        if state not in _STATES:
            state = str(state).lower()
            if state not in _STATES:
                state = "active"
        info = raw.get("executionInfo")
        if not info:
            return cls(raw["id"], state)
        exit_code = info.get("exitCode")
        result = info.get("result")
        failure = info.get("failureInfo")
        return cls(
            raw["id"],
            state,
            exit_code,
            result.lower() if result is not None else None,
            FailureInfo.from_wire(failure) if failure is not None else None,
            info.get("startTime"),
            info.get("endTime"),
            info.get("retryCount") or 0,
        )

    @property
    def failed(self) -> bool:
        """Completed with a failure: a non-zero exit code or a failureInfo [BATCH_FACTS 1]."""
        if self.state != "completed":
            return False
        if self.result is not None:
            return self.result == "failure"
        return self.failure is not None or (self.exit_code is not None and self.exit_code != 0)


@dataclass(frozen=True, slots=True)
class ExitOutcome:
    """How a completed task's ending resolves against its ``exitConditions`` [BATCH_FACTS 5]:
    the condition that matched (``exitCodes``, ``exitCodeRanges``, ``preProcessingError``,
    ``fileUploadError``, ``default``, or ``batch-default`` when none did) and the actions."""

    condition: str
    dependency_action: Literal["satisfy", "block"]
    job_action: str


@dataclass(frozen=True, slots=True)
class Strand:
    """Why an active task can never run.

    ``chain`` names the tasks from the stranded one to the parent whose ending blocks it (the
    ``root``), each waiting on the next; barrier tasks are left out of it (they are folded
    into the child they serve). ``outcome`` is how the root's ending resolved. A task that
    waits on a dependency cycle (``kind`` ``cycle``) has for root a task of the cycle, which
    never ended, and its chain goes round the cycle back to it.
    """

    task_id: str
    name: str
    kind: StrandKind
    chain: tuple[str, ...]  # display names, this task first, the root last
    root_id: str
    root_exit_code: int | None
    root_failure_code: str | None
    outcome: ExitOutcome
    barriers: tuple[str, ...] = ()  # barrier ids serving this task that are stranded too

    def explain(self) -> str:
        """E.g. ``reduce waits on 17, which exited 2 → dependencyAction: block (...)``."""
        parts = [f"{self.chain[0]} waits on {self.chain[1]}"]
        parts += [f"which waits on {name}" for name in self.chain[2:]]
        if self.kind == "cycle":
            return f"{', '.join(parts)}: tasks that wait on each other never start"
        ended = _ending(self.root_exit_code, self.root_failure_code)
        where = (
            "Batch's default for that ending"
            if self.outcome.condition == "batch-default"
            else f"exitConditions.{self.outcome.condition}"
        )
        return f"{', '.join(parts)}, which {ended} → dependencyAction: block ({where})"

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.task_id,
            "name": self.name,
            "kind": self.kind,
            "chain": list(self.chain),
            "root": self.root_id,
            "rootExitCode": self.root_exit_code,
            "rootFailureCode": self.root_failure_code,
            "condition": self.outcome.condition,
            "dependencyAction": self.outcome.dependency_action,
            "barriers": list(self.barriers),
            "explanation": self.explain(),
        }


def _ending(exit_code: int | None, failure_code: str | None) -> str:
    if failure_code == "TaskEnded":  # terminated, by a user or with its job [BATCH_FACTS 1, 7]
        return "was terminated" + (f" (exit code {exit_code})" if exit_code is not None else "")
    if exit_code is not None and failure_code and exit_code == 0:
        return f"exited 0 but failed ({failure_code})"
    if exit_code is not None:
        return f"exited {exit_code}"
    if failure_code:
        return f"failed before its command ran ({failure_code})"
    return "completed without an exit code"


@dataclass(frozen=True, slots=True)
class Missing:
    """An active task that waits on a task id the job does not hold: it runs only if that task
    is added (Batch's behaviour here is undocumented [BATCH_FACTS 4])."""

    task_id: str
    name: str
    missing: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.task_id, "name": self.name, "missing": list(self.missing)}


@dataclass(frozen=True, slots=True)
class RunningTask:
    id: str
    name: str
    state: TaskState
    start_time: datetime | None
    seconds: float | None  # how long it has been running, when the service says

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "state": self.state,
            "startTime": _iso(self.start_time),
            "seconds": self.seconds,
        }


@dataclass(frozen=True, slots=True)
class FailedTask:
    id: str
    name: str
    exit_code: int | None
    failure: FailureInfo | None
    end_time: datetime | None
    retry_count: int
    stderr_tail: str | None = None  # None: not fetched or not available

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "exitCode": self.exit_code,
            "failureInfo": self.failure.to_dict() if self.failure else None,
            "endTime": _iso(self.end_time),
            "retryCount": self.retry_count,
            "stderrTail": self.stderr_tail,
        }


@dataclass(frozen=True, slots=True)
class WaveCount:
    wave: int
    counts: Mapping[str, int]  # outcome -> tasks

    def to_dict(self) -> dict[str, Any]:
        return {"wave": self.wave, **self.counts}


#: Outcome buckets of a task in the workflow's terms (every user task is in exactly one).
OUTCOMES = ("waiting", "running", "succeeded", "failed", "stranded", "skipped", "cancelled")


@dataclass(frozen=True)
class JobStatus:
    """The answer to "where is my workflow?" (``dagbatch status``).

    ``states`` counts the user's tasks by service state; ``outcomes`` by what happened to them:
    ``waiting`` (active, can still run), ``running`` (preparing or running), ``succeeded``,
    ``failed``, ``stranded`` (active, can never run: a parent failed), ``skipped`` (can never
    run because a parent succeeded and the dependency was on failure, or was terminated for
    that reason), ``cancelled`` (completed without running because a parent failed: what
    ``finish`` does to stranded tasks; or left active in a job that has ended, where no task
    starts again). Barrier tasks are folded into the child they serve.
    """

    job_id: str
    job_state: str
    terminate_reason: str | None
    verdict: Verdict
    terminated_by: str | None  # the task whose jobAction terminated the job, when known
    total: int  # the user's tasks (barriers excluded)
    barriers: int
    states: Mapping[str, int]
    outcomes: Mapping[str, int]
    waves: tuple[WaveCount, ...]
    running: tuple[RunningTask, ...]
    failed: tuple[FailedTask, ...]
    stranded: tuple[Strand, ...]  # active tasks that can never run (kind stranded or skipped)
    missing: tuple[Missing, ...]
    not_in_job: tuple[str, ...]  # plan tasks the service does not list (names)
    service_counts: Mapping[str, int] = field(default_factory=dict)  # taskCounts as given
    elapsed: float | None = None  # seconds since the job was created (to its end, if ended)
    disabled_by: str | None = None  # the task whose jobAction disabled the job, when known
    cancelled: tuple[str, ...] = ()  # names of the tasks counted cancelled, in plan order
    not_in_plan: tuple[str, ...] = ()  # tasks of the job the plan does not hold (ids)
    planned: bool = False  # read with the plan (a plan directory to name in a fix)
    #: Of ``outcomes["succeeded"]``: tasks Batch records as failed whose exit code their
    #: ``exitConditions`` count as a success (``satisfy_exit_codes``); ``service_counts``
    #: counts them failed.
    succeeded_by_exit_code: int = 0

    @property
    def finishable(self) -> bool:
        """Only tasks that can never run remain (``finish`` would end the job)."""
        return self.verdict == "stuck" and bool(self.stranded) and not self.missing

    def to_dict(self) -> dict[str, Any]:
        # A dict a task that can never run (100,000s of them), none in a cycle: made with
        # the cyclic collector paused (``dagbatch.gcpause``), a quarter of the time.
        with gc_paused():
            return self._to_dict()

    def _to_dict(self) -> dict[str, Any]:
        return {
            "jobId": self.job_id,
            "jobState": self.job_state,
            "terminateReason": self.terminate_reason,
            "verdict": self.verdict,
            "terminatedBy": self.terminated_by,
            "disabledBy": self.disabled_by,
            "cancelled": list(self.cancelled),
            "notInPlan": list(self.not_in_plan),
            "total": self.total,
            "barriers": self.barriers,
            "states": dict(self.states),
            "outcomes": dict(self.outcomes),
            "succeededByExitCode": self.succeeded_by_exit_code,
            "waves": [w.to_dict() for w in self.waves],
            "running": [t.to_dict() for t in self.running],
            "failed": [t.to_dict() for t in self.failed],
            "stranded": [s.to_dict() for s in self.stranded],
            "missing": [m.to_dict() for m in self.missing],
            "notInJob": list(self.not_in_job),
            "serviceCounts": dict(self.service_counts),
            "elapsed": self.elapsed,
        }


@dataclass(frozen=True, slots=True)
class TaskProblem:
    """A task an operation refused or the service refused, and why."""

    id: str
    name: str
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "reason": self.reason}


@dataclass(frozen=True)
class RerunPlan:
    """What ``rerun`` will do: the tasks to reactivate, the stranded tasks that will then be
    able to run, those that stay stuck for other reasons, and the tasks it refuses."""

    job_id: str
    reactivate: tuple[str, ...]  # ids, parents before children
    names: Mapping[str, str]
    resumes: tuple[str, ...]  # names of stranded tasks that will be able to run
    still_stuck: tuple[Strand, ...]
    refused: tuple[TaskProblem, ...]
    #: the job is disabled (a task's ``disable`` jobAction, or a user): reactivated tasks
    #: start only once it is enabled
    job_disabled: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "jobId": self.job_id,
            "reactivate": [self.names.get(t, t) for t in self.reactivate],
            "resumes": list(self.resumes),
            "stillStuck": [s.to_dict() for s in self.still_stuck],
            "refused": [p.to_dict() for p in self.refused],
        }


@dataclass(frozen=True)
class RerunReport:
    plan: RerunPlan
    reactivated: tuple[str, ...]  # ids
    errors: tuple[TaskProblem, ...]

    @property
    def ok(self) -> bool:
        return not self.errors and not self.plan.refused

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.plan.to_dict(),
            "reactivated": [self.plan.names.get(t, t) for t in self.reactivated],
            "errors": [e.to_dict() for e in self.errors],
        }


@dataclass(frozen=True)
class FinishReport:
    """What ``finish`` terminated and why: each stranded task (with the barriers serving it),
    ``skipped`` where the parent succeeded (a failure handler not needed)."""

    job_id: str
    verdict_before: Verdict
    terminated: tuple[Strand, ...]
    errors: tuple[TaskProblem, ...]
    left_alone: int  # tasks that could still run or are running (never touched)

    @property
    def ok(self) -> bool:
        return not self.errors

    def to_dict(self) -> dict[str, Any]:
        return {
            "jobId": self.job_id,
            "verdictBefore": self.verdict_before,
            "terminated": [s.to_dict() for s in self.terminated],
            "errors": [e.to_dict() for e in self.errors],
            "leftAlone": self.left_alone,
        }
