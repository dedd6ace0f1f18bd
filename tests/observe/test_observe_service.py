"""Reading a job through the REST API against the emulator: paging, $select, $filter."""

from __future__ import annotations

import asyncio
import gc
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner

from dagbatch.cli.main import main
from dagbatch.emulator import DEV_ACCOUNT, DEV_KEY
from dagbatch.emulator.server import EmulatorServer
from dagbatch.observe.service import JobService
from dagbatch.submit.client import BatchClient, SharedKeyAuth
from tests.conftest import EmulatorFactory


def _client(server: EmulatorServer) -> BatchClient:
    return BatchClient(server.endpoint, SharedKeyAuth(DEV_ACCOUNT, DEV_KEY))


def _job_with_tasks(server: EmulatorServer, n: int) -> None:
    async def run() -> None:
        async with _client(server) as client:
            body = {"id": "big", "poolInfo": {"poolId": "p"}, "usesTaskDependencies": True}
            assert (await client.create_job(body)).status == 201
            for start in range(0, n, 100):
                tasks = [
                    {"id": str(i), "commandLine": "/bin/true", "dependsOn": {"taskIds": ["0"]}}
                    if i
                    else {"id": "0", "commandLine": "/bin/true"}
                    for i in range(start, min(start + 100, n))
                ]
                results = await client.add_task_collection("big", orjson.dumps({"value": tasks}))
                assert {r.status for r in results} == {"success"}

    asyncio.run(run())


def test_every_task_is_read_across_pages(emulator: EmulatorServer) -> None:
    _job_with_tasks(emulator, 2_345)

    async def run() -> tuple[int, int]:
        async with _client(emulator) as client:
            service = JobService(client, "big")
            pages = [len(p) async for p in service.pages(select=["id", "state"])]
            records, defs = await service.tasks(definitions=True)
            assert sum(pages) == 2_345 and len(pages) == 3 and max(pages) == 1000
            return len(records), sum(1 for d in defs.values() if d.depends_on.task_ids == ("0",))

    read, dependent = asyncio.run(run())
    assert read == 2_345 and dependent == 2_344


def test_a_listing_keeps_the_collector_for_the_caller_s_other_coroutines(
    emulator_factory: EmulatorFactory,
) -> None:
    """The listing paused the cyclic collector around its every page request: the caller's
    other coroutines ran without it for as long as the service took to answer, and a
    listing abandoned half way (its loop closed) left it off for the rest of the process.
    It pauses only while it reads a page it has, never across an ``await``."""
    server = emulator_factory(latency_ms=200, operations={"listtasks"})
    _job_with_tasks(server, 2_345)
    assert gc.isenabled()
    seen: list[bool] = []

    async def sample(done: asyncio.Event) -> None:
        while not done.is_set():
            seen.append(gc.isenabled())
            await asyncio.sleep(0.02)

    async def run() -> int:
        done = asyncio.Event()
        sampler = asyncio.ensure_future(sample(done))
        async with _client(server) as client:
            records, _ = await JobService(client, "big").tasks()
            ids = await JobService(client, "big").ids_in_state("active")
        done.set()
        await sampler
        return len(records) + len(ids)

    assert asyncio.run(run()) == 2 * 2_345
    assert len(seen) > 20 and all(seen)  # three pages twice, 200 ms a page


def test_cli_usage_errors_exit_2(
    emulator: EmulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = {
        "AZURE_BATCH_ENDPOINT": emulator.endpoint,
        "AZURE_BATCH_ACCOUNT": DEV_ACCOUNT,
        "AZURE_BATCH_ACCESS_KEY": DEV_KEY,
    }
    runner = CliRunner()
    no_target = runner.invoke(main, ["status"], env=env)
    assert no_target.exit_code == 2 and "PLAN_DIR or --job-id" in no_target.output
    nothing = runner.invoke(main, ["rerun", "--job-id", "x"], env=env)
    assert nothing.exit_code == 2 and "--failed" in nothing.output
    no_plan = runner.invoke(main, ["finish", "/nonexistent/plan"], env=env)
    assert no_plan.exit_code == 2 and "not a plan directory" in no_plan.output
    # The workflow file instead of its plan: where the plans are is said.
    monkeypatch.chdir(tmp_path)
    Path("flaky.py").write_text("import networkx\n")
    Path(".dagbatch/flaky/plan").mkdir(parents=True)
    wrong = runner.invoke(main, ["status", "flaky.py"], env=env)
    assert wrong.exit_code == 2, wrong.output
    assert "flaky.py is a file; give the plan directory" in wrong.output
    assert "plan directories here: .dagbatch/flaky/plan" in wrong.output
    no_key = runner.invoke(
        main, ["status", "--job-id", "x"], env={**env, "AZURE_BATCH_ACCESS_KEY": ""}
    )
    assert no_key.exit_code == 2 and "AZURE_BATCH_ACCESS_KEY" in no_key.output


def test_a_job_that_does_not_exist_is_named_with_exit_code_3(emulator: EmulatorServer) -> None:
    env = {
        "AZURE_BATCH_ENDPOINT": emulator.endpoint,
        "AZURE_BATCH_ACCOUNT": DEV_ACCOUNT,
        "AZURE_BATCH_ACCESS_KEY": DEV_KEY,
    }
    result = CliRunner().invoke(main, ["status", "--job-id", "nope"], env=env)
    assert result.exit_code == 3
    assert "JobNotFound" in result.output and "submission" not in result.output
    assert DEV_KEY not in result.output


def test_the_python_api_works_inside_a_running_event_loop(emulator: EmulatorServer) -> None:
    """As in a notebook: the plain functions are called where an event loop already runs."""
    from dagbatch.observe import JobStatus, status

    _job_with_tasks(emulator, 150)

    async def notebook_cell() -> JobStatus:
        return status(job_id="big", client=_client(emulator), stderr_tasks=0)

    s = asyncio.run(notebook_cell())
    assert s.job_id == "big" and s.total == 150
    assert sum(s.states.values()) == 150 and s.verdict in ("running", "complete")
