"""Why a task never ran: Batch's dependency rules read backwards, from a plan and task states.

``explain_outcome(plan_tasks, statuses, job)`` takes the tasks as the plan sends them (the
``addtaskcollection`` bodies: ``id``, ``dependsOn``, ``exitConditions``), what the service
says about each task (``TaskStatus``, e.g. from ``status_from_doc`` over a list-tasks answer)
and the job (``JobState``), and gives every task's ``TaskOutcome``: for a task that never ran,
the chain of reasons: a parent that ended in a way its ``dependencyAction`` blocks, a parent
that itself never ran (and why), a parent that does not exist, or the job that ended (by which
task's ``jobAction``, or why) or is disabled. Works for a local run and for a live job alike.

Which tasks are held back for ever, and by which parent, comes from ``stranded.analyse`` (the
one implementation of that analysis, also behind `dagbatch status` and `finish`). Rules read
[docs/BATCH_FACTS.md, run-time rules 4 and 5]: a dependent waits until every
parent completed with ``satisfy``; a ``block`` keeps it active for ever; a range selects every
task whose id is an integer in it (leading zeros ignored), and the first of them to complete
decides.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple

from dagbatch.gcpause import gc_paused
from dagbatch.observe.model import TASK_STATES, Definitions, FailureInfo, TaskRecord
from dagbatch.observe.stranded import TASK_ENDED, analyse, integer_id
from dagbatch.wireshape import counts_as_success, exit_actions


class TaskStatus(NamedTuple):
    """What the service says about one task. (A named tuple: immutable, and made in a
    quarter of a frozen dataclass's time, once a task of a run's report.)"""

    state: str
    exit_code: int | None = None
    result: str | None = None
    failure_code: str | None = None
    failure_message: str | None = None
    start: float | None = None
    end: float | None = None
    retry_count: int = 0

    @property
    def ran(self) -> bool:
        """It was started at least once (its process, or its downloads)."""
        return self.start is not None

    @property
    def end_kind(self) -> str:
        """How it ended, as ``wireshape.exit_actions`` names it."""
        if self.exit_code is None and self.failure_code:
            return "preprocessing"
        if self.failure_code and self.failure_code.startswith("FileUpload"):
            return "upload"
        return "exit"


@dataclass(frozen=True)
class JobState:
    """The job's state, why it ended, and its ``onTaskFailure``."""

    state: str
    terminate_reason: str | None = None
    on_task_failure: str = "noaction"


#: ``Reason.detail`` of a task that started and was put back in the queue.
REQUEUED = "requeued"


@dataclass(frozen=True)
class Reason:
    """One link of a never-ran chain.

    ``kind``: ``blocked`` (``parent`` ended ``parent_end`` and its dependencyAction for that
    is block), ``waiting`` (``parent`` never ran either; ``cause`` says why), ``missing``
    (``parent`` is not a task of the job), ``job-ended`` (the job completed: ``job_reason``,
    ``by`` the task whose jobAction ended it, if any; ``parent``, the parent the end
    killed while the task waited for it), ``job-disabled`` (``by`` likewise),
    ``not-started`` (nothing holds it back; it had not started yet), ``too-many-slots``
    (its ``requiredSlots``, in ``detail``, exceed every node's: Batch never runs it),
    ``cut-off`` (`dagbatch run`: ``parent`` was still running when the run's ``--timeout``
    ended it). ``detail`` ``REQUEUED``: the task had started and went back to the queue (a
    job disabled with requeue); the kind says why it has not started again.
    """

    kind: str
    parent: str | None = None
    parent_end: str | None = None
    cause: Reason | None = None
    job_reason: str | None = None
    by: str | None = None
    detail: str | None = None

    def text(self) -> str:
        """One readable line, the chain included."""
        if self.kind == "blocked":
            return (
                f"blocked: parent {self.parent} {self.parent_end}, and its dependencyAction "
                "for that is block"
            )
        if self.kind == "waiting":
            inner = self.cause.text() if self.cause else "not started"
            return f"waits for parent {self.parent}, which never ran ({inner})"
        if self.kind == "missing":
            return f"waits for parent {self.parent}, which is not a task of the job"
        if self.kind == "job-ended":
            by = f" by task {self.by} (jobAction terminate)" if self.by else ""
            return f"the job ended ({self.job_reason}){by} before it started"
        if self.kind == "job-disabled":
            by = f" by task {self.by} (jobAction disable)" if self.by else ""
            again = "; not started again" if self.requeued else ""
            return f"the job is disabled{by}{again}"
        if self.kind == "cut-off":
            return f"parent {self.parent} was still running when the --timeout ended the run"
        if self.kind == "too-many-slots":
            return f"it needs {self.detail} task slots, more than the node has: it never runs"
        if self.requeued:
            return "not started again yet"
        return "not started yet"

    @property
    def requeued(self) -> bool:
        """It started, then went back to the queue (``detail`` ``REQUEUED``)."""
        return self.detail == REQUEUED

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "text": self.text()}
        for name in ("parent", "parent_end", "job_reason", "by", "detail"):
            value = getattr(self, name)
            if value is not None:
                out[_camel(name)] = value
        if self.cause is not None:
            out["cause"] = self.cause.as_dict()
        return out


@dataclass(frozen=True)
class TaskOutcome:
    """One task's state, exit code and, when it never ran, why. ``satisfied``: Batch
    records it as failed, but its exit code is one its ``exitConditions`` count as a success
    (``satisfy_exit_codes``; ``wireshape.counts_as_success``)."""

    task_id: str
    status: TaskStatus
    reason: Reason | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    satisfied: bool = False

    @property
    def succeeded(self) -> bool:
        return self.status.state == "completed" and (
            self.status.result == "success" or self.satisfied
        )

    @property
    def failed(self) -> bool:
        return (
            self.status.state == "completed"
            and self.status.result == "failure"
            and not self.satisfied
        )


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def status_from_doc(doc: Mapping[str, Any]) -> TaskStatus:
    """A ``TaskStatus`` from a task as the service returns it (GET / list tasks)."""
    from datetime import datetime

    def stamp(value: Any) -> float | None:
        if not isinstance(value, str):
            return None
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()

    info = doc.get("executionInfo") or {}
    failure = info.get("failureInfo") or {}
    return TaskStatus(
        state=str(doc.get("state", "active")),
        exit_code=info.get("exitCode"),
        result=info.get("result"),
        failure_code=failure.get("code"),
        failure_message=failure.get("message"),
        start=stamp(info.get("startTime")),
        end=stamp(info.get("endTime")),
        retry_count=int(info.get("retryCount", 0) or 0),
    )


def describe_end(status: TaskStatus) -> str:
    """``ended with exit code 3``, ``failed before it started (BlobNotFound)``, ..."""
    if status.exit_code is None:
        return f"failed before its command ran ({status.failure_code})"
    if status.failure_code and status.failure_code != "FailureExitCode":
        return f"ended with exit code {status.exit_code} ({status.failure_code})"
    verb = "succeeded" if status.result == "success" else "failed"
    return f"{verb} with exit code {status.exit_code}"


def _record(task_id: str, status: TaskStatus) -> TaskRecord:
    """The ``stranded`` analysis's record of a task from its ``TaskStatus``."""
    failure = (
        FailureInfo(None, status.failure_code, status.failure_message)
        if status.failure_code
        else None
    )
    state = status.state if status.state in TASK_STATES else "active"
    return TaskRecord(
        task_id,
        state,  # checked against TASK_STATES
        status.exit_code,
        status.result,
        failure,
        status.start,  # epoch seconds: read only where the analysis needs a time
        status.end,
        status.retry_count,
    )


def explain_outcome(
    plan_tasks: Iterable[Mapping[str, Any]],
    statuses: Mapping[str, TaskStatus],
    job: JobState,
) -> list[TaskOutcome]:
    """Every plan task's outcome, in plan order (see the module docstring).

    Which tasks can never run, and through which parent, is ``stranded.analyse`` (the one
    implementation of that analysis, shared with `dagbatch status` and `finish`); this adds
    the chain of reasons and the job's own cause for the tasks it does not hold back.

    A few records a task, none in a cycle: built with the cyclic collector paused
    (``dagbatch.gcpause``; half the time of a 200,000-task run's report)."""
    with gc_paused():
        return _explain_outcome(plan_tasks, statuses, job)


def _explain_outcome(
    plan_tasks: Iterable[Mapping[str, Any]],
    statuses: Mapping[str, TaskStatus],
    job: JobState,
) -> list[TaskOutcome]:
    tasks = {str(t["id"]): t for t in plan_tasks}
    unknown = TaskStatus(state="active")
    # Only a task still active has a reason to give; what finding it needs (the analysis
    # of every task, the job's cause) is made at the first such task, so the report of a run
    # whose tasks all ended skips it (about 1 s of a 200,000-task run).
    why: Callable[[str], Reason | None] | None = None
    outcomes = []
    for tid in tasks:
        st = statuses.get(tid, unknown)
        if st.result == "failure" and counts_as_success(
            tasks[tid].get("exitConditions"), st.exit_code, st.failure_code
        ):
            outcomes.append(TaskOutcome(tid, st, satisfied=True))
        elif st.state != "active":
            outcomes.append(TaskOutcome(tid, st, None))
        else:
            if why is None:
                why = _reasons(tasks, statuses, job)
            outcomes.append(TaskOutcome(tid, st, why(tid)))
    return outcomes


def _reasons(
    tasks: Mapping[str, Mapping[str, Any]],
    statuses: Mapping[str, TaskStatus],
    job: JobState,
) -> Callable[[str], Reason | None]:
    """``why(task_id)``: the reason an active task has not run, through the parents that
    hold it back (each task's reason found once)."""
    folded = {tid.lower(): tid for tid in tasks}
    by_int: dict[int, list[str]] = {}
    for tid in tasks:
        n = integer_id(tid)
        if n is not None:
            by_int.setdefault(n, []).append(tid)
    unknown = TaskStatus(state="active")

    def status(tid: str) -> TaskStatus:
        return statuses.get(tid, unknown)

    analysis = analyse(Definitions(tasks), {tid: _record(tid, status(tid)) for tid in tasks})
    job_cause = _job_cause(tasks, statuses, job)
    memo: dict[str, Reason | None] = {}

    def why(tid: str, depth: int = 0) -> Reason | None:
        if tid in memo:
            return memo[tid]
        memo[tid] = None  # cycles: no reason beyond this one
        found = _why(tid, depth)
        memo[tid] = found
        return found

    def _why(tid: str, depth: int) -> Reason | None:
        st = status(tid)
        if st.state != "active":
            return None
        if st.ran:
            # It started, then went back to the queue: a job disabled with requeue
            # [BATCH_FACTS 6: disableTasks requeue].
            return replace(job_cause, detail=REQUEUED)
        via = analysis.blocked.get(tid)
        if via is not None:
            if via in analysis.outcomes and via not in analysis.blocked:
                if job_cause.kind == "job-ended" and status(via).failure_code == TASK_ENDED:
                    # The parent was killed by the job's end: the end, not the parent's exit
                    # code, is why this task never ran (``parent``: the one it waited for).
                    return replace(job_cause, parent=via)
                return Reason("blocked", parent=via, parent_end=describe_end(status(via)))
            cause = why(via, depth + 1) if depth < 200 else None
            return Reason("waiting", parent=via, cause=cause)
        # Not held back for ever: it waits for a parent that has not run, or for a task the
        # job does not hold, or the job's state explains it.
        depends = tasks[tid].get("dependsOn") or {}
        parents: list[str] = []
        for pid in depends.get("taskIds") or ():
            found = folded.get(str(pid).lower())
            if found is not None:
                parents.append(found)
        for r in depends.get("taskIdRanges") or ():
            for n, members in by_int.items():
                if int(r["start"]) <= n <= int(r["end"]):
                    done = [m for m in members if status(m).state == "completed"]
                    parents.append(
                        min(done, key=lambda m: status(m).end or 0.0) if done else members[0]
                    )
        for pid in parents:
            pst = status(pid)
            if pst.state != "completed" and not pst.ran and depth < 200:
                return Reason("waiting", parent=pid, cause=why(pid, depth + 1))
        if tid in analysis.missing:
            return Reason("missing", parent=analysis.missing[tid][0])
        return job_cause

    return why


def _job_cause(
    tasks: Mapping[str, Mapping[str, Any]], statuses: Mapping[str, TaskStatus], job: JobState
) -> Reason:
    """Why a task whose parents all let it run did not start."""
    if job.state not in ("completed", "disabled", "terminating", "disabling"):
        return Reason("not-started")
    wanted = "terminate" if job.state in ("completed", "terminating") else "disable"
    by: str | None = None
    if job.on_task_failure == "performexitoptionsjobaction" and (
        wanted == "disable" or job.terminate_reason == "TaskFailed"
    ):
        candidates = []
        for tid, st in statuses.items():
            if st.state != "completed" or tid not in tasks:
                continue
            ok = st.result == "success"
            conditions = tasks[tid].get("exitConditions")
            if exit_actions(conditions, st.end_kind, st.exit_code, ok)[1] == wanted:
                candidates.append((st.end or 0.0, tid))
        if candidates:
            by = min(candidates)[1]
    if wanted == "disable":
        return Reason("job-disabled", by=by)
    return Reason("job-ended", job_reason=job.terminate_reason, by=by)
