"""Random compiled workflows with random exit codes, run in simulated mode: the tasks that ran
are exactly the ones Batch's rules let run, computed here from the plan's JSON alone."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import Any

from dag_strategies import DagCase, batch_exit_options, dag_cases
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from dagbatch.compiler.export import write_plan
from dagbatch.compiler.pipeline import compile_graph
from dagbatch.local.run import RunOptions, run_local
from dagbatch.submit.submission import load_plan

CODES = (0, 0, 0, 1, 2, 3, 5, 9, 25, 137)


def expected_runs(tasks: list[dict[str, Any]], codes: dict[str, int]) -> set[str]:
    """Which tasks run, by Batch's rules read from the request bodies: a task runs when every
    parent (its taskIds, exact ignoring case; every task whose id is an integer inside one of
    its taskIdRanges, leading zeros ignored) ran and ended with a satisfying dependencyAction.
    Bodies come parents first, so one pass suffices."""
    by_lower = {t["id"].lower(): t["id"] for t in tasks}
    integers: dict[int, list[str]] = {}
    for t in tasks:
        if re.fullmatch(r"[0-9]+", t["id"]):
            integers.setdefault(int(t["id"]), []).append(t["id"])
    satisfied: dict[str, bool] = {}
    ran: set[str] = set()
    for t in tasks:
        deps = t.get("dependsOn") or {}
        parents = [by_lower.get(p.lower()) for p in deps.get("taskIds", [])]
        for r in deps.get("taskIdRanges", []):
            for n in range(r["start"], r["end"] + 1):
                parents.extend(integers.get(n, [None]))  # type: ignore[list-item]
        if all(p is not None and satisfied.get(p, False) for p in parents):
            ran.add(t["id"])
            action, _ = batch_exit_options(
                t.get("exitConditions"),
                codes.get(t["id"], 0),
                job_actions=False,
                ranges_cover_zero=True,
            )
            satisfied[t["id"]] = action == "satisfy"
    return ran


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(dag_cases(max_nodes=30, big=False), st.randoms(use_true_random=False))
def test_simulated_runs_follow_batch_rules(case: DagCase, rng: Any) -> None:
    plan = compile_graph(case.graph, case.options)
    assume(plan.job.get("onTaskFailure") != "performexitoptionsjobaction")
    with tempfile.TemporaryDirectory() as tmp:
        plan_dir = write_plan(plan, Path(tmp) / "plan")
        tasks = [t for b in load_plan(plan_dir).batches for t in b.tasks]
        codes = {t["id"]: rng.choice(CODES) for t in tasks}
        report = run_local(
            str(plan_dir),
            RunOptions(
                simulate=True,
                exit_codes={k: (v, None) for k, v in codes.items()},
                workdir=Path(tmp) / "run",
                timeout=60,
            ),
        )
    assert not report.timed_out
    ran = {o.task_id for o in report.outcomes if o.status.ran}
    assert ran == expected_runs(tasks, codes)
    for o in report.outcomes:
        if o.task_id in ran:
            assert o.status.state == "completed"
            assert o.status.exit_code == codes[o.task_id]
        else:
            # Never ran: terminated at the end as `dagbatch finish` does (the run was stuck),
            # with the reason it could never run, and never counted as a failure.
            assert o.status.state == "completed" and not o.status.ran
            assert o.task_id in report.terminated
            assert o.reason is not None and o.reason.kind in ("blocked", "waiting")
    assert {o.task_id for o in report.failed} <= ran
    if ran != {o.task_id for o in report.outcomes}:
        assert report.finished is not None and report.finished.verdict_before == "stuck"
    if plan.job.get("onAllTasksComplete") == "terminatejob":
        assert report.job.state == "completed"
