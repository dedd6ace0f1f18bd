"""`dagbatch show` as a user runs it, where it must refuse: a job that holds none of the
plan's tasks (as `dagbatch status` refuses it)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import orjson
from click.testing import CliRunner

from dagbatch.cli.main import main
from dagbatch.emulator import DEV_ACCOUNT, DEV_KEY
from dagbatch.emulator.server import EmulatorServer
from dagbatch.submit.client import BatchClient, SharedKeyAuth

PIPELINE = str(Path(__file__).resolve().parents[2] / "examples" / "pipeline.py")


def run(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), env=env)
    return result.exit_code, result.stdout, result.stderr


def test_a_job_holding_none_of_the_plans_tasks_is_a_usage_error(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    env = {
        "AZURE_BATCH_ENDPOINT": emulator.endpoint,
        "AZURE_BATCH_ACCOUNT": DEV_ACCOUNT,
        "AZURE_BATCH_ACCESS_KEY": DEV_KEY,
    }
    plan = tmp_path / "plan"
    assert run("compile", PIPELINE, "--out", str(plan), "-q")[0] == 0

    async def jobs() -> None:
        async with BatchClient(emulator.endpoint, SharedKeyAuth(DEV_ACCOUNT, DEV_KEY)) as client:
            for job in ("other", "empty"):
                await client.create_job({"id": job, "poolInfo": {"poolId": "p"}})
            tasks = [{"id": f"foreign-{k}", "commandLine": "x"} for k in range(4)]
            await client.add_task_collection("other", orjson.dumps({"value": tasks}))

    asyncio.run(jobs())
    code, out, err = run("show", str(plan), "--job-id", "other", env=env)
    assert code == 2, err
    assert out == ""
    assert "job other holds none of the plan's" in err and "(it holds 4 others)" in err
    # `dagbatch status` refuses the same job the same way.
    code, _, status_err = run("status", str(plan), "--job-id", "other", env=env)
    assert code == 2 and "job other holds none of the plan's" in status_err
    # A job that holds no task yet is drawn, every task missing (the plan may not be sent yet).
    code, out, err = run("show", str(plan), "--job-id", "empty", env=env)
    assert code == 0, err
    assert out.startswith("job empty: ") and "missing" in out and "done" not in out
