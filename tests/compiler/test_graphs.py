"""The index-form graph algorithms: the topological order's exact shape, and cycles."""

from __future__ import annotations

from itertools import pairwise

from hypothesis import given, settings
from hypothesis import strategies as st

from dagbatch.compiler.graphs import (
    children_of,
    edge_children,
    find_cycle,
    generations_in_index_order,
    is_parents_first,
    levels_order,
    not_one,
    split_runs,
    topological_order,
)


@st.composite
def parent_lists(draw: st.DrawFn, cyclic: bool = False) -> list[list[int]]:
    """Parent lists over nodes 0..n-1 in any index order (a parent's index may be higher than
    its child's), optionally with extra edges that may close cycles."""
    n = draw(st.integers(1, 40))
    rank = draw(st.permutations(range(n)))  # a hidden topological rank of each node
    preds: list[list[int]] = [[] for _ in range(n)]
    for v in range(n):
        earlier = [u for u in range(n) if rank[u] < rank[v]]
        if earlier:
            preds[v] = sorted(draw(st.sets(st.sampled_from(earlier), max_size=4)))
    if cyclic:
        for _ in range(draw(st.integers(1, 3))):
            u, v = draw(st.integers(0, n - 1)), draw(st.integers(0, n - 1))
            if u not in preds[v]:
                preds[v].append(u)
    return preds


def levels(preds: list[list[int]]) -> list[int]:
    """Each node's generation: 0 without parents, else one more than its latest parent's
    (computed by fixpoint, independently of the function under test)."""
    level = [0] * len(preds)
    for _ in range(len(preds)):
        level = [max((level[p] + 1 for p in ps), default=0) for ps in preds]
    return level


@given(parent_lists())
@settings(max_examples=300, deadline=None)
def test_order_is_generations_each_in_index_order(preds: list[list[int]]) -> None:
    order, leftover = topological_order(preds)
    assert leftover == []
    level = levels(preds)
    # Exactly: by generation, and within one by index (the order the graph lists nodes).
    assert order == sorted(range(len(preds)), key=lambda v: (level[v], v))
    # The same with the children and counts handed in, as the workflow spec does.
    children = children_of(preds)
    assert topological_order(preds, lambda: children, list(map(len, preds))) == (order, [])
    # The quick path for graphs built parents first: taken exactly when every parent has a
    # lower index than its child, and giving the same order (the call above took Kahn's
    # algorithm otherwise; the generator makes both kinds of graph).
    parents_first = all(p < v for v, ps in enumerate(preds) for p in ps)
    assert is_parents_first(preds) == parents_first
    if parents_first:
        assert generations_in_index_order(preds) == order
    # Generations put off and retried: the same order whenever it gives one, and always
    # for a graph built parents first.
    by_levels = levels_order(preds)
    assert by_levels is None or by_levels == order
    if parents_first:
        assert by_levels == order


@given(parent_lists(cyclic=True))
@settings(max_examples=300, deadline=None)
def test_split_runs_and_edge_children_follow_the_parent_lists(preds: list[list[int]]) -> None:
    # What normalize builds for a graph of mostly one parent a task, from the flat list of
    # every parent: each task's tuple, and whether every edge goes from a lower index.
    counts = list(map(len, preds))
    flat = [p for ps in preds for p in ps]
    others = not_one(counts)
    assert others == [v for v, c in enumerate(counts) if c != 1]
    assert split_runs(flat, counts, others) == list(map(tuple, preds))
    children = list(edge_children(counts, others))
    assert children == [v for v, ps in enumerate(preds) for _ in ps]
    parents_first = all(p < v for v, ps in enumerate(preds) for p in ps)
    assert all(map(int.__lt__, flat, children)) == parents_first == is_parents_first(preds)


def test_a_fan_in_whose_child_came_first_is_ordered_by_generations() -> None:
    # networkx lists the child where its first edge added it: before most of its parents.
    n = 1000
    preds: list[list[int]] = [[] for _ in range(n)]
    preds[1] = [0, *range(2, n)]
    assert not is_parents_first(preds)
    expected = [0, *range(2, n), 1]
    assert levels_order(preds) == expected
    assert topological_order(preds) == (expected, [])


def test_a_graph_built_children_first_is_left_to_kahn() -> None:
    chain = [[v + 1] for v in range(99)] + [[]]  # each node's parent comes after it
    assert levels_order(chain) is None
    assert topological_order(chain) == (list(range(99, -1, -1)), [])


@given(parent_lists(cyclic=True))
@settings(max_examples=200, deadline=None)
def test_levels_order_gives_up_on_a_cycle(preds: list[list[int]]) -> None:
    _, leftover = topological_order(preds)
    if leftover:
        assert levels_order(preds) is None


@given(parent_lists(cyclic=True))
@settings(max_examples=300, deadline=None)
def test_leftover_is_what_a_cycle_holds_back(preds: list[list[int]]) -> None:
    order, leftover = topological_order(preds)
    assert sorted(order + leftover) == list(range(len(preds)))
    placed = set(order)
    for pos, v in enumerate(order):
        assert all(p in placed and order.index(p) < pos for p in preds[v])
    if leftover:
        # Every node held back has a parent held back; a cycle runs through them.
        held = set(leftover)
        assert all(any(p in held for p in preds[v]) for v in leftover)
        cycle = find_cycle(preds, leftover)
        assert cycle[0] == cycle[-1] and len(cycle) >= 2
        for u, v in pairwise(cycle):
            assert u in preds[v]
