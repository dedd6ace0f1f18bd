"""Helpers for the `dagbatch show` tests: pictures of workflows and of the examples."""

from __future__ import annotations

from pathlib import Path

import networkx as nx

from dagbatch import compile_graph, load_workflow
from dagbatch.compiler.pipeline import CompileOptions
from dagbatch.show.fold import fold_plan
from dagbatch.show.model import Picture, PlanView
from dagbatch.show.source import view_of_compiled

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"


def view_of(graph: nx.DiGraph, options: CompileOptions | None = None) -> PlanView:
    """The plan view of a workflow graph, compiled now."""
    return view_of_compiled(compile_graph(graph, options), graph)


def picture_of(graph: nx.DiGraph, **kw: object) -> Picture:
    """The folded picture of a workflow graph."""
    return fold_plan(view_of(graph), **kw)  # type: ignore[arg-type]


def example_graph(name: str) -> nx.DiGraph:
    """The graph of examples/NAME.py."""
    return load_workflow(EXAMPLES / f"{name}.py").graph


def example_picture(name: str, options: CompileOptions | None = None) -> Picture:
    """The folded picture of examples/NAME.py."""
    return fold_plan(view_of(example_graph(name), options))


def shape(picture: Picture) -> tuple[list[str], list[tuple[str, str, str, str]]]:
    """Node labels and (source label, target label, kind, edge label) of a picture."""
    labels = [n.label for n in picture.nodes]
    edges = [(labels[e.source], labels[e.target], e.kind, e.label) for e in picture.links]
    return labels, edges
