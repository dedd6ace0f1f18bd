"""Seeded workload generators for the benchmarks (graphs built the way users build them)."""

from __future__ import annotations

import random
from collections.abc import Callable

import networkx as nx


def sweep_reduce(shards: int = 100_000) -> nx.DiGraph:
    """(a) prepare -> shards 1..N (integer ids) -> reduce."""
    g = nx.DiGraph()
    g.add_node("prepare", command_line="python3 prepare.py")
    for i in range(1, shards + 1):
        g.add_node(i, command_line=f"python3 map.py --shard {i}")
        g.add_edge("prepare", i)
    g.add_node("reduce", command_line="python3 reduce.py")
    for i in range(1, shards + 1):
        g.add_edge(i, "reduce")
    return g


def layered(layers: int = 20, width: int = 10_000, fan_in: int = 5, seed: int = 7) -> nx.DiGraph:
    """(b) layers x width string-id tasks, each depending on `fan_in` random tasks of the
    previous layer."""
    rng = random.Random(seed)
    g = nx.DiGraph()
    names = [[f"stage{layer:02d}-task-{i:06d}" for i in range(width)] for layer in range(layers)]
    for layer in range(layers):
        row = names[layer]
        for i, tid in enumerate(row):
            g.add_node(tid, command_line=f"python3 step.py --layer {layer} --item {i}")
            if layer:
                prev = names[layer - 1]
                for p in rng.sample(range(width), fan_in):
                    g.add_edge(prev[p], tid)
    return g


def chain(length: int = 50_000) -> nx.DiGraph:
    """(c) a chain: each task depends on the one before."""
    g = nx.DiGraph()
    prev = None
    for i in range(length):
        tid = f"link-{i:06d}"
        g.add_node(tid, command_line=f"python3 link.py {i}")
        if prev is not None:
            g.add_edge(prev, tid)
        prev = tid
    return g


def fan_in(parents: int = 20_000, seed: int = 3) -> nx.DiGraph:
    """(d) `parents` tasks with 40-character ids -> one child."""
    rng = random.Random(seed)
    g = nx.DiGraph()
    for i in range(parents):
        tid = f"part-{i:06d}-{rng.getrandbits(112):028x}"[:40]
        g.add_node(tid, command_line=f"python3 part.py {i}")
        g.add_edge(tid, "combine")
    g.add_node("combine", command_line="python3 combine.py")
    return g


WORKLOADS: dict[str, Callable[[], nx.DiGraph]] = {
    "a sweep-reduce 100k": lambda: sweep_reduce(100_000),
    "b layered 200k": lambda: layered(20, 10_000),
    "c chain 50k": lambda: chain(50_000),
    "d fan-in 100k": lambda: fan_in(100_000),
}

#: A tenth of the size, for smoke runs (`python -m bench --quick`).
QUICK_WORKLOADS: dict[str, Callable[[], nx.DiGraph]] = {
    "a sweep-reduce 10k": lambda: sweep_reduce(10_000),
    "b layered 20k": lambda: layered(20, 1_000),
    "c chain 5k": lambda: chain(5_000),
    "d fan-in 10k": lambda: fan_in(10_000),
}
