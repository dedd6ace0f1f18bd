"""The emulator's scheduler: a local pool, a ready queue, and Batch's dependency and exit rules.

One ``Engine`` serves every job of a store. It keeps a pool of task slots (one node), a
ready queue per job (jobs served by priority, ``maxParallelTasks`` honoured), and per job a
``JobGraph``: the dependents of each task id and of each integer value, so a completion wakes
only its own dependents (never a scan of every task). Everything runs under the store's lock;
``Engine.cond`` is a condition on that lock that wakes the engine thread.

How a task ends is decided here; how it runs is a ``Runner``'s job (``runner.RealRunner``:
processes; ``simulate.SimulatedRunner``: what-if exit codes, no process). Each rule cites
docs/BATCH_FACTS.md ("BF" below, by section of the run-time rules).
"""

from __future__ import annotations

import bisect
import heapq
import re
import threading
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any, Final, Protocol

from dagbatch import wireshape
from dagbatch.emulator.store import NO_EXIT, EmulatorStore, Job, now
from dagbatch.errors import EmulatorError
from dagbatch.gcpause import gc_paused
from dagbatch.limits import INT32_MAX

ACTIVE: Final = 0
PREPARING: Final = 1
RUNNING: Final = 2
COMPLETED: Final = 3
DELETED: Final = 4
NO_PREVIOUS: Final = 255
STATE_NAMES: Final = ("active", "preparing", "running", "completed", "deleted")

SATISFY: Final = 1
BLOCK: Final = 2

#: The exit code reported for a process the emulator killed (timeout, terminate): 128 + SIGKILL,
#: as a shell reports it. Batch says only "operating system-defined" [BF 1].
KILLED_EXIT_CODE: Final = 137
#: ``maxTaskRetryCount`` "inherit the job's" marker: a task without constraints inherits the
#: job's count [S BatchTaskCreateOptions.constraints]. One whose constraints leave the count
#: out is undocumented; it is read the same way (BATCH_FACTS, run-time rules 3).
INHERIT: Final = -2

_NUMBER = r"\d+(?:\.\d+)?"
_DURATION = re.compile(
    rf"^P(?:(?P<y>{_NUMBER})Y)?(?:(?P<mo>{_NUMBER})M)?(?:(?P<w>{_NUMBER})W)?(?:(?P<d>{_NUMBER})D)?"
    rf"(?:T(?:(?P<h>{_NUMBER})H)?(?:(?P<m>{_NUMBER})M)?(?:(?P<s>{_NUMBER})S)?)?$"
)
_DIGITS = re.compile(r"^[0-9]+$")
#: Days in the calendar units of a duration, as .NET's xsd:duration reading takes them (a year
#: 365 days, a month 30): the service's exact reading is undocumented.
_DAYS_PER: Final = {"y": 365.0, "mo": 30.0, "w": 7.0, "d": 1.0}


def parse_duration(value: Any) -> float | None:
    """Seconds of an ISO 8601 duration (``PT1H``, ``P1DT2H3M4.5S``, ``P1Y2M3W``); None if not
    one (``P``, ``PT``, a ``T`` with nothing after it, a negative, not a string). The
    constraints' ``"format": "duration"`` [spec-2025 BatchTaskConstraints]."""
    if not isinstance(value, str):
        return None
    match = _DURATION.match(value)
    if match is None or value == "P" or value.endswith("T"):
        return None
    days = sum(float(match.group(k) or 0) * n for k, n in _DAYS_PER.items())
    h, m, s = (float(match.group(k) or 0) for k in "hms")
    return ((days * 24 + h) * 60 + m) * 60 + s


def integer_id(task_id: str) -> int | None:
    """The integer a task id stands for in ``taskIdRanges``, leading zeros ignored [BF 4]."""
    if _DIGITS.match(task_id):
        value = int(task_id)
        return value if value <= INT32_MAX else None
    return None


def failure_info(code: str, message: str, details: dict[str, str] | None = None) -> dict[str, Any]:
    """A ``failureInfo`` object; every local failure is a user error [BF 1]."""
    info: dict[str, Any] = {"category": "usererror", "code": code, "message": message}
    if details:
        info["details"] = [{"name": k, "value": v} for k, v in details.items()]
    return info


EXIT_CODE_FAILURE: Final = failure_info(
    "FailureExitCode", "The task exited with an exit code representing a failure"
)


@dataclass(slots=True)
class TaskSpec:
    """The run facts of a task that differ from the defaults (most tasks have none)."""

    slots: int = 1
    max_retries: int = INHERIT
    wall: float = 0.0
    exit_conditions: dict[str, Any] | None = None


DEFAULT_SPEC: Final = TaskSpec()
#: The task properties ``task_spec`` reads: a task with none of them has the default spec.
_SPEC_KEYS: Final = frozenset({"constraints", "requiredSlots", "exitConditions"})


def task_spec(task: dict[str, Any]) -> TaskSpec | None:
    """The ``TaskSpec`` of a task body, or None when every fact is the default."""
    constraints = task.get("constraints") or {}
    slots = task.get("requiredSlots", 1)
    retries = constraints.get("maxTaskRetryCount", INHERIT)
    wall = parse_duration(constraints.get("maxWallClockTime")) or 0.0
    exits = task.get("exitConditions") or None
    if slots == 1 and retries == INHERIT and not wall and exits is None:
        return None
    return TaskSpec(
        slots=slots if isinstance(slots, int) and slots > 0 else 1,
        max_retries=retries if isinstance(retries, int) else INHERIT,
        wall=wall,
        exit_conditions=exits if isinstance(exits, dict) else None,
    )


def exit_actions(
    conditions: dict[str, Any] | None, kind: str, code: int | None, ok: bool
) -> tuple[int, str]:
    """(SATISFY or BLOCK, jobAction) for a task's end: ``wireshape.exit_actions``. The
    values are matched ignoring case, as ``rules.EXIT_OPTION_ENUMS`` accepts them."""
    dependency, job_action = wireshape.exit_actions(conditions, kind, code, ok)
    return (SATISFY if dependency.lower() == "satisfy" else BLOCK), job_action.lower()


class Runner(Protocol):
    """Runs a task the engine started and reports its end with ``Engine.finish``."""

    def start(self, engine: Engine, job: Job, pos: int, attempt: int) -> None: ...

    def kill(self, job: Job, pos: int) -> None: ...

    def close(self) -> None: ...


@dataclass
class JobGraph:
    """A job's dependency index and queue. Mutate only under the store's lock."""

    #: Per task: (lower-cased parent ids, ranges) or None without dependencies.
    deps: list[tuple[tuple[str, ...], tuple[tuple[int, int], ...]] | None] = field(
        default_factory=list
    )
    specs: list[TaskSpec | None] = field(default_factory=list)
    pending: list[int] = field(default_factory=list)
    blocked: bytearray = field(default_factory=bytearray)
    queued: bytearray = field(default_factory=bytearray)
    attempt: list[int] = field(default_factory=list)
    by_id: dict[str, list[int]] = field(default_factory=dict)
    #: Range watchers: integer -> [(dependent, range index, generation)]. A range waits on
    #: one unresolved integer at a time, the highest; when it resolves, the watcher moves to
    #: the next unresolved one below (``lower``), so a range costs O(1) per wake, not its
    #: width.
    by_int: dict[int, list[tuple[int, int, int]]] = field(default_factory=dict)
    generation: list[int] = field(default_factory=list)
    #: Union-find over resolved integers: ``lower[n]`` leads to the highest unresolved
    #: integer <= n.
    lower: dict[int, int] = field(default_factory=dict)
    #: The integers that resolved ``block``, sorted.
    blocked_ints: list[int] = field(default_factory=list)
    #: How each completed id / integer resolved its dependents (SATISFY or BLOCK).
    resolved_id: dict[str, int] = field(default_factory=dict)
    resolved_int: dict[int, int] = field(default_factory=dict)
    ready: deque[int] = field(default_factory=deque)
    running: set[int] = field(default_factory=set)
    #: When a job-level jobAction fired: the task that caused it, and the action
    #: (``terminate`` or ``disable``; a disabled job may complete later, ``check_all_complete``).
    action_by: str | None = None
    action: str | None = None
    deadline: float = 0.0


@dataclass(order=True)
class _Timer:
    at: float
    seq: int
    kind: str = field(compare=False)
    job: Job = field(compare=False)
    pos: int = field(compare=False, default=-1)
    attempt: int = field(compare=False, default=0)
    exit_code: int = field(compare=False, default=0)


class Engine:
    """Schedules and finishes the tasks of every job in ``store`` on a pool of ``slots``."""

    def __init__(self, store: EmulatorStore, runner: Runner | None, *, slots: int = 1) -> None:
        if slots < 1:
            raise ValueError("the pool needs at least one task slot")
        self.store = store
        self.runner = runner
        self.slots = slots
        self.free = slots
        self.cond = threading.Condition(store.lock)
        self.node_id = "tvmps_dagbatch_local_node_0"
        self._timers: list[_Timer] = []
        self._seq = 0
        self._due: deque[tuple[Job, int, int, str, int | None]] = deque()
        self._dirty = False
        #: How many instant completions ``dispatch`` may still finish inline this round.
        self._inline = 0
        self._stop = False
        #: While held, no task starts (tasks are still added and indexed).
        self._held = False
        #: The jobs that may have a task ready to start (``_queue``), by ``id(job)``: what
        #: ``dispatch`` looks at, so a task's end does not walk every job the store holds.
        self._ready_jobs: dict[int, Job] = {}
        #: Set whenever no task runs and no end is due (``_went_quiet``): a caller waiting
        #: for a job to be idle (`dagbatch run`) wakes then instead of polling.
        self.quiet = threading.Event()
        self._thread: threading.Thread | None = None
        #: The error a round of the engine thread raised, if one did: the thread has ended,
        #: nothing starts or ends any more, and ``idle`` raises it to whoever waits.
        self.crashed: Exception | None = None
        store.engine = self

    def hold(self) -> None:
        """Start no task until ``release``: `dagbatch run` adds the whole plan first, so a
        task that ends the job (a ``jobAction``) cannot stop the rest from being added. On
        Batch a task may start as soon as it is added."""
        with self.cond:
            self._held = True

    def release(self) -> None:
        """Let tasks start again after ``hold``."""
        with self.cond:
            self._held = False
            self.wake()

    # --- the engine thread ---

    def start(self) -> Engine:
        self._thread = threading.Thread(target=self._loop, name="dagbatch-engine", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop scheduling and kill every running task (no orphans)."""
        with self.cond:
            self._stop = True
            for job in list(self.store.jobs.values()):
                if job.graph is not None:
                    self._kill_all(job, sorted(job.graph.running))
            self.cond.notify_all()
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None
        if self.runner is not None:
            self.runner.close()

    def _loop(self) -> None:
        with self.cond:
            try:
                self._rounds()
            except Exception as exc:
                # Left to end the thread, the error would leave every caller waiting for
                # tasks that can no longer start or end (a run with no --timeout: for
                # ever). It is kept; scheduling stops, and whoever waits is woken and told.
                # It still ends the thread, whose traceback goes to stderr: the standalone
                # emulator's user sees why nothing is scheduled any more.
                self.crashed = exc
                self._stop = True
                self.quiet.set()
                self.cond.notify_all()
                raise

    def _rounds(self) -> None:
        """Lock held. The engine thread's rounds, until ``stop``."""
        while not self._stop:
            # A round allocates many short-lived objects and no cycles; a full collection
            # in its middle would scan every task of every job, so collection waits for
            # the round's end (at most ``budget`` tasks). What a round made is not aged
            # (settle): it is short-lived, and the rounds come every half millisecond.
            with gc_paused(settle=False):
                more = self._step()
            self._went_quiet()
            if more or self._due or self._dirty:
                # Let request handlers in between rounds: a short blocking wait gives
                # up the GIL and the lock (a zero wait would take the lock straight back).
                self.cond.wait(0.0005)
                continue
            timeout = 0.5
            if self._timers:
                timeout = max(0.0, min(timeout, self._timers[0].at - now()))
            self.cond.wait(timeout)

    def _step(self, budget: int = 4096) -> bool:
        """Lock held. Finish what is due, fire timers, fill free slots. True when it stopped
        at ``budget`` with work left (the caller lets others take the lock, then goes on)."""
        self._dirty = False
        t = now()
        timers = self._timers
        while timers and timers[0].at <= t:
            timer = heapq.heappop(timers)
            if timer.kind == "job-deadline":
                g = timer.job.graph
                # A deadline an update moved or removed (``arm_job_deadline``) is stale.
                if (
                    timer.job.state in ("active", "disabled")
                    and g is not None
                    and timer.at == g.deadline
                ):
                    self.terminate_job(timer.job, "MaxWallClockTimeExpiry")
            else:
                self._due.append((timer.job, timer.pos, timer.attempt, timer.kind, timer.exit_code))
        due = self._due
        while budget > 0:
            self._inline = budget
            self.dispatch()
            budget = self._inline
            if not due:
                break
            for _ in range(min(len(due), budget)):
                job, pos, attempt, kind, code = due.popleft()
                self._finish_locked(job, pos, attempt, kind, code, None)
                budget -= 1
        return budget <= 0

    def wake(self) -> None:
        """Lock held. Ask the engine thread for a round (none without a runner: no task
        starts or ends then, and timers wake the thread on their own)."""
        if self.runner is None:
            return
        self._dirty = True
        self.cond.notify()

    def at(
        self, when: float, kind: str, job: Job, pos: int = -1, attempt: int = 0, code: int = 0
    ) -> None:
        """Lock held. Run ``kind`` at ``when`` (``exit``/``timeout`` end a simulated task)."""
        self._seq += 1
        heapq.heappush(self._timers, _Timer(when, self._seq, kind, job, pos, attempt, code))
        self.cond.notify()

    def due_now(self, job: Job, pos: int, attempt: int, kind: str, code: int | None) -> None:
        """Lock held. A simulated task that ends at once."""
        self._due.append((job, pos, attempt, kind, code))

    # --- tasks arrive ---

    def job_created(self, job: Job) -> None:
        """Lock held. Index a new job; arm its ``maxWallClockTime`` [BF 3]."""
        job.graph = JobGraph()
        self.arm_job_deadline(job)

    def arm_job_deadline(self, job: Job) -> None:
        """Lock held. The job ends ``MaxWallClockTimeExpiry`` at its ``maxWallClockTime``,
        "measured from the time the Job is created" [spec-2025 BatchJobConstraints], as its
        constraints say now: called on create and after every PATCH or PUT (a PUT without
        constraints removes the limit [spec-2025 Jobs_ReplaceJob]); an earlier timer whose
        time is no longer the deadline is ignored when it fires."""
        g = job.graph
        if g is None:
            return
        wall = parse_duration((job.spec.get("constraints") or {}).get("maxWallClockTime"))
        deadline = job.created + wall if wall else 0.0
        if deadline != g.deadline:
            g.deadline = deadline
            if deadline:
                self.at(deadline, "job-deadline", job)

    def tasks_added(self, job: Job, items: Iterable[tuple[int, dict[str, Any]]]) -> None:
        """Lock held. Index the new tasks' dependencies; queue those that can run.

        Tasks may come in any order and any number of requests: a parent added after its
        child, or never, leaves the child waiting (what Batch does with a missing parent is
        undocumented; it waits for ever) [BF 4].
        """
        g = job.graph
        if g is None:
            self.job_created(job)
            g = job.graph
        items = items if isinstance(items, list) else list(items)
        if items:
            # Room for every new position at once (the defaults of a task not yet added).
            grow = max(items, key=itemgetter(0))[0] + 1 - len(g.specs)
            if grow > 0:
                g.specs.extend([None] * grow)
                g.deps.extend([None] * grow)
                g.pending.extend([0] * grow)
                g.blocked.extend(bytes(grow))
                g.queued.extend(bytes(grow))
                g.attempt.extend([0] * grow)
                g.generation.extend([0] * grow)
        specs = g.specs
        by_id = g.by_id
        for pos, task in items:
            # Most tasks carry none of the run facts: no TaskSpec to build.
            specs[pos] = None if _SPEC_KEYS.isdisjoint(task) else task_spec(task)
            depends = task.get("dependsOn")
            if isinstance(depends, dict):
                listed = depends.get("taskIds") or ()
                try:
                    ids = tuple(dict.fromkeys(map(str.lower, listed)))
                except TypeError:  # not every id a string: the strings only
                    ids = tuple(dict.fromkeys(i.lower() for i in listed if isinstance(i, str)))
                listed_ranges = depends.get("taskIdRanges")
                ranges = (
                    tuple(
                        (int(r["start"]), int(r["end"]))
                        for r in listed_ranges
                        if isinstance(r, dict)
                        and isinstance(r.get("start"), int)
                        and isinstance(r.get("end"), int)
                    )
                    if listed_ranges
                    else ()
                )
                if ids or ranges:
                    g.deps[pos] = (ids, ranges)
                    for key in ids:
                        lst = by_id.get(key)
                        if lst is None:
                            by_id[key] = [pos]
                        else:
                            lst.append(pos)
            self._recount(job, pos)
        self.wake()

    @staticmethod
    def _highest_unresolved(g: JobGraph, n: int) -> int:
        """The highest integer <= n that no task has resolved yet (path-compressed)."""
        lower = g.lower
        root = n
        while root in lower:
            root = lower[root]
        while n in lower and lower[n] != root:
            lower[n], n = root, lower[n]
        return root

    def _range_state(self, g: JobGraph, start: int, end: int) -> int | None:
        """None while an integer of the range is unresolved; else BLOCK if any resolved
        ``block``, else SATISFY. An empty range waits on nothing (undocumented [BF 4])."""
        if end >= start and self._highest_unresolved(g, end) >= start:
            return None
        i = bisect.bisect_left(g.blocked_ints, start)
        return BLOCK if i < len(g.blocked_ints) and g.blocked_ints[i] <= end else SATISFY

    @staticmethod
    def _watch(g: JobGraph, n: int, pos: int, index: int, gen: int) -> None:
        lst = g.by_int.get(n)
        if lst is None:
            g.by_int[n] = [(pos, index, gen)]
        else:
            lst.append((pos, index, gen))

    def _resolve_int(self, job: Job, n: int, action: int) -> None:
        """Lock held. Integer ``n`` resolved: move or finish the ranges watching it."""
        g = job.graph
        g.resolved_int[n] = action
        g.lower[n] = n - 1
        if action == BLOCK:
            bisect.insort(g.blocked_ints, n)
        watchers = g.by_int.pop(n, None)
        if not watchers:
            return
        states = job.task_state
        for dep, index, gen in watchers:
            if gen != g.generation[dep] or states[dep] != ACTIVE or g.queued[dep]:
                continue
            deps = g.deps[dep]
            assert deps is not None
            start, end = deps[1][index]
            start = max(start, 0)
            nxt = self._highest_unresolved(g, n)
            if nxt >= start:
                self._watch(g, nxt, dep, index, gen)
                continue
            state = self._range_state(g, start, end)
            if state == BLOCK:
                g.blocked[dep] = 1  # stays active for ever [BF 4]
                continue
            left = g.pending[dep] - 1
            g.pending[dep] = left
            if left <= 0 and not g.blocked[dep]:
                self._queue(job, dep)

    def _recount(self, job: Job, pos: int) -> None:
        """Lock held. Count a waiting task's unresolved parents from scratch; queue it if none."""
        g = job.graph
        deps = g.deps[pos]
        pending = 0
        blocked = 0
        if deps is not None:
            ids, ranges = deps
            for key in ids:
                state = g.resolved_id.get(key)
                if state is None:
                    pending += 1
                elif state == BLOCK:
                    blocked = 1
            if ranges:
                g.generation[pos] += 1  # earlier watchers of this task are stale
                gen = g.generation[pos]
                for index, (start, end) in enumerate(ranges):
                    state = self._range_state(g, max(start, 0), end)
                    if state is None:
                        pending += 1
                        self._watch(g, self._highest_unresolved(g, end), pos, index, gen)
                    elif state == BLOCK:
                        blocked = 1
        g.pending[pos] = pending
        g.blocked[pos] = blocked
        g.queued[pos] = 0
        if pending == 0 and not blocked and job.task_state[pos] == ACTIVE:
            self._queue(job, pos)

    # --- scheduling ---

    def dispatch(self) -> None:
        """Lock held. Start ready tasks while slots are free: jobs by priority (higher first),
        a job's ``maxParallelTasks`` (counted in tasks; the spec does not say tasks or slots
        [BF 3]) honoured, ``requiredSlots`` taken from the pool."""
        if self.free <= 0 or self._stop or self._held or self.runner is None:
            return
        due = self._due
        jobs = self._jobs_with_ready_tasks()
        if len(jobs) > 1:
            jobs.sort(key=lambda j: (-int(j.spec.get("priority", 0) or 0), j.created))
        for job in jobs:
            g = job.graph
            ready = g.ready
            limit = job.spec.get("maxParallelTasks", -1)
            limit = limit if isinstance(limit, int) and limit > 0 else -1
            states = job.task_state
            while ready and self.free > 0 and (limit < 0 or len(g.running) < limit):
                pos = ready[0]
                if not g.queued[pos] or states[pos] != ACTIVE:
                    ready.popleft()
                    continue
                spec = g.specs[pos] or DEFAULT_SPEC
                if spec.slots > self.slots:
                    # More slots than the node has: "the task never runs" [BF 3].
                    ready.popleft()
                    g.queued[pos] = 0
                    continue
                if spec.slots > self.free:
                    break  # the head waits for room; later tasks do not overtake it
                ready.popleft()
                g.queued[pos] = 0
                self._start(job, pos, spec)
                if due and self._inline > 0:
                    # A simulated task that ends at once ends here: its slot is free for
                    # the next ready task without another round.
                    self._inline -= 1
                    j, p, a, k, c = due.popleft()
                    self._finish_locked(j, p, a, k, c, None)
                    if job.state != "active":
                        break

    def _queue(self, job: Job, pos: int, *, first: bool = False) -> None:
        """Lock held. Task ``pos`` may start: at the back of its job's ready queue, or at the
        front (``first``: a retry or a requeue goes before the tasks that waited less)."""
        g = job.graph
        g.queued[pos] = 1
        if first:
            g.ready.appendleft(pos)
        else:
            g.ready.append(pos)
        self._ready_jobs[id(job)] = job

    def _jobs_with_ready_tasks(self) -> list[Job]:
        """Lock held. The active jobs with a task in their ready queue. A job whose queue is
        empty, that completed or that was deleted leaves the set (a disabled job stays: it
        may be enabled again)."""
        jobs = []
        ready_jobs = self._ready_jobs
        for key, job in list(ready_jobs.items()):
            g = job.graph
            if (
                g is None
                or not g.ready
                or job.state == "completed"
                or self.store.jobs.get(job.id.lower()) is not job
            ):
                del ready_jobs[key]
            elif job.state == "active":
                jobs.append(job)
        return jobs

    def _start(self, job: Job, pos: int, spec: TaskSpec) -> None:
        g = job.graph
        t = now()
        self.free -= spec.slots
        g.running.add(pos)
        g.attempt[pos] += 1
        self._set_state(job, pos, RUNNING, t)
        job.task_start[pos] = t
        if self.runner is not None:
            self.runner.start(self, job, pos, g.attempt[pos])

    def _kill(self, job: Job, pos: int) -> None:
        if self.runner is not None:
            self.runner.kill(job, pos)

    def _kill_all(self, job: Job, positions: list[int]) -> None:
        """Kill several running tasks of ``job`` (a job's terminate, disable or delete): at
        once where the runner can (``RealRunner.kill_many``: one scan of ``/proc`` for all of
        them, under this lock), else one by one."""
        kill_many = getattr(self.runner, "kill_many", None)
        if kill_many is not None:
            kill_many(job, positions)
        else:
            for pos in positions:
                self._kill(job, pos)

    def _set_state(self, job: Job, pos: int, state: int, t: float) -> None:
        """Move a task to ``state`` at ``t``: its previous state and when it entered that
        are kept, and it gets a new ETag ("you can use it to detect whether the Task has
        changed between requests" [S BatchTask.eTag]), so a conditional request made with
        the old one is refused."""
        job.task_prev[pos] = job.task_state[pos]
        job.task_prev_time[pos] = job.task_state_time[pos]
        job.task_state[pos] = state
        job.task_state_time[pos] = t
        job.task_serial[pos] = self.store.next_serial()

    def _release(self, job: Job, pos: int) -> None:
        g = job.graph
        if pos in g.running:
            g.running.discard(pos)
            self.free += (g.specs[pos] or DEFAULT_SPEC).slots

    # --- tasks end ---

    def finish(
        self,
        job: Job,
        pos: int,
        attempt: int,
        kind: str,
        exit_code: int | None,
        failure: dict[str, Any] | None = None,
    ) -> None:
        """A runner reports a task's end (any thread)."""
        with self.cond:
            self._finish_locked(job, pos, attempt, kind, exit_code, failure)
            # Start what this end made ready from this thread: no hop to the engine's. The
            # engine thread is woken only for what is left to it (a simulated end that the
            # dispatch queued, under a what-if runner): a round per real end costs a thread
            # wake-up and a turn of the lock and the GIL, and would find nothing to do.
            self._inline = 0
            self.dispatch()
            if self._due:
                self.wake()
            self._went_quiet()

    def _went_quiet(self) -> None:
        """Lock held. Set ``quiet`` when nothing runs and no end is due."""
        if self.free == self.slots and not self._due:
            self.quiet.set()

    def _finish_locked(
        self,
        job: Job,
        pos: int,
        attempt: int,
        kind: str,
        exit_code: int | None,
        failure: dict[str, Any] | None,
    ) -> None:
        g = job.graph
        if g is None or g.attempt[pos] != attempt or job.task_state[pos] != RUNNING:
            return  # a stale report: the task was killed, requeued or deleted meanwhile
        self._release(job, pos)
        spec = g.specs[pos] or DEFAULT_SPEC
        if kind == "timeout":
            # Killed at maxWallClockTime [BF 3]: the code and whether it is retried are
            # undocumented; the conservative reading: not retried, a failure.
            exit_code = KILLED_EXIT_CODE if exit_code is None else exit_code
            failure = failure or failure_info(
                "TaskEnded", "The task ran longer than its maxWallClockTime and was ended."
            )
            kind = "exit"
        elif kind == "exit" and exit_code not in (0, None) and failure is None:
            # "retries a Task if its exit code is nonzero" [BF 3]; pre-processing and upload
            # errors are never retried.
            retries = spec.max_retries
            if retries == INHERIT:
                retries = int((job.spec.get("constraints") or {}).get("maxTaskRetryCount", 0) or 0)
            if retries == -1 or job.task_retry[pos] < retries:
                job.task_retry[pos] += 1
                job.task_exit[pos] = exit_code
                self._set_state(job, pos, ACTIVE, now())
                self._queue(job, pos, first=True)
                return
        ok = kind == "exit" and exit_code == 0 and failure is None
        if not ok and failure is None:
            failure = EXIT_CODE_FAILURE
        self._complete(job, pos, exit_code, failure)
        if ok and spec.exit_conditions is None:
            dependency, job_action = SATISFY, "none"  # Batch's defaults for success [BF 4, 5]
        else:
            dependency, job_action = exit_actions(spec.exit_conditions, kind, exit_code, ok)
        self._resolve(job, pos, dependency)
        # jobAction applies only under onTaskFailure performexitoptionsjobaction [BF 5].
        if job.on_task_failure == "performexitoptionsjobaction" and job.state == "active":
            if job_action == "terminate":
                g.action_by, g.action = job.task_ids[pos], job_action
                self.terminate_job(job, "TaskFailed")
            elif job_action == "disable":
                g.action_by, g.action = job.task_ids[pos], job_action
                self.disable_job(job, "requeue")
        self.check_all_complete(job)

    def _complete(
        self, job: Job, pos: int, exit_code: int | None, failure: dict[str, Any] | None
    ) -> None:
        t = now()
        self._set_state(job, pos, COMPLETED, t)
        job.task_end[pos] = t
        job.task_exit[pos] = NO_EXIT if exit_code is None else exit_code
        if failure is not None:
            job.task_failure[pos] = failure
        job.completed_tasks += 1

    def _resolve(self, job: Job, pos: int, action: int) -> None:
        """Lock held. Wake the dependents of the task at ``pos``: of its id, and of its
        integer value (the first task with that value to complete decides [BF 4])."""
        g = job.graph
        task_id = job.task_ids[pos]
        key = task_id.lower()
        g.resolved_id[key] = action
        self._apply(job, g.by_id.get(key, ()), action)
        n = integer_id(task_id)
        if n is not None and n not in g.resolved_int:
            self._resolve_int(job, n, action)

    def _apply(self, job: Job, dependents: Iterable[int], action: int) -> None:
        g = job.graph
        states = job.task_state
        pending = g.pending
        for dep in dependents:
            if states[dep] != ACTIVE or g.queued[dep]:
                continue
            if action == BLOCK:
                # A blocked dependent stays active for ever; Batch never fails it [BF 4].
                g.blocked[dep] = 1
                continue
            left = pending[dep] - 1
            pending[dep] = left
            if left <= 0 and not g.blocked[dep]:
                self._queue(job, dep)

    def check_all_complete(self, job: Job) -> None:
        """Lock held. ``onAllTasksComplete: terminatejob`` ends the job once every task is
        completed [BF 6], also a job without tasks (``Job.all_tasks_complete``), whether the
        job is active or disabled.

        A disabled job too: the action fires "when all Tasks in the Job are in the completed
        state" [spec-2025 BatchAllTasksCompleteMode], with no condition on the job's state,
        and a disabled job is not completed [spec-2025 BatchJobState]. The one report of the
        live service agrees: a job a task's ``jobAction`` had disabled moved to completed
        once its tasks completed, the maintainer answering "Job auto-completion takes
        precedence because once all tasks complete, then the job will move to completed
        state" (github.com/Azure/batch-shipyard issue 227). So ``disableTasks`` ``wait``
        (the running tasks finish) or ``terminate`` (they are completed), or the last task
        terminated or deleted, ends a disabled job whose tasks are then all completed;
        ``requeue`` leaves them active, and the job disabled."""
        if (
            job.state in ("active", "disabled")
            and job.on_all_tasks_complete == "terminatejob"
            and job.all_tasks_complete()
        ):
            self._end_job(job, "AllTasksComplete")

    # --- job and task operations ---

    def _end_job(self, job: Job, reason: str) -> None:
        t = now()
        job.previous_state = job.state
        job.previous_state_time = job.state_time
        job.state = "completed"
        job.state_time = t
        job.terminate_reason = reason
        job.modified = t
        job.serial = self.store.next_serial()

    def _kill_running(self, job: Job, requeue: bool) -> None:
        g = job.graph
        if g is None:
            return
        running = sorted(g.running)
        self._kill_all(job, running)
        for pos in running:
            self._release(job, pos)
            g.attempt[pos] += 1  # the runner's report of this attempt is now stale
            if requeue:
                job.task_requeue[pos] += 1
                t = now()
                job.task_requeued_at[pos] = t
                self._set_state(job, pos, ACTIVE, t)
                self._queue(job, pos, first=True)
            else:
                # What a terminated task reports is undocumented [BF 5]: completed, failed,
                # "TaskEnded", the killed process's code. Like any completed task (and like
                # ``terminate_task``), its dependents see its exit conditions for that code
                # (``default``, else block) [BF 4: dependencyAction "is a property of the
                # parent"]; no jobAction fires: the job is already being disabled or ended.
                self._complete(
                    job, pos, KILLED_EXIT_CODE, failure_info("TaskEnded", "The task ended.")
                )
                spec = g.specs[pos] or DEFAULT_SPEC
                dependency, _ = exit_actions(spec.exit_conditions, "exit", KILLED_EXIT_CODE, False)
                self._resolve(job, pos, dependency)

    def terminate_job(self, job: Job, reason: str) -> None:
        """Lock held. Kill the running tasks (completed, failed); active tasks stay active
        [BF 5]; the job completes with ``reason``."""
        self._kill_running(job, requeue=False)
        self._end_job(job, reason)
        self.wake()

    def disable_job(self, job: Job, disable_tasks: str) -> None:
        """Lock held. ``requeue``: kill running tasks and make them active again;
        ``terminate``: kill them, completed; ``wait``: let them finish. No task starts
        until the job is enabled [BF 5]."""
        if disable_tasks != "wait":
            self._kill_running(job, requeue=disable_tasks == "requeue")
        job.previous_state = job.state
        job.previous_state_time = job.state_time
        job.state = "disabled"
        job.state_time = job.modified = now()  # the job's own data changed [BatchJob]
        job.serial = self.store.next_serial()
        # ``terminate`` may have completed the last tasks: the job completes [BF 6].
        self.check_all_complete(job)

    def enable_job(self, job: Job) -> None:
        """Lock held. The job is active again (a disabled job whose tasks all completed has
        already ended, ``check_all_complete``; checked again here all the same)."""
        job.previous_state = job.state
        job.previous_state_time = job.state_time
        job.state = "active"
        job.state_time = job.modified = now()
        job.serial = self.store.next_serial()
        self.check_all_complete(job)
        self.wake()

    def delete_job(self, job: Job) -> None:
        """Lock held. Kill its running tasks; the job is gone."""
        self._kill_running(job, requeue=False)
        self.store.jobs.pop(job.id.lower(), None)
        self.wake()

    def terminate_task(self, job: Job, pos: int) -> None:
        """Lock held. The task moves to completed [BF 7]; its result is undocumented: a
        failure with ``TaskEnded``; its dependents see its exit conditions (``default``,
        else block); a user's terminate fires no jobAction."""
        g = job.graph
        code: int | None = None
        if pos in g.running:
            self._kill(job, pos)
            self._release(job, pos)
            code = KILLED_EXIT_CODE
        g.attempt[pos] += 1
        g.queued[pos] = 0
        self._complete(job, pos, code, failure_info("TaskEnded", "The task ended."))
        spec = g.specs[pos] or DEFAULT_SPEC
        dependency, _ = exit_actions(spec.exit_conditions, "exit", code, False)
        self._resolve(job, pos, dependency)
        self.check_all_complete(job)
        self.wake()

    def reactivate_task(self, job: Job, pos: int) -> None:
        """Lock held. A completed, failed task becomes active: retry count 0, exit code and
        failure forgotten [BF 7]; its dependents wait for it again (undocumented [BF 4];
        Azure/Batch#129 shows them waiting on the re-run)."""
        self._set_state(job, pos, ACTIVE, now())
        job.task_retry[pos] = 0
        job.task_exit[pos] = NO_EXIT
        job.task_failure.pop(pos, None)
        job.task_start[pos] = 0.0
        job.task_end[pos] = 0.0
        job.completed_tasks -= 1
        self._unresolve(job, pos)
        self._recount(job, pos)
        self.wake()

    def _unresolve(self, job: Job, pos: int) -> None:
        g = job.graph
        task_id = job.task_ids[pos]
        key = task_id.lower()
        g.resolved_id.pop(key, None)
        affected = list(g.by_id.get(key, ()))
        n = integer_id(task_id)
        if n is not None and n in g.resolved_int:
            # Another completed task with the same integer value may decide it now; the
            # union-find cannot forget one integer, so it is rebuilt (reactivate is rare).
            del g.resolved_int[n]
            states = job.task_state
            candidates = [
                (job.task_end[p], p)
                for p, other in enumerate(job.task_ids)
                if p != pos and states[p] == COMPLETED and integer_id(other) == n
            ]
            if candidates:
                _, first = min(candidates)
                g.resolved_int[n] = g.resolved_id.get(job.task_ids[first].lower(), BLOCK)
            g.lower = {m: m - 1 for m in g.resolved_int}
            g.blocked_ints = sorted(m for m, a in g.resolved_int.items() if a == BLOCK)
            affected += [
                dep
                for dep, deps in enumerate(g.deps)
                if deps is not None and any(max(start, 0) <= n <= end for start, end in deps[1])
            ]
        for dep in dict.fromkeys(affected):
            if job.task_state[dep] == ACTIVE:
                self._recount(job, dep)

    def delete_task(self, job: Job, pos: int) -> None:
        """Lock held. Kill it if running; it leaves the job (its id may not be reused
        safely [BATCH_FACTS "Task ids"])."""
        g = job.graph
        if g is not None:
            if pos in g.running:
                self._kill(job, pos)
                self._release(job, pos)
            g.attempt[pos] += 1
            g.queued[pos] = 0
        if job.task_state[pos] == COMPLETED:
            job.completed_tasks -= 1
        self._set_state(job, pos, DELETED, now())
        job.live_tasks -= 1
        job.index.pop(job.task_ids[pos].lower(), None)
        self.check_all_complete(job)
        self.wake()

    def constraints_changed(self, job: Job, pos: int, task: dict[str, Any]) -> None:
        """Lock held. The task's body changed (Tasks_ReplaceTask sets its ``constraints``):
        its spec is read again. The retry limit applies when it next ends, the wall-clock
        limit when it next starts: an attempt already running keeps the limit it started
        with (when Batch applies a new limit is undocumented). Its slots do not change."""
        g = job.graph
        if g is not None and pos < len(g.specs):
            g.specs[pos] = None if _SPEC_KEYS.isdisjoint(task) else task_spec(task)

    # --- for tools ---

    def idle(self, job: Job) -> bool:
        """Lock held. Nothing of the job runs or can start: it is over, or what is left
        waits for ever (blocked, missing parents, too many slots) or for an enable.
        ``EmulatorError`` once the engine thread has stopped on an error (``crashed``)."""
        if self.crashed is not None:
            exc = self.crashed
            raise EmulatorError(
                "the local emulator's scheduler stopped on an unexpected error, so the run "
                f"cannot go on: {type(exc).__name__}: {exc}"
            ) from exc
        g = job.graph
        if job.state == "completed":
            return True
        if g is None:
            return True
        if g.running:
            return False
        if job.state == "active" and any(g.queued[p] for p in g.ready):
            return False
        return not any(
            t.job is job and t.kind in ("exit", "timeout") for t in self._timers
        ) and not any(item[0] is job for item in self._due)
