"""bench/finish_bench.py end to end at a tiny size: each workload is stranded, terminated
in full, and the emulator's count of requests in flight stays within the level asked."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import finish_bench


@pytest.mark.parametrize("workload", ["fan", "chain"])
def test_finish_bench_terminates_every_stranded_task(workload: str, tmp_path: Path) -> None:
    run = finish_bench.measure(workload, 30, 4, 0.0, tmp_path)
    assert (run.workload, run.tasks, run.concurrency) == (workload, 30, 4)
    assert run.seconds > 0 and 1 <= run.peak_in_flight <= 4
    assert "fixed 4" in run.line()


def test_finish_bench_table_and_targets_compare_the_levels() -> None:
    runs = [
        finish_bench.FinishRun("fan", 500, None, 1.0, 120),
        finish_bench.FinishRun("fan", 500, 16, 2.0, 16),
        finish_bench.FinishRun("chain", 30, None, 0.5, 30),
        finish_bench.FinishRun("chain", 30, 16, 0.4, 16),
    ]
    text = finish_bench.table(runs)
    assert "| fan | 500 | adaptive (default) | 1.00 | 500 | 120 |" in text
    assert "| chain | 30 | --concurrency 16 | 0.40 | 75 | 16 |" in text
    fan, chain = finish_bench.targets(runs)
    assert fan.met and "500 vs 250 tasks/s = 2.00x" in fan.detail
    assert not chain.met and "0.80x" in chain.detail
