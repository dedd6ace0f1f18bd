"""`finish` at scale: it keeps a child before its parent only where terminating the parent
would let the child run (a failure handler), so a stranded chain ends in one round of
terminate requests, not one round a link; and it keeps more than 16 requests in flight
(the adaptive level `submit` uses, or ``--concurrency N``), backing off when the service
throttles. Against the emulator over loopback, with latency on terminate."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any

import networkx as nx
import pytest
from click.testing import CliRunner

from dagbatch.cli.main import main
from dagbatch.compiler.export import write_plan
from dagbatch.compiler.pipeline import compile_graph
from dagbatch.emulator.server import EmulatorServer
from dagbatch.emulator.simulate import SimulatedRunner
from dagbatch.errors import ConfigError
from dagbatch.observe import JobStatus, finish, status, steer
from dagbatch.observe.model import Dependencies, TaskDefinition, TaskRecord
from dagbatch.observe.service import JobService, Pace, for_each
from dagbatch.observe.stranded import children_first, terminated_satisfies
from dagbatch.submit.concurrency import DEFAULT_CONCURRENCY
from dagbatch.submit.submission import submit_plan
from tests.conftest import EmulatorFactory
from tests.submit_helpers import env_for, make_client, submit_stuck_fan, wait_stuck

#: Longest a test waits for the job to be stuck.
WAIT_S = 60.0
#: Links of the stranded chain.
CHAIN = 100
#: What compile emits for a parent whose dependents run only on its failure.
HANDLER_PARENT = {
    "exitCodes": [{"code": 0, "exitOptions": {"dependencyAction": "block"}}],
    "default": {"dependencyAction": "satisfy"},
}


# -- which edges keep their order (pure) ------------------------------------------------------


def _d(tid: str, *parents: str, ec: Any = None) -> TaskDefinition:
    return TaskDefinition(tid, Dependencies(tuple(parents), ()), ec)


def test_a_terminated_task_satisfies_only_where_its_exit_conditions_say_so() -> None:
    assert not terminated_satisfies(None)
    assert not terminated_satisfies(_d("a"))  # Batch's default for a failure: block
    assert terminated_satisfies(_d("a", ec=HANDLER_PARENT))
    # an exit code counted as success does not make a termination (no exit code) satisfy
    ok3 = {"exitCodes": [{"code": 3, "exitOptions": {"dependencyAction": "satisfy"}}]}
    assert not terminated_satisfies(_d("a", ec=ok3))
    # in case the service reads a never-started ending as a pre-processing error
    pre = {"preProcessingError": {"dependencyAction": "satisfy"}}
    assert terminated_satisfies(_d("a", ec=pre))
    blocked = {"default": {"dependencyAction": "block", "jobAction": "none"}}
    assert not terminated_satisfies(_d("a", ec=blocked))


def test_only_edges_under_a_satisfying_parent_are_ordered() -> None:
    chain = [f"c{i}" for i in range(50)]
    defs = {t: _d(t, *([chain[i - 1]] if i else [])) for i, t in enumerate(chain)}
    defs["c49"] = _d("c49", "c48", ec=HANDLER_PARENT)
    defs["h"] = _d("h", "c49")
    recs = {t: TaskRecord(t, "active") for t in defs}
    targets = [*chain, "h"]
    satisfies = {t: terminated_satisfies(defs[t]) for t in targets}

    layers = children_first(targets, defs, recs, ordered=satisfies.__getitem__)

    # two rounds: every task but the handler's parent at once, then that parent
    assert layers == [[*chain[:-1], "h"], ["c49"]]
    # without the filter (rerun's order), one layer a link
    assert len(children_first(targets, defs, recs)) == len(targets)


# -- against the emulator ---------------------------------------------------------------------


def _wait_stuck(server: EmulatorServer, plan: Path, stranded: int) -> JobStatus:
    s = wait_stuck(server, plan, WAIT_S)
    assert s.outcomes["stranded"] == stranded, s.to_dict()
    return s


def _submit(server: EmulatorServer, g: nx.DiGraph, tmp_path: Path) -> Path:
    plan = tmp_path / "plan"
    write_plan(compile_graph(g), plan)
    assert submit_plan(plan, client=make_client(server), create_job=True, pool_id="local").ok
    return plan


def _records(server: EmulatorServer, job_id: str) -> dict[str, TaskRecord]:
    async def read() -> dict[str, TaskRecord]:
        async with make_client(server) as client:
            records, _ = await JobService(client, job_id).tasks()
            return records

    return asyncio.run(read())


Action = Callable[..., Awaitable[None]]


@pytest.fixture
def rounds(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """The tasks of each round of requests ``finish`` sends (``steer.for_each`` recorded,
    then run as it is)."""
    seen: list[list[str]] = []

    async def recorded(items: Iterable[str], action: Action, **kw: Any) -> Any:
        items = list(items)
        seen.append(items)
        return await for_each(items, action, **kw)

    monkeypatch.setattr(steer, "for_each", recorded)
    return seen


def test_a_stranded_chain_is_terminated_in_one_round_and_its_handler_never_starts(
    emulator_factory: EmulatorFactory, tmp_path: Path, rounds: list[list[str]]
) -> None:
    """root fails; a chain of CHAIN tasks waits behind it, and alert runs on the last link's
    failure. The chain's links block on a termination (Batch's default): all of them go in
    one round. The last link satisfies alert on one: it waits for a second round, after
    alert."""
    server = _root_fails(emulator_factory, "terminatetask")
    g = nx.DiGraph()
    g.graph["job"] = {"id": "chain", "pool_id": "local"}  # noaction: the job stays open
    g.add_node("root", command_line="/bin/true")
    links = [f"link{i:03d}" for i in range(CHAIN)]
    previous = "root"
    for name in links:
        g.add_node(name, command_line="/bin/true")
        g.add_edge(previous, name)
        previous = name
    g.add_node("alert", command_line="/bin/true")
    g.add_edge(previous, "alert", when="failure")
    plan = _submit(server, g, tmp_path)
    stuck = _wait_stuck(server, plan, CHAIN + 1)
    ids = {s.name: s.task_id for s in stuck.stranded}

    report = finish(plan, client=make_client(server))

    assert not report.errors and len(report.terminated) == CHAIN + 1
    assert rounds == [[*(ids[n] for n in links[:-1]), ids["alert"]], [ids[links[-1]]]]
    records = _records(server, "chain")
    alert = records[ids["alert"]]
    assert alert.state == "completed" and alert.started is None  # never ran
    assert all(records[ids[n]].state == "completed" for n in links)
    after = status(plan, client=make_client(server))
    assert after.verdict == "complete" and after.outcomes["succeeded"] == 0
    assert [f.name for f in after.failed] == ["root"]
    # one round of the chain's links: more than the old fixed 16 went out at once
    assert server.store.stats()["peakInFlight"]["terminatetask"] > DEFAULT_CONCURRENCY


def _root_fails(
    factory: EmulatorFactory, *operations: str, latency_ms: float = 50, **faults: Any
) -> EmulatorServer:
    """An emulator where 'root' exits 1 (simulated), and ``operations`` take ``latency_ms``
    each and meet ``faults`` (FaultConfig fields)."""
    return factory(
        runner=SimulatedRunner({"root": (1, 0.2)}),
        latency_ms=latency_ms,
        operations=frozenset(operations),
        **faults,
    )


def _fan_plan(server: EmulatorServer, tmp_path: Path, children: int, job_id: str) -> Path:
    plan = tmp_path / "plan"
    s = submit_stuck_fan(server, plan, job_id=job_id, children=children, wait_s=WAIT_S)
    assert s.outcomes["stranded"] == children, s.to_dict()
    return plan


def test_a_fixed_concurrency_keeps_that_many_in_flight_and_no_more(
    emulator_factory: EmulatorFactory, tmp_path: Path
) -> None:
    server = _root_fails(emulator_factory, "terminatetask")
    plan = _fan_plan(server, tmp_path, 200, "fixed")

    out = CliRunner().invoke(
        main, ["finish", str(plan), "-q", "--concurrency", "40"], env=env_for(server)
    )

    assert out.exit_code == 0, out.output
    assert out.stdout.startswith("terminated 200 task(s) that could never run")
    peak = server.store.stats()["peakInFlight"]["terminatetask"]
    assert DEFAULT_CONCURRENCY < peak <= 40


def test_rerun_reactivates_at_the_level_given(
    emulator_factory: EmulatorFactory, tmp_path: Path
) -> None:
    """finish terminates the fan behind the failed root; rerun --failed brings the root back
    and the 120 tasks terminated behind it, those at up to --concurrency in flight."""
    server = _root_fails(emulator_factory, "terminatetask", "reactivatetask")
    plan = _fan_plan(server, tmp_path, 120, "again")
    assert len(finish(plan, client=make_client(server)).terminated) == 120

    out = CliRunner().invoke(
        main, ["rerun", str(plan), "--failed", "--concurrency", "30"], env=env_for(server)
    )

    assert out.exit_code == 0, out.output
    assert "reactivated 121 task(s)" in out.stdout
    peak = server.store.stats()["peakInFlight"]["reactivatetask"]
    assert DEFAULT_CONCURRENCY < peak <= 30


def test_concurrency_out_of_bounds_is_a_usage_error(emulator: EmulatorServer) -> None:
    for command in (["finish"], ["rerun", "--failed"]):
        out = CliRunner().invoke(
            main, [*command, "--job-id", "j", "--concurrency", "0"], env=env_for(emulator)
        )
        assert out.exit_code == 2 and "--concurrency" in out.output
    with pytest.raises(ConfigError, match="--concurrency must be from 1 to 256"):
        finish(job_id="j", client=make_client(emulator), concurrency=257)


def test_the_adaptive_level_grows_while_the_service_keeps_up(
    emulator_factory: EmulatorFactory, tmp_path: Path
) -> None:
    server = _root_fails(emulator_factory, "terminatetask")
    plan = _fan_plan(server, tmp_path, 300, "grows")

    report = finish(plan, client=make_client(server))

    assert len(report.terminated) == 300 and not report.errors
    assert server.store.stats()["peakInFlight"]["terminatetask"] > DEFAULT_CONCURRENCY


def test_a_throttling_service_backs_the_level_off_and_every_task_is_terminated(
    emulator_factory: EmulatorFactory, tmp_path: Path
) -> None:
    """A third of the terminate requests answered 429 or 503: each is retried, the adaptive
    level halves, and in the end every stranded task is terminated."""
    server = _root_fails(
        emulator_factory,
        "terminatetask",
        latency_ms=0,
        throttle=0.2,
        busy=0.15,
        retry_after=0,
        seed=3,
    )
    plan = _fan_plan(server, tmp_path, 400, "throttled")
    stranded = [t for t, r in _records(server, "throttled").items() if r.state == "active"]
    assert len(stranded) == 400

    async def run() -> Pace:
        pace = Pace()
        async with make_client(server) as client:
            errors = await for_each(stranded, JobService(client, "throttled").terminate, pace=pace)
        assert errors == {}
        return pace

    pace = asyncio.run(run())

    assert pace.adaptive is not None
    assert ("throttled", DEFAULT_CONCURRENCY // 2) in pace.adaptive.decisions
    stats = server.store.stats()
    assert stats["faults"].get("throttle", 0) > 0 and stats["faults"].get("busy", 0) > 0
    records = _records(server, "throttled")
    assert all(records[t].state == "completed" for t in stranded)
    after = status(plan, client=make_client(server))
    assert after.verdict == "complete" and after.outcomes["cancelled"] == 400


def test_finish_against_a_throttling_service_terminates_every_task(
    emulator_factory: EmulatorFactory, tmp_path: Path
) -> None:
    server = _root_fails(
        emulator_factory, "terminatetask", latency_ms=20, throttle=0.3, retry_after=0, seed=9
    )
    plan = _fan_plan(server, tmp_path, 200, "finished")

    report = finish(plan, client=make_client(server))

    assert len(report.terminated) == 200 and not report.errors
    assert server.store.stats()["faults"]["throttle"] > 0
    after = status(plan, client=make_client(server))
    assert after.verdict == "complete" and after.outcomes["cancelled"] == 200
