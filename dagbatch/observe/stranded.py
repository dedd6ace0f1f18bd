"""Which tasks can never run, and why: pure computation from the tasks' definitions (their
``dependsOn`` and ``exitConditions``) and the service's records of them (state, exit code,
failureInfo). No I/O; ``status``, ``rerun`` and ``finish`` build on it.

Batch's rules applied here [BATCH_FACTS 4, 5]:

- A dependent is scheduled once every task it depends on has completed with an ending whose
  ``dependencyAction`` is ``satisfy``; a parent that completed with ``block`` keeps it active
  for ever ("Batch does not yet support cancellation of dependent tasks").
- A completed task's ending is matched against its ``exitConditions``: ``exitCodes`` (exact),
  then ``exitCodeRanges`` (inclusive; which wins on overlap is undocumented, exact codes go
  first here); a ``fileUploadError`` gives way to a matching exit code; a pre-processing error
  (no exit code) uses ``preProcessingError``; anything unmatched and non-zero uses ``default``.
  Exit code 0 uses ``default`` never ("you must list it explicitly"). Where nothing applies,
  Batch's defaults: satisfy and job action none for exit code 0, block and terminate for every
  other ending.
- ``taskIdRanges`` select the job's tasks whose ids are integers inside the range, leading
  zeros ignored ("4, 04 and 004 ... the first one to complete will satisfy the dependency"):
  the ids that alias one integer count as one parent, decided by the first of them to complete.
- A ``taskIds`` parent the job does not hold is undocumented: the dependent is reported as
  waiting on a missing task, never as stranded (it may run once that task is added).
- Tasks that wait on each other (a dependency cycle: a merge task whose range holds its own
  id, two tasks each naming the other) are accepted by the service as far as its documents
  say, and none of them can ever start; nor can a task that waits on one of them. They are
  blocked behind the cycle (``Analysis.cycles``) as others are behind a failed parent.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import pairwise
from typing import Any

from dagbatch.gcpause import gc_paused
from dagbatch.observe.model import (
    Definitions,
    ExitOutcome,
    Missing,
    Strand,
    StrandKind,
    TaskDefinition,
    TaskRecord,
)
from dagbatch.wireshape import counts_as_success, exit_actions

BATCH_DEFAULT = "batch-default"
#: The ``ExitOutcome.condition`` of a root that is a task of a dependency cycle: it never
#: ended, it waits on tasks that wait on it.
CYCLE = "cycle"
_CYCLE_OUTCOME = ExitOutcome(CYCLE, "block", "none")

#: Tasks of a chain shown before the root (a longer chain says how many it leaves out).
MAX_CHAIN = 8

#: failureInfo codes of an output file upload failure [BATCH_FACTS 1, 9].
_UPLOAD_PREFIX = "fileupload"
#: failureInfo code of a task that was terminated [BATCH_FACTS 1].
TASK_ENDED = "TaskEnded"


def _in_ranges(code: int, ranges: Any) -> bool:
    for r in ranges or ():
        if isinstance(r, dict) and int(r.get("start", 1)) <= code <= int(r.get("end", 0)):
            return True
    return False


def _options(exit_conditions: Mapping[str, Any], key: str) -> dict[str, Any] | None:
    value = exit_conditions.get(key)
    return value if isinstance(value, dict) else None


def _pre_options(exit_conditions: Mapping[str, Any]) -> dict[str, Any] | None:
    # ``schedulingError`` is the older api-versions' name of ``preProcessingError``.
    return _options(exit_conditions, "preProcessingError") or _options(
        exit_conditions, "schedulingError"
    )


def resolve_exit(exit_conditions: Mapping[str, Any] | None, record: TaskRecord) -> ExitOutcome:
    """How ``record``'s ending (a completed task) resolves against its ``exitConditions``."""
    ec = exit_conditions or {}
    code = record.exit_code
    failure_code = (record.failure.code or "") if record.failure else ""
    upload = failure_code.lower().startswith(_UPLOAD_PREFIX)
    # A task terminated by a user ended like an exit (its code, if it was running, or none):
    # it takes ``default``, not ``preProcessingError``.
    ended = failure_code == TASK_ENDED
    clean_zero = code == 0 and not upload and record.failure is None
    matched: tuple[str, dict[str, Any]] | None = None
    if code is not None:
        for entry in ec.get("exitCodes") or ():
            if isinstance(entry, dict) and entry.get("code") == code:
                options = entry.get("exitOptions")
                matched = ("exitCodes", options if isinstance(options, dict) else {})
                break
        if matched is None:
            for entry in ec.get("exitCodeRanges") or ():
                if isinstance(entry, dict) and _in_ranges(code, [entry]):
                    options = entry.get("exitOptions")
                    matched = ("exitCodeRanges", options if isinstance(options, dict) else {})
                    break
    if matched is None:
        if upload and _options(ec, "fileUploadError") is not None:
            matched = ("fileUploadError", _options(ec, "fileUploadError") or {})
        elif code is None and not upload and not ended and _pre_options(ec) is not None:
            matched = ("preProcessingError", _pre_options(ec) or {})
        elif not clean_zero and _options(ec, "default") is not None:
            matched = ("default", _options(ec, "default") or {})
    condition = matched[0] if matched is not None else BATCH_DEFAULT
    # The actions themselves come from the one implementation of Batch's rule, shared with
    # the emulator's scheduler (``wireshape.exit_actions``); the above only names the entry
    # that decided, for the explanation.
    kind = "upload" if upload else ("preprocessing" if code is None and not ended else "exit")
    dependency, job = exit_actions(exit_conditions, kind, code, clean_zero)
    return ExitOutcome(
        condition=condition,
        dependency_action="satisfy" if dependency.lower() == "satisfy" else "block",
        job_action=job.lower(),
    )


def succeeded_by_exit_code(definition: TaskDefinition | None, record: TaskRecord) -> bool:
    """A task Batch records as failed whose non-zero exit code its ``exitConditions`` count
    as a success (``satisfy_exit_codes``: ``wireshape.counts_as_success``)."""
    return (
        definition is not None
        and record.state == "completed"
        and counts_as_success(
            definition.exit_conditions,
            record.exit_code,
            record.failure.code if record.failure else None,
        )
    )


def integer_id(task_id: str) -> int | None:
    """The integer a range sees in ``task_id`` ("04" is 4), or None for other ids."""
    return int(task_id) if task_id.isascii() and task_id.isdigit() else None


class JobTasks:
    """The job's tasks, indexed for parent lookups: exact ids (case-insensitive, as Batch's
    ids are unique ignoring case) and integer ids for ranges."""

    def __init__(self, ids: Iterable[str]):
        self.by_lower: dict[str, str] = {}
        by_int: dict[int, list[str]] = {}
        for tid in ids:
            self.by_lower[tid.lower()] = tid
            n = integer_id(tid)
            if n is not None:
                by_int.setdefault(n, []).append(tid)
        self._ints = sorted(by_int)
        self._by_int = by_int

    def find(self, task_id: str) -> str | None:
        return self.by_lower.get(task_id.lower())

    def in_range(self, start: int, end: int) -> Iterable[list[str]]:
        """The tasks a range selects, one list per integer (its aliases)."""
        lo = bisect.bisect_left(self._ints, start)
        hi = bisect.bisect_right(self._ints, end)
        for n in self._ints[lo:hi]:
            yield self._by_int[n]

    def first_missing(self, start: int, end: int) -> int | None:
        """The first integer of the range no task of the job has, if any. The emulator's
        scheduler waits for such a task (Batch's behaviour is undocumented [BATCH_FACTS 4]),
        so a dependent waits on it as on a missing task id."""
        lo = bisect.bisect_left(self._ints, start)
        hi = bisect.bisect_right(self._ints, end)
        if hi - lo == end - start + 1:
            return None
        expected = start
        for n in self._ints[lo:hi]:
            if n != expected:
                return expected
            expected += 1
        return expected if expected <= end else None


@dataclass
class Analysis:
    """Per task of the job that is waiting or never ran: why it can never run, if so.

    ``blocked`` maps each task that can never run (active) or completed without running
    because it could not (terminated while blocked) to the parent it waits on in vain: either
    the *root* (a parent that completed with ``block``) or another blocked task.
    ``outcomes`` holds the resolved ending of every root.
    """

    blocked: dict[str, str] = field(default_factory=dict)
    outcomes: dict[str, ExitOutcome] = field(default_factory=dict)
    missing: dict[str, tuple[str, ...]] = field(default_factory=dict)
    #: each dependency cycle by its root (the task the walk that found it came to twice):
    #: its tasks, the root first, each waiting on the next and the last on the root
    cycles: dict[str, tuple[str, ...]] = field(default_factory=dict)

    _roots: dict[str, str] = field(default_factory=dict, repr=False)
    #: ``strand_kind`` of the tasks behind each root: it depends on the root alone
    _kinds: dict[str, StrandKind] = field(default_factory=dict, repr=False)

    def root_of(self, task_id: str) -> str:
        """The root of a blocked task: the parent whose ending blocks the chain it waits on
        (memoized, so the roots of every task of a long chain cost linear time)."""
        known = self._roots.get(task_id)
        if known is not None:
            return known
        path: list[str] = []
        via = task_id
        while via in self.blocked and via not in self.outcomes and via not in self._roots:
            if len(path) > len(self.blocked):  # a cycle: cannot happen in a valid job
                break
            path.append(via)
            via = self.blocked[via]
        root = self._roots.get(via, via)
        for t in path:
            self._roots[t] = root
        return root

    def chain_of(self, task_id: str, limit: int) -> tuple[list[str], bool]:
        """The first ``limit`` tasks of the chain from ``task_id`` towards its root (root
        excluded), and whether the chain is longer than that."""
        root = self.root_of(task_id)
        chain: list[str] = []
        via = task_id
        while via != root and via in self.blocked:
            if len(chain) == limit:
                return chain, True
            chain.append(via)
            via = self.blocked[via]
        return chain, False


def analyse(
    definitions: Mapping[str, TaskDefinition],
    records: Mapping[str, TaskRecord],
    *,
    progress: Callable[[int, int], None] | None = None,
) -> Analysis:
    """Find every task that can never run, and why (see the module docstring for the rules).

    ``definitions`` are the job's task bodies by id (from the plan, or read from the service);
    ``records`` what the service says about each task of the job (a definition without a
    record is not in the job). Evaluated without recursion, so chains of any depth work.

    A few small objects a task, none in a cycle: made with the cyclic collector paused
    (``dagbatch.gcpause``). ``progress(done, total)``: the tasks of ``records`` gone
    through, now and then (every ``PROGRESS_EVERY``).
    """
    with gc_paused():
        return _analyse(definitions, records, progress)


#: Tasks between two calls of ``analyse``'s ``progress``.
PROGRESS_EVERY = 4096


def _analyse(
    definitions: Mapping[str, TaskDefinition],
    records: Mapping[str, TaskRecord],
    progress: Callable[[int, int], None] | None = None,
) -> Analysis:
    if progress is not None:
        progress(0, len(records))  # the count starts (its rate is from now)
    out = Analysis()
    if not _any_blocking(definitions, records):
        # Nothing has ended in a way that blocks: no task can be stranded. Only waits on
        # tasks the job does not hold, and on cycles, remain to be found.
        out.missing.update(_missing_parents(definitions, records))
        _block_cycles(definitions, records, out)
        return out
    tasks = JobTasks(records)
    done: dict[str, bool] = {}  # evaluated candidates: True = blocked

    def is_candidate(tid: str) -> bool:
        rec = records[tid]
        if rec.state == "active":
            return True
        # Completed without ever starting, with a failure: terminated while it waited.
        return rec.state == "completed" and rec.started is None and rec.failed

    # The task bodies as sent, where they are at hand: a task's parents are read from its
    # dependsOn without making its TaskDefinition (most of a first analysis's time).
    raw = definitions.raw_depends_on if isinstance(definitions, Definitions) else None

    def parents(tid: str) -> tuple[list[list[str]], list[str]]:
        ids: Iterable[str]
        ranges: Iterable[tuple[int, int]]
        if raw is not None:
            dep = raw(tid)
            if dep is None:
                return [], []
            ids = dep[0] or ()
            ranges = [(int(r["start"]), int(r["end"])) for r in dep[1] or ()]
        else:
            d = definitions.get(tid)
            if d is None:
                return [], []
            ids, ranges = d.depends_on.task_ids, d.depends_on.ranges
        groups: list[list[str]] = []
        missing: list[str] = []
        for p in ids:
            found = tasks.find(p)
            if found is None:
                missing.append(p)
            else:
                groups.append([found])
        for start, end in ranges:
            groups.extend(tasks.in_range(start, end))
            gap = tasks.first_missing(start, end)
            if gap is not None:
                missing.append(str(gap))
        return groups, missing

    endings: dict[str, ExitOutcome] = {}  # each completed parent's ending, resolved once

    def verdict_of_parent(p: str) -> str | None:
        """'block' when parent p blocks for ever, 'ok' when it satisfies, None pending."""
        rec = records[p]
        if rec.state == "completed":
            # Resolved once a parent, not once a dependent: a fan-out of 100,000 tasks asks
            # about the one parent 100,000 times.
            outcome = endings.get(p)
            if outcome is None:
                outcome = endings[p] = resolve_exit(_ec(definitions, p), rec)
            if done.get(p):
                # It never ran: its own ending only matters if it satisfies anyway.
                return "ok" if outcome.dependency_action == "satisfy" else "block"
            if outcome.dependency_action == "block":
                out.outcomes.setdefault(p, outcome)
                return "block"
            return "ok"
        if rec.state == "active" and done.get(p):
            return "block"
        return None

    def decide(group: list[str]) -> tuple[str, str | None]:
        """A parent's verdict; for ids that alias one integer, the first of them to complete
        decides ("the first one to complete will satisfy the dependency")."""
        if len(group) == 1:
            return group[0], verdict_of_parent(group[0])
        latest = datetime.max.replace(tzinfo=UTC)
        ended = sorted(
            ((records[p].end_time or latest, p) for p in group if records[p].state == "completed"),
        )
        if not ended:
            return group[0], None
        first = ended[0][1]
        return first, verdict_of_parent(first)

    size = len(records)
    for seen, start_id in enumerate(records, 1):
        if progress is not None and not seen % PROGRESS_EVERY:
            progress(seen, size)
        if start_id in done or not is_candidate(start_id):
            continue
        # Iterative post-order: a frame is (task, parent groups, missing ids, flat parents,
        # cursor into them), so a wide fan-in is scanned once, not once per pushed parent.
        groups, missing = parents(start_id)
        stack: list[tuple[str, list[list[str]], list[str], list[str], list[int]]] = [
            (start_id, groups, missing, [p for g in groups for p in g], [0])
        ]
        on_stack = {start_id}
        while stack:
            tid, groups, missing, flat, cursor = stack[-1]
            pushed = False
            while cursor[0] < len(flat):
                p = flat[cursor[0]]
                cursor[0] += 1
                if p not in done and p not in on_stack and is_candidate(p):
                    pg, pm = parents(p)
                    stack.append((p, pg, pm, [q for g in pg for q in g], [0]))
                    on_stack.add(p)
                    pushed = True
                    break
            if pushed:
                continue
            stack.pop()
            on_stack.discard(tid)
            via: str | None = None
            direct = False
            for group in groups:
                p, answer = decide(group)
                if answer == "block":
                    is_root = p in out.outcomes and not done.get(p)
                    if via is None or (is_root and not direct):
                        via, direct = p, is_root
                    if direct:
                        break
            if via is not None:
                out.blocked[tid] = via
                done[tid] = True
            else:
                done[tid] = False
                if missing and records[tid].state == "active":
                    out.missing[tid] = tuple(missing)
    _block_cycles(definitions, records, out)
    return out


def _block_cycles(
    definitions: Mapping[str, TaskDefinition], records: Mapping[str, TaskRecord], out: Analysis
) -> None:
    """Block the active tasks that wait, directly or through other active tasks, on a
    dependency cycle: each behind the next task on its way to the cycle, the tasks of a
    cycle each behind the next, and the first of each cycle met a root (``CYCLE``).

    First, a task that waits on a blocked task is blocked behind it (the walk of
    ``analyse`` leaves a task of a cycle unblocked when the task it waits on was still
    being walked). Then the active tasks left are peeled as Kahn's algorithm would (a task
    whose active parents are all peeled could start one day); what is left waits on a
    cycle, and each of its tasks has a parent left, so following them from any of them
    comes to a cycle or to a task placed already.

    Only once no task runs or can start, and none waits on a task the job does not hold
    (whatever waits on a cycle stays as it is while others run, and the verdict is
    "running", or stuck on the missing tasks, all the same): the search costs a pass
    over every waiting task's dependencies, several times the rest of the analysis on a
    job of 100,000 tasks, which `watch` reads again every few seconds."""
    if out.missing:
        # Tasks wait on tasks the job does not hold: nothing moves until they are added,
        # which the verdict says already, and the search would cost a pass over a job that
        # may be a submission cut short (every refresh of `watch`).
        return
    waiting = []
    for t, r in records.items():
        if r.state in ("running", "preparing"):
            return
        if r.state == "active" and t not in out.blocked:
            waiting.append(t)
    if not waiting or any(_can_start(definitions.get(t), records) for t in waiting):
        return
    tasks = JobTasks(records)
    parents_of: dict[str, set[str]] = {}
    for t in waiting:
        found = parents_of[t] = parent_ids(definitions.get(t), tasks)
        if not any(records[p].state == "active" for p in found):
            return  # it can start (its parents have all completed and satisfy it)
    children: dict[str, list[str]] = {}
    for t, found in parents_of.items():
        for p in found:
            children.setdefault(p, []).append(t)
    behind = [
        (t, p)
        for t, found in parents_of.items()
        for p in found
        if p in out.blocked and records[p].state == "active"
    ]
    while behind:
        t, p = behind.pop()
        if t in out.blocked:
            continue
        out.blocked[t] = p
        behind.extend((c, t) for c in children.get(t, ()) if c not in out.blocked)
    waiting = [t for t in waiting if t not in out.blocked]
    wanted = set(waiting)
    pending = {t: sum(1 for p in parents_of[t] if p in wanted) for t in waiting}
    free = [t for t in waiting if not pending[t]]
    while free:
        t = free.pop()
        for c in children.get(t, ()):
            if c in wanted:
                pending[c] -= 1
                if not pending[c]:
                    free.append(c)
    left = {t for t in waiting if pending[t]}
    for start in waiting:
        if start not in left or start in out.blocked:
            continue
        path = [start]
        on_path = {start: 0}
        while True:
            via = min(p for p in parents_of[path[-1]] if p in left)
            if via in out.blocked:
                break  # on its way to a cycle placed already
            if via in on_path:
                out.cycles[via] = tuple(path[on_path[via] :])
                out.outcomes[via] = _CYCLE_OUTCOME
                break
            on_path[via] = len(path)
            path.append(via)
        for child, parent in pairwise(path):
            out.blocked[child] = parent
        out.blocked[path[-1]] = via


def _can_start(definition: TaskDefinition | None, records: Mapping[str, TaskRecord]) -> bool:
    """Whether a waiting task that is not blocked can start now, told quickly: it names its
    parents by their exact ids (no range), and none of them is active. False where the quick
    look cannot tell."""
    if definition is None:
        return True
    if definition.depends_on.ranges:
        return False
    for p in definition.depends_on.task_ids:
        rec = records.get(p)
        if rec is None or rec.state == "active":
            return False
    return True


def _exit_conditions(definitions: Mapping[str, TaskDefinition], task_id: str) -> Any:
    if isinstance(definitions, Definitions):
        return definitions.raw_exit_conditions(task_id)
    d = definitions.get(task_id)
    return d.exit_conditions if d is not None else None


def _any_blocking(
    definitions: Mapping[str, TaskDefinition], records: Mapping[str, TaskRecord]
) -> bool:
    """Whether some completed task's ending blocks its dependents (or some task completed
    without running): only then can a task be stranded."""
    for tid, rec in records.items():
        if rec.state != "completed":
            continue
        if rec.exit_code == 0 and rec.failure is None:
            ec = _exit_conditions(definitions, tid)
            if not ec or (not ec.get("exitCodes") and not ec.get("exitCodeRanges")):
                continue  # a clean exit 0 satisfies unless listed [BATCH_FACTS 5]
        if resolve_exit(_exit_conditions(definitions, tid), rec).dependency_action == "block":
            return True
        if rec.started is None and rec.failed:
            return True
    return False


def _missing_parents(
    definitions: Mapping[str, TaskDefinition], records: Mapping[str, TaskRecord]
) -> dict[str, tuple[str, ...]]:
    """Active tasks that wait on a task the job does not hold (an id, or an integer of a
    range that no task has)."""
    held = records.__contains__
    known: set[str] | None = None  # the job's ids, lower-cased: made only if needed
    tasks: JobTasks | None = None
    if isinstance(definitions, Definitions):
        triples: Iterable[tuple[str, Any, Any]] = definitions.raw_dependencies()
    else:
        triples = (
            (d.id, d.depends_on.task_ids, d.depends_on.ranges)
            for d in definitions.values()
            if d.depends_on
        )
    out: dict[str, tuple[str, ...]] = {}
    for tid, ids, ranges in triples:
        rec = records.get(tid)
        if rec is None or rec.state != "active":
            continue
        gone: list[str] = []
        # Usually every parent is held under the very id named (one C-level scan says so);
        # else ids are compared ignoring case, as Batch compares them.
        if ids and not all(map(held, ids)):
            if known is None:
                known = {t.lower() for t in records}
            gone = [str(p) for p in ids if str(p).lower() not in known]
        for r in ranges or ():
            start, end = (int(r["start"]), int(r["end"])) if isinstance(r, dict) else r
            tasks = tasks or JobTasks(records)
            gap = tasks.first_missing(start, end)
            if gap is not None:
                gone.append(str(gap))
        if gone:
            out[tid] = tuple(gone)
    return out


def _ec(definitions: Mapping[str, TaskDefinition], task_id: str) -> Mapping[str, Any] | None:
    d = definitions.get(task_id)
    return d.exit_conditions if d is not None else None


def parent_ids(definition: TaskDefinition | None, tasks: JobTasks) -> set[str]:
    """The ids of the job's tasks that ``definition`` depends on (by id and by range)."""
    found: set[str] = set()
    if definition is None:
        return found
    for p in definition.depends_on.task_ids:
        q = tasks.find(p)
        if q is not None:
            found.add(q)
    for start, end in definition.depends_on.ranges:
        for group in tasks.in_range(start, end):
            found.update(group)
    return found


def terminated_satisfies(definition: TaskDefinition | None) -> bool:
    """Whether terminating this task while it waits (it never started) would satisfy its
    dependents: what its ``exitConditions`` give the ending a terminate records.

    Batch documents only that a terminated task "moves to the completed state"; its result and
    failureInfo are undocumented [BATCH_FACTS 1, 7]. The emulator records a failure with no
    exit code and ``TaskEnded`` (``Engine.terminate_task``), which takes ``default`` (Batch's
    default: block) as ``resolve_exit`` reads it. In case the service treats an ending that
    never started as a pre-processing error instead, ``preProcessingError`` is asked too: a
    ``satisfy`` in either says yes (ordering an edge that needs none costs one round trip;
    missing one would start a failure handler)."""
    return _termination_satisfies(definition.exit_conditions if definition is not None else None)


def terminated_satisfies_of(definitions: Mapping[str, TaskDefinition], task_id: str) -> bool:
    """``terminated_satisfies`` of the task ``task_id``, read from its body as sent where the
    bodies are at hand (no ``TaskDefinition`` made: `finish` asks it of every task it
    terminates)."""
    ec = _exit_conditions(definitions, task_id)
    return _termination_satisfies(ec if isinstance(ec, dict) else None)


def _termination_satisfies(ec: Mapping[str, Any] | None) -> bool:
    if not ec:
        return False  # Batch's default for every ending but exit code 0: block [BATCH_FACTS 4]
    return any(
        exit_actions(ec, kind, None, False)[0].lower() == "satisfy"
        for kind in ("exit", "preprocessing")
    )


def children_first(
    targets: Iterable[str],
    definitions: Mapping[str, TaskDefinition],
    records: Mapping[str, TaskRecord],
    *,
    ordered: Callable[[str], bool] | None = None,
) -> list[list[str]]:
    """``targets`` in layers, each task in a layer after every one of its dependents among
    the targets (reverse the list for parents first). The tasks of a layer can be acted on at
    once. ``ordered(parent)``: only the edges to the parents it says yes to are kept in order
    (default: every edge).

    Why the order matters: terminating a task completes it with a failure, and a dependent
    that runs on its parent's failure (a failure handler) would then start; so ``finish``
    terminates children first, but only below a parent whose termination would satisfy its
    dependents (``terminated_satisfies``): under a parent that blocks on it (Batch's
    default), child and parent go in one layer, and a stranded chain in one round.
    Reactivating a child whose parent is still completed lets the parent's old ending decide
    for it, and what a reactivated parent does to its dependents is undocumented
    [BATCH_FACTS 4]: so ``rerun`` reactivates parents first, every edge kept."""
    order = list(dict.fromkeys(targets))
    if ordered is not None and not any(map(ordered, order)):
        # No edge is kept (no target is a parent to keep in order: the usual `finish`, where
        # every parent blocks on its termination): one layer, without reading the parents.
        return [order] if order else []
    wanted = set(order)
    tasks = JobTasks(records)
    parents_of: dict[str, set[str]] = {}
    for t in order:
        found = {q for q in parent_ids(definitions.get(t), tasks) if q in wanted}
        found.discard(t)
        if ordered is not None:
            found = {q for q in found if ordered(q)}
        parents_of[t] = found
    pending_children: dict[str, int] = dict.fromkeys(order, 0)
    for ps in parents_of.values():
        for p in ps:
            pending_children[p] += 1
    layer = [t for t in order if pending_children[t] == 0]
    layers: list[list[str]] = []
    placed: set[str] = set()
    while layer:
        layers.append(layer)
        placed.update(layer)
        nxt: list[str] = []
        for t in layer:
            for p in parents_of[t]:
                pending_children[p] -= 1
                if pending_children[p] == 0:
                    nxt.append(p)
        layer = list(dict.fromkeys(nxt))
    rest = [t for t in order if t not in placed]  # a cycle: cannot happen in a valid job
    if rest:
        layers.append(rest)
    return layers


def strand_kind(
    analysis: Analysis,
    task_id: str,
    records: Mapping[str, TaskRecord],
    definitions: Mapping[str, TaskDefinition],
) -> StrandKind:
    """``skipped`` when what holds the blocked task back is a root that succeeded (the
    dependency was on its failure: a handler not needed), its exit code one that counts as
    success included; ``cycle`` when it is a dependency cycle; else ``stranded`` (a parent
    failed). Told once a root (``analysis`` is over ``records``): every task behind one
    root is of one kind."""
    root = analysis.root_of(task_id)
    kind = analysis._kinds.get(root)
    if kind is None:
        kind = analysis._kinds[root] = _root_kind(analysis, root, records, definitions)
    return kind


def _root_kind(
    analysis: Analysis,
    root: str,
    records: Mapping[str, TaskRecord],
    definitions: Mapping[str, TaskDefinition],
) -> StrandKind:
    if root in analysis.cycles:
        return "cycle"
    root_rec = records[root]
    if root_rec.failed and not succeeded_by_exit_code(definitions.get(root), root_rec):
        return "stranded"
    return "skipped"


def strand_of(
    analysis: Analysis,
    task_id: str,
    records: Mapping[str, TaskRecord],
    *,
    names: Mapping[str, str],
    barriers: Mapping[str, str],
    definitions: Mapping[str, TaskDefinition],
    served_by: Mapping[str, tuple[str, ...]] | None = None,
) -> Strand:
    """The ``Strand`` of a blocked task: its chain by the user's names (barriers left out),
    the root and how the root's ending resolved. ``kind`` is ``skipped`` when the root
    succeeded (the dependency was on its failure: a handler not needed), its exit code one
    that counts as success included; ``cycle`` when it waits on a dependency cycle (its
    chain then goes round the cycle); else ``stranded``. ``served_by``: ``barriers``
    inverted (``served_by``), for a caller that tells many tasks' strands."""
    chain, longer = analysis.chain_of(task_id, MAX_CHAIN)
    root = analysis.root_of(task_id)
    root_rec = records[root]
    cycle = analysis.cycles.get(root)
    entry = root  # where the chain shown ends: the root, or where it enters the cycle
    if cycle is not None and not longer:
        members = set(cycle)
        entry = next(t for t in [*chain, root] if t in members)
        chain = chain[: chain.index(entry)] if entry != root else chain
    shown = [names.get(t, t) for t in chain if t not in barriers or t == task_id]
    if longer:
        shown.append("...")
    shown.append(names.get(entry, entry))
    if cycle is not None:
        # Round the cycle and back to where the chain entered it: ``c waits on b, which
        # waits on a, which waits on b``.
        at = cycle.index(entry)
        around = [names.get(t, t) for t in (cycle[at:] + cycle[:at])[1:] if t not in barriers]
        if len(around) > MAX_CHAIN:
            around = [*around[: MAX_CHAIN - 1], "..."]
        shown += [*around, names.get(entry, entry)]
    outcome = analysis.outcomes[root]
    if served_by is None:
        serving: Iterable[str] = (b for b, child in barriers.items() if child == task_id)
    else:
        serving = served_by.get(task_id, ())
    served = tuple(b for b in serving if b in analysis.blocked)
    return Strand(
        task_id=task_id,
        name=names.get(task_id, task_id),
        kind=strand_kind(analysis, task_id, records, definitions),
        chain=tuple(shown),
        root_id=root,
        root_exit_code=root_rec.exit_code,
        root_failure_code=root_rec.failure.code if root_rec.failure else None,
        outcome=outcome,
        barriers=served,
    )


def served_by(barriers: Mapping[str, str]) -> dict[str, tuple[str, ...]]:
    """Child id -> the barriers that serve it, in ``barriers``' order (barrier id -> child)."""
    out: dict[str, list[str]] = {}
    for b, child in barriers.items():
        out.setdefault(child, []).append(b)
    return {child: tuple(bs) for child, bs in out.items()}


def missing_of(analysis: Analysis, task_id: str, names: Mapping[str, str]) -> Missing:
    return Missing(task_id, names.get(task_id, task_id), analysis.missing[task_id])


def barrier_children(
    definitions: Mapping[str, TaskDefinition], barrier_ids: Iterable[str]
) -> dict[str, str]:
    """Barrier id -> the child it serves (the task whose ``dependsOn.taskIds`` names it)."""
    wanted = {b.lower(): b for b in barrier_ids}
    if not wanted:
        return {}
    if isinstance(definitions, Definitions):
        pairs: Iterable[tuple[str, Any]] = (
            (t, ids) for t, ids, _ in definitions.raw_dependencies() if ids
        )
    else:
        pairs = ((d.id, d.depends_on.task_ids) for d in definitions.values())
    out: dict[str, str] = {}
    for child, ids in pairs:
        for p in ids:
            b = wanted.get(str(p).lower())
            if b is not None:
                out[b] = child
    return out
