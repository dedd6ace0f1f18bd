"""limits: barrier tasks, renumbering and the error strategy for over-long taskIds."""

from __future__ import annotations

from typing import Any

import networkx as nx
import orjson
import pytest
from dag_strategies import batch_exit_options, check_plan

from dagbatch import compile_graph
from dagbatch.compiler.dependencies import DEFAULT_BARRIER_COMMAND, plan_dependencies
from dagbatch.compiler.pipeline import CompiledPlan, CompileOptions
from dagbatch.compiler.spec import normalize
from dagbatch.errors import InvalidWorkflow
from dagbatch.limits import TASK_IDS_CHAR_LIMIT

BUDGET = 250


def options(strategy: str, budget: int = BUDGET, **kw: object) -> CompileOptions:
    return CompileOptions(
        over_limit=strategy,  # type: ignore[arg-type]
        taskids_margin=TASK_IDS_CHAR_LIMIT - budget,
        **kw,  # type: ignore[arg-type]
    )


def fan_in(n: int, *, child: str = "sink", when: str | None = None) -> nx.DiGraph:
    g = nx.DiGraph()
    g.add_node(child, command_line="reduce")
    for k in range(n):
        name = f"parent-{k:03d}"  # 10 characters
        g.add_node(name, command_line=f"map {k}")
        if when is None:
            g.add_edge(name, child)
        else:
            g.add_edge(name, child, when=when)
    return g


def tasks_of(plan: CompiledPlan) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for req in plan.batches:
        for t in orjson.loads(req.body)["value"]:
            out[t["id"]] = t
    return out


def test_barriers_take_slices_of_the_parents_within_the_budget() -> None:
    g = fan_in(100)  # 1000 characters of parent ids
    spec, diags = normalize(g, api_version="2025-06-01")
    assert diags == []
    planned, more = plan_dependencies(spec, budget=BUDGET, strategy="barrier")
    assert [d.code for d in more] == ["barriers-inserted"]
    assert more[0].severity == "warning" and more[0].task_id == "sink"
    assert len(planned.barriers) == 4  # 25 ids of 10 characters fill a slice of 250
    sink = spec.ids.index("sink")
    barrier_ids = [planned.ids[b] for b in planned.barriers]
    assert planned.deps[sink].task_ids == tuple(barrier_ids)
    assert set(planned.preds[sink]) == set(planned.barriers)
    covered: list[str] = []
    for b in planned.barriers:
        assert planned.deps[b].chars <= BUDGET
        assert planned.props[b]["commandLine"] == DEFAULT_BARRIER_COMMAND
        assert "sink" in planned.props[b]["displayName"]
        covered.extend(planned.deps[b].task_ids)
    assert sorted(covered) == sorted(t for t in spec.ids if t != "sink")
    assert planned.user_count == len(spec.ids)


def test_barrier_plan_keeps_the_graph_semantics() -> None:
    g = fan_in(100)
    opts = options("barrier", barrier_command="cmd /c exit 0")
    plan = compile_graph(g, opts)
    check_plan(g, plan, opts)
    assert plan.counts["barriers"] == len(plan.barriers) == 4
    tasks = tasks_of(plan)
    assert all(tasks[b]["commandLine"] == "cmd /c exit 0" for b in plan.barriers)


def test_barrier_ids_are_unique_ignoring_case() -> None:
    g = fan_in(40)
    first = compile_graph(g, options("barrier"))
    taken = first.barriers[0]
    # a user task that already has the first barrier's id, in other letters' case
    g.add_node(taken.upper(), command_line="mine")
    g.add_edge(taken.upper(), "parent-000")
    plan = compile_graph(g, options("barrier"))
    ids = [t.lower() for r in plan.batches for t in r.task_ids]
    assert len(ids) == len(set(ids))
    assert taken not in plan.barriers
    check_plan(g, plan, options("barrier"))


def test_two_children_over_the_budget_get_distinct_barriers() -> None:
    g = fan_in(60, child="a")
    for k in range(60):
        g.add_edge(f"parent-{k:03d}", "b")
    g.nodes["b"]["command_line"] = "other"
    opts = options("barrier")
    plan = compile_graph(g, opts)
    check_plan(g, plan, opts)
    assert len({b.lower() for b in plan.barriers}) == len(plan.barriers) == 6
    assert {w.task_id for w in plan.warnings if w.code == "barriers-inserted"} == {"a", "b"}


@pytest.mark.parametrize("when", ["failure", "always"])
def test_barriers_inherit_the_edge_when(when: str) -> None:
    g = fan_in(60, when=when)
    opts = options("barrier")
    plan = compile_graph(g, opts)
    check_plan(g, plan, opts)  # includes the exit-condition semantics of every parent
    tasks = tasks_of(plan)
    for k in range(60):
        ec = tasks[f"parent-{k:03d}"].get("exitConditions")
        ok = batch_exit_options(ec, 0, job_actions=False, ranges_cover_zero=False)[0]
        failed = batch_exit_options(ec, 1, job_actions=False, ranges_cover_zero=False)[0]
        assert (ok, failed) == (("block", "satisfy") if when == "failure" else ("satisfy",) * 2)
    for b in plan.barriers:
        assert "exitConditions" not in tasks[b]  # Batch's default: exit 0 satisfies


def test_barriers_under_job_actions_never_end_the_job() -> None:
    g = fan_in(60)
    g.nodes["parent-001"]["job_action"] = "terminate"
    opts = options("barrier")
    plan = compile_graph(g, opts)
    check_plan(g, plan, opts)
    assert plan.job["onTaskFailure"] == "performexitoptionsjobaction"
    tasks = tasks_of(plan)
    for b in plan.barriers:
        assert tasks[b]["exitConditions"] == {"default": {"jobAction": "none"}}


def test_renumber_maps_ids_and_keeps_names_in_display_name() -> None:
    g = fan_in(100)
    g.nodes["parent-005"]["display_name"] = "my own name"
    opts = options("renumber")
    plan = compile_graph(g, opts)
    check_plan(g, plan, opts)
    assert plan.barriers == ()
    assert sorted(plan.id_map, key=int) == [str(n) for n in range(1, 102)]
    assert set(plan.id_map.values()) == set(g.nodes)
    back = {old: new for new, old in plan.id_map.items()}
    tasks = tasks_of(plan)
    assert tasks[back["parent-007"]]["displayName"] == "parent-007"
    assert tasks[back["parent-005"]]["displayName"] == "my own name"
    sink = tasks[back["sink"]]
    # topological numbering: the parents are 1..100, one exact range
    assert sink["dependsOn"] == {"taskIdRanges": [{"start": 1, "end": 100}]}
    assert back["sink"] == "101"


def test_renumber_leaves_graphs_within_the_budget_alone() -> None:
    g = fan_in(10)
    plan = compile_graph(g, options("renumber"))
    assert plan.id_map == {}
    assert set(tasks_of(plan)) == set(g.nodes)


def test_renumber_puts_scattered_parents_into_ranges_under_budget_pressure() -> None:
    # every other parent: after renumbering the parents are not consecutive, and the budget
    # takes single-task ranges (every id is an integer now, so no barrier is needed)
    g = nx.DiGraph()
    g.add_node("sink", command_line="reduce")
    for k in range(300):
        g.add_node(f"t{k}", command_line="x")
        if k % 2 == 0:
            g.add_edge(f"t{k}", "sink")
    opts = options("renumber", budget=200)
    plan = compile_graph(g, opts)
    check_plan(g, plan, opts)
    assert plan.id_map and not plan.barriers
    back = {old: new for new, old in plan.id_map.items()}
    depends = tasks_of(plan)[back["sink"]]["dependsOn"]
    assert sum(map(len, depends.get("taskIds", []))) <= 200
    assert depends["taskIdRanges"]


def test_error_strategy_names_each_task_over_the_budget() -> None:
    g = fan_in(100, child="a")
    for k in range(100):
        g.add_edge(f"parent-{k:03d}", "b")
    g.nodes["b"]["command_line"] = "x"
    g.add_edge("parent-000", "c")
    g.nodes["c"]["command_line"] = "x"
    with pytest.raises(InvalidWorkflow) as info:
        compile_graph(g, options("error"))
    errs = info.value.errors
    assert {(d.code, d.task_id) for d in errs} == {
        ("task-ids-too-long", "a"),
        ("task-ids-too-long", "b"),
    }
    assert "1000 characters" in errs[0].message
    assert str(BUDGET) in errs[0].message


def test_error_strategy_compiles_what_fits() -> None:
    g = fan_in(20)
    opts = options("error")
    plan = compile_graph(g, opts)
    check_plan(g, plan, opts)


@pytest.mark.parametrize("when", [None, "failure", "always"])
def test_barrier_ids_over_the_budget_get_barriers_of_their_own(when: str | None) -> None:
    # 1000 parents of 10 characters under a budget of 100: 100 barriers, whose ids (about
    # 31 characters each) are again over the budget, so further levels until the child's
    # own taskIds fit
    g = fan_in(1000, when=when)
    opts = options("barrier", budget=100)
    plan = compile_graph(g, opts)
    check_plan(g, plan, opts)  # semantics, budget, order, exit conditions of every barrier
    tasks = tasks_of(plan)
    sink = tasks["sink"]["dependsOn"]["taskIds"]
    assert sum(map(len, sink)) <= 100
    assert all(t in plan.barriers for t in sink)
    assert any("-L2-" in b for b in plan.barriers)
    (warning,) = [w for w in plan.warnings if w.code == "barriers-inserted"]
    assert "levels" in warning.message


def test_a_budget_too_small_for_two_barrier_ids_is_an_error_not_a_loop() -> None:
    g = fan_in(100)
    with pytest.raises(InvalidWorkflow) as info:
        compile_graph(g, options("barrier", budget=40))
    assert [(d.code, d.task_id) for d in info.value.errors] == [("task-ids-too-long", "sink")]
