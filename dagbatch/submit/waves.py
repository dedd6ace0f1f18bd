"""The wave scheduler: sends a plan's batches so that every task lands once, parents first.

Waves in order; the batches of one wave concurrently (at most ``concurrency`` requests in
flight); a wave only after every task of the earlier waves is confirmed. Inside a batch, a
task is sent only after its parents in the same batch are confirmed: the batch is cut into
*segments*, runs of tasks none of which depends on another task of its segment, sent one after
the other (a batch without such dependencies is one segment: the plan's exact bytes). So a
per-task ``servererror`` on a parent can never let its child land first: the child is not in
the request. [docs/BATCH_FACTS.md: results come back in any order, and what the service does
with a child whose parent does not exist yet is undocumented.]

Per request (``_send_request``), until each task is confirmed or failed:

- per-task ``success`` -> confirmed; ``servererror`` (or absent from the answer) -> sent again
  after a backoff, in a body holding only those tasks;
- ``TaskExists`` -> confirmed only if this submission sent that task before (an earlier
  attempt, or a journal ``send`` record of an interrupted run) and a GET of the existing task
  matches what we sent; otherwise a conflict, and nothing is overwritten;
- other client errors -> failed, reported;
- 429/500/503, timeouts and dropped connections -> backoff (``Retry-After`` honoured) and the
  same unconfirmed tasks sent again with the same ids;
- 413 ``RequestBodyTooLarge`` -> the request is split in halves, sent one after the other.

A task that does not land holds back the rest of its batch (they may depend on it) and every
later wave; those are reported as not submitted.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Sequence
from typing import Any

import orjson

from dagbatch.errors import BatchServiceError, RequestBodyTooLarge, TransientError
from dagbatch.plan import Batch, LoadedPlan
from dagbatch.redact import redact
from dagbatch.submit.client import BatchClient
from dagbatch.submit.compare import task_differences
from dagbatch.submit.concurrency import (
    DEFAULT_CONCURRENCY,
    AdaptiveConcurrency,
    ConcurrencyGate,
)
from dagbatch.submit.journal import Journal, JournalState
from dagbatch.submit.progress import Progress
from dagbatch.submit.report import FailureKind, SubmitFailure
from dagbatch.submit.results import classify_results
from dagbatch.submit.retry import RetryState

log = logging.getLogger("dagbatch.submit.submission")

#: Concurrent GETs when verifying ``TaskExists`` answers.
VERIFY_CONCURRENCY = 16

Task = dict[str, Any]

#: Whole-request statuses after which the request may have been processed (fully or partly).
_UNCERTAIN_STATUS = frozenset({408, 500, 502, 504})
#: Whole-request statuses by which the service asks the client to slow down.
_THROTTLE_STATUS = frozenset({429, 503})

__all__ = ["DEFAULT_CONCURRENCY", "WaveScheduler", "segments"]


def _parent_ids(task: Task) -> tuple[list[str], list[tuple[int, int]]]:
    depends = task.get("dependsOn")
    if not isinstance(depends, dict):
        return [], []
    ids = [str(i).lower() for i in depends.get("taskIds") or ()]
    ranges = [
        (int(r.get("start", 0)), int(r.get("end", -1)))
        for r in depends.get("taskIdRanges") or ()
        if isinstance(r, dict)
    ]
    return ids, ranges


def segments(tasks: Sequence[Task]) -> list[list[Task]]:
    """Cut ``tasks`` (request order) into runs where no task depends on another of its run.

    A new segment starts at a task naming a task of the current segment in ``taskIds`` or
    covering one's integer id with a ``taskIdRanges`` entry. Concatenated, the segments are
    ``tasks`` in their order.
    """
    out: list[list[Task]] = []
    current: list[Task] = []
    ids: set[str] = set()
    numbers: list[int] = []
    for task in tasks:
        parents, ranges = _parent_ids(task)
        inside = any(p in ids for p in parents) or any(
            lo <= n <= hi for lo, hi in ranges for n in numbers
        )
        if inside:
            out.append(current)
            current, ids, numbers = [], set(), []
        current.append(task)
        task_id = str(task["id"])
        ids.add(task_id.lower())
        if task_id.isdigit():
            numbers.append(int(task_id))
    if current:
        out.append(current)
    return out


class WaveScheduler:
    """One submission's sending state: what is sent, confirmed and failed, and the counters.

    ``run_waves`` is the entry point; it returns the ids held back. ``failures``, ``added``,
    ``verified``, ``retries`` and ``requests`` are read for the report afterwards.
    """

    def __init__(
        self,
        plan: LoadedPlan,
        job_id: str,
        client: BatchClient,
        journal: Journal,
        state: JournalState,
        progress: Progress,
        concurrency: int | None,
    ):
        """``concurrency``: requests in flight, fixed; None: adaptive
        (``dagbatch.submit.concurrency.AdaptiveConcurrency``)."""
        self.plan = plan
        self.job_id = job_id
        self.client = client
        self.journal = journal
        self.progress = progress
        self.api_version: str = plan.manifest.apiVersion
        self.sent: set[str] = set(state.sent)  # ever sent, by this run or a journaled one
        self.confirmed: set[str] = set(state.confirmed)
        self.failures: dict[str, SubmitFailure] = {}
        self.held: list[str] = []  # not sent because a task before them did not land
        self.added = 0
        self.verified = 0
        self.retries = 0
        self.requests = 0
        self.gate = ConcurrencyGate(concurrency or DEFAULT_CONCURRENCY)
        self.adaptive: AdaptiveConcurrency | None = None
        if concurrency is None:
            self.adaptive = AdaptiveConcurrency(
                self.gate, on_change=lambda level: progress.concurrency(level, adaptive=True)
            )
        self.verify_sem = asyncio.Semaphore(VERIFY_CONCURRENCY)
        #: Awaited before the first ``ok`` record: the journal record of the job's creation
        #: (``dagbatch.submit.job.prepare_job``), fetched while the first requests fly.
        self.before_first_ok: asyncio.Future[None] | None = None

    # -- bookkeeping -------------------------------------------------------------------

    def _fail(self, task_id: str, code: str, message: str, kind: FailureKind, batch: int) -> None:
        message = redact(message)
        self.failures[task_id] = SubmitFailure(task_id, code, message, kind, batch)
        self.journal.failed(task_id, code, message)

    def _retry(self, what: str) -> None:
        self.retries += 1
        self.progress.retry(what)
        log.info("retry: %s", what)

    async def _confirm(self, ids: list[str]) -> None:
        """Journal ``ids`` as confirmed; return once the record is on disk (group commit:
        ``Journal.commit``). Only then do their children go out: the next segment of their
        batch waits for this, and the next wave for every batch of this one."""
        if not ids:
            return
        if self.before_first_ok is not None:
            await self.before_first_ok
        self.journal.confirmed(ids)
        await self.journal.commit()
        self.confirmed.update(ids)
        self.progress.advance(len(ids))

    def _observe(self, tasks: int, status: int | None = None) -> None:
        """Tell the adaptive level about one answer (a no-op at a fixed level)."""
        if self.adaptive is not None:
            self.adaptive.observe(
                tasks, throttled=status in _THROTTLE_STATUS, waiting=self.gate.waiting > 0
            )

    # -- verifying TaskExists ----------------------------------------------------------

    async def _verify_one(self, task: Task) -> tuple[str, list[str] | None]:
        """("same" | "differs" | "absent" | "unknown", the differing fields)."""
        async with self.verify_sem:
            try:
                answer = await self.client.get_task(
                    self.job_id, task["id"], api_version=self.api_version
                )
            except TransientError:
                return "unknown", None
        if answer.status == 404 or not isinstance(answer.body, dict):
            return "absent", None
        diffs = task_differences(task, answer.body)
        return ("same" if not diffs else "differs"), diffs

    # -- one request, with its retries --------------------------------------------------

    async def _send_request(self, batch: Batch, ids: list[str], body: bytes) -> list[list[str]]:
        """Send the tasks ``ids`` of ``batch`` (serialized as ``body``) until each is confirmed
        or failed.

        Returns [] when done, or the two halves to send instead after a 413. The task bodies
        are parsed only when something went wrong (a retry, ``TaskExists``, a split).
        """
        retry = RetryState(self.client.retry)
        remaining = ids
        uncertain = False  # an attempt ended in a way that may have added tasks
        while remaining:
            ids = remaining
            sent_before = {i for i in ids if i in self.sent}
            try:
                async with self.gate:
                    # Journal the attempt before its request leaves (see dagbatch.submit.journal).
                    self.journal.sending(batch.index, ids)
                    self.sent.update(ids)
                    self.requests += 1
                    try:
                        results = await self.client.add_task_collection(
                            self.job_id, body, api_version=self.api_version
                        )
                    except TransientError as exc:
                        self._observe(0, exc.status)
                        raise
                    self._observe(sum(r.status == "success" for r in results))
            except RequestBodyTooLarge as exc:
                if len(remaining) == 1:
                    self._fail(ids[0], "RequestBodyTooLarge", str(exc), "rejected", batch.index)
                    return []
                self._retry(
                    f"batch {batch.index}: body too large, splitting {len(remaining)} tasks"
                )
                half = len(remaining) // 2
                return [remaining[:half], remaining[half:]]
            except TransientError as exc:
                if not exc.connect and (exc.status is None or exc.status in _UNCERTAIN_STATUS):
                    uncertain = True
                self._retry(f"batch {batch.index}: {exc}")
                if not await retry.backoff(exc.retry_after):
                    self._give_up(batch.index, ids, retry.retries, str(exc), exc.code, uncertain)
                    return []
                continue
            except BatchServiceError as exc:
                if exc.status != 400:
                    raise  # job not found, job state, forbidden: the whole submission stops
                for task_id in ids:
                    self._fail(task_id, exc.code or "BadRequest", str(exc), "rejected", batch.index)
                return []

            result = classify_results(ids, results, sent_before)
            for task_id, code, message, kind in result.failed:
                self._fail(task_id, code, message, kind, batch.index)
            again = set(result.resend)
            verified: list[str] = []
            if result.exists:
                by_id = _tasks_by_id(batch)
                checks = await asyncio.gather(*(self._verify_one(by_id[i]) for i in result.exists))
                for task_id, (verdict, diffs) in zip(result.exists, checks, strict=True):
                    if verdict == "same":
                        verified.append(task_id)
                    elif verdict == "differs":
                        self._fail(
                            task_id,
                            "TaskExists",
                            "conflict: the existing task differs from the one in the plan "
                            f"({', '.join(diffs or [])}); it was left unchanged",
                            "conflict",
                            batch.index,
                        )
                    else:
                        again.add(task_id)
            self.added += len(result.added)
            self.verified += len(verified)
            await self._confirm(result.added + verified)

            remaining = [i for i in remaining if i in again]
            if remaining:
                self._retry(f"batch {batch.index}: {len(remaining)} task(s) to send again")
                if not await retry.backoff(None):
                    self._give_up(
                        batch.index,
                        remaining,
                        retry.retries,
                        "the service kept answering servererror for this task",
                        "ServerError",
                        uncertain,
                    )
                    return []
                body = _body_of(batch, remaining)
        return []

    def _give_up(
        self, batch: int, ids: list[str], retries: int, why: str, code: str, uncertain: bool
    ) -> None:
        """Report ``ids`` after the retries ran out: "not confirmed" when an attempt may have
        added them (a timeout, a dropped connection, a 500), else "gave up"."""
        for task_id in ids:
            if uncertain:
                self._fail(
                    task_id,
                    code,
                    f"not confirmed after {retries} retries (the task may have landed; "
                    f"--resume checks): {why}",
                    "unconfirmed",
                    batch,
                )
            else:
                self._fail(
                    task_id, code, f"gave up after {retries} retries: {why}", "gaveup", batch
                )

    async def _send_segment(self, batch: Batch, ids: list[str], body: bytes) -> None:
        """Send one segment (413 halves one after the other)."""
        chunks: deque[tuple[list[str], bytes]] = deque([(ids, body)])
        while chunks:
            part, data = chunks.popleft()
            halves = await self._send_request(batch, part, data)
            for half in reversed(halves):
                chunks.appendleft((half, _body_of(batch, half)))

    def _segments(self, batch: Batch) -> list[list[str]]:
        """The unconfirmed ids of ``batch`` cut into segments (``segments``); the bodies are
        parsed only when a task of the batch names a parent at all."""
        pending = [i for i in batch.task_ids if i not in self.confirmed]
        if not pending:
            return []
        if _DEPENDS_ON not in batch.body and b"\\u" not in batch.body:
            return [pending]
        if len(pending) == len(batch.task_ids):
            tasks: Sequence[Task] = batch.tasks
        else:
            left = set(pending)
            tasks = [t for t in batch.tasks if t["id"] in left]
        return [[t["id"] for t in part] for part in segments(tasks)]

    async def _run_batch(self, batch: Batch) -> None:
        """Send the unconfirmed tasks of ``batch``, segment by segment (module docstring)."""
        parts = self._segments(batch)
        for n, part in enumerate(parts):
            # The exact bytes of the plan when the batch goes as it is; else a filtered body.
            whole = len(parts) == 1 and len(part) == len(batch.task_ids)
            body = batch.body if whole else _body_of(batch, part)
            await self._send_segment(batch, part, body)
            if any(i not in self.confirmed for i in part):
                self.held.extend(i for later in parts[n + 1 :] for i in later)
                return

    async def run_waves(self) -> list[str]:
        """Send every wave; returns the ids not submitted because a task before them (in an
        earlier wave, or earlier in their batch) did not land."""
        waves = self.plan.waves()
        for n, wave in enumerate(waves):
            if self.failures:
                later = [i for w in waves[n:] for b in w for i in b.task_ids]
                return self.held + [i for i in later if i not in self.confirmed]
            todo = sum(1 for b in wave for i in b.task_ids if i not in self.confirmed)
            if todo == 0:
                continue
            self.progress.wave(wave[0].wave, todo)
            await _all_or_cancel([self._run_batch(b) for b in wave])
            self.progress.wave_done(wave[0].wave)
        return self.held


#: A task body names parents only under this key: a batch whose bytes lack it (and any
#: ``\u`` escape that could spell it) has no dependency inside itself, so it is one segment
#: without being parsed.
_DEPENDS_ON = b'"dependsOn"'


def _tasks_by_id(batch: Batch) -> dict[str, Task]:
    return {t["id"]: t for t in batch.tasks}


def _body_of(batch: Batch, ids: Sequence[str]) -> bytes:
    """An addtaskcollection body holding the tasks ``ids`` of ``batch``, in that order."""
    by_id = _tasks_by_id(batch)
    return orjson.dumps({"value": [by_id[i] for i in ids]})


async def _all_or_cancel(coros: Sequence[Any]) -> None:
    """Run concurrently; on the first exception cancel the others and raise it."""
    tasks = [asyncio.ensure_future(c) for c in coros]
    try:
        await asyncio.gather(*tasks)
    except BaseException:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
