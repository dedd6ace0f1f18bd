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
