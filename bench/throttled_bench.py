"""Submit against a busy service: the adaptive level against fixed ones.

The emulator (its own process, 200 ms a request) answers a fifth of the requests 503
``ServerBusy`` with ``Retry-After: 1``, whatever their number: throttling this client does
not cause, so backing off from it costs throughput and relieves nothing. dagbatch submits the
same plan with the adaptive level (the default) and at fixed levels; the claim is that the
adaptive level does at least as well as the level it starts from (``DEFAULT_CONCURRENCY``).
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from dagbatch.submit.concurrency import DEFAULT_CONCURRENCY

from .submit_bench import DAGBATCH, Emulator, SubmitRun, Target, measure, prepare_plan

LATENCY_MS = 200.0
BUSY = 0.2
RETRY_AFTER_S = 1
TASKS = 100_000
QUICK_TASKS = 10_000
#: Fixed levels measured beside the adaptive one (None).
LEVELS: tuple[int | None, ...] = (None, DEFAULT_CONCURRENCY, 64)


@dataclass(frozen=True)
class ThrottledResult:
    runs: tuple[SubmitRun, ...]

    def of(self, level: int | None) -> SubmitRun:
        return next(r for r in self.runs if r.concurrency == level)


def run(quick: bool = False, *, tasks: int | None = None) -> ThrottledResult:
    """One submission per level (the gap measured is about 2x: one run each shows it);
    ``tasks`` overrides the plan's size."""
    work = Path(tempfile.mkdtemp(prefix="dagbatch-bench-busy-"))
    try:
        size = tasks or (QUICK_TASKS if quick else TASKS)
        plan_dir, plan, _ = prepare_plan(size, work / "plan")
        faults = ("--fault-busy", str(BUSY), "--retry-after", str(RETRY_AFTER_S))
        emulator = Emulator(LATENCY_MS, work, faults)
        try:
            runs = []
            for level in LEVELS:
                r = measure(
                    DAGBATCH, level, plan_dir=plan_dir, tasks=plan, emulator=emulator, workdir=work
                )
                runs.append(r)
                print(f"  busy service: {_level(level)}: {r.tasks_per_s:,.0f} tasks/s", flush=True)
        finally:
            emulator.stop()
        return ThrottledResult(tuple(runs))
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _level(level: int | None) -> str:
    return "adaptive" if level is None else f"--concurrency {level}"


def table(result: ThrottledResult) -> str:
    lines = [
        "| requests in flight | tasks | wall s | tasks/s | landed exactly | wave order |",
        "|---|---:|---:|---:|---|---|",
    ]
    for r in result.runs:
        lines.append(
            f"| {_level(r.concurrency)} | {r.tasks:,} | {r.wall_s:.1f} | {r.tasks_per_s:,.0f} | "
            f"{'yes' if r.complete else 'NO'} | {'yes' if r.wave_order else 'NO'} |"
        )
    lines += [
        "",
        f"`dagbatch submit`, emulator in its own process: {LATENCY_MS:g} ms a request, "
        f"{BUSY:.0%} of them answered 503 ServerBusy (Retry-After {RETRY_AFTER_S} s) at every "
        "level, one run per level.",
    ]
    return "\n".join(lines)


def targets(result: ThrottledResult) -> list[Target]:
    adaptive, start = result.of(None), result.of(DEFAULT_CONCURRENCY)
    return [
        Target(
            f"submit to a busy service ({BUSY:.0%} 503 at every level): the adaptive level "
            f">= a fixed {DEFAULT_CONCURRENCY}, where it starts",
            adaptive.tasks_per_s >= start.tasks_per_s
            and all(r.complete and r.wave_order for r in result.runs),
            f"{adaptive.tasks_per_s:,.0f} vs {start.tasks_per_s:,.0f} tasks/s = "
            f"{adaptive.tasks_per_s / start.tasks_per_s:.2f}x",
        )
    ]
