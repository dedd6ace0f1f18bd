"""batching: requests of at most 100 tasks and under the byte limit, grouped in waves."""

from __future__ import annotations

import networkx as nx
import orjson
from dag_strategies import check_plan, greedy_count
from hypothesis import given, settings
from hypothesis import strategies as st

from dagbatch import compile_graph
from dagbatch.compiler.batching import ENVELOPE_BYTES, body_of, cut_batches
from dagbatch.compiler.pipeline import CompileOptions
from dagbatch.limits import MAX_BODY_BYTES

MB = 1024 * 1024


def task(size: int) -> dict[str, str]:
    """A task object that serializes to ``size`` bytes (at least 8)."""
    assert size >= 8
    obj = {"x": "a" * (size - 8)}
    assert len(orjson.dumps(obj)) == size
    return obj


def tasks(*sizes: int) -> list[dict[str, str]]:
    return [task(z) for z in sizes]


def test_body_of_is_the_exact_collection_body() -> None:
    parts = [b'{"id":"a","commandLine":"x"}', b'{"id":"b","commandLine":"y"}']
    body = body_of(parts)
    assert orjson.loads(body) == {"value": [orjson.loads(p) for p in parts]}
    assert len(body) == ENVELOPE_BYTES + sum(map(len, parts)) + 1
    assert body_of([]) == b'{"value":[]}'


def test_cut_at_100_tasks() -> None:
    n = 250
    batches = cut_batches(range(n), tasks(*[30] * n), [[] for _ in range(n)], max_body_bytes=MB)
    assert [len(b.tasks) for b in batches] == [100, 100, 50]
    assert [b.wave for b in batches] == [1, 1, 1]
    assert [t for b in batches for t in b.tasks] == list(range(n))
    assert batches[0].size == ENVELOPE_BYTES + 100 * 30 + 99


def test_cut_by_bytes_before_100_tasks() -> None:
    n = 30
    # 12 + 9 * 100 + 8 = 920 bytes fit under 1000; a tenth task would make 1021
    batches = cut_batches(range(n), tasks(*[100] * n), [[] for _ in range(n)], max_body_bytes=1000)
    assert [len(b.tasks) for b in batches] == [9, 9, 9, 3]
    assert all(b.size < 1000 for b in batches)


def test_the_body_must_be_strictly_under_the_limit() -> None:
    sizes = [50, 50]
    exact = ENVELOPE_BYTES + 50 + 1 + 50  # both tasks in one body of this many bytes
    one = cut_batches([0, 1], tasks(*sizes), [[], []], max_body_bytes=exact + 1)
    assert [b.tasks for b in one] == [(0, 1)]
    assert one[0].size == exact
    two = cut_batches([0, 1], tasks(*sizes), [[], []], max_body_bytes=exact)
    assert [b.tasks for b in two] == [(0,), (1,)]


def test_waves_follow_parents_in_earlier_requests() -> None:
    # tasks 0-99 free, 100-199 each depend on one of 0-99, 200-299 free again
    n = 300
    preds: list[list[int]] = [[] for _ in range(n)]
    for i in range(100, 200):
        preds[i] = [i - 100]
    batches = cut_batches(range(n), tasks(*[20] * n), preds, max_body_bytes=MB)
    # submit order is by wave: the free third request goes before the dependent second
    assert [(b.wave, b.tasks[0]) for b in batches] == [(1, 0), (1, 200), (2, 100)]


def test_parents_in_the_same_request_do_not_add_a_wave() -> None:
    preds: list[list[int]] = [[], [0], [1], [2]]
    batches = cut_batches(range(4), tasks(10, 10, 10, 10), preds, max_body_bytes=MB)
    assert [(b.wave, b.tasks) for b in batches] == [(1, (0, 1, 2, 3))]


def test_a_chain_gives_one_wave_per_request() -> None:
    n = 350
    preds = [[i - 1] if i else [] for i in range(n)]
    batches = cut_batches(range(n), tasks(*[10] * n), preds, max_body_bytes=MB)
    assert [b.wave for b in batches] == [1, 2, 3, 4]


def _big_graph(n: int, size: int) -> nx.DiGraph:
    g = nx.DiGraph()
    for k in range(n):
        g.add_node(
            f"t{k}",
            command_line="run",
            environment_settings=[{"name": "DATA", "value": "x" * size}],
        )
        if k % 7 == 0 and k:
            g.add_edge(f"t{k - 1}", f"t{k}")
    return g


def test_compiled_requests_are_cut_by_the_byte_limit() -> None:
    g = _big_graph(40, 100_000)
    opts = CompileOptions()
    plan = compile_graph(g, opts)
    check_plan(g, plan, opts)
    assert [len(r.task_ids) for r in plan.batches] == [10, 10, 10, 10]
    assert all(len(r.body) < MAX_BODY_BYTES["2025-06-01"] for r in plan.batches)


def test_the_2017_limit_is_4_mb() -> None:
    g = _big_graph(40, 100_000)
    opts = CompileOptions(api_version="2017-09-01.6.0")
    plan = compile_graph(g, opts)
    check_plan(g, plan, opts)
    assert [len(r.task_ids) for r in plan.batches] == [40]


def test_many_small_tasks_fill_requests_of_100() -> None:
    g = nx.DiGraph()
    for k in range(1050):
        g.add_node(k, command_line=f"run {k}")
        if k >= 100:
            g.add_edge(k - 100, k)
    opts = CompileOptions()
    plan = compile_graph(g, opts)
    check_plan(g, plan, opts)
    assert [len(r.task_ids) for r in plan.batches] == [100] * 10 + [50]
    assert plan.counts["waves"] == len({r.wave for r in plan.batches})


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(8, 400), min_size=1, max_size=400), st.integers(420, 5000))
def test_greedy_fill_is_the_fewest_requests_for_the_order(sizes: list[int], limit: int) -> None:
    n = len(sizes)
    batches = cut_batches(range(n), tasks(*sizes), [[] for _ in range(n)], max_body_bytes=limit)
    assert [t for b in batches for t in b.tasks] == list(range(n))
    assert len(batches) == greedy_count(range(n), sizes, limit)
    for b in batches:
        assert b.size < limit and len(b.tasks) <= 100
        assert b.size == len(body_of([orjson.dumps(task(sizes[i])) for i in b.tasks]))
        assert b.body == orjson.dumps({"value": [task(sizes[i]) for i in b.tasks]})
