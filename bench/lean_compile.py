"""Two compile floors for the benchmark workloads (bench/workloads.py); not part of dagbatch.

- ``lean_compile``: a straightforward compile written for the benchmark workloads (tasks that
  are a bare ``command_line``, no edge attributes, str or int ids) that produces the *same*
  request bodies, task ids and waves as ``dagbatch.compile_graph`` for them, with the basic
  checks: id charset and length, case-insensitive duplicates, cycles. It does integer-id
  ranges (runs of canonical integer parents, where a range is shorter) and barrier tasks for
  a ``taskIds`` list over the character budget, because the workloads need both. It skips
  everything the workloads do not use: task properties other than the command line, failure
  intent and exit conditions, edge ``when``, renumbering, ranges chosen to meet the budget.
  It is the floor the issue's "at most 1.15x the lean floor" is measured against; the bench
  and tests/test_bench_smoke.py assert its output equals compile_graph's.
- ``plain_floor``: one topological sort (networkx's) plus serializing already-built output
  objects: the least any compile can do.
"""

from __future__ import annotations

import gc
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import chain
from typing import Any

import networkx as nx
import orjson

from dagbatch.compiler.dependencies import DEFAULT_BARRIER_COMMAND
from dagbatch.limits import (
    DEFAULT_API_VERSION,
    DEFAULT_TASK_IDS_MARGIN,
    ID_PATTERN,
    INT32_MAX,
    MAX_BODY_BYTES,
    MAX_TASKS_PER_REQUEST,
    TASK_IDS_CHAR_LIMIT,
)

BUDGET = TASK_IDS_CHAR_LIMIT - DEFAULT_TASK_IDS_MARGIN
MAX_BODY = MAX_BODY_BYTES[DEFAULT_API_VERSION]
_PREFIX = b'{"value":['
_SUFFIX = b"]}"
# Bytes of one range object and its comma without the digits, and of one id's quotes + comma.
_RANGE_OVERHEAD = len('{"start":,"end":},')
_ID_OVERHEAD = 3


class LeanError(ValueError):
    """The workload fails one of the basic checks."""


@dataclass(frozen=True, slots=True)
class LeanBatch:
    wave: int
    task_ids: tuple[str, ...]
    body: bytes


def _int_values(ids: Sequence[str]) -> list[int]:
    """Per task: the integer a range would select it as, or -1 (not a canonical integer, or
    an integer that a zero-padded id also denotes)."""
    values = [-1] * len(ids)
    padded: set[int] = set()
    for i, tid in enumerate(ids):
        if tid.isdigit() and tid.isascii():
            n = int(tid)
            if tid[0] == "0" and len(tid) > 1:
                padded.add(n)
            elif n <= INT32_MAX:
                values[i] = n
    if padded:
        values = [-1 if v in padded else v for v in values]
    return values


def _id_cost(a: int, b: int) -> int:
    return sum(len(str(n)) + _ID_OVERHEAD for n in range(a, b + 1))


def _depends_on(ps: Sequence[int], ids: Sequence[str], values: Sequence[int]) -> dict[str, Any]:
    """``dependsOn`` of one task: plain ids, runs of integer ids as ranges where shorter."""
    ints = [values[p] for p in ps if values[p] >= 0]
    if len(ints) < 2:
        return {"taskIds": [ids[p] for p in ps]}
    task_ids = [ids[p] for p in ps if values[p] < 0]
    ints.sort()
    runs: list[tuple[int, int]] = []
    start = prev = ints[0]
    for n in ints[1:]:
        if n != prev + 1:
            runs.append((start, prev))
            start = n
        prev = n
    runs.append((start, prev))
    ranges = []
    for a, b in runs:
        if _RANGE_OVERHEAD + len(str(a)) + len(str(b)) < _id_cost(a, b):
            ranges.append({"start": a, "end": b})
        else:
            task_ids.extend(map(str, range(a, b + 1)))
    out: dict[str, Any] = {}
    if task_ids:
        out["taskIds"] = task_ids
    if ranges:
        out["taskIdRanges"] = ranges
    return out


def _barrier_id(child: str, k: int, taken: set[str]) -> str:
    digest = hashlib.sha256(child.encode()).hexdigest()[:12]
    n = 0
    while True:
        bid = f"dagbatch-barrier-{digest}-{k}" + (f"-{n}" if n else "")
        if bid.lower() not in taken:
            taken.add(bid.lower())
            return bid
        n += 1


def lean_compile(g: nx.DiGraph) -> list[LeanBatch]:
    """Compile a benchmark workload to its request bodies in submit order; raises LeanError.

    The cyclic garbage collector is paused meanwhile, as compile_graph does: its sweeps over
    millions of fresh acyclic objects would otherwise dominate both."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _lean_compile(g)
    finally:
        if was_enabled:
            gc.enable()


def _lean_compile(g: nx.DiGraph) -> list[LeanBatch]:
    keys = list(g._node)
    ids = [k if type(k) is str else str(k) for k in keys]
    # Basic checks: charset and length, duplicates ignoring case, cycles (below).
    match = ID_PATTERN.fullmatch
    bad = [tid for tid in ids if not match(tid)]
    if bad:
        raise LeanError(f"invalid task id {bad[0]!r}")
    if len(set(map(str.lower, ids))) != len(ids):
        raise LeanError("duplicate task ids (ignoring case)")
    get = {k: i for i, k in enumerate(keys)}.__getitem__
    preds = [list(map(get, m)) for m in g._pred.values()]
    succ = [list(map(get, m)) for m in g._succ.values()]
    commands = [a["command_line"] for a in g._node.values()]

    # Kahn, a generation at a time, each generation in index order.
    indeg = list(map(len, preds))
    generation = [i for i, d in enumerate(indeg) if d == 0]
    order: list[int] = []
    while generation:
        order += generation
        following: list[int] = []
        push = following.append
        for u in generation:
            for v in succ[u]:
                d = indeg[v] - 1
                indeg[v] = d
                if d == 0:
                    push(v)
        generation = sorted(following)
    if len(order) != len(ids):
        raise LeanError("the dependencies form a cycle")

    # dependsOn; a taskIds list over the budget goes to barrier tasks placed before the child.
    values = _int_values(ids)
    no_ints = max(values, default=-1) < 0
    name = ids.__getitem__
    depends: list[dict[str, Any] | None] = [
        ({"taskIds": list(map(name, ps))} if no_ints else _depends_on(ps, ids, values))
        if ps
        else None
        for ps in preds
    ]
    bodies: list[dict[str, Any]] = [
        {"id": t, "commandLine": c} for t, c in zip(ids, commands, strict=True)
    ]
    before: dict[int, list[int]] = {}
    taken: set[str] | None = None
    by_id: dict[str, int] | None = None
    # An id has at most 64 characters: only a task with more parents than this can be over.
    at_most = BUDGET // 64
    for child in [i for i, ps in enumerate(preds) if len(ps) > at_most]:
        dep = depends[child]
        if dep is None or sum(map(len, dep.get("taskIds", ()))) <= BUDGET:
            continue
        if taken is None or by_id is None:
            taken = {t.lower() for t in ids}
            by_id = {t: i for i, t in enumerate(ids)}
        slices: list[list[str]] = [[]]
        used = 0
        for tid in dep["taskIds"]:
            if used + len(tid) > BUDGET and slices[-1]:
                slices.append([])
                used = 0
            slices[-1].append(tid)
            used += len(tid)
        moved = {by_id[t] for t in dep["taskIds"]}
        new_preds = [p for p in preds[child] if p not in moved]
        barrier_ids = []
        for k, part in enumerate(slices, start=1):
            b = len(ids)
            bid = _barrier_id(ids[child], k, taken)
            ids.append(bid)
            bodies.append(
                {
                    "id": bid,
                    "displayName": f"dagbatch barrier {k}/{len(slices)} for {ids[child]}"[:1024],
                    "commandLine": DEFAULT_BARRIER_COMMAND,
                }
            )
            preds.append([by_id[t] for t in part])
            depends.append({"taskIds": part})
            before.setdefault(child, []).append(b)
            barrier_ids.append(bid)
            new_preds.append(b)
        preds[child] = new_preds
        ranges = {k: v for k, v in dep.items() if k != "taskIds"}
        depends[child] = {"taskIds": barrier_ids, **ranges}
    if before:
        order = list(chain.from_iterable([*before.get(i, ()), i] for i in order))
    for task, dep in zip(bodies, depends, strict=True):
        if dep is not None:
            task["dependsOn"] = dep

    # Requests: fill greedily in order (<= 100 tasks, body under the byte limit).
    dumps = orjson.dumps
    groups: list[list[int]] = []
    joined: list[bytes] = []
    group: list[int] = []
    parts: list[bytes] = []
    used = len(_PREFIX) + len(_SUFFIX) - 1  # each part adds its bytes and a comma
    for i in order:
        data = dumps(bodies[i])
        if group and (len(group) >= MAX_TASKS_PER_REQUEST or used + len(data) + 1 > MAX_BODY - 1):
            groups.append(group)
            joined.append(_PREFIX + b",".join(parts) + _SUFFIX)
            group, parts, used = [], [], len(_PREFIX) + len(_SUFFIX) - 1
        group.append(i)
        parts.append(data)
        used += len(data) + 1
    if group:
        groups.append(group)
        joined.append(_PREFIX + b",".join(parts) + _SUFFIX)
    if any(len(b) >= MAX_BODY for b in joined):
        raise LeanError("a task does not fit in a request")

    # Waves: one more than the latest wave of a request's outside parents.
    wave_of = [0] * len(ids)
    batches = []
    pred_of, wave_at = preds.__getitem__, wave_of.__getitem__
    for group, body in zip(groups, joined, strict=True):
        wave = 1 + max(map(wave_at, chain.from_iterable(map(pred_of, group))), default=0)
        for i in group:
            wave_of[i] = wave
        batches.append(LeanBatch(wave, tuple(map(name, group)), body))
    batches.sort(key=lambda b: b.wave)
    return batches


def plain_floor(g: nx.DiGraph, objects: Sequence[Any]) -> list[bytes]:
    """One topological sort plus serializing the output (``objects``: the request bodies as
    JSON values, built beforehand)."""
    list(nx.topological_sort(g))
    return [orjson.dumps(o) for o in objects]


def same_as_dagbatch(lean: Sequence[LeanBatch], batches: Sequence[Any]) -> bool:
    """True when the lean batches equal dagbatch's plan batches: order, waves, ids, bytes."""
    return len(lean) == len(batches) and all(
        a.wave == b.wave and a.task_ids == b.task_ids and a.body == b.body
        for a, b in zip(lean, batches, strict=True)
    )
