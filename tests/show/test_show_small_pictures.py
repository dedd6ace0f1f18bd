"""What the header and summary say about small, empty and over-capped pictures: every claim
true of the plan drawn."""

from __future__ import annotations

import itertools
import re

import networkx as nx
from show_helpers import picture_of

from dagbatch.show.render import FORMATS, render


def largest_antichain(graph: nx.DiGraph) -> int:
    """How many tasks at most run at once: the largest set of mutually independent tasks
    (brute force: small graphs only)."""
    reach = {n: nx.descendants(graph, n) | nx.ancestors(graph, n) for n in graph}
    for size in range(len(graph), 0, -1):
        for tasks in itertools.combinations(graph, size):
            if all(b not in reach[a] for a, b in itertools.combinations(tasks, 2)):
                return size
    return 0


def test_the_widest_level_is_not_claimed_as_a_bound_on_parallelism() -> None:
    graph = nx.DiGraph()
    for name in "abcd":
        graph.add_node(name, command_line="x")
    graph.add_edges_from([("a", "b"), ("a", "c")])  # d is independent: it runs beside b and c
    assert largest_antichain(graph) == 3
    picture = picture_of(graph)
    assert picture.widest_level == (0, 2)  # a and d (b and c tie, later)
    text = render(picture, "text")
    assert "widest level: 2 tasks at level 0 (tasks of other levels can run beside them)" in text
    # No format states a bound below the 3 tasks that can run at once.
    for fmt in FORMATS:
        out = render(picture, fmt)
        for bound in re.findall(r"at most ([\d,]+) can run", out):
            assert int(bound.replace(",", "")) >= 3, fmt
        assert "leaves slots idle" not in out, fmt
