"""How long `dagbatch status --json` takes on a 100,000-task job (issue: "answers in a few
seconds").

The sweep-reduce workload (prepare -> shards -> reduce) is compiled and submitted to the
emulator in its own process; then the command itself is run as a user would, in a fresh
process (``python -m dagbatch status PLAN --json``), and its wall time measured: interpreter
start, plan reading, task counts, the listing of every task ($select, $filter by state, pages
of 1000) and the analysis.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import orjson

from dagbatch.emulator import DEV_ACCOUNT, DEV_KEY
from dagbatch.submit.client import BatchClient, SharedKeyAuth
from dagbatch.submit.submission import submit_plan

from .submit_bench import Emulator, prepare_plan

#: "A few seconds".
TARGET_S = 5.0
JOB = "status-bench"


@dataclass(frozen=True)
class StatusRun:
    tasks: int
    seconds: list[float]
    listed: int
    verdict: str

    @property
    def best(self) -> float:
        return min(self.seconds)

    @property
    def median(self) -> float:
        return sorted(self.seconds)[len(self.seconds) // 2]


def run(tasks: int = 100_000, repeat: int = 3, workdir: Path | None = None) -> StatusRun:
    with tempfile.TemporaryDirectory() as tmp:
        root = workdir or Path(tmp)
        plan_dir, _, _ = prepare_plan(tasks, root / "plan")
        emulator = Emulator(0.0, root)
        try:
            client = BatchClient(emulator.endpoint, SharedKeyAuth(DEV_ACCOUNT, DEV_KEY))
            report = submit_plan(
                plan_dir, job_id=JOB, client=client, create_job=True, pool_id="bench-pool"
            )
            if not report.ok:
                raise RuntimeError(f"the benchmark job did not land: {report.failures[:3]}")
            env = {
                **os.environ,
                "AZURE_BATCH_ENDPOINT": emulator.endpoint,
                "AZURE_BATCH_ACCOUNT": DEV_ACCOUNT,
                "AZURE_BATCH_ACCESS_KEY": DEV_KEY,
            }
            seconds: list[float] = []
            out: dict[str, object] = {}
            for _ in range(repeat):
                started = time.perf_counter()
                done = subprocess.run(
                    [
                        sys.executable,
                        "-m",
                        "dagbatch",
                        "status",
                        str(plan_dir),
                        "--job-id",
                        JOB,
                        "--json",
                    ],
                    capture_output=True,
                    env=env,
                    timeout=600,
                )
                seconds.append(time.perf_counter() - started)
                if done.returncode not in (0, 4, 5, 6, 7):
                    raise RuntimeError(f"status failed: {done.stderr.decode(errors='replace')}")
                out = orjson.loads(done.stdout)
        finally:
            emulator.stop()
    total = int(out["total"]) if isinstance(out.get("total"), int) else -1  # type: ignore[call-overload]
    return StatusRun(tasks, seconds, total, str(out.get("verdict")))


def table(result: StatusRun) -> str:
    runs = ", ".join(f"{s:.2f}" for s in result.seconds)
    return "\n".join(
        [
            "| tasks | tasks in the answer | verdict | wall s (best) | wall s (median) | runs |",
            "|---:|---:|---|---:|---:|---|",
            f"| {result.tasks:,} | {result.listed:,} | {result.verdict} | {result.best:.2f} "
            f"| {result.median:.2f} | {runs} |",
        ]
    )
