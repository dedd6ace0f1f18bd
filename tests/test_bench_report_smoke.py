"""bench.report_bench runs and measures what it says (its figures are printed, not
asserted; the bytes a task are: they must not grow with the chain's depth)."""

from __future__ import annotations

from bench import report_bench


def test_report_bench_measures_chains_and_ranges() -> None:
    shallow = report_bench.chains(10, 100)
    deep = report_bench.chains(10, 300)
    assert (shallow["tasks"], deep["tasks"]) == (1_000, 3_000)
    assert shallow["screen_lines"] > 5 and shallow["json_bytes"] > 0
    assert deep["bytes_per_task"] < 1.2 * shallow["bytes_per_task"]
    ranged = report_bench.ranges(20, 2_000)
    assert ranged["reducers"] == 20 and ranged["seconds"] >= 0
    table = report_bench.table({"chains": [shallow, deep], "ranges": ranged})
    assert "| 3,000 | 300 |" in table and "20 reducers over 2,000 integer ids" in table
