"""Helpers shared by the submit and CLI submit tests: clients for an emulator, direct job and
task creation, the CLI's environment."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import networkx as nx
import orjson

from dagbatch.compiler.export import write_plan
from dagbatch.compiler.pipeline import compile_graph
from dagbatch.emulator import DEV_ACCOUNT, DEV_KEY
from dagbatch.emulator.server import EmulatorServer
from dagbatch.observe import JobStatus, status
from dagbatch.submit.auth import SharedKeyAuth
from dagbatch.submit.client import BatchClient
from dagbatch.submit.retry import RetryPolicy
from dagbatch.submit.submission import submit_plan

WRONG_KEY = "d3Jvbmcta2V5LXdyb25nLWtleS13cm9uZy1rZXktd3Jvbmcta2V5LXdyb25nLWtleQ=="


async def no_sleep(seconds: float) -> None:
    await asyncio.sleep(0)


def make_client(server: EmulatorServer, *, key: str = DEV_KEY, **retry: Any) -> BatchClient:
    policy = RetryPolicy(**{"sleep": no_sleep, "base_delay": 0.0, **retry})
    return BatchClient(server.endpoint, SharedKeyAuth(DEV_ACCOUNT, key), retry=policy)


def add_task_directly(server: EmulatorServer, job_id: str, task: dict[str, Any]) -> None:
    async def run() -> None:
        async with make_client(server) as client:
            results = await client.add_task_collection(job_id, orjson.dumps({"value": [task]}))
            assert results[0].status == "success"

    asyncio.run(run())


def delete_task_directly(server: EmulatorServer, job_id: str, task_id: str) -> None:
    async def run() -> None:
        async with make_client(server) as client:
            answer = await client.call("DELETE", f"/jobs/{job_id}/tasks/{task_id}")
            assert answer.status == 200

    asyncio.run(run())


def create_job(server: EmulatorServer, job_id: str = "job", **settings: Any) -> None:
    async def run() -> None:
        async with make_client(server) as client:
            body = {"id": job_id, "poolInfo": {"poolId": "p"}, "usesTaskDependencies": True}
            answer = await client.create_job({**body, **settings})
            assert answer.status == 201

    asyncio.run(run())


def env_for(server: EmulatorServer, key: str = DEV_KEY) -> dict[str, str]:
    return {
        "AZURE_BATCH_ENDPOINT": server.endpoint,
        "AZURE_BATCH_ACCOUNT": DEV_ACCOUNT,
        "AZURE_BATCH_ACCESS_KEY": key,
    }


def submit_stuck_fan(
    server: EmulatorServer, plan: Path, *, job_id: str, children: int, wait_s: float = 30.0
) -> JobStatus:
    """root -> ``children`` tasks, compiled into ``plan`` and submitted; the server's runner
    fails root, so the children wait on it for ever (the job stays open: noaction). Returns
    the status once it reads ``stuck``."""
    g = nx.DiGraph()
    g.graph["job"] = {"id": job_id, "pool_id": "local"}
    g.add_node("root", command_line="/bin/true")
    for i in range(children):
        g.add_node(f"c{i:03d}", command_line="/bin/true")
        g.add_edge("root", f"c{i:03d}")
    write_plan(compile_graph(g), plan)
    assert submit_plan(plan, client=make_client(server), create_job=True, pool_id="local").ok
    return wait_stuck(server, plan, wait_s)


def wait_stuck(server: EmulatorServer, plan: Path, wait_s: float = 30.0) -> JobStatus:
    """The status of ``plan``'s job once it reads ``stuck`` (read every 0.1 s; the test
    fails after ``wait_s``)."""
    deadline = time.monotonic() + wait_s
    s = status(plan, client=make_client(server))
    while s.verdict != "stuck":
        assert time.monotonic() < deadline, s.to_dict()
        time.sleep(0.1)
        s = status(plan, client=make_client(server))
    return s
