"""``dagbatch run``'s report on long chains of tasks that never ran, and the reasons of many
range dependents: the figures behind the review that found them quadratic.

- chains: ``chains`` chains of ``depth`` tasks each, the first task of each failed, the rest
  never ran (as ``dagbatch run --fail FIRST`` leaves a chain workflow). Measured: the reasons
  (``explain_outcome``), the screen report (``report_lines``) and the ``--report`` file
  (``report_json``): seconds and bytes, and the peak RSS they grow to. At two depths: the
  bytes per task do not grow with the depth (each task's reason is cut as `dagbatch status`
  cuts a chain), where they grew with its square (a chain of 800 gave 4.5 GB).
- ranges: ``reducers`` tasks each depending on a range of ``shards / reducers`` integer ids
  of ``shards`` tasks that have not run: the seconds of ``explain_outcome`` (a range's
  members by bisection, where every range scanned every integer id: 10.8 s at 1,000 x
  100,000).

``python -m bench.report_bench [--quick]`` prints them; no emulator is started (the reasons
and the report are built from task states as a run ends).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from .rss import now_and_peak, reset_peak


def _chain_plan(chains: int, depth: int) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    from dagbatch.observe.outcome import TaskStatus

    failed = TaskStatus("completed", 1, "failure", "FailureExitCode", "exit 1", 1.0, 2.0)
    waiting = TaskStatus("active")
    tasks: list[dict[str, Any]] = []
    statuses: dict[str, TaskStatus] = {}
    for c in range(chains):
        for i in range(depth):
            tid = f"c{c}-{i}"
            task: dict[str, Any] = {"id": tid, "commandLine": "/bin/true"}
            if i:
                task["dependsOn"] = {"taskIds": [f"c{c}-{i - 1}"]}
            tasks.append(task)
            statuses[tid] = failed if i == 0 else waiting
    return tasks, statuses


def chains(chains: int, depth: int) -> dict[str, Any]:
    """One measurement of the chains workload (see the module docstring)."""
    from dagbatch.cli.run import report_json, report_lines
    from dagbatch.local.run import RunReport
    from dagbatch.observe.outcome import JobState, explain_outcome

    tasks, statuses = _chain_plan(chains, depth)
    job = JobState("active")
    base, _ = now_and_peak()
    reset_peak()
    t0 = time.perf_counter()
    outcomes = explain_outcome(tasks, statuses, job)
    t1 = time.perf_counter()
    report = RunReport(
        job_id="chains",
        job=job,
        terminated_by=None,
        outcomes=outcomes,
        workdir=Path("run"),
        node_root=None,
        simulated=frozenset(),
        timed_out=False,
        elapsed=0.0,
    )
    lines = report_lines(report)
    t2 = time.perf_counter()
    body = report_json(report)
    t3 = time.perf_counter()
    peak = now_and_peak()[1] - base
    n = len(tasks)
    return {
        "tasks": n,
        "depth": depth,
        "reasons_s": t1 - t0,
        "screen_s": t2 - t1,
        "screen_lines": len(lines),
        "json_s": t3 - t2,
        "json_bytes": len(body),
        "bytes_per_task": len(body) / n,
        "peak_mb": peak / 1024 / 1024,
    }


def ranges(reducers: int, shards: int) -> dict[str, Any]:
    """One measurement of the ranges workload (see the module docstring)."""
    from dagbatch.observe.outcome import JobState, TaskStatus, explain_outcome

    width = shards // reducers
    tasks: list[dict[str, Any]] = [{"id": str(i)} for i in range(shards)]
    tasks += [
        {
            "id": f"r{j}",
            "dependsOn": {"taskIdRanges": [{"start": j * width, "end": (j + 1) * width - 1}]},
        }
        for j in range(reducers)
    ]
    waiting = TaskStatus("active")
    statuses = {str(t["id"]): waiting for t in tasks}
    t0 = time.perf_counter()
    outcomes = explain_outcome(tasks, statuses, JobState("active"))
    seconds = time.perf_counter() - t0
    assert all(o.reason is not None for o in outcomes)
    return {"reducers": reducers, "shards": shards, "seconds": seconds}


def run(quick: bool = False) -> dict[str, Any]:
    if quick:
        sizes = [(50, 200), (50, 400)]
        ranged = (100, 10_000)
    else:
        sizes = [(144, 500), (144, 1_000)]
        ranged = (1_000, 100_000)
    return {
        "chains": [chains(c, d) for c, d in sizes],
        "ranges": ranges(*ranged),
    }


def table(result: dict[str, Any]) -> str:
    rows = [
        "| tasks | chain depth | reasons s | screen s | --report s | --report MB | bytes/task"
        " | peak MB |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in result["chains"]:
        rows.append(
            f"| {r['tasks']:,} | {r['depth']:,} | {r['reasons_s']:.2f} | {r['screen_s']:.2f} "
            f"| {r['json_s']:.2f} | {r['json_bytes'] / 1e6:.1f} | {r['bytes_per_task']:.0f} "
            f"| {r['peak_mb']:.0f} |"
        )
    g = result["ranges"]
    rows += [
        "",
        f"ranges: {g['reducers']:,} reducers over {g['shards']:,} integer ids: "
        f"explain_outcome {g['seconds']:.2f} s",
    ]
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    print(table(run(quick="--quick" in args)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
