"""How fast `dagbatch finish` terminates the tasks that can never run (Batch has no bulk
terminate: one request a task), at the emulator's injected latency on terminate.

Two stranded workloads, each behind a root that exits 1: a *fan* (N tasks waiting on the
root) and a *chain* (L tasks, each waiting on the one before). Each is run with the adaptive
level (the default) and at the old fixed 16 in flight, on a fresh emulator in its own process
(``--simulate``: no process runs; ``--latency-ms`` on ``terminatetask`` only), and the figures
are wall time, tasks per second and the most terminate requests the emulator served at once.

``python -m bench.finish_bench [--tasks N] [--chain L] [--latency-ms MS]``
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import networkx as nx
import orjson

from dagbatch.compiler.export import write_plan
from dagbatch.compiler.pipeline import compile_graph
from dagbatch.emulator import DEV_ACCOUNT, DEV_KEY
from dagbatch.observe import finish_async, status_async
from dagbatch.submit.client import BatchClient, SharedKeyAuth
from dagbatch.submit.concurrency import DEFAULT_CONCURRENCY
from dagbatch.submit.submission import submit_plan

from .submit_bench import Emulator, Target

TASKS = 5_000
CHAIN = 299
LATENCY_MS = 50.0
#: Longest wait for the job to be stuck.
WAIT_S = 300.0


@dataclass(frozen=True)
class FinishRun:
    workload: str
    tasks: int
    concurrency: int | None
    seconds: float
    peak_in_flight: int

    @property
    def rate(self) -> float:
        return self.tasks / self.seconds if self.seconds > 0 else 0.0

    def line(self) -> str:
        level = "adaptive" if self.concurrency is None else f"fixed {self.concurrency}"
        return (
            f"{self.workload:>6} {self.tasks:>7,} tasks  {level:>9}: {self.seconds:7.2f} s, "
            f"{self.rate:8.0f} tasks/s, peak {self.peak_in_flight} in flight"
        )


def _graph(workload: str, tasks: int) -> nx.DiGraph:
    g = nx.DiGraph()
    g.graph["job"] = {"id": f"finish-{workload}", "pool_id": "local"}
    g.add_node("root", command_line="/bin/true")
    previous = "root"
    for i in range(tasks):
        name = f"t{i:06d}"
        g.add_node(name, command_line="/bin/true")
        g.add_edge(previous if workload == "chain" else "root", name)
        if workload == "chain":
            previous = name
    return g


async def _stuck(plan: Path, client: BatchClient) -> None:
    deadline = time.monotonic() + WAIT_S
    while (await status_async(plan, client=client, stderr_tasks=0)).verdict != "stuck":
        if time.monotonic() > deadline:
            raise RuntimeError(f"{plan}: not stuck after {WAIT_S} s")
        await asyncio.sleep(0.2)


def measure(
    workload: str, tasks: int, concurrency: int | None, latency_ms: float, root: Path
) -> FinishRun:
    work = root / f"{workload}-{concurrency}"
    work.mkdir(parents=True)
    codes = work / "exit-codes.json"
    codes.write_bytes(orjson.dumps({"root": 1}))
    plan = work / "plan"
    write_plan(compile_graph(_graph(workload, tasks)), plan)
    emulator = Emulator(
        latency_ms,
        work,
        mode=("--simulate", "--exit-codes", str(codes)),
        delayed="terminatetask",
    )
    try:

        def client() -> BatchClient:
            return BatchClient(emulator.endpoint, SharedKeyAuth(DEV_ACCOUNT, DEV_KEY))

        report = submit_plan(plan, client=client(), create_job=True, pool_id="local")
        if not report.ok:
            raise RuntimeError(f"submission failed: {report.failures[:3]}")

        async def run() -> float:
            async with client() as c:
                await _stuck(plan, c)
                started = time.perf_counter()
                done = await finish_async(plan, client=c, concurrency=concurrency)
                seconds = time.perf_counter() - started
            if len(done.terminated) != tasks or done.errors:
                raise RuntimeError(f"terminated {len(done.terminated)} of {tasks}")
            return seconds

        seconds = asyncio.run(run())
        peak = int(emulator.stats()["peakInFlight"].get("terminatetask", 0))
    finally:
        emulator.stop()
    return FinishRun(workload, tasks, concurrency, seconds, peak)


#: A tenth of the sizes, for smoke runs (`python -m bench --quick`).
QUICK_TASKS = 500
QUICK_CHAIN = 30


def run(quick: bool = False) -> list[FinishRun]:
    """The fan and the chain, each at the adaptive level and at the old fixed 16."""
    tasks, chain = (QUICK_TASKS, QUICK_CHAIN) if quick else (TASKS, CHAIN)
    runs: list[FinishRun] = []
    with tempfile.TemporaryDirectory() as tmp:
        for workload, n in (("fan", tasks), ("chain", chain)):
            for level in (None, DEFAULT_CONCURRENCY):
                runs.append(measure(workload, n, level, LATENCY_MS, Path(tmp)))
                print(runs[-1].line(), flush=True)
    return runs


def table(runs: list[FinishRun]) -> str:
    """The runs as a markdown table."""
    rows = [
        "| stranded | tasks | requests in flight | wall s | tasks/s | most in flight at once |",
        "|---|---:|---|---:|---:|---:|",
    ]
    for r in runs:
        level = "adaptive (default)" if r.concurrency is None else f"--concurrency {r.concurrency}"
        rows.append(
            f"| {r.workload} | {r.tasks:,} | {level} | {r.seconds:.2f} | {r.rate:,.0f} | "
            f"{r.peak_in_flight} |"
        )
    rows.append("")
    rows.append(
        f"`dagbatch finish` (the library's `finish_async`) of a job whose root exited 1, "
        f"emulator in its own process, {LATENCY_MS:g} ms a terminate request (Batch has no "
        "bulk terminate): a fan (every task waits on the root) and a chain (each on the one "
        f"before). {DEFAULT_CONCURRENCY} in flight was finish's fixed level before it took "
        "submit's adaptive one; the most in flight is the emulator's count."
    )
    return "\n".join(rows)


def targets(runs: list[FinishRun]) -> list[Target]:
    """The adaptive level at least as fast as the old fixed one, on each workload."""
    out: list[Target] = []
    for workload in ("fan", "chain"):
        adaptive = next(r for r in runs if r.workload == workload and r.concurrency is None)
        fixed = next(r for r in runs if r.workload == workload and r.concurrency is not None)
        out.append(
            Target(
                f"finish a stranded {workload} of {adaptive.tasks:,} at {LATENCY_MS:g} ms: the "
                f"adaptive level >= a fixed {fixed.concurrency}",
                adaptive.rate >= fixed.rate,
                f"{adaptive.rate:,.0f} vs {fixed.rate:,.0f} tasks/s = "
                f"{adaptive.rate / fixed.rate:.2f}x",
            )
        )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=TASKS, help="tasks of the fan")
    parser.add_argument("--chain", type=int, default=CHAIN, help="links of the chain")
    parser.add_argument("--latency-ms", type=float, default=LATENCY_MS)
    args = parser.parse_args(argv)
    print(f"dagbatch finish at {args.latency_ms:g} ms a terminate request (emulator, --simulate)")
    with tempfile.TemporaryDirectory() as tmp:
        for workload, tasks in (("fan", args.tasks), ("chain", args.chain)):
            for level in (None, DEFAULT_CONCURRENCY):
                run = measure(workload, tasks, level, args.latency_ms, Path(tmp))
                print(run.line(), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
