"""`dagbatch show` on the benchmark workloads: time to read the compiled plan, fold it and
draw the SVG, and how many nodes are drawn (the picture must stay readable at any size).
Times are CPU seconds of this process, like the compile benchmark's, so a busy shared machine
does not inflate them."""

from __future__ import annotations

import time
from dataclasses import dataclass

from dagbatch import compile_graph
from dagbatch.show.fold import DEFAULT_MAX_NODES, fold_plan
from dagbatch.show.render import render
from dagbatch.show.source import view_of_compiled

from .submit_bench import Target
from .workloads import QUICK_WORKLOADS, WORKLOADS

#: "draws in seconds": reading, folding and drawing the largest workload within this.
SECONDS = 10.0


@dataclass(frozen=True)
class ShowRow:
    """One workload's figures."""

    workload: str
    tasks: int
    read_s: float  # compiled plan -> PlanView (parses every request body)
    fold_s: float
    svg_s: float
    nodes: int

    @property
    def total_s(self) -> float:
        """Read, fold and draw together."""
        return self.read_s + self.fold_s + self.svg_s


def run(quick: bool = False) -> list[ShowRow]:
    """Compile each workload (not timed), then time read, fold and SVG."""
    rows: list[ShowRow] = []
    for name, make in (QUICK_WORKLOADS if quick else WORKLOADS).items():
        graph = make()
        plan = compile_graph(graph)
        t0 = time.process_time()
        view = view_of_compiled(plan, graph)
        t1 = time.process_time()
        picture = fold_plan(view)
        t2 = time.process_time()
        render(picture, "svg")
        t3 = time.process_time()
        rows.append(ShowRow(name, len(view), t1 - t0, t2 - t1, t3 - t2, len(picture.nodes)))
    return rows


def table(rows: list[ShowRow]) -> str:
    """The markdown table of the rows."""
    lines = [
        "| workload | tasks | read plan s | fold s | svg s | total s (CPU) | nodes drawn |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {r.workload} | {r.tasks:,} | {r.read_s:.2f} | {r.fold_s:.2f} | {r.svg_s:.2f} "
        f"| {r.total_s:.2f} | {r.nodes} |"
        for r in rows
    ]
    return "\n".join(lines)


def targets(rows: list[ShowRow]) -> list[Target]:
    """One target per workload: drawn in seconds, under the node cap."""
    out: list[Target] = []
    for r in rows:
        out.append(
            Target(
                f"show {r.workload}: drawn in seconds with at most {DEFAULT_MAX_NODES} nodes",
                r.total_s < SECONDS and r.nodes <= DEFAULT_MAX_NODES,
                f"{r.total_s:.1f} s (under {SECONDS:.0f} s), {r.nodes} nodes",
            )
        )
    return out
