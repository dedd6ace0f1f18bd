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

import bisect
import itertools
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple

from dagbatch.gcpause import gc_paused
from dagbatch.observe.model import TASK_STATES, Definitions, FailureInfo, TaskRecord
from dagbatch.observe.stranded import MAX_CHAIN, TASK_ENDED, analyse, integer_id
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

    # Equality, hash and repr walk the chain rather than recurse into ``cause`` as the
    # generated ones do: a chain may be thousands of tasks long.
    def _own(self) -> tuple[str | None, ...]:
        """The link's fields but its cause."""
        return (self.kind, self.parent, self.parent_end, self.job_reason, self.by, self.detail)

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        a: Reason | None = self
        b: Reason | None = other  # the same class
        while a is not None and b is not None:
            if a is b:
                return True
            if a._own() != b._own():
                return False
            a, b = a.cause, b.cause
        return a is b

    def __hash__(self) -> int:
        return hash(tuple(link._own() for link in self.links()))

    def __repr__(self) -> str:
        heads: list[str] = []
        tails: list[str] = []
        for link in self.links():
            own = dict(zip(("kind", "parent", "parent_end"), link._own()[:3], strict=True))
            rest = dict(zip(("job_reason", "by", "detail"), link._own()[3:], strict=True))
            heads.append("Reason(" + "".join(f"{k}={v!r}, " for k, v in own.items()) + "cause=")
            tails.append("".join(f", {k}={v!r}" for k, v in rest.items()) + ")")
        return "".join(heads) + "None" + "".join(reversed(tails))

    def links(self) -> Iterator[Reason]:
        """This reason, then each ``cause`` in turn, to the end of the chain (no recursion:
        a chain may be thousands of tasks long)."""
        reason: Reason | None = self
        while reason is not None:
            yield reason
            reason = reason.cause

    def end(self) -> Reason:
        """The link that ends the chain: the first that is not ``waiting`` (or a ``waiting``
        one without a cause: a cycle)."""
        return self._tail()[1]

    def _tail(self) -> tuple[int, Reason]:
        """How many ``waiting`` links the chain has before its ``end()``, and that end. Kept
        on each link it walks: the chains of a long chain's tasks share their links, so
        telling every one of them costs linear time, not quadratic."""
        path: list[Reason] = []
        link = self
        while (known := link.__dict__.get("_tail_of")) is None:
            if link.kind != "waiting" or link.cause is None:
                known = (0, link)
                object.__setattr__(link, "_tail_of", known)  # frozen: a cache, not a field
                break
            path.append(link)
            link = link.cause
        count, end = known
        for link in reversed(path):
            count += 1
            object.__setattr__(link, "_tail_of", (count, end))
        return count, end

    def _shown(self) -> tuple[list[Reason], int, Reason]:
        """What a reader is shown of the chain: its first ``MAX_CHAIN`` ``waiting`` links (as
        `dagbatch status` cuts a chain), how many more ``waiting`` links follow them, and
        the link that ends the chain (``end()``)."""
        count, end = self._tail()
        shown: list[Reason] = []
        link = self
        while len(shown) < min(count, MAX_CHAIN):
            shown.append(link)
            assert link.cause is not None  # a waiting link before the end
            link = link.cause
        return shown, count - len(shown), end

    def text(self) -> str:
        """One readable line, the chain included: past ``MAX_CHAIN`` parents that never ran,
        it says how many more there are, then how the chain ends."""
        shown, omitted, end = self._shown()
        inner = end._own_text()
        if omitted:
            inner = f"through {omitted} more parents that never ran: {inner}"
        for link in reversed(shown):
            inner = f"waits for parent {link.parent}, which never ran ({inner})"
        return inner

    def _own_text(self) -> str:
        """This link's words, but for a ``waiting`` link's cause."""
        if self.kind == "waiting":
            return f"waits for parent {self.parent}, which never ran (not started)"
        if self.kind == "blocked":
            return (
                f"blocked: parent {self.parent} {self.parent_end}, and its dependencyAction "
                "for that is block"
            )
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
        """The chain as `dagbatch run --report` writes it: nested ``cause`` objects, cut as
        ``text`` is (the last ``waiting`` link shown says in ``omitted`` how many it leaves
        out before its ``cause``, the link that ends the chain), ``text`` at the top only: a
        bounded size whatever the chain's length."""
        shown, omitted, end = self._shown()
        nodes = [link._fields() for link in [*shown, end]]
        if omitted:
            nodes[len(shown) - 1]["omitted"] = omitted
        for outer, inner in itertools.pairwise(nodes):
            outer["cause"] = inner
        top = nodes[0]
        return {"kind": top.pop("kind"), "text": self.text(), **top}

    def _fields(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind}
        for name in ("parent", "parent_end", "job_reason", "by", "detail"):
            value = getattr(self, name)
            if value is not None:
                out[_camel(name)] = value
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


def describe_end(status: TaskStatus, *, satisfied: bool = False) -> str:
    """``ended with exit code 3``, ``failed before it started (BlobNotFound)``, ...;
    ``satisfied``: the exit code is one the task's exit conditions count as success."""
    if satisfied:
        return f"exited {status.exit_code}, which counts as success (satisfy_exit_codes)"
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
    *,
    progress: Callable[[int, int], None] | None = None,
) -> list[TaskOutcome]:
    """Every plan task's outcome, in plan order (see the module docstring).

    Which tasks can never run, and through which parent, is ``stranded.analyse`` (the one
    implementation of that analysis, shared with `dagbatch status` and `finish`); this adds
    the chain of reasons and the job's own cause for the tasks it does not hold back.

    A few records a task, none in a cycle: built with the cyclic collector paused
    (``dagbatch.gcpause``; half the time of a 200,000-task run's report).
    ``progress(done, total)``: ``stranded.analyse``'s, when the analysis is needed."""
    with gc_paused():
        return _explain_outcome(plan_tasks, statuses, job, progress)


def _explain_outcome(
    plan_tasks: Iterable[Mapping[str, Any]],
    statuses: Mapping[str, TaskStatus],
    job: JobState,
    progress: Callable[[int, int], None] | None = None,
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
                why = _reasons(tasks, statuses, job, progress)
            outcomes.append(TaskOutcome(tid, st, why(tid)))
    return outcomes


class IntegerIds:
    """The job's integer task ids, what a ``taskIdRanges`` range selects ("04" is 4, and
    "4" and "04" are both 4), sorted for bisection as ``stranded.JobTasks`` keeps them: a
    range's members cost their number, not the number of integer ids in the job."""

    def __init__(self, task_ids: Iterable[str]) -> None:
        self._by_int: dict[int, list[str]] = {}
        for tid in task_ids:
            n = integer_id(tid)
            if n is not None:
                self._by_int.setdefault(n, []).append(tid)
        self._sorted = sorted(self._by_int)
        #: Each integer's place in plan order (of its first id): members are listed so.
        self._order = {n: i for i, n in enumerate(self._by_int)}

    def members(self, start: int, end: int) -> list[tuple[int, list[str]]]:
        """Each integer in ``start..end`` some task has, with the ids that have it, in plan
        order."""
        found = self._sorted[
            bisect.bisect_left(self._sorted, start) : bisect.bisect_right(self._sorted, end)
        ]
        found.sort(key=self._order.__getitem__)
        return [(n, self._by_int[n]) for n in found]


def _reasons(
    tasks: Mapping[str, Mapping[str, Any]],
    statuses: Mapping[str, TaskStatus],
    job: JobState,
    progress: Callable[[int, int], None] | None = None,
) -> Callable[[str], Reason | None]:
    """``why(task_id)``: the reason an active task has not run, through the parents that
    hold it back (each task's reason found once, and without recursion: a chain may be
    thousands of tasks long, and each task's chain is its parent's, shared)."""
    folded = {tid.lower(): tid for tid in tasks}
    integers = IntegerIds(tasks)
    unknown = TaskStatus(state="active")

    def status(tid: str) -> TaskStatus:
        return statuses.get(tid, unknown)

    analysis = analyse(
        Definitions(tasks),
        {tid: _record(tid, status(tid)) for tid in tasks},
        progress=progress,
    )
    job_cause = _job_cause(tasks, statuses, job)
    memo: dict[str, Reason | None] = {}

    def why(tid: str) -> Reason | None:
        if tid in memo:
            return memo[tid]
        # Down the chain to a task whose reason is known or needs no parent's, then up again.
        waits: list[tuple[str, str]] = []  # (task, the parent that never ran it waits for)
        current = tid
        while True:
            step = _step(current)
            if not isinstance(step, str):
                memo[current] = cause = step
                break
            waits.append((current, step))
            memo[current] = None  # cycles: no reason beyond this one
            if step in memo:
                cause = memo[step]
                break
            current = step
        for task, parent in reversed(waits):
            cause = memo[task] = Reason("waiting", parent=parent, cause=cause)
        return memo[tid]

    def _step(tid: str) -> Reason | str | None:
        """The task's reason, or the parent that never ran it waits for (its reason is
        ``waiting`` on that parent, whose reason is the cause)."""
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
                end = status(via)
                satisfied = end.result == "failure" and counts_as_success(
                    tasks[via].get("exitConditions") if via in tasks else None,
                    end.exit_code,
                    end.failure_code,
                )
                return Reason(
                    "blocked", parent=via, parent_end=describe_end(end, satisfied=satisfied)
                )
            return via
        # Not held back for ever: it waits for a parent that has not run, or for a task the
        # job does not hold, or the job's state explains it.
        depends = tasks[tid].get("dependsOn") or {}
        parents: list[str] = []
        for pid in depends.get("taskIds") or ():
            found = folded.get(str(pid).lower())
            if found is not None:
                parents.append(found)
        for r in depends.get("taskIdRanges") or ():
            for _, members in integers.members(int(r["start"]), int(r["end"])):
                done = [m for m in members if status(m).state == "completed"]
                parents.append(
                    min(done, key=lambda m: status(m).end or 0.0) if done else members[0]
                )
        for pid in parents:
            pst = status(pid)
            if pst.state != "completed" and not pst.ran:
                return pid
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
