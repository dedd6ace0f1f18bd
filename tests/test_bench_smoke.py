"""The benchmarks end to end at a tiny size: the submit matrix lands every task exactly from
both clients, and the lean compile floor produces dagbatch's bytes."""

from __future__ import annotations

from pathlib import Path

import networkx as nx
import pytest

from bench import lean_compile, workloads
from dagbatch.compiler.pipeline import compile_graph

SMALL = {
    "sweep-reduce": lambda: workloads.sweep_reduce(450),
    "layered": lambda: workloads.layered(4, 120, fan_in=3),
    "chain": lambda: workloads.chain(333),
    # 2,000 parents of 40 characters: over the taskIds budget, so barrier tasks.
    "fan-in": lambda: workloads.fan_in(2_000),
}


@pytest.mark.parametrize("name", sorted(SMALL))
def test_lean_compile_gives_dagbatchs_bytes_ids_and_waves(name: str) -> None:
    g = SMALL[name]()
    plan = compile_graph(g)
    lean = lean_compile.lean_compile(g)

    assert [b.body for b in lean] == [b.body for b in plan.batches]
    assert [b.task_ids for b in lean] == [b.task_ids for b in plan.batches]
    assert [b.wave for b in lean] == [b.wave for b in plan.batches]
    assert lean_compile.same_as_dagbatch(lean, plan.batches)
    if name == "fan-in":
        assert plan.counts["barriers"] > 1
    if name == "sweep-reduce":
        assert b'"taskIdRanges":[{"start":1,"end":450}]' in lean[-1].body


def test_lean_compile_same_as_dagbatch_notices_a_difference() -> None:
    g = workloads.chain(250)
    plan = compile_graph(g)
    lean = lean_compile.lean_compile(g)
    changed = [*lean[:-1], lean_compile.LeanBatch(lean[-1].wave, lean[-1].task_ids, b"{}")]
    assert not lean_compile.same_as_dagbatch(changed, plan.batches)
    assert not lean_compile.same_as_dagbatch(lean[:-1], plan.batches)


@pytest.mark.parametrize(
    ("graph", "problem"),
    [
        (nx.DiGraph([("a", "b"), ("b", "c"), ("c", "a")]), "cycle"),
        (nx.DiGraph([("a", "b"), ("A", "c")]), "duplicate"),
        (nx.DiGraph([("a b", "c")]), "invalid task id"),
        (nx.DiGraph([("x" * 65, "c")]), "invalid task id"),
    ],
)
def test_lean_compile_makes_the_basic_checks(graph: nx.DiGraph, problem: str) -> None:
    for n in graph:
        graph.nodes[n]["command_line"] = "true"
    with pytest.raises(lean_compile.LeanError, match=problem):
        lean_compile.lean_compile(graph)


def test_submit_matrix_lands_every_task_from_both_clients(tmp_path: Path) -> None:
    pytest.importorskip("azure.batch")
    from bench import submit_bench

    result = submit_bench.run(
        latencies=(0.0,), concurrencies=(1, 16), repeat=1, tasks=1_000, workdir=tmp_path
    )

    assert [(c.latency_ms, c.concurrency) for c in result.cells] == [(0.0, 1), (0.0, 16)]
    for cell in result.cells:
        assert cell.tasks == 1_000 and cell.requests == 10
        assert {r.client for r in cell.runs} == {submit_bench.DAGBATCH, submit_bench.SDK}
        for run in cell.runs:
            assert run.landed == 1_000, run
            assert run.ids_match and run.bodies_match, run
            assert run.requests >= 10  # 1,000 tasks in requests of at most 100
            assert run.concurrency == cell.concurrency
        assert cell.complete(submit_bench.DAGBATCH) and cell.complete(submit_bench.SDK)
        assert cell.wave_order(submit_bench.DAGBATCH)
        assert cell.tasks_per_s(submit_bench.DAGBATCH) > 0
    # The SDK takes tasks from the end of its list: "reduce" lands before its parents.
    assert not result.cell(0.0, 16).wave_order(submit_bench.SDK)

    table = submit_bench.table(result)
    assert table.count("\n| ") == 2
    names = [t.name for t in submit_bench.targets(result)]
    assert "submit 0 ms x 16: dagbatch throughput >= 1x the SDK's" in names
    assert "submit 0 ms x 1: dagbatch client CPU <= 0.25 s per 10k tasks" in names


def test_the_bare_client_runs_beside_the_others_where_there_is_a_latency(
    tmp_path: Path,
) -> None:
    """With a latency, each round also runs bench/bare_client.py: it lands every task, in
    wave order, checked against the emulator like the others, and has its table columns."""
    pytest.importorskip("azure.batch")
    from bench import submit_bench

    result = submit_bench.run(
        latencies=(20.0,), concurrencies=(4,), repeat=1, tasks=1_000, workdir=tmp_path
    )

    (cell,) = result.cells
    bare = cell.of(submit_bench.BARE)
    assert len(bare) == 1 and bare[0].landed == 1_000
    assert bare[0].ids_match and bare[0].bodies_match and bare[0].wave_order
    assert bare[0].requests == 12  # 10 batches, two of them cut before a child
    assert 0 < cell.tasks_per_s(submit_bench.BARE) <= cell.limit
    row = submit_bench.table(result).splitlines()[2]
    assert row.count("|") == 22 and f"{cell.tasks_per_s(submit_bench.BARE):,.0f} (" in row


def test_cell_sizes_and_the_latency_limit() -> None:
    from bench import submit_bench

    assert submit_bench.limit_tasks_per_s(50, 16) == 32_000
    assert submit_bench.limit_tasks_per_s(200, 64) == 32_000
    assert submit_bench.limit_tasks_per_s(0, 64) == float("inf")
    for latency in submit_bench.LATENCIES_MS:
        for conc in submit_bench.CONCURRENCIES:
            assert submit_bench.cell_tasks(latency, conc) in submit_bench.SIZES
    assert submit_bench.cell_tasks(200, 1) < submit_bench.cell_tasks(50, 64)


def test_the_ideal_schedules_count_round_trips(tmp_path: Path) -> None:
    """prepare -> 998 shards -> reduce in 10 requests: the first holds prepare and 99 shards,
    the last 99 shards and reduce, so a parent-first client sends 12 (prepare, then the rest
    of the first batch beside the other shards, reduce last)."""
    from bench import submit_bench
    from dagbatch.plan import load_plan

    plan_dir, _, requests = submit_bench.prepare_plan(1_000, tmp_path / "plan")
    segments = load_plan(plan_dir).segments
    assert requests == 10 and len(segments) == 12
    # One at a time: the job, then every segment.
    assert submit_bench.ideal_s(segments, 100, 1) == pytest.approx(1.3)
    # All at once: the job, prepare, every shard at once, reduce.
    assert submit_bench.ideal_s(segments, 100, 64) == pytest.approx(0.4)
    # In any order: the job, then the 10 requests 4 at a time.
    assert submit_bench.sdk_ideal_s(requests, 100, 4) == pytest.approx(0.4)


def test_local_run_bench_measures_every_part() -> None:
    from bench import local_run_bench

    sched = local_run_bench._child_sched(2_000)
    assert sched["tasks"] == 2_000 and sched["per_s"] > 0
    procs = local_run_bench._child_procs(10, 1)
    assert procs["failures"] == 0 and procs["ratio"] > 0
    e2e = local_run_bench._child_e2e(1_000)
    assert e2e["tasks"] == 1_000


@pytest.mark.parametrize("narrowed", [["--only", "status"], ["--quick"]])
def test_results_are_written_only_from_a_full_run(
    narrowed: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """bench/RESULTS.md records a full run: one benchmark's tables written over it would drop
    the rest, so the option is refused before anything runs."""
    from bench.run import RESULTS, main

    before = RESULTS.read_bytes()
    with pytest.raises(SystemExit) as exc:
        main([*narrowed, "--write-results"])
    assert exc.value.code == 2
    assert "records a full run" in capsys.readouterr().err
    assert RESULTS.read_bytes() == before


def test_busy_service_bench_lands_every_task_at_every_level() -> None:
    from bench import throttled_bench

    result = throttled_bench.run(tasks=1_500)

    assert [r.concurrency for r in result.runs] == list(throttled_bench.LEVELS)
    assert all(r.complete and r.wave_order and r.tasks == 1_500 for r in result.runs)
    text = throttled_bench.table(result)
    assert text.count("| yes | yes |") == len(throttled_bench.LEVELS)
    (target,) = throttled_bench.targets(result)
    assert target.detail.endswith("x")
