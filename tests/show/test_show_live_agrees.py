"""`dagbatch show --job-id` and `dagbatch status` tell the same story of a live job, read from
the emulator over loopback: a task `finish` terminated without it ever running is drawn as
never runs (status: cancelled), not as failed, and so is a task left active in a job that
has ended."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import networkx as nx
import pytest
from click.testing import CliRunner

from dagbatch.cli.main import main
from dagbatch.compiler.export import write_plan
from dagbatch.compiler.pipeline import compile_graph
from dagbatch.emulator.server import EmulatorServer
from dagbatch.emulator.simulate import SimulatedRunner
from dagbatch.observe import JobStatus, finish, status
from dagbatch.show.live import fetch_task_states
from dagbatch.show.source import view_of_plan_dir
from dagbatch.submit.submission import submit_plan
from tests.submit_helpers import env_for, make_client

#: Longest a test waits for the job to reach a verdict.
WAIT_S = 30.0

#: How `dagbatch status` outcomes are drawn by `dagbatch show` (``TaskState.kind``).
DRAWN = {
    "succeeded": "completed",
    "failed": "failed",
    "stranded": "never",
    "cancelled": "never",
    "skipped": "skipped",
    "waiting": "waiting",
    "running": "running",
}


def _flaky() -> nx.DiGraph:
    """The README's flaky.py: extract -> transform -> load, and alert on load's failure."""
    g = nx.DiGraph()
    g.graph["job"] = {"id": "flaky", "pool_id": "local", "on_all_tasks_complete": "terminatejob"}
    for name in ("extract", "transform", "load", "alert"):
        g.add_node(name, command_line=f"/bin/sh -c 'echo {name}'")
    g.add_edge("extract", "transform")
    g.add_edge("transform", "load")
    g.add_edge("load", "alert", when="failure")
    return g


def _until(plan: Path, server: EmulatorServer, verdicts: set[str]) -> JobStatus:
    deadline = time.monotonic() + WAIT_S
    while True:
        s = status(plan, client=make_client(server))
        if s.verdict in verdicts:
            return s
        assert time.monotonic() < deadline, f"no verdict in {verdicts}: {s.to_dict()}"
        time.sleep(0.1)


def _drawn_by_show(server: EmulatorServer, plan: Path, job_id: str) -> dict[str, str]:
    import asyncio

    async def read() -> dict[str, str]:
        async with make_client(server) as client:
            states = await fetch_task_states(client, job_id, view_of_plan_dir(plan))
        return {t: s.kind for t, s in states.items()}

    return asyncio.run(read())


def _outcomes_by_status(s: JobStatus) -> Counter[str]:
    return Counter({DRAWN[k]: v for k, v in s.outcomes.items() if v})


@pytest.fixture
def simulated() -> Iterator[EmulatorServer]:
    """`dagbatch emulator --simulate --exit-codes '{"transform": {"exitCode": 2,
    "duration": 0.3}}'` (the duration: the tasks are all in before transform ends)."""
    server = EmulatorServer(runner=SimulatedRunner({"transform": (2, 0.3)})).start()
    try:
        yield server
    finally:
        server.stop()


def test_show_after_finish_draws_what_status_counts(
    simulated: EmulatorServer, tmp_path: Path
) -> None:
    plan = tmp_path / "plan"
    write_plan(compile_graph(_flaky()), plan)
    assert submit_plan(plan, client=make_client(simulated), create_job=True, pool_id="local").ok
    _until(plan, simulated, {"stuck"})
    report = finish(plan, client=make_client(simulated))
    assert {s.name for s in report.terminated} == {"load", "alert"}
    after = _until(plan, simulated, {"complete"})
    assert after.outcomes["cancelled"] == 2 and set(after.cancelled) == {"load", "alert"}

    drawn = _drawn_by_show(simulated, plan, "flaky")
    # alert, the handler finish terminated before it could run, never ran: not failed.
    assert drawn == {
        "extract": "completed",
        "transform": "failed",
        "load": "never",
        "alert": "never",
    }
    assert Counter(drawn.values()) == _outcomes_by_status(after)

    out = CliRunner().invoke(main, ["show", str(plan), "--job-id", "flaky"], env=env_for(simulated))
    assert out.exit_code == 0, out.output
    assert "state: 1 done · 1 failed · 2 never runs" in out.output


def test_show_of_a_terminated_job_draws_its_active_tasks_as_never_runs(
    simulated: EmulatorServer, tmp_path: Path
) -> None:
    """transform's jobAction terminates the job when it fails: load (blocked by it) and
    alert (behind load) stay active in the ended job (Batch leaves active tasks active).
    Both are cancelled for status (the README's definition: left active in a job that has
    ended), not stranded, and never runs for show."""
    g = _flaky()
    g.graph["job"] = {"id": "flaky", "pool_id": "local"}
    g.nodes["transform"]["job_action"] = "terminate"
    plan = tmp_path / "plan"
    write_plan(compile_graph(g), plan)
    assert submit_plan(plan, client=make_client(simulated), create_job=True, pool_id="local").ok
    ended = _until(plan, simulated, {"terminated"})
    assert ended.job_state == "completed" and ended.terminated_by == "transform"
    assert ended.outcomes["stranded"] == 0 and not ended.stranded
    assert set(ended.cancelled) == {"load", "alert"}
    drawn = _drawn_by_show(simulated, plan, "flaky")
    assert drawn["load"] == drawn["alert"] == "never"
    assert Counter(drawn.values()) == _outcomes_by_status(ended)
