"""Graph algorithms on the index form (parent lists), shared by validate and batching.

Working on int indices rather than networkx nodes keeps these linear and fast on graphs of
hundreds of thousands of tasks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import chain, compress, islice, repeat
from operator import le, lt, ne, not_
from typing import Any

import networkx as nx


def children_of(preds: Sequence[Sequence[int]]) -> list[list[int]]:
    succ: list[list[int]] = [[] for _ in preds]
    for v, ps in enumerate(preds):
        for u in ps:
            succ[u].append(v)
    return succ


def topological_order(
    preds: Sequence[Sequence[int]],
    children: Callable[[], Sequence[Sequence[int]]] | None = None,
    counts: Sequence[int] | None = None,
    parents_first: bool | None = None,
) -> tuple[list[int], list[int]]:
    """The tasks a generation at a time, each generation in index order (the order the
    graph lists its nodes): deterministic, and level by level.

    Returns (order, leftover): ``leftover`` lists the nodes on or behind a cycle (empty for a
    DAG). Putting each generation together keeps waves few. Listing it in index order keeps
    the user's own order within a level, and lets the passes after this one visit the tasks'
    objects (built in index order) nearly in sequence: on a 200,000-task layered graph,
    serializing them in the order a first-in first-out queue gives (children in the order
    their last parent is taken) cost three times as much, in cache misses alone.

    ``children`` gives the children lists (``children_of(preds)`` if not given) and
    ``counts`` each node's number of parents; neither is needed when every parent comes
    before its children in index order, as when a graph is built parents first.
    ``parents_first`` says whether that is so, when already known (``is_parents_first``).
    """
    if parents_first is None:
        parents_first = is_parents_first(preds)
    order = generations_in_index_order(preds) if parents_first else None
    if order is None:
        order = levels_order(preds)
    if order is not None:
        return order, []
    succ = children_of(preds) if children is None else children()
    indeg = list(map(len, preds)) if counts is None else list(counts)  # counts: len of preds
    # The order is the queue: a node is appended when its last parent is taken, and the loop
    # takes them in that order (iterating a list sees what is appended meanwhile). ``end``
    # is where the generation being taken ends; when the loop reaches it, the generation
    # appended meanwhile is sorted in place before the loop takes it.
    order = list(compress(range(len(indeg)), map(not_, indeg)))
    push = order.append
    end = len(order)
    for taken, u in enumerate(order, start=1):
        for v in succ[u]:
            d = indeg[v] - 1
            indeg[v] = d
            if d == 0:
                push(v)
        if taken == end:
            if len(order) - end > 1:
                order[end:] = sorted(order[end:])
            end = len(order)
    if len(order) == len(preds):
        return order, []
    return order, [i for i, d in enumerate(indeg) if d > 0]


def is_parents_first(preds: Sequence[Sequence[int]]) -> bool:
    """Whether every node's parents have lower indices than it (a graph built parents
    first; a self-loop makes it false): one C-level scan, the highest parent of each node
    with parents against the node."""
    with_parents = compress(range(len(preds)), preds)
    return all(map(lt, map(max, compress(preds, preds)), with_parents))


def generations_in_index_order(preds: Sequence[Sequence[int]]) -> list[int]:
    """``topological_order``'s order for a graph whose every node's parents have lower
    indices than it (``is_parents_first``, which the caller has checked): each node's
    generation in one pass in index order, then a stable sort by generation. About half the
    work of Kahn's algorithm plus the children lists it needs, on a layered graph of a
    million edges.

    When the generations never decrease in index order (a graph built a generation after
    another: a chain, a sweep, layers), the order is the index order itself, and no sort is
    needed.
    """
    level = [0] * len(preds)
    level_of = level.__getitem__
    for v in compress(range(len(preds)), preds):
        ps = preds[v]
        # One parent (a chain, a sweep) is common enough to skip max() and map() for.
        level[v] = 1 + (level[ps[0]] if len(ps) == 1 else max(map(level_of, ps)))
    if all(map(le, level, islice(level, 1, None))):
        return list(range(len(preds)))
    return sorted(range(len(preds)), key=level_of)


def not_one(counts: Sequence[int]) -> list[int]:
    """The nodes whose count is not 1, in index order (one C-level scan)."""
    return list(compress(range(len(counts)), map(ne, counts, repeat(1))))


def split_runs(
    flat: Iterable[Any], counts: Sequence[int], others: Sequence[int]
) -> list[tuple[Any, ...]]:
    """``flat`` cut into one tuple a node: node i's ``counts[i]`` items, one node after
    another. ``others`` are the nodes whose count is not 1 (``not_one``): the nodes of
    one item between them are many and take their 1-tuples from one C-level ``zip`` a run,
    with no iterator made for each node."""
    items: Iterator[Any] = iter(flat)
    out: list[tuple[Any, ...]] = []
    start = 0
    for v in others:
        out += zip(islice(items, v - start))
        out.append(tuple(islice(items, counts[v])))
        start = v + 1
    out += zip(items)
    return out


def edge_children(counts: Sequence[int], others: Sequence[int]) -> Iterator[int]:
    """The child of each edge, in the order of ``split_runs``'s ``flat`` (each node's
    parents, a node after another): a ``range`` for each run of nodes of one parent, and
    each node of ``others`` (``not_one``) repeated as many times as it has parents."""
    parts: list[Iterable[int]] = []
    start = 0
    for v in others:
        parts.append(range(start, v))
        parts.append(repeat(v, counts[v]))
        start = v + 1
    parts.append(range(start, len(counts)))
    return chain.from_iterable(parts)


def levels_order(preds: Sequence[Sequence[int]]) -> list[int] | None:
    """``topological_order``'s order from each node's generation, for a graph that is not
    built parents first (None when that is not quick, or on a cycle).

    Generations are computed in index order; a node with a parent whose generation is not
    known yet is put off, and the nodes put off are tried again in index order, as long as
    each round at least halves them (so the rounds cost at most about two passes; beyond
    that Kahn's algorithm is the quicker way). A round stops as soon as more than half of
    the nodes it has seen are put off, so a graph in no useful order costs a few thousand
    nodes' look before Kahn's algorithm. A fan-in whose child was added with its first
    edge, before the parents that follow it, takes one round.
    """
    n = len(preds)
    unknown = n + 1  # above any generation: a maximum that reaches it had a parent unknown
    level = [unknown if ps else 0 for ps in preds]
    level_of = level.__getitem__
    todo = list(compress(range(n), preds))
    while todo:
        later: list[int] = []
        # A round gives up as soon as more than half of what it has seen is put off (looked
        # at every _CHUNK nodes): on a graph in no useful order, that is known early.
        for start in range(0, len(todo), _CHUNK):
            for v in todo[start : start + _CHUNK]:
                ps = preds[v]
                highest = level[ps[0]] if len(ps) == 1 else max(map(level_of, ps))
                if highest >= unknown:
                    later.append(v)
                else:
                    level[v] = highest + 1
            if 2 * len(later) > min(len(todo), start + _CHUNK):
                return None
        todo = later
    return sorted(range(n), key=level_of)


#: How many nodes ``levels_order`` looks at between two checks of its progress.
_CHUNK = 1024


def cyclic_components(preds: Sequence[Sequence[int]], leftover: Sequence[int]) -> list[list[int]]:
    """The strongly connected components of more than one task among ``leftover`` (the
    tasks on or behind a cycle), each sorted, in the order of their first task: one for each
    set of tasks that wait on each other, so every cycle is reported, not only the first
    (the tasks behind a cycle, alone in their component, are left out). Only on the error
    path: a small graph of the leftover tasks is built for networkx."""
    inside = set(leftover)
    sub = nx.DiGraph()
    sub.add_nodes_from(leftover)
    sub.add_edges_from((p, i) for i in leftover for p in preds[i] if p in inside and p != i)
    found = [sorted(c) for c in nx.strongly_connected_components(sub) if len(c) > 1]
    return sorted(found)


def find_cycle(preds: Sequence[Sequence[int]], among: Sequence[int]) -> list[int]:
    """One cycle through the nodes of ``among`` (each has a parent in ``among``), as a path
    ``[a, b, ..., a]`` along dependency edges (parent → child)."""
    inside = set(among)
    # Walk parent links backwards inside the leftover set until a node repeats.
    start = among[0]
    seen: dict[int, int] = {}
    path: list[int] = []
    node = start
    while node not in seen:
        seen[node] = len(path)
        path.append(node)
        node = next(p for p in preds[node] if p in inside)
    cycle = path[seen[node] :]
    cycle.reverse()  # we walked child → parent; report parent → child
    first = cycle.index(min(cycle))  # start at the task that comes first in the graph
    cycle = cycle[first:] + cycle[:first]
    return [*cycle, cycle[0]]
