"""Folding: the examples and the benchmark workloads collapse to their shape; edge kinds,
barriers, ranges, named groups, the node cap and the critical path."""

from __future__ import annotations

import networkx as nx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from show_helpers import example_graph, example_picture, picture_of, shape, view_of

from bench import workloads
from dagbatch.compiler.pipeline import CompileOptions
from dagbatch.errors import ConfigError
from dagbatch.show.fold import MAX_ROUNDS, NO_FOLD_LIMIT, fold_plan, name_group
from dagbatch.show.model import GroupNode
from dagbatch.show.render import render
from dagbatch.show.source import read_intent
from tests.gc_watch import collections_made


def test_mapreduce_is_three_nodes_with_the_range() -> None:
    picture = example_picture("mapreduce")
    labels, edges = shape(picture)
    assert labels == ["prepare", "1..10000 ×10,000", "reduce"]
    assert edges == [
        ("prepare", "1..10000 ×10,000", "success", "10,000 deps"),
        ("1..10000 ×10,000", "reduce", "success", "taskIdRange 1..10000"),
    ]
    assert picture.links[1].ranged == picture.links[1].count == 10_000
    assert picture.widest_level == (1, 10_000)
    assert picture.critical_path == ["prepare", "1", "reduce"]
    assert all(n.critical for n in picture.nodes)
    assert (picture.tasks, picture.edges, picture.requests, picture.submit_waves) == (
        10_002,
        20_000,
        101,
        3,
    )


def test_wide_fanin_shows_its_barriers_gating_assemble() -> None:
    picture = example_picture("wide_fanin")
    labels, _edges = shape(picture)
    assert labels == ["render-frame-* ×3,000", "barrier ×2", "assemble"]
    barrier = picture.nodes[1]
    assert barrier.barrier and barrier.serves == "assemble"
    assert "gates assemble" in barrier.lines
    assert not picture.nodes[0].barrier and not picture.nodes[2].barrier
    assert [e.to_barrier for e in picture.links] == [True, False]
    assert picture.barriers == 2


def test_wide_fanin_renumbered_is_one_range() -> None:
    picture = example_picture("wide_fanin", CompileOptions(over_limit="renumber"))
    labels, edges = shape(picture)
    # Drawn by the user's names (plan idMap); the range is Batch's ids.
    assert labels == ["render-frame-* ×3,000", "assemble"]
    assert edges == [("render-frame-* ×3,000", "assemble", "success", "taskIdRange 1..3000")]


def test_pipeline_failure_route_and_satisfy_codes() -> None:
    picture = example_picture("pipeline")
    labels, edges = shape(picture)
    assert labels == ["fetch", "clean-* ×3", "train", "evaluate", "publish", "rollback"]
    assert picture.nodes[1].span == "clean-amer … clean-emea"
    assert [(e[0], e[1], e[2]) for e in edges][-1] == ("publish", "rollback", "failure")
    assert edges[-1][3] == "failure route"
    assert picture.nodes[2].intent == "success +3"
    # The critical path stops before the failure route.
    assert picture.critical_path == ["fetch", "clean-emea", "train", "evaluate", "publish"]
    assert not picture.nodes[5].critical and not picture.links[-1].critical


def test_legacy_example_folds() -> None:
    picture = example_picture("legacy_2017", CompileOptions(api_version="2017-09-01.6.0"))
    assert 1 <= len(picture.nodes) <= picture.tasks


@pytest.mark.parametrize(
    ("name", "labels"),
    [
        ("a sweep-reduce 10k", ["prepare", "1..10000 ×10,000", "reduce"]),
        ("c chain 5k", ["link-* ×5,000"]),
        ("d fan-in 10k", ["part-* ×10,000", "barrier ×7", "combine"]),
    ],
)
def test_benchmark_workloads_fold_to_their_shape(name: str, labels: list[str]) -> None:
    picture = picture_of(workloads.QUICK_WORKLOADS[name]())
    assert [n.label for n in picture.nodes] == labels
    assert sum(n.count for n in picture.nodes) == picture.tasks


def test_fan_in_20k_needs_barriers_and_draws_them_as_one_node() -> None:
    picture = picture_of(workloads.fan_in(20_000))
    labels = [n.label for n in picture.nodes]
    assert labels[0] == "part-* ×20,000" and labels[2] == "combine"
    assert picture.nodes[1].barrier and picture.nodes[1].count == picture.barriers > 1


def test_chain_folds_into_one_node_with_a_note() -> None:
    picture = picture_of(workloads.chain(5_000))
    (node,) = picture.nodes
    assert (node.level, node.last_level) == (0, 4_999)
    assert "levels 0..4999" in node.lines
    assert any("chains folded" in note for note in picture.notes)
    assert len(picture.critical_path) == 5_000


def test_folded_chains_of_one_role_are_told_apart_by_their_levels() -> None:
    """A chain cut by a side task folds into two nodes of one title: the first was called
    "(no parents)" though all but one of its tasks have a parent in it, and the tasks of
    a band of levels were labelled with its first level only. Each says its levels."""
    g = nx.DiGraph()
    for k in range(401):
        g.add_node(f"step-{k}", command_line="x")
        if k:
            g.add_edge(f"step-{k - 1}", f"step-{k}")
    g.add_node("check", command_line="y")
    g.add_edge("step-200", "check")
    picture = picture_of(g)
    titles = [n.title for n in picture.nodes]
    assert titles[0] == "step-* (levels 0..200)" and titles[-1] == "step-* (levels 202..400)"
    assert not any("parents" in t or "dependents" in t for t in titles), titles


def test_layered_stays_under_the_cap_one_rank_per_level() -> None:
    picture = picture_of(workloads.layered(20, 1_000))
    assert len(picture.nodes) <= 60
    assert {n.level for n in picture.nodes} == set(range(20))
    assert all(n.level == n.last_level for n in picture.nodes)
    per_level = {lv: 0 for lv in range(20)}
    for n in picture.nodes:
        per_level[n.level] += n.count
    assert set(per_level.values()) == {1_000}
    # Tasks nothing depends on are told apart from the rest of their layer.
    assert any(n.title.endswith("(no dependents)") for n in picture.nodes)
    assert picture.levels == 20 and len(picture.critical_path) == 20


def test_node_cap_is_respected_and_noted() -> None:
    graph = workloads.layered(20, 1_000)
    picture = picture_of(graph, max_nodes=25)
    assert len(picture.nodes) == 20
    assert any("folding stopped" in note for note in picture.notes)
    # 40 levels of alternating widths: no chain to fold, so levels are drawn in bands.
    g = nx.DiGraph()
    prev: list[str] = []
    for level in range(40):
        row = [f"t{level}-{k}" for k in range(level % 3 + 1)]
        for tid in row:
            g.add_node(tid, command_line="x")
            for p in prev:
                g.add_edge(p, tid)
        prev = row
    deep = picture_of(g, max_nodes=10)
    assert len(deep.nodes) == 10  # bands of 4 levels: the cap used, not half of it
    assert any("bands" in note for note in deep.notes)
    assert sum(n.count for n in deep.nodes) == g.number_of_nodes()
    # Equal layers fold as a chain of groups instead.
    even = picture_of(workloads.layered(40, 50, fan_in=2, seed=1), max_nodes=10)
    assert [n.count for n in even.nodes] == [2_000]


def test_a_cap_under_the_levels_bands_them_into_as_many_nodes_as_allowed() -> None:
    # Map-reduce has 3 levels and no chain of groups to fold; a cap of 2 bands its levels
    # by 2, which draws 2 nodes (not 1), and the notes do not claim any chain was folded.
    picture = fold_plan(view_of(example_graph("mapreduce")), max_nodes=2)
    assert [n.count for n in picture.nodes] == [10_001, 1]
    assert not any("chains folded" in note for note in picture.notes)
    assert "levels drawn in bands of 2 (2 bands)" in picture.notes


def per_sample_chains(samples: int) -> nx.DiGraph:
    g = nx.DiGraph()
    g.add_node("setup", command_line="setup")
    g.add_node("report", command_line="report")
    for s in range(samples):
        prev = "setup"
        for step in ("align", "call", "annotate"):
            tid = f"{step}-{s:04d}"
            g.add_node(tid, command_line=f"{step} {s}")
            g.add_edge(prev, tid)
            prev = tid
        g.add_edge(prev, "report")
    return g


def test_per_sample_chains_collapse_to_their_steps() -> None:
    picture = picture_of(per_sample_chains(200))
    assert [n.label for n in picture.nodes] == [
        "setup",
        "align-* ×200",
        "call-* ×200",
        "annotate-* ×200",
        "report",
    ]
    assert [e.count for e in picture.links] == [200, 200, 200, 200]


def test_named_groups_fold_together_and_keep_their_name() -> None:
    g = nx.DiGraph()
    g.add_node("prep", command_line="p")
    for i in range(1, 101):
        # Different children, so structure alone would not fold them.
        g.add_node(f"s{i}", command_line="s", _group="shard")
        g.add_node(f"post{i}", command_line="q", _group="post")
        g.add_edge("prep", f"s{i}")
        g.add_edge(f"s{i}", f"post{i}")
    picture = picture_of(g)
    assert [n.label for n in picture.nodes] == ["prep", "shard ×100", "post ×100"]
    assert picture.nodes[1].span == "s1 … s100"


def test_named_groups_over_the_cap_are_drawn_apart_whole() -> None:
    """Over the cap, the largest named groups drawn apart held only their tasks of one
    level: 'team-3 ×60' without its root, which sat in a node of every group's roots."""
    g = nx.DiGraph()
    for t in range(100):
        g.add_node(f"team-{t}-root", command_line="x", _group=f"team-{t}")
        for c in range(10 + t % 7):
            g.add_node(f"team-{t}-c{c}", command_line="x", _group=f"team-{t}")
            g.add_edge(f"team-{t}-root", f"team-{t}-c{c}")
    picture = picture_of(g, max_nodes=12)
    assert len(picture.nodes) <= 12
    assert sum(n.count for n in picture.nodes) == g.number_of_nodes()
    named = [n for n in picture.nodes if n.label.startswith("team-") and "*" not in n.label]
    assert len(named) == 10  # the cap less one node for each level's rest
    for node in named:
        team = node.label.split(" ")[0]
        assert node.count == sum(1 for _, d in g.nodes(data=True) if d["_group"] == team)
    assert "100 named groups, over the cap of 12" in picture.notes


def test_no_fold_draws_every_task_and_refuses_big_plans() -> None:
    picture = fold_plan(view_of(per_sample_chains(3)), fold=False)
    assert len(picture.nodes) == 11 and len(picture.links) == 12
    assert all(n.count == 1 for n in picture.nodes)
    with pytest.raises(ConfigError, match=f"at most {NO_FOLD_LIMIT}"):
        fold_plan(view_of(per_sample_chains(200)), fold=False)


def test_a_python_caller_gets_a_dagbatch_error_for_a_bad_argument() -> None:
    view = view_of(per_sample_chains(3))
    for bad in (1, 2.5, True):
        with pytest.raises(ConfigError, match="max_nodes is an int of at least 2"):
            fold_plan(view, max_nodes=bad)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="unknown format 'png'; choose one of text, mermaid"):
        render(fold_plan(view), "png")


def test_folding_is_deterministic() -> None:
    a = picture_of(workloads.layered(10, 300))
    b = picture_of(workloads.layered(10, 300))
    assert [(n.label, n.span, n.count) for n in a.nodes] == [
        (n.label, n.span, n.count) for n in b.nodes
    ]


def test_intents_from_exit_conditions() -> None:
    assert read_intent(None, job_actions=False).key == "success"
    failure = {
        "exitCodes": [{"code": 0, "exitOptions": {"dependencyAction": "block"}}],
        "default": {"dependencyAction": "satisfy"},
    }
    assert read_intent(failure, job_actions=False).kind == "failure"
    always = {"default": {"dependencyAction": "satisfy"}}
    assert read_intent(always, job_actions=False).kind == "always"
    codes = {
        "exitCodes": [{"code": 3, "exitOptions": {"dependencyAction": "satisfy"}}],
        "exitCodeRanges": [
            {"start": 10, "end": 20, "exitOptions": {"dependencyAction": "satisfy"}}
        ],
    }
    assert read_intent(codes, job_actions=False).key == "success +3,10-20"
    # Under performexitoptionsjobaction a failure terminates the job unless told otherwise.
    assert read_intent(None, job_actions=True).key == "success; job terminate"
    assert read_intent({"default": {"jobAction": "none"}}, job_actions=True).key == "success"


def test_an_intent_says_when_a_failed_download_or_upload_acts_otherwise() -> None:
    """The picture said "dependents run after exit 0" of a task whose preProcessingError
    satisfies: its dependents also run when its download fails (found by a review)."""
    from dagbatch.show.render_text import describe_intent

    pre = read_intent({"preProcessingError": {"dependencyAction": "satisfy"}}, job_actions=False)
    assert pre.key == "success pre:satisfy"
    assert describe_intent(pre.key) == (
        "dependents run after exit 0, and also after a failed download or launch"
    )
    upload = read_intent(
        {
            "default": {"dependencyAction": "satisfy"},
            "fileUploadError": {"dependencyAction": "block"},
            "exitCodes": [{"code": 3, "exitOptions": {"dependencyAction": "block"}}],
        },
        job_actions=True,
    )
    assert upload.key == "always -3 upload:block; job terminate"
    assert describe_intent(upload.key) == (
        "dependents run however it ends, except after exit 3, but not after failed output "
        "files; a failure makes the job terminate"
    )
    # An entry that says what the other failures do anyway changes nothing.
    same = {"preProcessingError": {"dependencyAction": "block"}}
    assert read_intent(same, job_actions=False).key == "success"
    # An entry without a dependencyAction blocks (Batch's default for it), whatever
    # `default` says: a task whose other failures satisfy then differs after a download.
    bare = {"default": {"dependencyAction": "satisfy"}, "preProcessingError": {"jobAction": "none"}}
    assert read_intent(bare, job_actions=False).key == "always pre:block"


def test_group_names_from_ids() -> None:
    assert name_group(["7"], None) == ("7", "7")
    assert name_group(["1", "2", "3"], None) == ("1..3", "1..3")
    assert name_group(["1", "3"], None) == ("1..3 (with gaps)", "1..3 (with gaps)")
    assert name_group(["bb-9", "bb-10"], None) == ("bb-*", "bb-9 … bb-10")
    assert name_group(["x", "y"], None)[0] == "tasks"
    assert name_group(["x", "y"], "mine") == ("mine", "x … y")


def test_node_lines_and_live_colour() -> None:
    node = GroupNode(
        index=0,
        key="n1",
        title="shard",
        span="1..5",
        count=5,
        level=1,
        last_level=1,
        intent="success",
        barrier=False,
        serves=None,
        submit_waves=(2, 2),
        states={"completed": 3, "failed": 1, "waiting": 1},
    )
    assert node.lines == ["shard ×5", "1..5", "3 done · 1 failed · 1 waiting"]
    assert node.state == "failed"


def test_empty_plan_draws_nothing_in_every_format() -> None:
    from dagbatch.show.render import FORMATS, render

    picture = picture_of(nx.DiGraph())
    assert (picture.nodes, picture.links, picture.critical_path) == ([], [], [])
    for fmt in FORMATS:
        assert render(picture, fmt)


def test_job_action_shows_in_the_intent() -> None:
    g = nx.DiGraph()
    g.add_node("a", command_line="a", job_action="terminate")
    g.add_node("b", command_line="b")
    g.add_edge("a", "b", when="always")
    picture = picture_of(g)
    assert [n.intent for n in picture.nodes] == ["always; job terminate", "success"]
    assert picture.links[0].kind == "always" and picture.links[0].label == "always"


def test_refinement_rounds_are_bounded() -> None:
    # A chain whose tail hangs off the middle of a second chain: each round splits one more
    # group, so only the round limit stops it before the cap.
    g = nx.DiGraph()
    for k in range(40):
        g.add_node(f"a{k}", command_line="a")
        g.add_node(f"b{k}", command_line="b")
        if k:
            g.add_edge(f"a{k - 1}", f"a{k}")
            g.add_edge(f"b{k - 1}", f"b{k}")
    g.add_node("tip", command_line="t")
    g.add_edge("b39", "tip")
    picture = picture_of(g, max_nodes=60)
    assert picture.notes == [
        f"folding stopped after {MAX_ROUNDS} refinement rounds; tasks folded together may "
        "differ in their exact neighbours"
    ]
    assert len(picture.nodes) == 41 + MAX_ROUNDS  # one group per level, one split a round
    assert sum(n.count for n in picture.nodes) == 81


def test_reading_and_folding_a_plan_runs_no_cyclic_collection() -> None:
    """A plan's view and picture are a few objects a task, none in a cycle; the collector's
    sweeps over the caller's workflow graph (millions of objects) would only cost time, so it
    is paused while they are built, and left as it was after."""
    import gc

    from dagbatch.compiler.pipeline import compile_graph
    from dagbatch.show.source import view_of_compiled

    graph = workloads.sweep_reduce(20_000)
    plan = compile_graph(graph)
    with collections_made() as collections:
        view = view_of_compiled(plan, graph)
        picture = fold_plan(view)
    assert gc.isenabled()
    assert len(picture.nodes) == 3 and len(view) == 20_002
    # At most the young generation once the collector is back (between reading and folding);
    # unpaused, it ran dozens of times here, full sweeps included.
    assert len(collections) <= 2 and 2 not in collections, collections


def test_barriers_between_tasks_of_one_band_draw_with_them() -> None:
    # wide_fanin in one band of 3 levels: the barriers sit between the frames and assemble,
    # so a barrier node apart would draw a cycle with the band's other tasks.
    picture = picture_of(example_graph("wide_fanin"), max_nodes=2)
    assert [n.count for n in picture.nodes] == [3_003]
    assert any(
        "barriers apart but in 1 band, where a barrier sits between the band's own tasks" in note
        for note in picture.notes
    )


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 29), st.integers(0, 29)), min_size=10, max_size=120),
    st.integers(2, 8),
)
def test_a_plan_with_barriers_folds_under_any_cap_without_a_cycle(
    pairs: list[tuple[int, int]], max_nodes: int
) -> None:
    """A taskIds budget of 70 characters makes barriers for every task of more than two
    parents (ids of 30 characters); whatever the cap, the folded picture holds every task
    once and draws no cycle."""

    def tid(i: int) -> str:
        return f"task-{i:02d}-".ljust(30, "x")

    g = nx.DiGraph()
    g.add_nodes_from((tid(i), {"command_line": "x"}) for i in range(30))
    g.add_edges_from((tid(min(a, b)), tid(max(a, b))) for a, b in pairs if a != b)
    view = view_of(g, CompileOptions(taskids_margin=64_000 - 70, pool_os="linux"))
    picture = fold_plan(view, max_nodes=max_nodes)
    assert sum(n.count for n in picture.nodes) == len(view)
    drawn = nx.DiGraph([(e.source, e.target) for e in picture.links])
    assert nx.is_directed_acyclic_graph(drawn)


def test_a_node_titled_by_its_levels_does_not_say_them_again() -> None:
    """Banded nodes that shared a title were told apart by their levels, and then said the
    same levels again on a line of their own."""
    g = nx.DiGraph()
    for k in range(3):  # three chains of 30 levels, one deep graph in all
        prev = None
        for lv in range(30):
            tid = f"c{k}-{lv:02d}"
            g.add_node(tid, command_line="x")
            if prev is not None:
                g.add_edge(prev, tid)
            if lv % 7 == 3:  # a second task beside it: no chain to fold
                g.add_node(f"{tid}-b", command_line="y")
                g.add_edge(prev or tid, f"{tid}-b")
            prev = tid
    picture = picture_of(g, max_nodes=4)
    titled = [n for n in picture.nodes if "(levels " in n.title]
    assert titled, [n.title for n in picture.nodes]
    for node in titled:
        assert not any(line.startswith("levels ") for line in node.lines[1:]), node.lines
