"""The submit benchmark end to end at a tiny size: both clients land every task exactly."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("azure.batch")

from bench import submit_bench


def test_submit_bench_lands_every_task_from_both_clients(tmp_path: Path) -> None:
    result = submit_bench.run(tasks=2_000, latency_ms=0, equal_n=(16,), repeat=1, workdir=tmp_path)

    clients = {(r.client, r.label) for r in result.runs}
    assert clients == {
        (submit_bench.DAGBATCH, "16 (default)"),
        (submit_bench.SDK, "16"),
        (submit_bench.SDK, "default (None: one at a time)"),
    }
    for run in result.runs:
        assert run.tasks == 2_000
        assert run.landed == 2_000, run
        assert run.ids_match and run.bodies_match, run
        assert run.requests >= 20  # 2,000 tasks in requests of at most 100
    for run in result.runs:
        if run.client == submit_bench.DAGBATCH:
            assert run.requests == 20
            assert run.wave_order
    # The SDK takes tasks from the end of its list: "reduce" lands before its parents.
    assert not result.find(submit_bench.SDK, n=16).wave_order

    table = submit_bench.table(result)
    assert table.count("\n| ") == 3
    names = [t.name for t in submit_bench.targets(result)]
    assert any(n.startswith("equal concurrency 16") for n in names)
    assert any(n.startswith("defaults:") for n in names)


def test_local_run_bench_measures_every_part() -> None:
    from bench import local_run_bench

    sched = local_run_bench._child_sched(2_000)
    assert sched["tasks"] == 2_000 and sched["per_s"] > 0
    procs = local_run_bench._child_procs(10, 1)
    assert procs["failures"] == 0 and procs["ratio"] > 0
    e2e = local_run_bench._child_e2e(1_000)
    assert e2e["tasks"] == 1_000
