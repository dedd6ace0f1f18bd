"""`dagbatch show` as a user runs it, where it must refuse early: a job that holds none of the
plan's tasks (as `dagbatch status` refuses it), an --out it cannot write."""

from __future__ import annotations

import asyncio
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner

from dagbatch.cli.main import main
from dagbatch.emulator import DEV_ACCOUNT, DEV_KEY
from dagbatch.emulator.server import EmulatorServer
from dagbatch.submit.client import BatchClient, SharedKeyAuth
from tests.submit_helpers import env_for

PIPELINE = str(Path(__file__).resolve().parents[2] / "examples" / "pipeline.py")


def run(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), env=env)
    return result.exit_code, result.stdout, result.stderr


def test_a_job_holding_none_of_the_plans_tasks_is_a_usage_error(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    env = env_for(emulator)
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


def test_an_unwritable_out_is_refused_before_any_work(tmp_path: Path) -> None:
    # A workflow that fails to compile: were --out checked after compiling, the exit code
    # would say "invalid workflow" (1), not "unwritable output" (2).
    broken = tmp_path / "broken.py"
    broken.write_text("raise SystemExit('never loaded')\n", encoding="utf-8")
    missing = tmp_path / "no-such-dir" / "x.svg"
    code, out, err = run("show", str(broken), "--out", str(missing))
    assert code == 2 and out == ""
    assert "cannot write" in err and "no-such-dir" in err and "never loaded" not in err
    # A "directory" that is a file: the same refusal, naming why.
    (tmp_path / "a-file").write_text("", encoding="utf-8")
    code, _, err = run("show", str(broken), "-o", str(tmp_path / "a-file" / "x.html"))
    assert code == 2 and "a-file is not a directory" in err and "never loaded" not in err


def test_plan_shaping_options_with_a_compiled_plan_are_said_to_be_unused(tmp_path: Path) -> None:
    """`show PLAN --over-limit error` drew the plan as compiled, the option silently
    ignored: the picture may not be of the plan asked for. Each option given is named; a
    workflow takes them."""
    plan = tmp_path / "plan"
    assert run("compile", PIPELINE, "--out", str(plan), "-q")[0] == 0
    code, out, err = run("show", str(plan), "--over-limit", "error")
    assert code == 0 and out.startswith("job ")
    assert f"warning: --over-limit is not used: {plan} is a compiled plan" in err, err
    args = ("--api-version", "2017-09-01.6.0", "--taskids-margin", "9")
    code, _, err = run("show", str(plan), *args)
    assert code == 0 and "--api-version and --taskids-margin are not used" in err, err
    # The api-version the plan was compiled for (plan.json says it) is not warned of.
    code, _, err = run("show", str(plan), "--api-version", "2025-06-01")
    assert code == 0 and "warning" not in err, err
    for args in ((PIPELINE, "--over-limit", "error"), (str(plan),)):
        code, out, err = run("show", *args)
        assert code == 0 and out.startswith("job ") and "not used" not in err, (args, err)


def test_out_dash_is_standard_output(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`-o -` wrote a file named '-' in the working directory."""
    monkeypatch.chdir(tmp_path)
    code, out, err = run("show", PIPELINE, "-o", "-", "--format", "svg")
    assert code == 0, out + err
    assert out.lstrip().startswith(("<svg", "<?xml"))
    assert "wrote" not in err
    assert not (tmp_path / "-").exists()
