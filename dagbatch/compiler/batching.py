"""cut_batches: serialize the tasks a request at a time, cutting requests and waves.

A request holds at most 100 tasks and its serialized body stays under the byte limit,
measured on the exact bytes. Tasks are taken in topological order and each request is
filled as far as the limits allow, which for that order gives the fewest requests. Every
parent is in an earlier request or earlier in the same one. A request's wave is one more
than the latest wave of the requests holding its outside parents, so the requests of one
wave can be sent concurrently and any prefix of waves is closed under dependencies.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import chain, islice
from operator import attrgetter
from typing import Any

import orjson

from dagbatch.errors import Diagnostic, InvalidWorkflow
from dagbatch.limits import MAX_TASKS_PER_REQUEST

BODY_PREFIX = b'{"value":['
BODY_SUFFIX = b"]}"
ENVELOPE_BYTES = len(BODY_PREFIX) + len(BODY_SUFFIX)


@dataclass(frozen=True, slots=True)
class Cut:
    """A batch as this pass cuts it: task indices (ids are attached by the pipeline)."""

    wave: int
    tasks: tuple[int, ...]  # task indices, in request order
    body: bytes  # the exact request body

    @property
    def size(self) -> int:
        return len(self.body)


def body_of(parts: Sequence[bytes]) -> bytes:
    """The collection body of tasks already serialized: what ``orjson.dumps({"value":
    tasks})`` gives for the same tasks."""
    return BODY_PREFIX + b",".join(parts) + BODY_SUFFIX


def cut_batches(
    order: Sequence[int],
    tasks: Sequence[Mapping[str, Any]],
    preds: Sequence[Sequence[int]],
    *,
    max_body_bytes: int,
    max_tasks: int = MAX_TASKS_PER_REQUEST,
) -> list[Cut]:
    """Greedy fill in topological order; ``tasks`` holds each task's wire object, by task
    index. Returns the requests in submit order (by wave, stable).

    One serialization per request where the byte limit allows: the next ``max_tasks``
    tasks are written as one body, and when that body is under the limit it is the request
    the greedy fill would make (every shorter prefix fits too). Otherwise the tasks are
    written one by one and the request closes before the first task that does not fit; the
    requests after one closed by bytes are filled task by task until one closes by count
    again. Both ways give the same bytes: ``orjson.dumps({"value": tasks})`` is
    ``body_of`` of the tasks' own bytes. Each body is strictly smaller than
    ``max_body_bytes``; a task that cannot fit in a request on its own ends up alone in an
    over-limit request, for the caller to report.

    A request's wave is set when it closes: its tasks' parents are all in requests already
    closed (they read their wave) or in this one (they still read 0, and do not count).
    """
    dumps = orjson.dumps
    limit = max_body_bytes - 1
    source = map(tasks.__getitem__, order)
    wave_of = [0] * len(preds)
    pred_of = list(preds).__getitem__  # a list's __getitem__ is a quicker call than a tuple's
    wave_at = wave_of.__getitem__
    cuts: list[Cut] = []
    start = 0  # position in ``order`` of the next request's first task
    pending: list[Mapping[str, Any]] = []  # tasks read but not yet in a request
    parts: list[bytes] = []  # the bytes of pending[: len(parts)]
    by_task = False  # the last request closed by bytes: fill the next one task by task
    while True:
        if len(pending) < max_tasks:
            pending.extend(islice(source, max_tasks - len(pending)))
        if not pending:
            break
        body = None
        if not by_task:
            try:
                whole = dumps({"value": pending})
            except orjson.JSONEncodeError:
                whole = None  # the task-by-task path names the task
            if whole is not None and len(whole) <= limit:
                body, take = whole, len(pending)
        if body is None:
            parts.extend(map(_task_bytes, pending[len(parts) :]))
            used = ENVELOPE_BYTES + len(parts[0])
            take = 1
            for data in parts[1:]:
                used += len(data) + 1
                if used > limit:
                    break
                take += 1
            body = body_of(parts[:take])
            by_task = take < len(pending)
            del parts[:take]
        del pending[:take]
        group = order[start : start + take]
        start += take
        wave = 1 + max(map(wave_at, chain.from_iterable(map(pred_of, group))), default=0)
        for i in group:
            wave_of[i] = wave
        cuts.append(Cut(wave=wave, tasks=tuple(group), body=body))
    # Submit order: by wave, stable, so a request never precedes one holding its parents.
    cuts.sort(key=attrgetter("wave"))
    return cuts


def _task_bytes(task: Mapping[str, Any]) -> bytes:
    """One task's JSON bytes; a value JSON cannot hold is an error naming the task."""
    try:
        return orjson.dumps(task)
    except orjson.JSONEncodeError as exc:
        raise InvalidWorkflow([not_json(exc, task.get("id"), None)]) from exc


def not_json(exc: Exception, task_id: str | None, field: str | None) -> Diagnostic:
    """The diagnostic for a value that cannot be written as JSON."""
    return Diagnostic(
        code="invalid-value",
        message=f"cannot be written as JSON: {exc}",
        task_id=task_id,
        field=field,
        hint="a lone surrogate such as '\\ud800' (often from os.fsdecode of a bad file "
        "name) is not text; remove it or encode the value",
    )


def oversized_tasks(
    cuts: Sequence[Cut], ids: Sequence[str], *, max_body_bytes: int, api_version: str
) -> list[Diagnostic]:
    """``task-too-large`` for each request over the limit: only a lone task can overflow one
    (``cut_batches`` never adds a task to a request it would overflow)."""
    return [
        Diagnostic(
            code="task-too-large",
            message=f"the task serializes to {b.size - ENVELOPE_BYTES} bytes; a request body "
            f"must be under {max_body_bytes} bytes for api-version {api_version}",
            task_id=ids[b.tasks[0]],
            hint="move large data (environment values, resource file lists) into "
            "files fetched by the task",
        )
        for b in cuts
        if b.size >= max_body_bytes
    ]
