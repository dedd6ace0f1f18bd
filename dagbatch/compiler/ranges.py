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
from itertools import compress, repeat
from operator import eq
from typing import NamedTuple

from dagbatch.limits import INT32_MAX, canonical_int

# Bytes of one range object and its comma, without the digits: {"start":,"end":},
_RANGE_OVERHEAD = len('{"start":,"end":},')
# Bytes of one id in taskIds besides the id itself: quotes and comma.
_ID_OVERHEAD = 3


class Dependencies(NamedTuple):
    """What a task's ``dependsOn`` will say.

    A named tuple: the compiler makes one per task, and ``dependencies_for`` builds them
    without a Python call each (a class with an ``__init__`` costs several times more).
    """

    task_ids: tuple[str, ...]
    ranges: tuple[tuple[int, int], ...]

    @property
    def chars(self) -> int:
        """The length that counts toward Batch's taskIds limit."""
        return sum(map(len, self.task_ids))


NO_DEPS = Dependencies((), ())


@dataclass(frozen=True)
class RangeIndex:
    """Per task: its integer value if a range may select it exactly, else -1."""

    value: tuple[int, ...]
    #: indices of the tasks a range may select; empty when no id is a canonical integer
    intable: frozenset[int] = frozenset()

    @classmethod
    def build(
        cls,
        ids: Sequence[str],
        integer_like: Sequence[int] | None = None,
        texts: Sequence[str] | None = None,
        values: Sequence[int] | None = None,
    ) -> RangeIndex:
        """The index of ``ids``; ``integer_like`` is ``integer_like(ids)`` if known, ``texts``
        the ids it names and ``values`` the integers they denote."""
        digit = integer_like_ids(ids) if integer_like is None else integer_like
        if not digit:
            return cls((-1,) * len(ids), frozenset())
        if texts is None:
            texts = list(map(list(ids).__getitem__, digit))
        numbers = list(map(int, texts)) if values is None else list(values)
        # "007" or "-0" or "-5": a range over the integer would select it too, so the integer
        # is never put in a range (a negative one never is anyway). Beyond int32 no range can
        # select an id: it stays a plain id.
        every = range(len(texts))
        odd: set[int] = set()
        if may_start_with(texts, "0-"):
            odd = set(compress(every, map(str.startswith, texts, repeat(("0", "-")))))
            odd -= set(compress(every, map(eq, texts, repeat("0"))))
        poisoned = {numbers[k] for k in odd}
        if max(numbers) > INT32_MAX:
            odd.update(k for k, n in enumerate(numbers) if n > INT32_MAX)
        chosen: Sequence[int] = digit
        if odd or poisoned:
            kept = [k for k, n in enumerate(numbers) if k not in odd and n not in poisoned]
            chosen = list(map(digit.__getitem__, kept))
            numbers = list(map(numbers.__getitem__, kept))
        values = [-1] * len(ids)
        if chosen and chosen[-1] - chosen[0] == len(chosen) - 1:
            values[chosen[0] : chosen[-1] + 1] = numbers  # one run of tasks (a sweep's shards)
        else:
            for i, n in zip(chosen, numbers, strict=True):
                values[i] = n
        return cls(tuple(values), frozenset(chosen))


def may_start_with(texts: Sequence[str], firsts: str) -> bool:
    """Whether some text of ``texts`` may start with one of the characters ``firsts``.

    One join and a substring search per character, instead of a call per text: "/" is not an
    id character, so "/" + c marks a text starting with c. A text that holds a "/" itself (an
    invalid id) can give a false yes, which only sends the caller to its exact scan; a text
    starting with c is never missed."""
    marked = "/" + "/".join(texts)
    return any("/" + c in marked for c in firsts)


def integer_like_ids(ids: Sequence[str]) -> list[int]:
    """Indices of the ids an integer parser accepts (ASCII digits, an optional '-'): the
    ids a ``taskIdRange`` may select (see dagbatch.limits.canonical_int), in order.

    One scan of C-level calls: the common string ids fail the first test. Ids starting with
    '-', and ids that are not ASCII, are looked for one by one only if there are any."""
    every = range(len(ids))
    digit = list(compress(every, map(str.isdigit, ids)))
    # No id starts with '-' when the least of them starts after it ('-' comes before every
    # other id character): one min() instead of a call per id.
    if ids and min(ids)[:1] <= "-":
        signed = [
            i
            for i in compress(every, map(str.startswith, ids, repeat("-")))
            if ids[i][1:].isdigit()
        ]
        if signed:
            digit = sorted(digit + signed)
    if not digit:
        return digit
    texts = list(map(list(ids).__getitem__, digit))
    if "".join(texts).isascii():
        return digit
    return list(compress(digit, map(str.isascii, texts)))


def _runs(sorted_ints: list[int]) -> list[tuple[int, int]]:
    """The runs of consecutive integers in ``sorted_ints`` (sorted, no two equal: the
    canonical ids of distinct tasks), as (first, last)."""
    first, last = sorted_ints[0], sorted_ints[-1]
    if last - first == len(sorted_ints) - 1:  # one run: the common case of a sweep
        return [(first, last)]
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
        return Dependencies(names, ())
    values = index.value
    ints = [values[p] for p in parents if values[p] >= 0]
    if len(ints) < 2 and sum(len(ids[p]) for p in parents) <= budget:
        return Dependencies(tuple(ids[p] for p in parents), ())
    # (No second pass when every parent is an integer a range selects: a sweep's reduce.)
    others = [ids[p] for p in parents if values[p] < 0] if len(ints) < len(parents) else []
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
