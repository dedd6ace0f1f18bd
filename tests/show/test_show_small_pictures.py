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


def test_a_chain_is_not_said_to_run_anything_beside_its_widest_level() -> None:
    graph = nx.path_graph(["a", "b", "c"], create_using=nx.DiGraph)
    nx.set_node_attributes(graph, "x", "command_line")
    assert largest_antichain(graph) == 1
    text = render(picture_of(graph), "text")
    assert "widest level: 1 task at level 0\n" in text
    assert "beside" not in text


def test_a_single_task_is_not_said_to_be_folded() -> None:
    graph = nx.DiGraph()
    graph.add_node("a", command_line="x")
    text = render(picture_of(graph), "text")
    assert "drawn: 1 node\n" in text
    assert "folded" not in text
    # One level: nothing runs beside it from another level.
    assert "widest level: 1 task at level 0\n" in text


def test_an_empty_plan_claims_no_folding_and_no_critical_path() -> None:
    picture = picture_of(nx.DiGraph())
    text = render(picture, "text")
    assert "drawn: 0 nodes\n" in text
    assert "folded" not in text and "critical path" not in text
    assert text.endswith("no tasks\n")
    for fmt in FORMATS:
        assert "folded into one" not in render(picture, fmt), fmt


def test_a_folded_picture_still_says_so() -> None:
    graph = nx.DiGraph()
    for k in range(3):
        graph.add_node(f"t{k}", command_line="x")
    assert "drawn: 1 node (tasks that play the same role folded into one)" in render(
        picture_of(graph), "text"
    )


def test_one_chain_of_groups_is_one_group_in_the_notes() -> None:
    graph = nx.DiGraph()
    for level in range(12):
        for k in range(2):
            graph.add_node(f"t{level}-{k}", command_line="x")
            if level:
                graph.add_edge(f"t{level - 1}-{k}", f"t{level}-{k}")
    picture = picture_of(graph, max_nodes=10)
    assert len(picture.nodes) == 1
    assert "12 groups by level, over the cap of 10: chains folded into one node each (1 group)" in (
        picture.notes
    )
    assert not any("groups)" in note and "(1 " in note for note in picture.notes)


def named_side_by_side(count: int) -> nx.DiGraph:
    """``count`` independent tasks, each in its own named group, two tasks in the first."""
    graph = nx.DiGraph()
    for k in range(count):
        graph.add_node(f"t{k:03d}", command_line="x", _group=f"g{k:03d}")
    graph.add_node("t999", command_line="x", _group="g005")
    return graph


def test_many_named_groups_use_the_whole_cap() -> None:
    picture = picture_of(named_side_by_side(100), max_nodes=10)
    assert len(picture.nodes) == 10
    assert sum(n.count for n in picture.nodes) == 101
    # The largest group and the first others in submit order; the rest is one node.
    labels = [n.label for n in picture.nodes]
    assert labels[:9] == [f"g00{k}" if k != 5 else "g005 ×2" for k in range(9)]
    assert picture.nodes[-1].count == 101 - 10
    assert "1 level drawn as one node, but for the 9 largest groups, drawn apart" in picture.notes
    assert not any("bands of 1 " in note for note in picture.notes)


def test_named_groups_on_two_levels_stay_acyclic_and_under_the_cap() -> None:
    graph = named_side_by_side(60)
    for k in range(60):
        graph.add_node(f"u{k:03d}", command_line="x", _group=f"h{k % 7}")
        graph.add_edge(f"t{k:03d}", f"u{k:03d}")
    picture = picture_of(graph, max_nodes=12)
    assert len(picture.nodes) == 12
    assert sum(n.count for n in picture.nodes) == 121
    # Every node keeps to one level, and every edge goes down a level.
    assert all(n.level == n.last_level for n in picture.nodes)
    assert all(picture.nodes[e.source].level < picture.nodes[e.target].level for e in picture.links)
    assert "2 levels drawn one node each, but for the 11 largest groups, drawn apart" in (
        picture.notes
    )
