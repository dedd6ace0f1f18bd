"""The emulator's in-memory state: jobs, their tasks, and counters.

Tasks are stored compactly so a job can hold a million of them in a few hundred MB: the
task's JSON bytes as received (re-serialized by orjson, one object), its id, and its
creation time in an ``array('d')``; a dict maps the lower-cased id to the task's position.
Everything is guarded by one lock, held only for short, non-blocking sections, so tests may
read the store from another thread while the server runs.
"""

from __future__ import annotations

import threading
import time
from array import array
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

#: ``Job.task_exit`` of a task without an exit code.
NO_EXIT = -(2**62)


def http_time(epoch: float) -> str:
    """An RFC 1123 timestamp, for ``Last-Modified``."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%a, %d %b %Y %H:%M:%S GMT")


def task_modified(job: Job, pos: int) -> float:
    """When task ``pos`` of ``job`` last changed: its state, or its properties by an update."""
    changed = job.task_state_time[pos]
    return max(changed, job.task_updated.get(pos, changed))


def make_etag(serial: int) -> str:
    """A service-looking ETag, unique per serial number."""
    return f"0x8DD{serial:012X}"


@dataclass
class Job:
    """One job and its tasks. Mutate only under ``EmulatorStore.lock``."""

    id: str
    spec: dict[str, Any]
    created: float
    modified: float
    serial: int
    #: The serial it was created with: jobs in creation order (a list's page token).
    created_serial: int = 0
    state: str = "active"
    state_time: float = 0.0
    task_ids: list[str] = field(default_factory=list)
    task_raw: list[bytes] = field(default_factory=list)
    task_created: array[float] = field(default_factory=lambda: array("d"))
    task_serial: array[int] = field(default_factory=lambda: array("q"))
    index: dict[str, int] = field(default_factory=dict)
    # Run-time state, one entry per task position (see ``scheduler``): compact arrays so a
    # 200,000-task job costs a few bytes a task beyond its JSON.
    task_state: bytearray = field(default_factory=bytearray)
    task_prev: bytearray = field(default_factory=bytearray)
    task_state_time: array[float] = field(default_factory=lambda: array("d"))
    #: When each task entered its previous state (0: it has none yet)
    task_prev_time: array[float] = field(default_factory=lambda: array("d"))
    task_start: array[float] = field(default_factory=lambda: array("d"))
    task_end: array[float] = field(default_factory=lambda: array("d"))
    task_exit: array[int] = field(default_factory=lambda: array("q"))
    task_retry: array[int] = field(default_factory=lambda: array("i"))
    task_requeue: array[int] = field(default_factory=lambda: array("i"))
    #: When each requeued task was last requeued (position -> time): ``lastRequeueTime``.
    task_requeued_at: dict[int, float] = field(default_factory=dict)
    #: failureInfo of the tasks that have one (position -> object).
    task_failure: dict[int, dict[str, Any]] = field(default_factory=dict)
    #: When an update (replace task) last changed a task, for the tasks updated at all
    #: (position -> time): its ``lastModified`` is the later of this and its state change.
    task_updated: dict[int, float] = field(default_factory=dict)
    #: The live task count (added minus deleted) and how many of them are completed.
    live_tasks: int = 0
    completed_tasks: int = 0
    previous_state: str | None = None
    previous_state_time: float = 0.0
    terminate_reason: str | None = None
    #: The scheduler's per-job bookkeeping (``scheduler.JobGraph``), when an engine runs.
    graph: Any = None

    @property
    def uses_task_dependencies(self) -> bool:
        return bool(self.spec.get("usesTaskDependencies", False))

    @property
    def on_task_failure(self) -> str:
        return str(self.spec.get("onTaskFailure", "noaction"))

    @property
    def on_all_tasks_complete(self) -> str:
        return str(self.spec.get("onAllTasksComplete", "noaction"))

    def all_tasks_complete(self) -> bool:
        """Every task is completed; a job without tasks counts as complete.

        ``onAllTasksComplete`` fires "when all Tasks in the Job are in the completed state.
        Note that if a Job contains no Tasks, then all Tasks are considered complete"; hence
        the advice to set ``terminatejob`` "once you have finished adding Tasks" [BATCH_FACTS
        6, spec-2025 BatchJobCreateOptions.onAllTasksComplete]. Users see the same: a job
        created with ``TerminateJob`` is "in a race to get the tasks into the job before the
        job itself times out" (github.com/Azure/azure-sdk-for-net issue 8764). So a
        ``terminatejob`` job without tasks completes: on creation, on the update that sets
        it, and when its last task is deleted.
        """
        return self.completed_tasks == self.live_tasks


@dataclass
class Counters:
    """What the emulator has seen, for tests and benchmarks."""

    requests: Counter[str] = field(default_factory=Counter)
    responses: Counter[int] = field(default_factory=Counter)
    faults: Counter[str] = field(default_factory=Counter)
    task_results: Counter[str] = field(default_factory=Counter)
    tasks_added: int = 0
    auth_failures: int = 0
    #: requests of each operation being served now (read, processed or held for the
    #: injected latency), and the most there were at once: how many a client keeps in flight
    in_flight: Counter[str] = field(default_factory=Counter)
    peak_in_flight: Counter[str] = field(default_factory=Counter)


class EmulatorStore:
    """Jobs and tasks, keyed case-insensitively like the service."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.jobs: dict[str, Job] = {}
        self.counters = Counters()
        self._serial = 0
        self._seen_bodies: Counter[bytes] = Counter()
        #: The ``scheduler.Engine`` that runs this store's tasks, if any.
        self.engine: Any = None

    # --- used by the app (call with the lock held where noted) ---

    def next_serial(self) -> int:
        """A fresh serial number for an ETag. Lock held."""
        self._serial += 1
        return self._serial

    @property
    def last_serial(self) -> int:
        """The serial number handed out last. Lock held."""
        return self._serial

    def occurrence(self, key: bytes) -> int:
        """How many times a request with this key was seen before (and count this one)."""
        with self.lock:
            n = self._seen_bodies[key]
            self._seen_bodies[key] = n + 1
            return n

    def add_task(self, job: Job, task_id: str, raw: bytes, now: float) -> int:
        """Store a task that passed every check. Lock held. Returns its serial."""
        job.index[task_id.lower()] = len(job.task_ids)
        self.add_tasks(job, [task_id], [raw], now)
        return self._serial

    def add_tasks(self, job: Job, task_ids: list[str], raws: list[bytes], now: float) -> None:
        """Store tasks that passed every check, in order, their lower-cased ids already in
        ``job.index`` at their positions (from ``len(job.task_ids)`` on). Lock held. Their
        serials are consecutive, from ``last_serial + 1`` on."""
        n = len(task_ids)
        if n == 0:
            return
        first = self._serial + 1
        self._serial += n
        job.task_ids.extend(task_ids)
        job.task_raw.extend(raws)
        times = array("d", (now,)) * n
        job.task_created.extend(times)
        job.task_serial.extend(range(first, first + n))
        job.task_state.extend(bytes(n))
        job.task_prev.extend(b"\xff" * n)
        job.task_state_time.extend(times)
        zeros = array("d", (0.0,)) * n
        job.task_prev_time.extend(zeros)
        job.task_start.extend(zeros)
        job.task_end.extend(zeros)
        job.task_exit.extend(array("q", (NO_EXIT,)) * n)
        counts = array("i", (0,)) * n
        job.task_retry.extend(counts)
        job.task_requeue.extend(counts)
        job.live_tasks += n
        # The job's lastModified stays: "It does not factor in task-level changes such as
        # adding new Tasks" [spec-2025 BatchJob.lastModified].
        self.counters.tasks_added += n

    # --- for tests and tools ---

    def job(self, job_id: str) -> Job | None:
        with self.lock:
            return self.jobs.get(job_id.lower())

    def job_ids(self) -> list[str]:
        with self.lock:
            return [job.id for job in self.jobs.values()]

    def task_count(self, job_id: str) -> int:
        with self.lock:
            job = self.jobs.get(job_id.lower())
            return job.live_tasks if job else 0  # deleted tasks are not counted

    def task_ids(self, job_id: str) -> list[str]:
        """The ids of the job's tasks, in the order they were added."""
        with self.lock:
            job = self.jobs.get(job_id.lower())
            return list(job.task_ids) if job else []

    def task(self, job_id: str, task_id: str) -> dict[str, Any] | None:
        """The task as it was received (the create body), or None."""
        with self.lock:
            job = self.jobs.get(job_id.lower())
            if job is None:
                return None
            pos = job.index.get(task_id.lower())
            if pos is None:
                return None
            raw = job.task_raw[pos]
        result: dict[str, Any] = orjson.loads(raw)
        return result

    def tasks(self, job_id: str) -> Iterator[dict[str, Any]]:
        """Every task of the job as received, in the order added."""
        with self.lock:
            job = self.jobs.get(job_id.lower())
            raws = list(job.task_raw) if job else []
        for raw in raws:
            yield orjson.loads(raw)

    def stats(self) -> dict[str, Any]:
        """A JSON-ready snapshot of the counters."""
        with self.lock:
            c = self.counters
            return {
                "requests": dict(c.requests),
                "requestsTotal": sum(c.requests.values()),
                "responses": {str(k): v for k, v in sorted(c.responses.items())},
                "faults": dict(c.faults),
                "taskResults": dict(c.task_results),
                "tasksAdded": c.tasks_added,
                "authFailures": c.auth_failures,
                "peakInFlight": dict(c.peak_in_flight),
                "jobs": {job.id: len(job.task_ids) for job in self.jobs.values()},
            }


def now() -> float:
    """The emulator's clock."""
    return time.time()
