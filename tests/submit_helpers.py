"""Helpers shared by the submit and CLI submit tests: clients for an emulator, direct job and
task creation, the CLI's environment."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson

from dagbatch.emulator import DEV_ACCOUNT, DEV_KEY
from dagbatch.emulator.server import EmulatorServer
from dagbatch.submit.auth import SharedKeyAuth
from dagbatch.submit.client import BatchClient
from dagbatch.submit.retry import RetryPolicy

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
