"""A workflow at the spec's bounds (job priority 1000, maxParallelTasks 1, maxTaskRetryCount
-1, exit codes at both ends of int32) compiles to bodies the emulator takes: it checks them as
Batch does (tests/emulator/test_emulator_limits.py) and runs them."""

from __future__ import annotations

from pathlib import Path

import networkx as nx

from dagbatch.compiler.export import write_plan
from dagbatch.compiler.pipeline import CompileOptions, compile_graph
from dagbatch.local.run import RunOptions, run_local

INT32_MAX = 2**31 - 1
INT32_MIN = -(2**31)


def test_values_at_the_bounds_are_taken_and_run(tmp_path: Path) -> None:
    g = nx.DiGraph()
    g.graph["job"] = {
        "id": "bounds",
        "priority": 1000,
        "max_parallel_tasks": 1,
        "constraints": {"max_task_retry_count": -1},
    }
    g.add_node(
        "a",
        command_line="/bin/true",
        # Batch retries any non-zero exit: no retries for the one that ends with INT32_MAX.
        constraints={"max_task_retry_count": 0, "retention_time": "PT0S"},
        satisfy_exit_codes=[INT32_MIN, (5, INT32_MAX)],
        required_slots=1,
    )
    g.add_node("b", command_line="/bin/true", constraints={"max_task_retry_count": -1})
    g.add_edge("a", "b")
    plan = compile_graph(g, CompileOptions(pool_os="linux"))
    plan_dir = write_plan(plan, tmp_path / "plan")
    # a ends with the top int32 exit code: a success by its satisfy_exit_codes, so b runs.
    options = RunOptions(
        simulate=True,
        workdir=tmp_path / "run",
        timeout=60,
        exit_codes={"a": (INT32_MAX, None)},
    )
    report = run_local(str(plan_dir), options)
    by_id = {o.task_id: o for o in report.outcomes}
    assert (by_id["a"].status.exit_code, by_id["a"].status.retry_count) == (INT32_MAX, 0)
    assert by_id["b"].status.ran and by_id["b"].status.result == "success"
