"""ranges: collapse runs of integer parent ids into exact ``taskIdRanges``.

Batch's rule [deps-doc; Azure/BatchExplorer#1451]: a range selects *every* task of the job
whose id parses as an integer inside it, leading zeros ignored (and, ids being allowed a
'-', an optional sign: "-0" is 0). So a range is only emitted where it is exact: each integer
in it is an intended parent (a run of consecutive canonical ids among the parents) and no
other task id of the job parses into it ("007" or "-0" next to "7" or "0" poisons that
integer for ranges). Ranges do not count toward the 64000-character ``taskIds`` limit.

Runs are emitted as a range only where that makes the payload smaller, unless the
character budget needs more of them. Exactness is judged against the plan's own tasks: a
task added to the same job from elsewhere could fall inside a range (the README says to
give a plan a job of its own).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from dagbatch.limits import INT32_MAX, canonical_int

# Bytes of one range object and its comma, without the digits: {"start":,"end":},
_RANGE_OVERHEAD = len('{"start":,"end":},')
# Bytes of one id in taskIds besides the id itself: quotes and comma.
_ID_OVERHEAD = 3


class Dependencies:
    """What a task's ``dependsOn`` will say. Treat as immutable.

    A plain slotted class rather than a frozen dataclass: the compiler makes one per task,
    and a frozen dataclass's ``__init__`` costs several times more.
    """

    __slots__ = ("chars", "ranges", "task_ids")

    def __init__(
        self,
        task_ids: tuple[str, ...],
        ranges: tuple[tuple[int, int], ...],
        chars: int = -1,
    ) -> None:
        self.task_ids = task_ids
        self.ranges = ranges
        #: the length that counts toward Batch's taskIds limit
        self.chars = sum(map(len, task_ids)) if chars < 0 else chars

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Dependencies):
            return NotImplemented
        return self.task_ids == other.task_ids and self.ranges == other.ranges

    def __hash__(self) -> int:
        return hash((self.task_ids, self.ranges))

    def __repr__(self) -> str:
        return f"Dependencies(task_ids={self.task_ids!r}, ranges={self.ranges!r})"


NO_DEPS = Dependencies((), ())


@dataclass(frozen=True)
class RangeIndex:
    """Per task: its integer value if a range may select it exactly, else -1."""

    value: tuple[int, ...]
    #: indices of the tasks a range may select; empty when no id is a canonical integer
    intable: frozenset[int] = frozenset()

    @classmethod
    def build(cls, ids: Sequence[str]) -> RangeIndex:
        # Every id an integer parser accepts (optional sign, leading zeros): see
        # dagbatch.limits.canonical_int. The common string ids fail the first test.
        digit = [
            i
            for i, tid in enumerate(ids)
            if (tid.isdigit() or (tid[:1] == "-" and tid[1:].isdigit())) and tid.isascii()
        ]
        if not digit:
            return cls((-1,) * len(ids), frozenset())
        values = [-1] * len(ids)
        poisoned: set[int] = set()
        texts = [ids[i] for i in digit]
        for i, tid, n in zip(digit, texts, map(int, texts), strict=True):
            if tid == "0" or tid[0] not in "0-":
                if n <= INT32_MAX:
                    values[i] = n  # beyond int32 no range can select it: plain id
            else:
                # "007" or "-0" or "-5": a range over the integer would select it too, so
                # the integer is never put in a range (a negative one never is anyway)
                poisoned.add(n)
        if poisoned:
            values = [-1 if v in poisoned else v for v in values]
        return cls(tuple(values), frozenset(i for i in digit if values[i] >= 0))


def _runs(sorted_ints: list[int]) -> list[tuple[int, int]]:
    runs: list[tuple[int, int]] = []
    start = prev = sorted_ints[0]
    for n in sorted_ints[1:]:
        if n != prev + 1:
            runs.append((start, prev))
            start = n
        prev = n
    runs.append((start, prev))
    return runs


def _id_cost(a: int, b: int) -> int:
    """Bytes of ids a..b written out in taskIds."""
    total = 0
    n = a
    while n <= b:
        width = len(str(n))
        top = min(b, 10**width - 1)
        total += (top - n + 1) * (width + _ID_OVERHEAD)
        n = top + 1
    return total


def _id_chars(a: int, b: int) -> int:
    return _id_cost(a, b) - (b - a + 1) * _ID_OVERHEAD


def dependencies_of(
    parents: Sequence[int], ids: Sequence[str], index: RangeIndex, budget: int
) -> Dependencies:
    """Split the parents of one task into ``taskIds`` and exact ``taskIdRanges``."""
    if not parents:
        return NO_DEPS
    intable = index.intable
    if not intable or intable.isdisjoint(parents):  # the common case: no integer ids
        names = tuple(map(ids.__getitem__, parents))
        return Dependencies(names, (), sum(map(len, names)))
    values = index.value
    ints = [values[p] for p in parents if values[p] >= 0]
    if len(ints) < 2 and sum(len(ids[p]) for p in parents) <= budget:
        return Dependencies(tuple(ids[p] for p in parents), ())
    others = [ids[p] for p in parents if values[p] < 0]
    if not ints:
        return Dependencies(tuple(others), ())
    ints.sort()
    runs = _runs(ints)
    as_range = [
        (a, b) for a, b in runs if _RANGE_OVERHEAD + len(str(a)) + len(str(b)) < _id_cost(a, b)
    ]
    chosen = set(as_range)
    chars = sum(map(len, others)) + sum(_id_chars(a, b) for a, b in runs if (a, b) not in chosen)
    if chars > budget:
        # The budget needs ranges: take the runs that save most characters first, a run of
        # one integer only after every longer run (a plain taskIds entry reads better).
        rest = sorted(
            (r for r in runs if r not in chosen), key=lambda r: (r[0] == r[1], -_id_chars(*r))
        )
        for a, b in rest:
            if chars <= budget:
                break
            chosen.add((a, b))
            chars -= _id_chars(a, b)
    task_ids = others
    for a, b in runs:
        if (a, b) not in chosen:
            task_ids.extend(str(n) for n in range(a, b + 1))
    return Dependencies(tuple(task_ids), tuple(sorted(chosen)))


def expand(deps: Dependencies, ids: Sequence[str]) -> set[str]:
    """The task ids of the job that ``deps`` selects under Batch's rule (for tests/checks)."""
    out = set(deps.task_ids)
    if deps.ranges:
        for tid in ids:
            n = canonical_int(tid)
            if n is not None and any(a <= n <= b for a, b in deps.ranges):
                out.add(tid)
    return out
