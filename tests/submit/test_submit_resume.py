"""SIGKILL `dagbatch submit` mid-run, then `--resume`: every task once, nothing confirmed resent.

The emulator runs as its own process (`python -m dagbatch emulator`) so it outlives the kill.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from dagbatch.emulator import DEV_ACCOUNT, DEV_KEY
from dagbatch.submit.journal import read_journal
from tests.plan_factory import layered_plan, plan_tasks
from tests.sdk_checks import assert_job_holds_plan

REPO = Path(__file__).resolve().parents[2]


def _env(endpoint: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env.update(
        AZURE_BATCH_ENDPOINT=endpoint,
        AZURE_BATCH_ACCOUNT=DEV_ACCOUNT,
        AZURE_BATCH_ACCESS_KEY=DEV_KEY,
    )
    return env


@pytest.fixture
def emulator_process() -> Iterator[str]:
    """An emulator in a separate process; yields its endpoint."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "dagbatch",
            "emulator",
            "--port",
            "0",
            "--latency-ms",
            "60",
            "--fault-task-error",
            "0.05",
            "--fault-drop",
            "0.03",
            "--retry-after",
            "0",
            "--seed",
            "3",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=_env(""),
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert "listening on" in line, line
        endpoint = line.split("listening on ", 1)[1].split()[0]
        yield endpoint
    finally:
        proc.terminate()
        proc.wait(10)
        if proc.stdout is not None:
            proc.stdout.close()


def _stats(endpoint: str) -> dict[str, Any]:
    result: dict[str, Any] = httpx.get(f"{endpoint}/_emulator/stats", timeout=10).json()
    return result


def _ok_lines(journal: Path) -> int:
    try:
        return journal.read_bytes().count(b'"t":"ok"')
    except FileNotFoundError:
        return 0


def test_sigkill_mid_run_then_resume_lands_every_task_once(
    emulator_process: str, tmp_path: Path
) -> None:
    endpoint = emulator_process
    plan = layered_plan(tmp_path / "plan", tasks=6000, waves=4, pool_id="p", seed=2)
    journal = plan / "journal-job.jsonl"
    args = [
        sys.executable,
        "-m",
        "dagbatch",
        "submit",
        str(plan),
        "--job-id",
        "job",
        "--create-job",
        "--concurrency",
        "3",
        "--backoff",
        "0.01",
        "--max-backoff",
        "0.05",
        "--quiet",
    ]
    first = subprocess.Popen(
        args, env=_env(endpoint), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 60
    while _ok_lines(journal) < 12 and time.monotonic() < deadline and first.poll() is None:
        time.sleep(0.01)
    assert first.poll() is None, "the submission ended before it could be killed"
    os.kill(first.pid, signal.SIGKILL)
    first.wait(10)

    killed = read_journal(journal)
    total = 6000
    assert 0 < len(killed.confirmed) < total
    assert _stats(endpoint)["tasksAdded"] < total

    second = subprocess.run(
        [*args, "--resume"], env=_env(endpoint), capture_output=True, text=True, timeout=120
    )
    assert second.returncode == 0, second.stdout + second.stderr
    assert f"{total}/{total} tasks confirmed" in second.stdout

    stats = _stats(endpoint)
    assert stats["tasksAdded"] == total
    assert stats["jobs"] == {"job": total}
    # No task confirmed before the kill was sent again.
    lines = [orjson.loads(x) for x in journal.read_bytes().splitlines() if x.strip()]
    runs = [n for n, r in enumerate(lines) if r.get("t") == "run"]
    assert len(runs) == 2
    sends = [i for r in lines[runs[1] :] if r.get("t") == "send" for i in r["ids"]]
    assert not set(sends) & killed.confirmed
    # A TaskExists accepted by the resumed run is a task that may have landed before the kill,
    # or one it re-sent itself after a dropped connection.
    report = orjson.loads((plan / "journal-job.report.json").read_bytes())
    resent_by_second = {i for i, n in Counter(sends).items() if n > 1}
    assert report["verifiedExisting"] <= len(killed.unconfirmed_sent | resent_by_second)
    assert report["previouslyConfirmed"] == len(killed.confirmed)
    final = read_journal(journal)
    assert final.confirmed == {t["id"] for _, t in plan_tasks(plan)}
    assert report["jobTaskCount"] == total
    # As a user sees it through the official SDK: once each, exact bodies, parents first.
    assert_job_holds_plan(endpoint, DEV_ACCOUNT, DEV_KEY, "job", [t for _, t in plan_tasks(plan)])
