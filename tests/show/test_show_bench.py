"""The show benchmark at its quick size: every workload is read, folded and drawn, under
the node cap."""

from __future__ import annotations

from bench import show_bench
from dagbatch.show.fold import DEFAULT_MAX_NODES


def test_show_bench_quick_rows_and_targets() -> None:
    rows = show_bench.run(quick=True)
    assert [r.workload for r in rows] == [
        "a sweep-reduce 10k",
        "b layered 20k",
        "c chain 5k",
        "d fan-in 10k",
    ]
    assert [r.nodes for r in rows] == [3, rows[1].nodes, 1, 3]
    assert all(1 <= r.nodes <= DEFAULT_MAX_NODES for r in rows)
    assert rows[1].tasks == 20_000
    table = show_bench.table(rows)
    assert table.count("\n| ") == 4
    assert len(show_bench.targets(rows)) == 4
