"""``dagbatch.observe``'s functions from Python: their arguments are taken as a user means
them (one task name as a plain string) or refused with a ``ConfigError`` that says why."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import networkx as nx
import pytest

from dagbatch.compiler.export import write_plan
from dagbatch.compiler.pipeline import compile_graph
from dagbatch.emulator import DEV_ACCOUNT, DEV_KEY
from dagbatch.emulator.server import EmulatorServer
from dagbatch.emulator.simulate import SimulatedRunner
from dagbatch.errors import ConfigError
from dagbatch.observe import rerun, status
from dagbatch.submit.client import BatchClient, SharedKeyAuth
from dagbatch.submit.submission import submit_plan
from tests.submit_helpers import wait_stuck


@pytest.fixture
def simulated() -> Iterator[EmulatorServer]:
    """An emulator whose tasks end at once: transform exits 2, the rest 0."""
    server = EmulatorServer(runner=SimulatedRunner({"transform": (2, None)}), slots=2).start()
    try:
        yield server
    finally:
        server.stop()


def _client(server: EmulatorServer) -> BatchClient:
    return BatchClient(server.endpoint, SharedKeyAuth(DEV_ACCOUNT, DEV_KEY))


def _stuck_job(server: EmulatorServer, tmp_path: Path) -> Path:
    """prepare -> transform (failed) -> load, submitted, and its status stuck."""
    g = nx.DiGraph()
    g.graph["job"] = {"id": "api", "pool_id": "p"}
    for name in ("prepare", "transform", "load"):
        g.add_node(name, command_line="/bin/true")
    g.add_edge("prepare", "transform")
    g.add_edge("transform", "load")
    plan = write_plan(compile_graph(g), tmp_path / "plan")
    assert submit_plan(plan, client=_client(server), create_job=True).ok
    wait_stuck(server, plan)
    return plan


def test_one_task_name_given_as_a_string_is_that_task(
    simulated: EmulatorServer, tmp_path: Path
) -> None:
    plan = _stuck_job(simulated, tmp_path)
    report = rerun(plan, tasks="transform", client=_client(simulated), dry_run=True)
    assert report.plan.reactivate == ("transform",)
    assert set(report.plan.resumes) == {"load"}


def test_a_rerun_of_nothing_is_refused_as_the_command_line_refuses_it(
    simulated: EmulatorServer, tmp_path: Path
) -> None:
    plan = _stuck_job(simulated, tmp_path)
    with pytest.raises(ConfigError, match="say what to rerun: the failed tasks"):
        rerun(plan, client=_client(simulated))
    with pytest.raises(ConfigError, match="say what to rerun"):
        rerun(plan, tasks=[], client=_client(simulated), dry_run=True)
    with pytest.raises(ConfigError, match=r"names or ids \(strings\), not int \(5\)"):
        rerun(plan, tasks=[5], client=_client(simulated))  # type: ignore[list-item]
    assert status(plan, client=_client(simulated)).verdict == "stuck"  # nothing changed
