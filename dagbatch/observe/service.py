"""Reading and steering a job through the Batch REST API, the same client and credentials as
`dagbatch submit` (``dagbatch.submit.client.BatchClient``).

Efficient at 100,000+ tasks: the job's task counts in one call; the tasks in one listing with
``$select`` (only the fields the view needs), following ``odata.nextLink`` pages of up to 1000
tasks (the list operation's maximum [S Tasks_ListTasks maxresults]); ``$filter`` where it
narrows what is read (the ids of the tasks in one state).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Iterable, Mapping
from typing import Any, Final
from urllib.parse import parse_qsl, quote, urlsplit

from dagbatch.errors import BatchServiceError
from dagbatch.gcpause import gc_paused
from dagbatch.observe.model import Definitions, TaskDefinition, TaskRecord
from dagbatch.redact import redact
from dagbatch.submit.client import TRANSIENT_STATUS, AnswerHook, BatchClient, loopback_endpoint
from dagbatch.submit.concurrency import (
    DEFAULT_CONCURRENCY,
    THROTTLE_STATUS,
    AdaptiveConcurrency,
    ConcurrencyGate,
    check_concurrency,
)

#: Tasks per list page: the service's maximum.
PAGE_SIZE: Final = 1000
#: The fields a status needs of each task; the definitions' fields are added when the plan
#: is not at hand.
RECORD_FIELDS: Final = ("id", "state", "executionInfo")
DEFINITION_FIELDS: Final = ("dependsOn", "exitConditions")
#: Bytes of stderr.txt shown for a failed task.
STDERR_TAIL_BYTES: Final = 2048
#: Concurrent reads of task files (stderr tails); terminate and reactivate go at ``Pace``'s.
CONCURRENCY: Final = 16
#: Tasks beside a plan's read one GET each up to this many; more, in one listing.
OUTSIDE_GETS: Final = 64


def _job_path(job_id: str) -> str:
    return f"/jobs/{quote(job_id, safe='')}"


def _task_path(job_id: str, task_id: str) -> str:
    return f"{_job_path(job_id)}/tasks/{quote(task_id, safe='')}"


#: The service's code for a job it does not hold.
JOB_NOT_FOUND: Final = "JobNotFound"


def job_not_found(job_id: str, endpoint: str) -> BatchServiceError:
    """The one error for a job the service does not hold (`status`, `watch`, `rerun`,
    `finish`, `show --job-id`), with where to look: the endpoint, the job id, and whether the
    job was created there, by a plan's submission or another client; at an endpoint on this
    machine, that the emulator keeps its jobs in memory (a restarted one holds none)."""
    emulator = (
        " (the emulator keeps its jobs in memory: after a restart, submit the plan again "
        "with `dagbatch submit PLAN_DIR --create-job`)"
        if loopback_endpoint(endpoint)
        else ""
    )
    return BatchServiceError(
        404,
        JOB_NOT_FOUND,
        f"job {job_id!r} does not exist at {redact(endpoint)}: is the endpoint right "
        "(AZURE_BATCH_ENDPOINT / --endpoint), and the job id, and was the job created there?"
        + emulator,
    )


class JobService:
    """One job of one account, read and steered through ``client``."""

    def __init__(self, client: BatchClient, job_id: str):
        self.client = client
        self.job_id = job_id

    async def _read(self, path: str, params: Mapping[str, str] | None = None) -> dict[str, Any]:
        """GET ``path``'s JSON object; the job missing is ``job_not_found``'s error."""
        try:
            answer = await self.client.call("GET", path, params=params)
        except BatchServiceError as exc:
            if exc.code == JOB_NOT_FOUND:
                raise job_not_found(self.job_id, self.client.endpoint) from None
            raise
        return answer.body if isinstance(answer.body, dict) else {}

    async def job(self) -> dict[str, Any]:
        """The job (``job_not_found``'s ``BatchServiceError`` when there is none)."""
        return await self._read(_job_path(self.job_id))

    async def task_counts(self) -> dict[str, int]:
        """``taskCounts`` of the job [BATCH_FACTS 10] ("may not always be up to date")."""
        body = await self._read(f"{_job_path(self.job_id)}/taskcounts")
        counts = body.get("taskCounts")
        return {k: int(v) for k, v in counts.items()} if isinstance(counts, dict) else {}

    async def pages(
        self, *, select: Iterable[str], filter: str | None = None
    ) -> AsyncIterator[list[dict[str, Any]]]:
        """The job's tasks, one list page at a time, following ``odata.nextLink``."""
        path = f"{_job_path(self.job_id)}/tasks"
        params: dict[str, str] = {"$select": ",".join(select), "maxresults": str(PAGE_SIZE)}
        if filter:
            params["$filter"] = filter
        while True:
            body = await self._read(path, params)
            value = body.get("value")
            yield (
                [t for t in value if isinstance(t, dict) and "id" in t]
                if isinstance(value, list)
                else []
            )
            link = body.get("odata.nextLink")
            if not isinstance(link, str) or not link:
                return
            path, params = self._next(link)

    def _next(self, link: str) -> tuple[str, dict[str, str]]:
        """The path and query of a ``odata.nextLink`` (api-version is added by the client)."""
        parts = urlsplit(link)
        base = urlsplit(self.client.endpoint).path.rstrip("/")
        path = parts.path
        if base and path.startswith(base):
            path = path[len(base) :]
        params = {k: v for k, v in parse_qsl(parts.query, keep_blank_values=True)}
        params.pop("api-version", None)
        return path, params

    async def tasks(
        self, *, definitions: bool = False, listed: Callable[[int], None] | None = None
    ) -> tuple[dict[str, TaskRecord], Mapping[str, TaskDefinition]]:
        """Every task of the job: its record, and (``definitions=True``) its dependsOn and
        exitConditions, in one listing with ``$select``. ``listed(n)``: the tasks listed so
        far, after each page (progress).

        One listing, not one per state with ``$filter``: a filtered listing costs the service
        a pass over every task of the job, so four of them cost four passes to serialize the
        same tasks once (measured on the emulator: 100,000 tasks listed unfiltered in about
        the time of one empty filtered listing)."""
        select = RECORD_FIELDS + (DEFINITION_FIELDS if definitions else ())
        records: dict[str, TaskRecord] = {}
        bodies: dict[str, dict[str, Any]] = {}
        from_wire = TaskRecord.from_wire
        # A record a task and the pages' decoded JSON, none in a cycle: each page is read
        # with the cyclic collector paused (``dagbatch.gcpause``), whose sweeps of what was
        # listed so far took a sixth of a 200,000-task listing; what a page made joins the
        # oldest generation as the pause ends, so the next pages' collections do not walk
        # it. Never across an ``await``: the caller's other coroutines keep the collector,
        # and a listing abandoned half way cannot leave it off.
        async for page in self.pages(select=select):
            with gc_paused():
                for raw in page:
                    rec = from_wire(raw)
                    records[rec.id] = rec
                    if definitions:
                        bodies[rec.id] = raw
            if listed is not None:
                listed(len(records))
        return records, Definitions(bodies)

    async def definitions_of(self, task_ids: Collection[str]) -> dict[str, dict[str, Any]]:
        """The bodies (``id``, ``dependsOn``, ``exitConditions``) of the tasks ``task_ids``
        (those that still exist): one GET a task for a few of them, one listing for more
        (``OUTSIDE_GETS``). What a plan's view reads of the tasks a job holds beside the
        plan's (``WorkflowView.with_outside``)."""
        select = ",".join(("id", *DEFINITION_FIELDS))
        if len(task_ids) > OUTSIDE_GETS:
            wanted = set(task_ids)
            found: dict[str, dict[str, Any]] = {}
            async for page in self.pages(select=("id", *DEFINITION_FIELDS)):
                found.update((str(t["id"]), t) for t in page if t["id"] in wanted)
            return found
        gate = asyncio.Semaphore(CONCURRENCY)

        async def one(task_id: str) -> dict[str, Any] | None:
            async with gate:
                try:
                    body = await self._read(_task_path(self.job_id, task_id), {"$select": select})
                except BatchServiceError as exc:
                    if exc.status == 404:
                        return None  # deleted since it was listed
                    raise
            return body if "id" in body else None

        bodies = await asyncio.gather(*(one(t) for t in task_ids))
        return {t: b for t, b in zip(task_ids, bodies, strict=True) if b is not None}

    async def ids_in_state(self, state: str) -> list[str]:
        """The ids of the job's tasks in ``state`` (``$filter``, ``$select=id``): a cheap check
        before acting on tasks, e.g. that they are still active."""
        ids: list[str] = []
        async for page in self.pages(select=("id",), filter=f"state eq '{state}'"):
            with gc_paused():  # as ``tasks``: a page at a time, never across an await
                ids.extend(str(t["id"]) for t in page)
        return ids

    async def stderr_tail(self, task_id: str, max_bytes: int = STDERR_TAIL_BYTES) -> str | None:
        """The last ``max_bytes`` of the task's ``stderr.txt`` (None when there is none): the
        file's size from a HEAD, then only its tail with ``ocp-range`` [S Tasks_GetTaskFile]."""
        path = f"{_task_path(self.job_id, task_id)}/files/stderr.txt"
        missing = frozenset({"FileNotFound", "TaskNotFound", "NodeNotFound", "TaskFileNotFound"})
        try:
            head = await self.client.read_file("HEAD", path, ok_codes=missing)
            if head.code is not None or head.status == 404:
                return None
            size = int(head.headers.get("content-length", "-1"))
            headers = {}
            if size > max_bytes:
                headers["ocp-range"] = f"bytes={size - max_bytes}-{size - 1}"
            if size == 0:
                return ""
            answer = await self.client.read_file("GET", path, headers=headers, ok_codes=missing)
        except BatchServiceError as exc:
            if exc.status == 404:
                return None
            raise
        if answer.code is not None:
            return None
        text = answer.content[-max_bytes:].decode("utf-8", errors="replace")
        return text

    async def reactivate(self, task_id: str, on_answer: AnswerHook | None = None) -> None:
        """Reactivate a completed, failed task [BATCH_FACTS 7]. ``on_answer``: as
        ``BatchClient.call``'s (``Pace.answered``)."""
        path = f"{_task_path(self.job_id, task_id)}/reactivate"
        await self.client.call("POST", path, on_answer=on_answer)

    async def terminate(self, task_id: str, on_answer: AnswerHook | None = None) -> None:
        """Terminate a task: it moves to completed [BATCH_FACTS 7]. ``on_answer``: as
        ``BatchClient.call``'s (``Pace.answered``)."""
        path = f"{_task_path(self.job_id, task_id)}/terminate"
        await self.client.call("POST", path, on_answer=on_answer)


#: One request a task (terminate, reactivate): ``await action(task_id, on_answer)``.
TaskAction = Callable[[str, AnswerHook | None], Awaitable[None]]


class Pace:
    """How many per-task requests (terminate, reactivate) are in flight at once, across all
    the rounds of one command: ``concurrency`` fixed, or None for the level `dagbatch submit`
    adapts (``dagbatch.submit.concurrency.AdaptiveConcurrency``: from ``DEFAULT_CONCURRENCY``
    up while the service answers more per second, halved when it throttles with 429/503).

    Batch has no bulk terminate or reactivate, so tens of thousands of tasks are as many
    requests: at the real service's round trips of tens to hundreds of milliseconds, a fixed
    16 in flight would take minutes (Little's law).
    """

    def __init__(self, concurrency: int | None = None):
        check_concurrency(concurrency)
        self.gate = ConcurrencyGate(concurrency or DEFAULT_CONCURRENCY)
        self.adaptive = AdaptiveConcurrency(self.gate) if concurrency is None else None

    def answered(self, status: int | None) -> None:
        """One attempt ended with ``status`` (None: no answer): tell the adaptive level. An
        answer that ends the request counts as one done; a retried one as none, and 429/503
        as throttling."""
        if self.adaptive is None:
            return
        retried = status is None or status in TRANSIENT_STATUS
        self.adaptive.observe(
            0 if retried else 1,
            throttled=status in THROTTLE_STATUS,
            waiting=self.gate.waiting > 0,
        )


async def for_each(
    items: Iterable[str],
    action: TaskAction,
    *,
    pace: Pace | None = None,
    each_done: Callable[[], None] | None = None,
) -> dict[str, BaseException]:
    """Run ``await action(item, pace.answered)`` for each item, as many at a time as ``pace``
    lets (default: adaptive), in order of submission; the errors by item (service errors
    only; others propagate). ``each_done`` is called as each item's call ends, whether it
    succeeded or not (progress)."""
    pace = pace or Pace()
    errors: dict[str, BaseException] = {}
    gate = pace.gate

    async def one(item: str) -> None:
        async with gate:
            try:
                await action(item, pace.answered)
            except BatchServiceError as exc:
                errors[item] = exc
            if each_done is not None:
                each_done()

    await asyncio.gather(*(one(i) for i in items))
    return errors
