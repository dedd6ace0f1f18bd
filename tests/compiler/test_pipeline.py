"""The pipeline reads as its list of passes: ``PASSES`` is what ``compile_graph`` runs."""

from __future__ import annotations

import inspect
from typing import Any

import networkx as nx
import pytest

from dagbatch.compiler import pipeline
from dagbatch.compiler.pipeline import PASSES, CompileOptions, compile_graph
from dagbatch.errors import ConfigError, InvalidWorkflow


def test_compile_calls_every_pass_in_the_listed_order() -> None:
    source = inspect.getsource(pipeline._compile)
    positions = [source.find(fn.__name__ + "(") for fn in PASSES]
    missing = [fn.__name__ for fn, p in zip(PASSES, positions, strict=True) if p < 0]
    assert not missing, missing
    assert positions == sorted(positions)


def test_every_pass_has_a_docstring() -> None:
    for fn in PASSES:
        assert fn.__doc__ and len(fn.__doc__.strip()) > 20, fn.__name__


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"api_version": "2024"}, "api_version"),
        ({"pool_os": "mac"}, "pool_os"),
        ({"job": "nightly"}, "job must be a mapping"),
        ({"taskids_margin": -1}, "taskids_margin"),
        ({"over_limit": "split"}, "over_limit"),
        ({"barrier_command": 3}, "barrier_command"),
    ],
)
def test_a_bad_compile_option_is_a_config_error_naming_it(
    options: dict[str, Any], named: str
) -> None:
    """The README: every error is a DagbatchError. These were KeyError, AttributeError or
    ValueError from deep in a pass."""
    with pytest.raises(ConfigError, match=named):
        compile_graph(_one_task(), CompileOptions(**options))


def test_pool_os_is_taken_in_any_case() -> None:
    plan = compile_graph(_one_task(), CompileOptions(pool_os="Windows"))  # type: ignore[arg-type]
    assert plan.task_count == 1


@pytest.mark.parametrize("graph", [nx.MultiDiGraph(), nx.Graph()])
def test_a_graph_that_is_not_a_digraph_is_a_config_error_saying_what_it_is(
    graph: nx.Graph,
) -> None:
    graph.add_node("a", command_line="x")
    with pytest.raises(ConfigError, match=r"a workflow is a networkx\.DiGraph") as info:
        compile_graph(graph)
    if graph.is_multigraph():
        assert "not a multigraph" in str(info.value)


def _one_task() -> nx.DiGraph:
    g = nx.DiGraph()
    g.add_node("a", command_line="x")
    return g


def test_a_node_key_that_is_no_str_or_int_is_reported_once() -> None:
    g = nx.DiGraph()
    g.add_node(1.5, command_line="x")
    g.add_node(("a", 1), command_line="x")
    g.add_node("ok", command_line="x")

    with pytest.raises(InvalidWorkflow) as info:
        compile_graph(g)

    found = [(d.code, d.task_id) for d in info.value.diagnostics]
    assert found == [("invalid-id", "1.5"), ("invalid-id", "('a', 1)")]
