"""The wave scheduler: sends a plan's segments so that every task lands once, parents first.

A plan's batches are cut into *segments* (``dagbatch.planorder``): runs of one batch's tasks
none of which depends on another of its run (a batch without such dependencies is one segment:
the plan's exact bytes). A segment is sent once every segment up to the newest one holding a
parent of its tasks is confirmed, with the confirmation on disk (``Journal.commit``); at most
``concurrency`` requests are in flight. So a per-task ``servererror`` on a parent can never let
its child land first: the child is not sent until the parent is confirmed. Yet a segment waits
only for the segments up to its newest parent's, not for its parents' whole wave: the tasks
sharing a batch with their parent go out beside the next wave, and a batch whose parents all
sit early in the wave before starts while that wave's last requests are still in flight.
[docs/BATCH_FACTS.md: results come back in any order, and what the service does with a child
whose parent does not exist yet is undocumented.]

Per request (``_send_request``), until each task is confirmed or failed:

- per-task ``success`` -> confirmed; ``servererror`` (or absent from the answer) -> sent again
  after a backoff, in a body holding only those tasks;
- ``TaskExists`` -> confirmed only if this submission sent that task before (an earlier
  attempt, or a journal ``send`` record of an interrupted run) and a GET of the existing task
  matches what we sent; otherwise a conflict, and nothing is overwritten. A task no send of
  this submission may have added (``JournalState.maybe_ours``; one this run met as another's,
  ``foreign``) is not ours; a GET still compares it with the plan's, and the service's
  defaults, so the report can say "the same" (``adopt``: then it counts as landed,
  ``adopted``) or name what differs;
- other client errors -> failed, reported;
- 429/500/503, timeouts and dropped connections -> backoff (``Retry-After`` honoured) and the
  same unconfirmed tasks sent again with the same ids;
- 413 ``RequestBodyTooLarge`` -> the request is split in halves, sent one after the other.

After a task fails to land no further segment starts (those in flight finish): the rest are
reported as not submitted.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
from collections import Counter, deque
from collections.abc import Sequence
from operator import attrgetter
from typing import Any

import orjson

from dagbatch.errors import BatchServiceError, RequestBodyTooLarge, TransientError
from dagbatch.gcpause import gc_paused
from dagbatch.plan import Batch, LoadedPlan
from dagbatch.planorder import Segment, whole_batches
from dagbatch.redact import redact
from dagbatch.submit.client import BatchClient
from dagbatch.submit.compare import task_differences
from dagbatch.submit.concurrency import (
    DEFAULT_CONCURRENCY,
    THROTTLE_STATUS,
    AdaptiveConcurrency,
    ConcurrencyGate,
)
from dagbatch.submit.journal import Journal, JournalState
from dagbatch.submit.progress import Progress
from dagbatch.submit.report import FailureKind, SubmitFailure
from dagbatch.submit.results import FOREIGN_SAME_TASK, FOREIGN_TASK, classify_results
from dagbatch.submit.retry import RetryState

log = logging.getLogger("dagbatch.submit.submission")

#: Concurrent GETs when verifying ``TaskExists`` answers.
VERIFY_CONCURRENCY = 16

Task = dict[str, Any]

#: Whole-request statuses after which the request may have been processed (fully or partly).
_UNCERTAIN_STATUS = frozenset({408, 500, 502, 504})

__all__ = ["DEFAULT_CONCURRENCY", "WaveScheduler"]


class WaveScheduler:
    """One submission's sending state: what is sent, confirmed and failed, and the counters.

    ``run_waves`` is the entry point; it returns the ids held back. ``failures``, ``added``,
    ``verified``, ``adopted``, ``same_conflicts``, ``retries`` and ``requests`` are read for
    the report afterwards.
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
        *,
        forget_sent: bool = False,
        adopt: bool = False,
        pool_held: bool = False,
    ):
        """``concurrency``: requests in flight, fixed; None: adaptive
        (``dagbatch.submit.concurrency.AdaptiveConcurrency``). ``forget_sent``: drop each
        batch's parsed task bodies once its requests are done (``Batch.forget_tasks``), for
        a plan nothing else reads afterwards. ``adopt``: a task already in the job that this
        submission did not add, and that is the same as the plan's, counts as landed (an
        earlier submission of the plan whose journal was lost). ``pool_held``: the job's pool
        starts no task until the submission is done (``dagbatch run``'s local pool), so a
        child may be added before its parent: the plan's batches go out whole, all at once
        (``planorder.whole_batches``), not a parents-first part after another."""
        self.plan = plan
        self.segments = whole_batches(plan.batches) if pool_held else plan.segments
        self.forget_sent = forget_sent
        self.adopt = adopt
        #: The job's retry count: a task's own when it names none (``task_differences``).
        self.job_retries = (plan.job.get("constraints") or {}).get("maxTaskRetryCount")
        self.job_id = job_id
        self.client = client
        self.journal = journal
        self.progress = progress
        self.api_version: str = plan.manifest.apiVersion
        # What a send of this submission may have added, by this run or a journaled one
        # (``JournalState.maybe_ours``): only for these is a TaskExists possibly ours.
        self.sent: set[str] = set(state.maybe_ours)
        #: Tasks this run met as another's (a TaskExists not ours): a later attempt of the
        #: run does not make them ours, unless the other task is gone meanwhile.
        self.foreign: set[str] = set()
        self.confirmed: set[str] = set(state.confirmed)
        self.failures: dict[str, SubmitFailure] = {}
        self.added = 0
        self.verified = 0
        self.adopted = 0
        #: Conflicts with a task the same as the plan's (``adopt`` would have taken them).
        self.same_conflicts = 0
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
        self.journal.failed(task_id, code, message, kind)

    def _retry(self, what: str) -> None:
        self.retries += 1
        self.progress.retry(what)
        log.info("retry: %s", what)

    async def _confirm(self, ids: list[str]) -> None:
        """Journal ``ids`` as confirmed, and count them. The record reaches the disk with the
        next group commit (``Journal.commit``): here when the last one is ``SYNC_EVERY_S``
        old, and in any case before a segment that waits for others starts (``run_waves``).
        So their children never go out before the confirmation is on disk, yet an answer
        whose tasks nobody waits for costs no fsync of its own."""
        if not ids:
            return
        if self.before_first_ok is not None:
            await self.before_first_ok
        self.journal.confirmed(ids)
        self.confirmed.update(ids)
        self.progress.advance(len(ids))
        if self.journal.sync_due():
            await self.journal.commit()

    def _observe(self, tasks: int, status: int | None = None) -> None:
        """Tell the adaptive level about one answer (a no-op at a fixed level)."""
        if self.adaptive is not None:
            self.adaptive.observe(
                tasks, throttled=status in THROTTLE_STATUS, waiting=self.gate.waiting > 0
            )

    # -- verifying TaskExists ----------------------------------------------------------

    async def _verify_one(self, task: Task, *, foreign: bool) -> tuple[str, list[str] | None]:
        """("same" | "differs" | "absent" | "unknown", the differing fields). ``foreign``: a
        task this submission did not add, compared with the service's defaults too
        (``task_differences``): made by another, it could hold any of them."""
        async with self.verify_sem:
            try:
                answer = await self.client.get_task(
                    self.job_id, task["id"], api_version=self.api_version
                )
            except TransientError:
                return "unknown", None
        if answer.status == 404 or not isinstance(answer.body, dict):
            return "absent", None
        diffs = task_differences(task, answer.body, defaults=foreign, job_retries=self.job_retries)
        return ("same" if not diffs else "differs"), diffs

    # -- one request, with its retries --------------------------------------------------

    async def _send_request(
        self, batch: Batch, ids: list[str], body: bytes, *, first: bool = False
    ) -> list[list[str]] | None:
        """Send the tasks ``ids`` of ``batch`` (serialized as ``body``) until each is confirmed
        or failed.

        Returns [] when done, or the two halves to send instead after a 413. The task bodies
        are parsed only when something went wrong (a retry, ``TaskExists``, a split).
        ``first``: the first request of a segment, which is not sent (None is returned) when a
        task has failed to land while it waited for a free slot.
        """
        retry = RetryState(self.client.retry)
        remaining = ids
        uncertain = False  # an attempt ended in a way that may have added tasks
        while remaining:
            ids = remaining
            sent_before = self.sent.intersection(ids).difference(self.foreign)
            try:
                async with self.gate:
                    if first and self.failures:
                        # A task did not land while this segment waited for the gate: it does
                        # not start (those in flight finish; run_waves reports it held back).
                        return None
                    first = False
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
                    self._observe(list(map(_status, results)).count("success"))
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
                wait = retry.next_wait(exc.retry_after)
                if wait is None:  # no retry left: none is counted
                    self._give_up(batch.index, ids, retry.retries, str(exc), exc.code, uncertain)
                    return []
                self._retry(f"batch {batch.index}: {exc}")
                await retry.policy.sleep(wait)
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
            adopted: list[str] = []
            if result.exists or result.foreign:
                by_id = _tasks_by_id(batch)
                looked_at = result.exists + result.foreign
                ours = set(result.exists)
                checks = await asyncio.gather(
                    *(self._verify_one(by_id[i], foreign=i not in ours) for i in looked_at)
                )
                for task_id, (verdict, diffs) in zip(looked_at, checks, strict=True):
                    if verdict == "absent":  # deleted since: ours to add
                        self.foreign.discard(task_id)
                        again.add(task_id)
                    elif verdict == "unknown" and task_id in ours:
                        again.add(task_id)  # asked again with the next attempt
                    elif verdict == "same" and (task_id in ours or self.adopt):
                        (verified if task_id in ours else adopted).append(task_id)
                    else:
                        self._conflict(task_id, verdict, diffs, batch.index)
            self.added += len(result.added)
            self.verified += len(verified)
            self.adopted += len(adopted)
            await self._confirm(result.added + verified + adopted)

            remaining = [i for i in remaining if i in again]
            if remaining:
                wait = retry.next_wait(None)
                if wait is None:  # no retry left: none is counted
                    self._give_up(
                        batch.index,
                        remaining,
                        retry.retries,
                        "the service answered servererror for this task each time",
                        "ServerError",
                        uncertain,
                    )
                    return []
                self._retry(f"batch {batch.index}: {len(remaining)} task(s) to send again")
                await retry.policy.sleep(wait)
                body = _body_of(batch, remaining)
        return []

    def _conflict(self, task_id: str, verdict: str, diffs: list[str] | None, batch: int) -> None:
        """Report a ``TaskExists`` that is not ours to count as landed, saying how the
        existing task compares with the plan's (``verdict`` of ``_verify_one``)."""
        if verdict == "differs":
            message = (
                "conflict: the existing task differs from the one in the plan "
                f"({', '.join(diffs or [])}); it was left unchanged"
            )
        elif verdict == "same":
            self.same_conflicts += 1
            message = FOREIGN_SAME_TASK
        else:
            message = FOREIGN_TASK
        self.foreign.add(task_id)  # not ours, whatever a later attempt of this run says
        self._fail(task_id, "TaskExists", message, "conflict", batch)

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

    async def _send_segment(self, batch: Batch, ids: list[str], body: bytes) -> bool:
        """Send one segment (413 halves one after the other); False when it was held back
        before its first request left (a task failed to land meanwhile)."""
        chunks: deque[tuple[list[str], bytes]] = deque([(ids, body)])
        first = True
        while chunks:
            part, data = chunks.popleft()
            halves = await self._send_request(batch, part, data, first=first)
            if halves is None:
                return False
            first = False
            for half in reversed(halves):
                chunks.appendleft((half, _body_of(batch, half)))
        return True

    def _pending(self, segment: Segment) -> list[str]:
        """The ids of ``segment`` not confirmed yet."""
        ids = self.plan.batches[segment.batch - 1].task_ids[segment.start : segment.stop]
        confirmed = self.confirmed
        return [i for i in ids if i not in confirmed] if confirmed else list(ids)

    async def _run_segment(self, segment: Segment, pending: list[str]) -> bool:
        """Send ``pending``, the unconfirmed tasks of ``segment``: the plan's exact bytes when
        it is a whole batch with nothing confirmed, else a body of just those tasks. False
        when it was held back before anything was sent."""
        batch = self.plan.batches[segment.batch - 1]
        whole = len(pending) == len(batch.task_ids)
        return await self._send_segment(
            batch, pending, batch.body if whole else _body_of(batch, pending)
        )

    async def run_waves(self) -> list[str]:
        """Send every segment of the plan, each once every segment up to its ``after`` is
        confirmed (``dagbatch.planorder``); returns the ids not submitted because a task did
        not land.

        Segments are started in submit order as they become ready; at most ``concurrency``
        requests are in flight (the gate). After a task fails, no further segment starts,
        nor does one that was ready but still waited for the gate: those in flight finish,
        and the tasks of the others are reported as held back. A wave is announced when its
        first segment starts and done when its last one is.
        """
        segments = self.segments
        # Per-segment state as long as the plan, for the whole submission: frozen with the
        # plan, not walked by the young collections as the first requests go (gcpause).
        with gc_paused():
            pending = [self._pending(s) for s in segments]
            done = [not p for p in pending]
            wave_of = [self.plan.batches[s.batch - 1].wave for s in segments]
            left: dict[int, int] = {}  # segments of each wave not done yet
            todo: dict[int, int] = {}  # tasks of each wave not confirmed yet
            for s, complete in zip(segments, done, strict=True):
                if not complete:
                    wave = wave_of[s.number]
                    left[wave] = left.get(wave, 0) + 1
                    todo[wave] = todo.get(wave, 0) + len(pending[s.number])
            # Segments of each batch not done yet: at 0 its parsed bodies can go.
            open_in_batch = Counter(s.batch for s in segments if not done[s.number])
            # Not started yet, by (how far it waits, submit order): ready ones are on top.
            waiting = [(s.after, s.number) for s in segments if not done[s.number]]
            heapq.heapify(waiting)
        prefix = 0  # every segment before this one is done
        announced: set[int] = set()
        running: dict[asyncio.Future[bool], Segment] = {}
        held: list[int] = []  # started, but held back at the gate: nothing of them was sent
        # Each started segment's future, once it ends: O(1) a segment, however many wait for
        # the gate (asyncio.wait would walk all of them on every answer).
        ended: asyncio.Queue[asyncio.Future[bool]] = asyncio.Queue()

        async def start_ready() -> None:
            nonlocal prefix
            while prefix < len(done) and done[prefix]:
                prefix += 1
            ready: list[int] = []
            while waiting and waiting[0][0] < prefix and not self.failures:
                ready.append(heapq.heappop(waiting)[1])
            # A segment that waits for others, or the first of a wave, starts only once every
            # confirmation so far is on disk (one fsync for all of them: Journal.commit).
            if self.journal.unsynced and any(
                segments[n].after >= 0 or wave_of[n] not in announced for n in ready
            ):
                await self.journal.commit()
            for number in sorted(ready):
                wave = wave_of[number]
                if wave not in announced:
                    announced.add(wave)
                    self.progress.wave(wave, todo[wave])
                segment = segments[number]
                future = asyncio.ensure_future(self._run_segment(segment, pending[number]))
                future.add_done_callback(ended.put_nowait)
                running[future] = segment

        await start_ready()
        # The connections the level allows open while the first requests are in flight.
        warming = asyncio.ensure_future(
            self.client.warm_up(min(self.gate.level, len(waiting) + len(running)))
        )
        try:
            while running:
                future = await ended.get()
                segment = running.pop(future)
                # A whole-submission error is raised here, and the rest cancelled.
                if not future.result():
                    held.append(segment.number)
                    continue
                if not self.confirmed.issuperset(pending[segment.number]):
                    continue  # a task of it failed: nothing after it starts
                done[segment.number] = True
                open_in_batch[segment.batch] -= 1
                if self.forget_sent and not open_in_batch[segment.batch]:
                    self.plan.batches[segment.batch - 1].forget_tasks()
                wave = wave_of[segment.number]
                left[wave] -= 1
                if not left[wave]:
                    self.progress.wave_done(wave)
                await start_ready()
            await self.journal.commit()  # what the report counts as confirmed is on disk
        except BaseException:
            for future in running:
                future.cancel()
            await asyncio.gather(*running, return_exceptions=True)
            raise
        finally:
            warming.cancel()
            await asyncio.gather(warming, return_exceptions=True)
        not_started = sorted([n for _, n in waiting] + held)
        return [i for n in not_started for i in pending[n]]


_status = attrgetter("status")


def _tasks_by_id(batch: Batch) -> dict[str, Task]:
    return {t["id"]: t for t in batch.tasks}


def _body_of(batch: Batch, ids: Sequence[str]) -> bytes:
    """An addtaskcollection body holding the tasks ``ids`` of ``batch``, in that order."""
    by_id = _tasks_by_id(batch)
    return orjson.dumps({"value": [by_id[i] for i in ids]})
