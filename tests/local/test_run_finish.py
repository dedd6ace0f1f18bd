"""The end of a local run: tasks that can never run are terminated as `dagbatch finish` does,
barrier tasks included (each reported with the strand of the task it serves)."""

from __future__ import annotations

from pathlib import Path

import networkx as nx
import pytest

from dagbatch.compiler.export import write_plan
from dagbatch.compiler.pipeline import CompileOptions, compile_graph
from dagbatch.local.run import RunOptions, run_local
from dagbatch.plan import load_plan


def test_barriers_of_barriers_are_terminated_with_the_task_they_serve(tmp_path: Path) -> None:
    g = nx.DiGraph()
    g.graph["job"] = {"id": "fan", "on_all_tasks_complete": "terminatejob"}
    parents = [f"a-parent-with-a-rather-long-name-{i:03d}" for i in range(40)]
    for p in parents:
        g.add_node(p, command_line="/bin/true")
        g.add_edge(p, "child")
    g.add_node("child", command_line="/bin/true")
    plan = compile_graph(g, CompileOptions(taskids_margin=63_880, pool_os="linux"))
    plan_dir = write_plan(plan, tmp_path / "plan")
    barriers = set(load_plan(plan_dir).manifest.barriers)
    tasks = {t["id"]: t for b in load_plan(plan_dir).batches for t in b.tasks}
    # Some barrier serves another barrier (two levels), so finish gives it no strand of its own.
    assert any(set(tasks[b]["dependsOn"]["taskIds"]) & barriers for b in barriers if b in tasks), (
        "the plan should have barriers of barriers"
    )

    report = run_local(
        str(plan_dir),
        RunOptions(
            simulate=True,
            exit_codes={parents[0]: (3, None)},
            workdir=tmp_path / "run",
            timeout=60,
        ),
    )
    assert report.job.state == "completed"
    assert [o.task_id for o in report.failed] == [parents[0]]
    stranded = {
        b for b in barriers if not any(o.task_id == b and o.status.ran for o in report.outcomes)
    }
    assert stranded and "child" in report.terminated
    for b in stranded:
        assert report.terminated[b].task_id == "child", b
        assert report.terminated[b].root_id == parents[0]
    assert {o.task_id for o in report.never_ran} == stranded | {"child"}
    assert report.verdict == "tasks-failed"


def _fan_plan(tmp_path: Path) -> Path:
    """prepare -> tasks 1..40, compiled into tmp_path/plan."""
    g = nx.DiGraph()
    g.graph["job"] = {"id": "fan"}
    g.add_node("prepare", command_line="/bin/true")
    for i in range(1, 41):
        g.add_node(i, command_line="/bin/true")
        g.add_edge("prepare", i)
    return write_plan(compile_graph(g, CompileOptions(pool_os="linux")), tmp_path / "plan")


def test_the_end_of_run_finish_reports_its_progress(tmp_path: Path) -> None:
    """The end-of-run finish sends a terminate request a task (17 s of silence for the
    worked example's 10,001): ``on_finish(done, total)`` hears of it, 0 first, each request
    as it ends, the last at the total."""
    plan_dir = _fan_plan(tmp_path)
    heard: list[tuple[int, int]] = []
    report = run_local(
        str(plan_dir),
        RunOptions(simulate=True, exit_codes={"prepare": (1, None)}, workdir=tmp_path / "run"),
        on_finish=lambda done, total: heard.append((done, total)),
    )
    assert len(report.terminated) == 40
    assert heard[0] == (0, 40) and heard[-1] == (40, 40)
    assert [done for done, _ in heard] == sorted(done for done, _ in heard)


def test_the_end_of_run_finish_counts_its_analysis_before_it_terminates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Finding the tasks that can never run takes seconds at 200,000 tasks (two analyses:
    the run's report's and the finish's): ``on_finding(done, total)`` hears of both as one
    count of the job's tasks, 0 first, never going back, complete before the terminates."""
    import importlib

    from dagbatch.observe import stranded

    monkeypatch.setattr(stranded, "PROGRESS_EVERY", 4)
    monkeypatch.setattr(importlib.import_module("dagbatch.observe.status"), "PROGRESS_EVERY", 4)
    plan_dir = _fan_plan(tmp_path)
    heard: list[tuple[str, int, int]] = []
    report = run_local(
        str(plan_dir),
        RunOptions(simulate=True, exit_codes={"prepare": (1, None)}, workdir=tmp_path / "run"),
        on_finish=lambda done, total: heard.append(("terminating", done, total)),
        on_finding=lambda done, total: heard.append(("finding", done, total)),
    )
    assert len(report.terminated) == 40
    finding = [(d, t) for what, d, t in heard if what == "finding"]
    assert finding[-1] == (41, 41) and all(t == 41 for _, t in finding)
    assert [d for d, _ in finding] == sorted(d for d, _ in finding)
    assert len({d for d, _ in finding}) > 4  # told of along the way, both analyses
    last_finding = max(n for n, (what, _, _) in enumerate(heard) if what == "finding")
    assert all(what == "terminating" for what, _, _ in heard[last_finding + 1 :])
    assert heard[last_finding + 1] == ("terminating", 0, 40)


def test_the_runs_own_finish_terminates_in_process(tmp_path: Path) -> None:
    """`dagbatch run` terminates the tasks that can never run through the emulator it holds
    (no request a task), with the service's answers where a task cannot be terminated."""
    import asyncio

    import pytest

    from dagbatch.emulator.server import EmulatorServer
    from dagbatch.emulator.simulate import SimulatedRunner
    from dagbatch.errors import BatchServiceError
    from dagbatch.local.run import _LocalJobService
    from dagbatch.submit.submission import submit_plan
    from tests.submit_helpers import make_client

    g = nx.DiGraph()
    g.graph["job"] = {"id": "held", "pool_id": "local"}
    g.add_node("root", command_line="/bin/true")
    for child in ("a", "b"):
        g.add_node(child, command_line="/bin/true")
        g.add_edge("root", child)
    plan_dir = write_plan(compile_graph(g), tmp_path / "plan")
    server = EmulatorServer(runner=SimulatedRunner({"root": (1, 0.0)})).start()
    try:
        assert submit_plan(plan_dir, client=make_client(server), create_job=True).ok
        job = server.store.job("held")
        assert job is not None
        service = _LocalJobService(make_client(server), "held", server.engine)

        async def terminate(task_id: str) -> None:
            await service.terminate(task_id)

        asyncio.run(terminate("A"))  # ids ignore case, as Batch's do
        with server.engine.cond:
            states = {t: job.task_state[job.index[t]] for t in ("a", "b")}
        assert states["a"] != states["b"]  # a completed, b still waiting
        with pytest.raises(BatchServiceError) as done_already:
            asyncio.run(terminate("a"))
        assert (done_already.value.status, done_already.value.code) == (409, "TaskCompleted")
        with pytest.raises(BatchServiceError) as missing:
            asyncio.run(terminate("nobody"))
        assert (missing.value.status, missing.value.code) == (404, "TaskNotFound")
        assert server.store.counters.requests.get("terminatetask", 0) == 0
    finally:
        server.stop()
