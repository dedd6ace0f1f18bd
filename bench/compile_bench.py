"""Compile benchmark: dagbatch's library compile against the hand-written baseline and the
floor, on the seeded workloads of bench/workloads.py. Ratios are the claim.

- baseline: what a user writes by hand: topological sort, dependsOn.taskIds =
  list(predecessors), chunks of 100, json.dumps. No validation, no ranges, no limits.
- floor: one topological sort plus orjson.dumps of dagbatch's own output objects.

Times are CPU seconds of this process (``time.process_time``), best of a few runs: all three
are single-threaded and CPU-bound, and CPU time is far less disturbed than wall time by
other work on a shared 2-core machine.
"""

from __future__ import annotations

import gc
import json
import math
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import networkx as nx
import orjson

from dagbatch.compiler.pipeline import compile_graph

from .workloads import QUICK_WORKLOADS, WORKLOADS, layered


def baseline(g: nx.DiGraph) -> list[str]:
    order = list(nx.topological_sort(g))
    bodies = []
    for k in range(0, len(order), 100):
        chunk = []
        for n in order[k : k + 100]:
            task: dict[str, Any] = {"id": str(n), "commandLine": g.nodes[n]["command_line"]}
            parents = [str(p) for p in g.predecessors(n)]
            if parents:
                task["dependsOn"] = {"taskIds": parents}
            chunk.append(task)
        bodies.append(json.dumps({"value": chunk}))
    return bodies


def floor(g: nx.DiGraph, objects: list[Any]) -> list[bytes]:
    list(nx.topological_sort(g))
    return [orjson.dumps(o) for o in objects]


def best_of(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    best = math.inf
    result = None
    for _ in range(repeat):
        gc.collect()
        t = time.process_time()
        result = fn()
        best = min(best, time.process_time() - t)
    return best, result


def traced(fn: Callable[[], Any]) -> tuple[int, int, Any]:
    """(bytes still held by the result, peak bytes while running, result)."""
    gc.collect()
    tracemalloc.start()
    try:
        result = fn()
        current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return current, peak, result


@dataclass
class Row:
    name: str
    tasks: int
    edges: int
    baseline_s: float
    dagbatch_s: float
    floor_s: float
    graph_mb: float
    peak_mb: float
    requests: int
    min_requests: int
    baseline_requests: int
    bytes_: int
    baseline_bytes: int

    @property
    def vs_baseline(self) -> float:
        return self.dagbatch_s / self.baseline_s

    @property
    def vs_floor(self) -> float:
        return self.dagbatch_s / self.floor_s

    @property
    def mem_ratio(self) -> float:
        return self.peak_mb / self.graph_mb


def measure(name: str, build: Callable[[], nx.DiGraph], repeat: int) -> Row:
    graph_bytes, _, g = traced(build)
    t_base, base_bodies = best_of(lambda: baseline(g), repeat)
    t_dag, plan = best_of(lambda: compile_graph(g), repeat)
    objects = [orjson.loads(r.body) for r in plan.batches]
    t_floor, _ = best_of(lambda: floor(g, objects), repeat)
    del plan
    _, peak, plan = traced(lambda: compile_graph(g))
    tasks = plan.counts["tasks"]
    return Row(
        name=name,
        tasks=tasks,
        edges=g.number_of_edges(),
        baseline_s=t_base,
        dagbatch_s=t_dag,
        floor_s=t_floor,
        graph_mb=graph_bytes / 2**20,
        peak_mb=peak / 2**20,
        requests=len(plan.batches),
        min_requests=math.ceil(tasks / 100),
        baseline_requests=len(base_bodies),
        bytes_=sum(len(r.body) for r in plan.batches),
        baseline_bytes=sum(len(b.encode()) for b in base_bodies),
    )


def run(quick: bool = False) -> list[Row]:
    repeat = 1 if quick else 3
    workloads = QUICK_WORKLOADS if quick else WORKLOADS
    rows = [measure(name, build, repeat) for name, build in workloads.items()]
    # Linear growth of (b): 50k and 100k tasks here; the 200k row is (b) itself.
    for width in (250, 500) if quick else (2_500, 5_000):
        rows.append(measure(f"b layered {20 * width // 1000}k", _layered_of(width), repeat))
    return rows


def _layered_of(width: int) -> Callable[[], nx.DiGraph]:
    return lambda: layered(20, width)


def table(rows: list[Row]) -> str:
    head = (
        "| workload | tasks | edges | baseline s | dagbatch s | floor s | vs baseline | vs floor "
        "| peak MB / graph MB | requests (min) | baseline requests | bytes vs baseline |\n"
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n"
    )
    lines = [
        f"| {r.name} | {r.tasks:,} | {r.edges:,} | {r.baseline_s:.2f} | {r.dagbatch_s:.2f} | "
        f"{r.floor_s:.2f} | {r.vs_baseline:.2f}x | {r.vs_floor:.2f}x | "
        f"{r.peak_mb:.0f} / {r.graph_mb:.0f} = {r.mem_ratio:.2f}x | "
        f"{r.requests:,} ({r.min_requests:,}) | "
        f"{r.baseline_requests:,} | {r.bytes_ / r.baseline_bytes:.2f}x |"
        for r in rows
    ]
    return head + "\n".join(lines)
