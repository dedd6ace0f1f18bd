"""`run_local` on a long chain of tasks that never run (its first task fails, needs more slots
than the node has, or is cut off by the timeout): every task is reported, its reason chain
told to the end without recursion, and told in a bounded size."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import networkx as nx
import orjson

from dagbatch.compiler.export import write_plan
from dagbatch.compiler.pipeline import CompileOptions, compile_graph
from dagbatch.local.run import (
    RunOptions,
    RunReport,
    _slots_reasons,
    _timeout_reasons,
    run_local,
)
from dagbatch.observe.outcome import JobState, Reason, TaskOutcome, TaskStatus, explain_outcome

#: Past the interpreter's recursion limit (1,000 frames), which a chain of 980 reached.
LONG = 1_200


def _chain(tmp_path: Path, n: int, **first: object) -> Path:
    g = nx.DiGraph()
    g.graph["job"] = {"id": "chain"}
    for i in range(n):
        g.add_node(f"t{i}", command_line="/bin/true", **(first if i == 0 else {}))
        if i:
            g.add_edge(f"t{i - 1}", f"t{i}")
    return write_plan(compile_graph(g, CompileOptions(pool_os="linux")), tmp_path / "plan")


def _run(plan_dir: Path, tmp_path: Path, **options: object) -> RunReport:
    return run_local(
        str(plan_dir),
        RunOptions(simulate=True, workdir=tmp_path / "run", finish=False, **options),  # type: ignore[arg-type]
    )


def _walk(reason: Reason) -> list[Reason]:
    links = [reason]
    while links[-1].cause is not None:
        links.append(links[-1].cause)  # type: ignore[arg-type]
    return links


def _check_reported(report: RunReport, root_kind: str, waiting: int = LONG - 2) -> None:
    """Every task after the first never ran, each through the whole chain to ``t0``'s
    reason; the last one's text and JSON stay small."""
    by_id = {o.task_id: o for o in report.outcomes}
    assert len(by_id) == LONG
    last = by_id[f"t{LONG - 1}"].reason
    assert last is not None
    links = _walk(last)
    assert [r.kind for r in links] == ["waiting"] * waiting + [root_kind]
    assert [r.parent for r in links[:3]] == [f"t{LONG - 2}", f"t{LONG - 3}", f"t{LONG - 4}"]
    assert last.text().startswith(f"waits for parent t{LONG - 2}, which never ran (")
    assert len(last.text()) < 2_000
    body = orjson.dumps(report.to_dict())
    # Linear in the number of tasks: a bounded reason each (nested in full, 5,000 tasks'
    # chains would be gigabytes).
    assert len(body) < 2_000 * LONG


def test_a_long_chain_behind_a_failed_task_is_reported(tmp_path: Path) -> None:
    report = _run(_chain(tmp_path, LONG), tmp_path, timeout=60, exit_codes={"t0": (1, None)})
    assert report.verdict == "tasks-failed"
    _check_reported(report, "blocked")
    second = next(o for o in report.outcomes if o.task_id == "t1").reason
    assert second is not None and second.parent == "t0"


def test_a_long_chain_behind_a_task_too_big_for_the_node_is_reported(tmp_path: Path) -> None:
    report = _run(_chain(tmp_path, LONG, required_slots=4), tmp_path, slots=2, timeout=60)
    assert report.verdict == "tasks-never-ran"
    # t1 waits for t0, which never runs: too big for the node.
    _check_reported(report, "too-many-slots", waiting=LONG - 1)
    first = next(o for o in report.outcomes if o.task_id == "t0").reason
    assert first is not None and first.kind == "too-many-slots"


#: A chain retold directly: far past the recursion limit (submitting it takes a while).
LONGER = 5_000


def _outcomes(first: TaskStatus, job: JobState) -> tuple[list[dict[str, Any]], list[TaskOutcome]]:
    plan = [{"id": "t0"}] + [
        {"id": f"t{i}", "dependsOn": {"taskIds": [f"t{i - 1}"]}} for i in range(1, LONGER)
    ]
    statuses = {f"t{i}": TaskStatus("active") for i in range(1, LONGER)} | {"t0": first}
    return plan, explain_outcome(plan, statuses, job)


def test_a_long_chain_behind_a_task_the_timeout_cut_off_is_retold() -> None:
    ended = TaskStatus("completed", 137, "failure", "TaskEnded", "killed", 1.0, 2.0)
    _, outcomes = _outcomes(ended, JobState("completed", "RunTimeout"))
    told = _timeout_reasons(outcomes, frozenset({"t0"}))
    reasons = [o.reason for o in told]
    assert reasons[0] is None and reasons[1] == Reason("cut-off", parent="t0")
    last = reasons[-1]
    assert last is not None
    assert [r.kind for r in _walk(last)] == ["waiting"] * (LONGER - 2) + ["cut-off"]
    # Each task's chain is still its parent's reason: retold once, shared.
    assert all(
        r is not None and r.cause is p for r, p in zip(reasons[2:], reasons[1:], strict=False)
    )
    assert "was still running when the --timeout ended the run" in last.text()
    # Not cut off: the chain is left as it was.
    same = _timeout_reasons(outcomes, frozenset({"t7"}))
    assert all(a.reason is b.reason for a, b in zip(same, outcomes, strict=True))


def test_a_long_chain_behind_a_task_too_big_for_the_node_is_retold() -> None:
    plan, outcomes = _outcomes(TaskStatus("active"), JobState("active"))
    # No task needs more slots than the node has: nothing to retell.
    assert _slots_reasons(outcomes, plan, 1) is outcomes
    plan[0]["requiredSlots"] = 4
    told = [o.reason for o in _slots_reasons(outcomes, plan, 2)]
    assert told[0] == Reason("too-many-slots", detail="4")
    last = told[-1]
    assert last is not None
    assert [r.kind for r in _walk(last)] == ["waiting"] * (LONGER - 1) + ["too-many-slots"]
    assert all(r is not None and r.cause is p for r, p in zip(told[1:], told, strict=False))
