"""The submit order of a plan: its segments, and how far each one waits.

A **segment** is a run of one batch's tasks, in request order, none of which depends on
another task of the run. A batch whose tasks name no parent inside it is one segment; a batch
holding a parent and its child is cut before the child. The submission sends a segment as one
request, and only once every segment up to ``Segment.after`` (the newest one holding a parent
of one of its tasks) is confirmed. So a child never reaches the service before its parent
exists, yet a segment need not wait for the rest of its parents' wave: the tasks that share a
batch with their parent go out beside the next wave, and a wave's first batches start while its
last parents are still in flight. (A prefix, not the exact set of parent segments: one number a
segment, found in the same pass as the check, at about the cost of the check alone.)
[docs/BATCH_FACTS.md: results come back in any order, and what the service does with a child
whose parent does not exist yet is undocumented.]

``order_segments`` computes them in one pass over the plan, and that pass is also the plan's
dependency check: no task id twice (ignoring case), and every parent a task names
(``dependsOn.taskIds``, or a plan task whose integer id a ``dependsOn.taskIdRanges`` entry
covers) a task of the plan, in an earlier wave or earlier in the same batch.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import chain, compress
from operator import itemgetter, methodcaller
from typing import TYPE_CHECKING, Any, cast

from dagbatch.errors import PlanError

if TYPE_CHECKING:
    from dagbatch.plan import Batch

__all__ = ["Segment", "order_segments", "sequential_rounds", "whole_batches"]

#: A task names parents only under this key: a batch whose bytes lack it (and any ``\\u``
#: escape that could spell it) has no parent to look at and is one segment without parsing.
DEPENDS_ON = b'"dependsOn"'


@dataclass(frozen=True, slots=True)
class Segment:
    """Tasks ``start:stop`` of batch ``batch`` (its 1-based ``Batch.index``), sent as one
    request once every segment numbered up to ``after`` is confirmed (-1: at once)."""

    number: int  # 0-based, submit order
    batch: int
    start: int
    stop: int
    after: int


def whole_batches(batches: Sequence[Batch]) -> tuple[Segment, ...]:
    """Each batch as one segment that waits for none: for a job whose pool starts no task
    until every task is added (``dagbatch run``'s local pool), where a child sent before its
    parent only waits for it, the plan's exact requests all go out at once."""
    return tuple(
        Segment(number=n, batch=b.index, start=0, stop=len(b.task_ids), after=-1)
        for n, b in enumerate(batches)
    )


def _names_parents(body: bytes) -> bool:
    return DEPENDS_ON in body or b"\\u" in body


class _Order:
    """Where every task of the plan is: its submit-order number (``seq``) by lower-cased id,
    and per batch the ``seq`` of its first task and of the first task of its wave."""

    def __init__(self, batches: Sequence[Batch]):
        self.batches = batches
        self.seq_of: dict[str, int] = {}
        self.starts: list[int] = []
        self.wave_starts: list[int] = []
        n = 0
        wave_start, last_wave = 0, None
        for b in batches:
            if b.wave != last_wave:
                wave_start, last_wave = n, b.wave
            self.starts.append(n)
            self.wave_starts.append(wave_start)
            self.seq_of.update(
                zip(map(str.lower, b.task_ids), range(n, n + len(b.task_ids)), strict=True)
            )
            n += len(b.task_ids)
            if len(self.seq_of) != n:
                raise _twice(batches)
        self.total = n
        # The plan's integer ids in order, and where each is: what a range covers. (seq_of
        # lists the ids in submit order, so an id's place in it is its seq.)
        is_digits = list(map(str.isdigit, self.seq_of))
        numbers = list(map(int, compress(self.seq_of, is_digits)))
        seqs = list(compress(range(n), is_digits))
        by_number = sorted(range(len(numbers)), key=numbers.__getitem__)
        self.numbers = list(map(numbers.__getitem__, by_number))
        self.number_seqs = list(map(seqs.__getitem__, by_number))

    def where(self, seq: int) -> tuple[int, int, int]:
        """(wave, batch index, position in the batch) of task ``seq``."""
        b = bisect.bisect_right(self.starts, seq) - 1
        batch = self.batches[b]
        return batch.wave, batch.index, seq - self.starts[b]

    def refuse(self, task: dict[str, Any], seq: int, parent: str, why: str) -> PlanError:
        wave, index, _ = self.where(seq)
        return PlanError(
            f"plan.json disagrees with itself: task {task['id']!r} (batch {index}, wave "
            f"{wave}) depends on {parent!r}, {why}; compile the plan again"
        )

    def refuse_order(self, task: dict[str, Any], seq: int, parent: str, p: int) -> PlanError:
        wave, index, _ = self.where(p)
        return self.refuse(
            task,
            seq,
            parent,
            f"which is in batch {index}, wave {wave}: a parent must be in an earlier wave or "
            "earlier in the same batch (were the waves relabelled?)",
        )


def _twice(batches: Sequence[Batch]) -> PlanError:
    """The first task id the plan holds twice (ids are unique ignoring case), and where."""
    seen: dict[str, str] = {}
    for b in batches:
        for task_id in b.task_ids:
            key = task_id.lower()
            if key in seen:
                return PlanError(f"task id {task_id!r} appears twice ({seen[key]}, {b.file})")
            seen[key] = b.file
    return PlanError("a task id appears twice")  # not reached: the caller found one


def _id_parents(order: _Order, task: dict[str, Any], seq: int, ids: Sequence[Any]) -> list[int]:
    """The ``seq`` of each parent ``ids`` names; PlanError for one outside the plan."""
    try:
        return list(map(order.seq_of.__getitem__, map(str.lower, ids)))
    except (KeyError, TypeError):
        pass  # find the culprit, and take ids that are not strings the way Batch would
    found = []
    for parent in ids:
        p = order.seq_of.get(str(parent).lower())
        if p is None:
            raise order.refuse(
                task, seq, str(parent), "which is not in the plan (was a batch entry removed?)"
            )
        found.append(p)
    return found


def order_segments(batches: Sequence[Batch]) -> tuple[Segment, ...]:
    """Cut every batch into segments and find, for each, the newest earlier segment holding
    a parent of one of its tasks (module docstring); ``PlanError`` names the first task whose
    parent is not in the plan or not before it (in an earlier wave, or earlier in its batch).

    One pass in submit order. A task starts a new segment when one of its parents is in the
    current segment. Ranges are looked up with a bisect over the plan's integer ids; a range
    seen before (the same plan tasks) is not walked again.
    """
    order = _Order(batches)
    unit_of = [0] * order.total  # the segment of every task, by seq
    ranges_seen: dict[tuple[int, int], int] = {}  # (lo, hi) -> the newest seq it covers
    out: list[Segment] = []
    seq_of = order.seq_of
    for b, batch in enumerate(batches):
        start, wave_start = order.starts[b], order.wave_starts[b]
        size = len(batch.task_ids)
        if not _names_parents(batch.body):
            unit_of[start : start + size] = [len(out)] * size
            out.append(Segment(len(out), batch.index, 0, size, -1))
            continue
        tasks = batch.tasks
        after = _after_earlier_waves(tasks, seq_of, wave_start, unit_of)
        if after is not None:  # every parent in an earlier wave: one segment
            unit_of[start : start + size] = [len(out)] * size
            out.append(Segment(len(out), batch.index, 0, size, after))
            continue
        unit, seg_start, after = len(out), start, -1
        for pos, task in enumerate(tasks):
            seq = start + pos
            depends = task.get("dependsOn")
            if isinstance(depends, dict):
                ids: Sequence[Any] = depends.get("taskIds") or ()
                one = seq_of.get(ids[0].lower()) if len(ids) == 1 and type(ids[0]) is str else None
                if one is not None:
                    parents = [one]  # one parent: the common case, inline
                    newest = one
                else:
                    parents = _id_parents(order, task, seq, ids) if ids else []
                    newest = max(parents, default=-1)
                if newest >= wave_start:  # a parent in this wave: earlier in this batch only
                    for parent, p in zip(ids, parents, strict=True):
                        if p >= wave_start and not start <= p < seq:
                            raise order.refuse_order(task, seq, str(parent), p)
                for r in depends.get("taskIdRanges") or ():
                    if isinstance(r, dict):
                        newest = max(
                            newest,
                            _range_newest(order, task, seq, (start, wave_start), r, ranges_seen),
                        )
                if newest >= seg_start:  # a parent in the current segment: cut before
                    out.append(Segment(unit, batch.index, seg_start - start, pos, after))
                    unit, seg_start, after = unit + 1, seq, -1
                if newest >= 0:
                    after = max(after, unit_of[newest])
            unit_of[seq] = unit
        out.append(Segment(unit, batch.index, seg_start - start, size, after))
    return tuple(out)


def _after_earlier_waves(
    tasks: Sequence[dict[str, Any]],
    seq_of: dict[str, int],
    wave_start: int,
    unit_of: list[int],
) -> int | None:
    """The newest segment holding a parent of ``tasks`` (-1: no parent), when each task's
    ``dependsOn`` is at most a list of ``taskIds`` and all of them are plan tasks of earlier
    waves; else None, and the task-by-task pass decides (and names what is wrong).

    The common batch, in C-level scans instead of a Python step per task: no parent inside
    the batch, so no cut, and the check is that each parent exists and comes before the
    batch's wave. (A third less time for the whole pass on a layered plan of five parents a
    task, a sixth on a sweep.)"""
    depends = list(filter(None, map(_get_depends, tasks)))
    if not depends:
        return -1
    if set(map(type, depends)) != {dict} or set(map(len, depends)) != {1}:
        return None
    try:
        lists = list(map(itemgetter("taskIds"), depends))
    except KeyError:
        return None
    if set(map(type, lists)) != {list}:
        return None
    ids = list(chain.from_iterable(lists))
    if not ids:
        return -1
    if set(map(type, ids)) != {str}:
        return None
    found = list(map(seq_of.get, map(str.lower, ids)))
    if None in found:
        return None
    parents = cast(list[int], found)
    if max(parents) >= wave_start:
        return None
    return max(map(unit_of.__getitem__, parents))


_get_depends = methodcaller("get", "dependsOn")


def _range_newest(
    order: _Order,
    task: dict[str, Any],
    seq: int,
    bounds: tuple[int, int],
    r: dict[str, Any],
    seen: dict[tuple[int, int], int],
) -> int:
    """The newest ``seq`` among the plan tasks range ``r`` of ``task`` covers (-1: none);
    PlanError for one not before ``task``. ``bounds``: the ``seq`` of the first task of the
    task's batch and of its wave."""
    lo = bisect.bisect_left(order.numbers, int(r.get("start", 0)))
    hi = bisect.bisect_right(order.numbers, int(r.get("end", -1)))
    if lo >= hi:
        return -1
    start, wave_start = bounds
    top = seen.get((lo, hi))
    if top is not None and top < wave_start:
        return top
    covered = order.number_seqs[lo:hi]
    top = max(covered)
    if top >= wave_start:  # some in this wave: each must be earlier in this batch
        for n, p in zip(order.numbers[lo:hi], covered, strict=True):
            if p >= wave_start and not start <= p < seq:
                label = f"{n} (in range {r.get('start')}-{r.get('end')})"
                raise order.refuse_order(task, seq, label, p)
    else:
        seen[(lo, hi)] = top
    return top


def sequential_rounds(segments: Sequence[Segment]) -> int:
    """How many round trips the submission takes one after another at least, however many
    requests are in flight: a segment goes once every segment up to its ``after`` is
    confirmed, so its round is one more than the latest round among those. A chain of N
    tasks, packed 100 to a batch, is N rounds (each link waits for its parent to exist)."""
    latest = 0  # the highest round among the segments numbered up to the one looked at
    upto: list[int] = []  # upto[k]: the highest round among segments 0..k
    for seg in segments:
        r = 1 + (upto[seg.after] if seg.after >= 0 else 0)
        latest = max(latest, r)
        upto.append(latest)
    return latest
