"""cut_batches: cut the topologically ordered tasks into requests, and requests into waves.

A request holds at most 100 tasks and its serialized body stays under the byte limit,
measured on the exact bytes. Tasks are taken in topological order and each request is
filled as far as the limits allow, which for that order gives the fewest requests. Every
parent is in an earlier request or earlier in the same one. A request's wave is one more
than the latest wave of the requests holding its outside parents, so the requests of one
wave can be sent concurrently and any prefix of waves is closed under dependencies.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import chain

from dagbatch.errors import Diagnostic
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
    return BODY_PREFIX + b",".join(parts) + BODY_SUFFIX


def cut_batches(
    order: Sequence[int],
    parts: Iterable[bytes],
    preds: Sequence[Sequence[int]],
    *,
    max_body_bytes: int,
    max_tasks: int = MAX_TASKS_PER_REQUEST,
) -> list[Cut]:
    """Greedy fill in topological order; ``parts`` yields each task's JSON bytes in ``order``.

    Bodies are joined as soon as a request is full, so only one request's parts are held at
    a time. Each body is strictly smaller than ``max_body_bytes``; a task that cannot fit in
    a request on its own ends up alone in an over-limit request, for the caller to report.
    """
    groups: list[list[int]] = []
    bodies: list[bytes] = []
    current: list[int] = []
    current_parts: list[bytes] = []
    used = ENVELOPE_BYTES
    limit = max_body_bytes - 1
    for i, data in zip(order, parts, strict=True):
        add = len(data) + (1 if current else 0)
        if current and (len(current) >= max_tasks or used + add > limit):
            groups.append(current)
            bodies.append(body_of(current_parts))
            current, current_parts = [], []
            used = ENVELOPE_BYTES
            add = len(data)
        current.append(i)
        current_parts.append(data)
        used += add
    if current:
        groups.append(current)
        bodies.append(body_of(current_parts))

    # A task's wave is its request's; a request's wave is one more than the latest wave of
    # the requests holding its outside parents. Tasks of the request being placed still
    # read 0, so parents inside the same request do not count.
    wave_of = [0] * len(preds)
    waves: list[int] = []
    pred_of = preds.__getitem__
    for group in groups:
        parents = chain.from_iterable(map(pred_of, group))
        wave = 1 + max(map(wave_of.__getitem__, parents), default=0)
        for i in group:
            wave_of[i] = wave
        waves.append(wave)
    batches = [
        Cut(wave=w, tasks=tuple(g), body=b) for w, g, b in zip(waves, groups, bodies, strict=True)
    ]
    # Submit order: by wave, stable, so a request never precedes one holding its parents.
    batches.sort(key=lambda b: b.wave)
    return batches


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
