"""normalize's index form: parent lists, children and parent ids agree with the graph."""

from __future__ import annotations

import networkx as nx
from hypothesis import given, settings
from hypothesis import strategies as st

from dagbatch.compiler.spec import normalize
from dagbatch.limits import DEFAULT_API_VERSION

N = 10


@settings(max_examples=150, deadline=None)
@given(
    st.permutations(range(N)),
    st.lists(st.tuples(st.integers(0, N - 1), st.integers(0, N - 1)), max_size=40),
    st.sampled_from(["str", "int", "mixed"]),
)
def test_children_and_parent_ids_follow_the_parent_lists(
    nodes: list[int], edges: list[tuple[int, int]], style: str
) -> None:
    def key(k: int) -> str | int:
        return f"t{k}" if style == "str" or (style == "mixed" and k % 2) else k

    g = nx.DiGraph()
    for k in nodes:  # node order differs from the order edges are added in
        g.add_node(key(k), command_line="x")
    g.add_edges_from((key(u), key(v)) for u, v in edges)
    spec, _ = normalize(g, api_version=DEFAULT_API_VERSION)

    index = {k: i for i, k in enumerate(g)}
    loops = {index[key(u)] for u, v in edges if u == v}
    assert set(spec.self_loops) == loops
    for i, k in enumerate(g):
        # parents in networkx's order, without the self-loop
        assert spec.preds[i] == tuple(index[p] for p in g.pred[k] if p != k)
    # children in index order
    assert spec.succ == list(
        [v for v, ps in enumerate(spec.preds) if u in ps] for u in range(len(spec.ids))
    )
    if style == "str":
        assert spec.parent_ids == tuple(tuple(spec.ids[p] for p in ps) for ps in spec.preds)
    else:
        assert spec.parent_ids is None
