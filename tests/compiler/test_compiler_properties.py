"""Properties of ``compile_graph`` over random DAGs (see ``tests/dag_strategies.py``)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import networkx as nx
import orjson
import pytest
from dag_strategies import DagCase, check_plan, dag_cases
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dagbatch import compile_graph
from dagbatch.compiler.pipeline import CompiledPlan, CompileOptions
from dagbatch.errors import InvalidWorkflow
from dagbatch.limits import TASK_IDS_CHAR_LIMIT

_SETTINGS = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@_SETTINGS
@given(dag_cases(big=False))
def test_every_random_dag_compiles_to_a_correct_plan(case: DagCase) -> None:
    plan = compile_graph(case.graph, case.options)
    check_plan(case.graph, plan, case.options)
    again = compile_graph(case.graph, case.options)
    assert [r.body for r in again.batches] == [r.body for r in plan.batches]
    assert again.job == plan.job
    assert again.id_map == plan.id_map


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(dag_cases(big=True, max_nodes=30))
def test_large_tasks_are_cut_by_bytes(case: DagCase) -> None:
    plan = compile_graph(case.graph, case.options)
    check_plan(case.graph, plan, case.options)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(dag_cases(max_nodes=260, styles=("int", "str", "mixed"), big=False))
def test_wide_dags_fill_requests_of_100(case: DagCase) -> None:
    plan = compile_graph(case.graph, case.options)
    check_plan(case.graph, plan, case.options)


@_SETTINGS
@given(dag_cases(over_limit=("error",)))
def test_error_strategy_fails_exactly_when_a_task_is_over_the_budget(case: DagCase) -> None:
    barrier_opts = dataclasses.replace(case.options, over_limit="barrier")
    reference = compile_graph(case.graph, barrier_opts)
    over = {d.task_id for d in reference.warnings if d.code == "barriers-inserted" and d.task_id}
    if not over:
        plan = compile_graph(case.graph, case.options)
        check_plan(case.graph, plan, case.options)
        return
    with pytest.raises(InvalidWorkflow) as info:
        compile_graph(case.graph, case.options)
    codes = {(d.code, d.task_id) for d in info.value.errors}
    assert codes == {("task-ids-too-long", t) for t in over}


@settings(max_examples=30, deadline=None)
@given(st.integers(120, 400), st.sampled_from(["barrier", "renumber"]))
def test_fan_in_of_string_ids_past_the_budget(n: int, strategy: str) -> None:
    g = nx.DiGraph()
    g.add_node("sink", command_line="sink")
    for k in range(n):
        g.add_node(f"p{k:03d}x", command_line="work")
        g.add_edge(f"p{k:03d}x", "sink")
    opts = CompileOptions(over_limit=strategy, taskids_margin=TASK_IDS_CHAR_LIMIT - 300)  # type: ignore[arg-type]
    plan = compile_graph(g, opts)
    check_plan(g, plan, opts)
    if strategy == "barrier":
        assert plan.barriers
        assert any(w.code == "barriers-inserted" for w in plan.warnings)
    else:
        assert plan.id_map  # renumbered: the parents now form one range
        assert plan.counts["ranges"] >= 1


# ---- check_plan itself must fail on broken plans (so the properties above can fail)


def _tamper(
    plan: CompiledPlan, index: int, edit: Callable[[list[dict[str, Any]]], None]
) -> CompiledPlan:
    requests = list(plan.batches)
    req = requests[index]
    value = orjson.loads(req.body)["value"]
    edit(value)
    body = orjson.dumps({"value": value})
    requests[index] = dataclasses.replace(req, body=body, task_ids=tuple(t["id"] for t in value))
    return dataclasses.replace(plan, batches=tuple(requests))


def _sample() -> nx.DiGraph:
    g = nx.DiGraph()
    for k in range(1, 131):
        g.add_node(str(k), command_line=f"run {k}")
    g.add_node("007", command_line="alias")
    g.add_node("sink", command_line="sink")
    for k in range(1, 121):
        g.add_edge(str(k), "sink")
    g.add_edge("125", "007", when="failure")
    g.add_edge("130", "7")
    return g


def test_check_plan_accepts_the_sample() -> None:
    g = _sample()
    check_plan(g, compile_graph(g))


def _find(plan: CompiledPlan, tid: str) -> int:
    return next(n for n, r in enumerate(plan.batches) if tid in r.task_ids)


def test_check_plan_catches_a_missing_parent() -> None:
    g = _sample()
    plan = compile_graph(g)

    def drop(value: list[dict[str, Any]]) -> None:
        for t in value:
            if t["id"] == "sink":
                t["dependsOn"]["taskIds"].remove("7")

    with pytest.raises(AssertionError, match="missing"):
        check_plan(g, _tamper(plan, _find(plan, "sink"), drop))


def test_check_plan_catches_a_range_over_an_alias() -> None:
    g = _sample()
    plan = compile_graph(g)

    def widen(value: list[dict[str, Any]]) -> None:
        for t in value:
            if t["id"] == "sink":
                t["dependsOn"] = {"taskIdRanges": [{"start": 1, "end": 120}]}

    with pytest.raises(AssertionError, match="extra"):
        check_plan(g, _tamper(plan, _find(plan, "sink"), widen))


def test_check_plan_catches_a_wrong_dependency_action() -> None:
    g = _sample()
    plan = compile_graph(g)

    def plain(value: list[dict[str, Any]]) -> None:
        for t in value:
            if t["id"] == "125":
                del t["exitConditions"]

    with pytest.raises(AssertionError, match=r"task 125 exit .*want satisfy"):
        check_plan(g, _tamper(plan, _find(plan, "125"), plain))


def test_check_plan_catches_a_child_before_its_parent() -> None:
    g = _sample()
    plan = compile_graph(g)
    assert len(plan.batches) == 2
    swapped = dataclasses.replace(
        plan,
        batches=(
            dataclasses.replace(plan.batches[1], index=1, wave=1),
            dataclasses.replace(plan.batches[0], index=2, wave=1),
        ),
    )
    with pytest.raises(AssertionError, match="after its child"):
        check_plan(g, swapped)


def test_check_plan_catches_an_under_filled_request() -> None:
    g = nx.DiGraph()
    for k in range(150):
        g.add_node(f"t{k}", command_line="x")
    plan = compile_graph(g)
    first, second = plan.batches
    ids = first.task_ids + second.task_ids
    parts = [orjson.loads(r.body)["value"] for r in plan.batches]
    tasks = parts[0] + parts[1]
    split = (
        dataclasses.replace(first, task_ids=ids[:60], body=orjson.dumps({"value": tasks[:60]})),
        dataclasses.replace(second, task_ids=ids[60:], body=orjson.dumps({"value": tasks[60:]})),
    )
    with pytest.raises(AssertionError):
        check_plan(g, dataclasses.replace(plan, batches=split))


def test_check_plan_catches_a_raw_entry_that_lost_the_job_action() -> None:
    g = nx.DiGraph()
    raw = {"exitCodes": [{"code": 5, "exitOptions": {"dependencyAction": "block"}}]}
    g.add_node("a", command_line="x", job_action="terminate", exit_conditions=raw)
    g.add_node("b", command_line="y")
    g.add_edge("a", "b")
    plan = compile_graph(g)
    check_plan(g, plan)

    def lose(value: list[dict[str, Any]]) -> None:
        for t in value:
            if t["id"] == "a":
                t["exitConditions"]["exitCodes"][0]["exitOptions"]["jobAction"] = "none"

    with pytest.raises(AssertionError, match=r"task a exit 5: jobAction none != terminate"):
        check_plan(g, _tamper(plan, _find(plan, "a"), lose))
