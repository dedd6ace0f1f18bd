"""`_group` keeps its tasks together: one node whatever the levels of its tasks, unless one
node would draw a cycle (its tasks depend on one another through tasks outside it), and then
one node per level with a note that says why."""

from __future__ import annotations

import networkx as nx
from show_helpers import picture_of

from dagbatch.show.fold import cyclic_classes
from dagbatch.show.model import Picture
from dagbatch.show.render import FORMATS, render


def edges_point_down(picture: Picture) -> bool:
    return all(picture.nodes[e.source].level < picture.nodes[e.target].level for e in picture.links)


def qc_on_two_levels() -> nx.DiGraph:
    """fetch -> train -> qc-model -> report, and qc-inputs (no parents) -> report, both qc
    tasks in the group "qc" (levels 0 and 2)."""
    graph = nx.DiGraph()
    for tid in ("fetch", "train", "report"):
        graph.add_node(tid, command_line="x")
    graph.add_node("qc-inputs", command_line="x", _group="qc")
    graph.add_node("qc-model", command_line="x", _group="qc")
    graph.add_edges_from(
        [("fetch", "train"), ("train", "qc-model"), ("qc-model", "report"), ("qc-inputs", "report")]
    )
    return graph


def test_a_group_over_several_levels_is_one_node_drawn_below_its_parents() -> None:
    picture = picture_of(qc_on_two_levels())
    assert [n.label for n in picture.nodes] == ["fetch", "train", "qc ×2", "report"]
    qc = picture.nodes[2]
    assert (qc.level, qc.levels) == (2, (0, 2))  # drawn below train, its tasks on 0 and 2
    assert "levels 0..2" in qc.lines
    assert edges_point_down(picture)
    assert not any("group" in note for note in picture.notes)
    for fmt in FORMATS:
        out = render(picture, fmt)
        assert "no parents" not in out and "no dependents" not in out, fmt


def test_a_group_whose_tasks_depend_on_each_other_through_others_is_split_and_noted() -> None:
    graph = nx.DiGraph()
    graph.add_node("a", command_line="x", _group="g")
    graph.add_node("b", command_line="x", _group="g")
    graph.add_node("mid", command_line="x")
    graph.add_edges_from([("a", "mid"), ("mid", "b")])  # a -> mid -> b: one node g is a cycle
    picture = picture_of(graph)
    assert [n.label for n in picture.nodes] == ["g (no parents)", "mid", "g (no dependents)"]
    assert edges_point_down(picture)
    assert (
        "group g drawn as one node per level: some of its tasks depend on others of it through "
        "tasks outside it, and one node would draw a cycle"
    ) in picture.notes
    assert "note: group g drawn as one node per level" in render(picture, "text")


def test_a_group_holding_a_whole_chain_is_one_node() -> None:
    # A dependency inside a node is not drawn (as in a folded chain): no cycle, one node.
    graph = nx.DiGraph()
    graph.add_node("prep-a", command_line="x", _group="prep")
    graph.add_node("prep-b", command_line="x", _group="prep")
    graph.add_node("run", command_line="x")
    graph.add_edges_from([("prep-a", "prep-b"), ("prep-b", "run")])
    picture = picture_of(graph)
    assert [n.label for n in picture.nodes] == ["prep ×2", "run"]
    assert picture.nodes[0].lines[-1] == "levels 0..1" and not picture.notes


def test_only_the_group_on_the_cycle_is_split() -> None:
    graph = qc_on_two_levels()
    graph.add_node("a", command_line="x", _group="g")
    graph.add_node("b", command_line="x", _group="g")
    graph.add_edges_from([("a", "train"), ("train", "b")])
    picture = picture_of(graph)
    labels = [n.label for n in picture.nodes]
    assert "qc ×2" in labels and "g" not in labels
    assert [note.split(":")[0] for note in picture.notes] == ["group g drawn as one node per level"]
    assert edges_point_down(picture)


def test_cyclic_classes_peels_what_is_not_on_a_cycle() -> None:
    # tasks 0 -> 1 -> 2 -> 3 -> 4; classes {0}, {1, 3}, {2}, {4}: 1 and 2 form a cycle.
    parents = [[], [0], [1], [2], [3]]
    assert cyclic_classes([0, 1, 2, 1, 3], parents) == {1, 2}
    assert cyclic_classes([0, 1, 2, 3, 4], parents) == set()
    assert cyclic_classes([0, 0, 0, 1, 1], parents) == set()
