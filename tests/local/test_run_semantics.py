"""`dagbatch run` follows Batch's rules where a task ends by its time limit, by its job's
end, or waits on a task the node cannot place, and its report says so."""

from __future__ import annotations

from pathlib import Path

import networkx as nx

from dagbatch.compiler.export import write_plan
from dagbatch.compiler.pipeline import CompileOptions, compile_graph
from dagbatch.emulator.scheduler import KILLED_EXIT_CODE
from dagbatch.local.run import RunOptions, RunReport, run_local


def _run(g: nx.DiGraph, tmp_path: Path, **options: object) -> RunReport:
    plan = compile_graph(g, CompileOptions(pool_os="linux"))
    plan_dir = write_plan(plan, tmp_path / "plan")
    opts = {"simulate": True, "workdir": tmp_path / "run", "timeout": 60, **options}
    return run_local(str(plan_dir), RunOptions(**opts))  # type: ignore[arg-type]


def test_a_simulated_task_past_its_wall_clock_limit_is_killed_not_given_its_what_if_code(
    tmp_path: Path,
) -> None:
    """Its what-if code would have been 0; ended at maxWallClockTime it is killed, so its
    failure handler runs (exit 0 would have blocked it)."""
    g = nx.DiGraph()
    g.add_node("a", command_line="/bin/sleep 5", constraints={"max_wall_clock_time": "PT1S"})
    g.add_node("h", command_line="/bin/true")
    g.add_edge("a", "h", when="failure")

    report = _run(g, tmp_path, exit_codes={"a": (0, 5.0)})

    by_id = {o.task_id: o for o in report.outcomes}
    assert by_id["a"].status.exit_code == KILLED_EXIT_CODE
    assert by_id["a"].status.failure_code == "TaskEnded"
    assert by_id["h"].status.ran and by_id["h"].status.result == "success"


def _killer_and_a_long_task(job_action: str) -> nx.DiGraph:
    """``killer`` fails with ``job_action`` while ``long`` runs; ``after`` waits for ``long``."""
    g = nx.DiGraph()
    g.add_node("killer", command_line="/bin/false", job_action=job_action)
    g.add_node("long", command_line="/bin/sleep 3")
    g.add_node("after", command_line="/bin/true")
    g.add_edge("long", "after")
    return g


def test_a_task_the_job_ended_is_explained_by_the_end_not_by_the_parent_it_killed(
    tmp_path: Path,
) -> None:
    """``killer``'s jobAction terminates the job while ``long`` runs: Batch ends ``long``
    (TaskEnded), and ``after`` never runs because the job ended, whatever ``long`` did."""
    report = _run(
        _killer_and_a_long_task("terminate"),
        tmp_path,
        slots=2,
        exit_codes={"killer": (1, 0.5), "long": (0, 3.0)},
    )

    by_id = {o.task_id: o for o in report.outcomes}
    assert report.job.state == "completed"
    assert by_id["long"].status.failure_code == "TaskEnded"
    reason = by_id["after"].reason
    assert reason is not None and reason.kind == "job-ended" and reason.by == "killer"
    assert reason.parent == "long"
    assert "after" in {o.task_id for o in report.never_ran}


def test_a_task_a_disable_requeued_is_counted_and_explained(tmp_path: Path) -> None:
    """``killer``'s jobAction disables the job while ``long`` runs: Batch requeues ``long``
    (it is active again). The report counted it nowhere and gave no reason; it is counted
    as requeued (it did run: not "never ran")."""
    report = _run(
        _killer_and_a_long_task("disable"),
        tmp_path,
        slots=2,
        exit_codes={"killer": (1, 0.5), "long": (0, 3.0)},
        timeout=10,
    )

    by_id = {o.task_id: o for o in report.outcomes}
    assert report.job.state == "disabled"
    long = by_id["long"]
    assert long.status.state == "active" and long.status.ran
    assert long.reason is not None and long.reason.kind == "job-disabled"
    assert long.reason.by == "killer" and long.reason.requeued
    assert [o.task_id for o in report.requeued] == ["long"]
    assert "after" in {o.task_id for o in report.never_ran}
    assert "long" not in {o.task_id for o in report.never_ran}
    entry = next(t for t in report.to_dict()["tasks"] if t["id"] == "long")
    assert entry["requeued"]["kind"] == "job-disabled" and "neverRan" not in entry
    assert report.to_dict()["counts"]["requeued"] == 1


def test_a_dependent_of_a_task_too_big_for_the_node_is_told_why_its_parent_never_runs(
    tmp_path: Path,
) -> None:
    g = nx.DiGraph()
    g.add_node("big", command_line="/bin/true", required_slots=4)
    g.add_node("after", command_line="/bin/true")
    g.add_edge("big", "after")

    report = _run(g, tmp_path, slots=2, timeout=3)

    by_id = {o.task_id: o for o in report.outcomes}
    big, after = by_id["big"].reason, by_id["after"].reason
    assert big is not None and big.kind == "too-many-slots"
    assert after is not None and after.kind == "waiting" and after.parent == "big"
    assert after.cause is not None and after.cause.kind == "too-many-slots"
    assert "4 task slots" in after.text()


def test_satisfy_exit_codes_count_as_success_on_a_task_without_dependents(
    tmp_path: Path,
) -> None:
    """The README: `satisfy_exit_codes` count as success in `run` and `status`. On a task no
    other task waits for, nothing reached Batch to say so, and exit 3 failed the run."""
    g = nx.DiGraph()
    g.add_node("a", command_line="/bin/true", satisfy_exit_codes=[3])
    g.add_node("b", command_line="/bin/true", satisfy_exit_codes=[(10, 20)])
    g.add_node("c", command_line="/bin/true")
    g.add_node("d", command_line="/bin/true", satisfy_exit_codes=[5])
    g.add_edge("d", "c", when="always")

    report = _run(g, tmp_path, exit_codes={"a": (3, None), "b": (12, None), "d": (5, None)})

    by_id = {o.task_id: o for o in report.outcomes}
    assert by_id["a"].satisfied and by_id["b"].satisfied and by_id["d"].satisfied
    assert not report.failed and report.verdict == "ok"


def test_a_success_code_of_a_failure_handlers_parent_counts_as_success(tmp_path: Path) -> None:
    """``p`` calls exit 3 a success, so its failure handler ``h`` does not run (Batch:
    exit 3 blocks it like exit 0) and ``p`` is no failure."""
    g = nx.DiGraph()
    g.add_node("p", command_line="/bin/true", satisfy_exit_codes=[3])
    g.add_node("h", command_line="/bin/true")
    g.add_edge("p", "h", when="failure")

    report = _run(g, tmp_path, exit_codes={"p": (3, None)})

    by_id = {o.task_id: o for o in report.outcomes}
    assert by_id["p"].satisfied
    assert not by_id["h"].status.ran and report.is_skipped("h")
    assert not report.failed and report.verdict == "ok"


def _fan_in(width: int) -> nx.DiGraph:
    """root -> ``width`` parents with long names -> sink: past the dependsOn budget."""
    g = nx.DiGraph()
    g.add_node("root", command_line="/bin/true")
    g.add_node("sink", command_line="/bin/true")
    for i in range(width):
        name = f"a-parent-with-a-long-name-{i:05d}"
        g.add_node(name, command_line="/bin/true")
        g.add_edge("root", name)
        g.add_edge(name, "sink")
    return g


def test_the_report_of_a_renumbered_plan_names_each_task(tmp_path: Path) -> None:
    """The strand no longer carries the chain by name: each renumbered task's entry does."""
    g = _fan_in(3_000)
    plan = compile_graph(g, CompileOptions(pool_os="linux", over_limit="renumber"))
    plan_dir = write_plan(plan, tmp_path / "plan")
    ids = {name: tid for tid, name in plan.id_map.items()}
    report = run_local(
        str(plan_dir),
        RunOptions(simulate=True, workdir=tmp_path / "run", exit_codes={ids["root"]: (1, None)}),
    )
    tasks = {t["id"]: t for t in report.to_dict()["tasks"]}
    sink = tasks[ids["sink"]]
    assert sink["name"] == "sink"
    assert sink["terminatedAtEnd"]["root"] == ids["root"]
    assert tasks[ids["root"]]["name"] == "root" and tasks[ids["root"]]["exitCode"] == 1


def test_a_barrier_terminated_at_the_end_names_the_task_it_serves(tmp_path: Path) -> None:
    report = _run(_fan_in(3_000), tmp_path, exit_codes={"root": (1, None)}).to_dict()
    tasks = {t["id"]: t for t in report["tasks"]}
    served = tasks["sink"]["terminatedAtEnd"]
    assert served["kind"] == "stranded" and served["root"] == "root" and served["barriers"]
    for barrier in served["barriers"]:
        assert tasks[barrier]["terminatedAtEnd"]["id"] == "sink"
        assert "neverRan" in tasks[barrier]
    assert "sink" in report["finish"]["terminated"]
    assert not set(served["barriers"]) & set(report["finish"]["terminated"])
