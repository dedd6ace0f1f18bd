"""batch: cut the topologically ordered tasks into requests, and requests into waves.

A request holds at most 100 tasks and its serialized body stays under the byte limit,
measured on the exact bytes. Tasks are taken in topological order and each request is
filled as far as the limits allow, which for that order gives the fewest requests. Every
parent is in an earlier request or earlier in the same one. A request's wave is one more
than the latest wave of the requests holding its outside parents, so the requests of one
wave can be sent concurrently and any prefix of waves is closed under dependencies.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import chain

from dagbatch.rules import MAX_TASKS_PER_REQUEST

BODY_PREFIX = b'{"value":['
BODY_SUFFIX = b"]}"
ENVELOPE_BYTES = len(BODY_PREFIX) + len(BODY_SUFFIX)


@dataclass(frozen=True, slots=True)
class Batch:
    wave: int
    tasks: tuple[int, ...]  # task indices, in request order
    size: int  # bytes of the request body


def body_of(parts: Sequence[bytes]) -> bytes:
    return BODY_PREFIX + b",".join(parts) + BODY_SUFFIX


def cut_batches(
    order: Sequence[int],
    sizes: Sequence[int],
    preds: Sequence[Sequence[int]],
    *,
    max_body_bytes: int,
    max_tasks: int = MAX_TASKS_PER_REQUEST,
) -> list[Batch]:
    """Greedy fill in topological order; ``sizes[i]`` is task i's serialized length.

    The body must be strictly smaller than ``max_body_bytes``. A task that cannot fit in a
    request on its own is the caller's error to report before calling this.
    """
    groups: list[list[int]] = []
    current: list[int] = []
    used = ENVELOPE_BYTES
    limit = max_body_bytes - 1
    for i in order:
        add = sizes[i] + (1 if current else 0)
        if current and (len(current) >= max_tasks or used + add > limit):
            groups.append(current)
            current = []
            used = ENVELOPE_BYTES
            add = sizes[i]
        current.append(i)
        used += add
    if current:
        groups.append(current)

    # A task's wave is its request's; a request's wave is one more than the latest wave of
    # the requests holding its outside parents. Tasks of the request being placed still
    # read 0, so parents inside the same request do not count.
    wave_of = [0] * len(sizes)
    waves: list[int] = []
    pred_of = preds.__getitem__
    for group in groups:
        parents = chain.from_iterable(map(pred_of, group))
        wave = 1 + max(map(wave_of.__getitem__, parents), default=0)
        for i in group:
            wave_of[i] = wave
        waves.append(wave)
    batches = [
        Batch(wave=w, tasks=tuple(g), size=ENVELOPE_BYTES + sum(sizes[i] for i in g) + len(g) - 1)
        for w, g in zip(waves, groups, strict=True)
    ]
    # Submit order: by wave, stable, so a request never precedes one holding its parents.
    batches.sort(key=lambda b: b.wave)
    return batches
