"""One command for every benchmark: ``python -m bench [--quick]
[--only compile|submit|capacity|show|run] [--write-results]`` from the repository root.

Prints the machine, the compile table (bench/compile_bench.py), the submit table
(bench/submit_bench.py), the emulator capacity, the ``dagbatch run`` figures
(bench/local_run_bench.py) and every target with met / NOT met computed from the numbers.
``--write-results`` also writes the same text to bench/RESULTS.md. ``--quick`` is a smoke run
(smaller submit workload, one repetition): its numbers are not the claim.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from . import (
    compile_bench,
    emulator_capacity,
    local_run_bench,
    show_bench,
    status_bench,
    submit_bench,
)
from .submit_bench import Target
from .workloads import WORKLOADS

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"

#: Compile targets.
VS_BASELINE = 1.0
VS_FLOOR = 3.0
MEMORY = 2.0
#: "Linear growth": time per task of the largest (b) size at most this times the smallest's.
GROWTH = 1.3
#: "a few GB" read as under 3 GB of process memory for a million tasks.
CAPACITY_MB = 3 * 1024
GROWTH_PREFIX = "b layered "


def _first(path: str, key: str) -> str:
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(key):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def _git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(__file__).resolve().parent,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(__file__).resolve().parent,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return out + (" (with uncommitted changes)" if dirty else "")


def machine() -> str:
    mem = _first("/proc/meminfo", "MemTotal")
    if mem.endswith("kB") and mem[:-2].strip().isdigit():
        mem = f"{int(mem[:-2]) / 2**20:.1f} GiB"
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count() or 0
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
    return "\n".join(
        [
            f"- date: {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}",
            f"- CPU: {_first('/proc/cpuinfo', 'model name')}, {cores} cores usable",
            f"- RAM: {mem}",
            f"- OS: {platform.platform()}",
            f"- Python: {platform.python_implementation()} {platform.python_version()}",
            f"- dagbatch commit: {_git_commit()}",
            f"- load average at start (1, 5, 15 min): {load}",
        ]
    )


def compile_targets(rows: Sequence[compile_bench.Row]) -> list[Target]:
    out: list[Target] = []
    # The workloads' rows, in order (a name measured twice, like the largest (b) size, counts
    # once: its first row).
    workloads: list[compile_bench.Row] = []
    for r in rows:
        if r.name in WORKLOADS and all(w.name != r.name for w in workloads):
            workloads.append(r)
    for r in workloads:
        out.append(
            Target(
                f"compile {r.name}: <= {VS_BASELINE:g}x hand-written baseline",
                r.vs_baseline <= VS_BASELINE,
                f"{r.dagbatch_s:.2f} s vs {r.baseline_s:.2f} s = {r.vs_baseline:.2f}x",
            )
        )
        out.append(
            Target(
                f"compile {r.name}: <= {VS_FLOOR:g}x floor",
                r.vs_floor <= VS_FLOOR,
                f"{r.dagbatch_s:.2f} s vs {r.floor_s:.2f} s = {r.vs_floor:.2f}x",
            )
        )
        out.append(
            Target(
                f"compile {r.name}: peak memory <= {MEMORY:g}x the graph's",
                r.mem_ratio <= MEMORY,
                f"{r.peak_mb:.0f} MB vs {r.graph_mb:.0f} MB = {r.mem_ratio:.2f}x",
            )
        )
        out.append(
            Target(
                f"compile {r.name}: requests == the minimum",
                r.requests == r.min_requests,
                f"{r.requests:,} requests, minimum {r.min_requests:,}",
            )
        )
        # Ranges apply to integer ids: the sweep-reduce workload.
        if "sweep" in r.name:
            out.append(
                Target(
                    f"compile {r.name}: fewer bytes than the baseline (ranges)",
                    r.bytes_ < r.baseline_bytes,
                    f"{r.bytes_:,} vs {r.baseline_bytes:,} bytes = "
                    f"{r.bytes_ / r.baseline_bytes:.3f}x",
                )
            )
    per_task: dict[int, float] = {}
    base_per_task: dict[int, float] = {}
    for r in rows:
        if r.name.startswith(GROWTH_PREFIX):
            per_task[r.tasks] = min(per_task.get(r.tasks, float("inf")), r.dagbatch_s / r.tasks)
            base_per_task[r.tasks] = min(
                base_per_task.get(r.tasks, float("inf")), r.baseline_s / r.tasks
            )
    if len(per_task) >= 2:
        sizes = sorted(per_task)
        small, large = per_task[sizes[0]], per_task[sizes[-1]]
        detail = ", ".join(f"{n:,}: {per_task[n] * 1e6:.1f} us" for n in sizes)
        out.append(
            Target(
                f"compile (b) grows linearly: time per task at {sizes[-1]:,} tasks <= "
                f"{GROWTH:g}x that at {sizes[0]:,}",
                large <= GROWTH * small,
                f"per task {detail}; ratio {large / small:.2f}x (the baseline's: "
                f"{base_per_task[sizes[-1]] / base_per_task[sizes[0]]:.2f}x)",
            )
        )
    return out


def targets_text(targets: Sequence[Target]) -> str:
    return "\n".join(
        f"- {'met' if t.met else '**NOT met**'}: {t.name} ({t.detail})" for t in targets
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description="Run dagbatch's benchmarks and print the tables."
    )
    parser.add_argument("--quick", action="store_true", help="smoke run: smaller, one repetition")
    parser.add_argument(
        "--only",
        choices=["compile", "submit", "capacity", "show", "run", "status"],
        help="run one benchmark only",
    )
    parser.add_argument(
        "--write-results", action="store_true", help=f"also write the text to {RESULTS}"
    )
    args = parser.parse_args(argv)

    started = time.monotonic()
    command = "python -m bench" + "".join(
        f" {a}" for a in (argv if argv is not None else sys.argv[1:])
    )
    parts = [
        "# Benchmark results",
        "",
        f"`{command}`" + (" (quick: a smoke run, not the claim)" if args.quick else ""),
        "",
        "## Machine",
        "",
        machine(),
    ]
    print("\n".join(parts), flush=True)
    all_targets: list[Target] = []

    def emit(*lines: str) -> None:
        parts.extend(lines)
        print("\n".join(lines), flush=True)

    if args.only in (None, "compile"):
        rows = compile_bench.run(args.quick)
        emit("", "## Compile", "", compile_bench.table(rows))
        all_targets += compile_targets(rows)
    if args.only in (None, "submit"):
        result = submit_bench.run(args.quick)
        emit("", "## Submit", "", submit_bench.table(result))
        all_targets += submit_bench.targets(result)
    if args.only in (None, "capacity"):
        capacity = emulator_capacity.run(100_000 if args.quick else 1_000_000)
        emit("", "## Emulator capacity", "", emulator_capacity.table(capacity))
        all_targets.append(
            Target(
                f"emulator holds {capacity.tasks:,} tasks within a few GB",
                capacity.peak_rss_mb < CAPACITY_MB,
                f"peak RSS {capacity.peak_rss_mb:.0f} MB, under {CAPACITY_MB:,} MB",
            )
        )
    if args.only in (None, "show"):
        show_rows = show_bench.run(args.quick)
        emit("", "## Show (read, fold, draw)", "", show_bench.table(show_rows))
        all_targets += show_bench.targets(show_rows)
    if args.only in (None, "run"):
        local = local_run_bench.run(args.quick)
        emit(
            "", "## dagbatch run (scheduler, simulated and real)", "", local_run_bench.table(local)
        )
        all_targets += local_run_bench.targets(local)
    if args.only in (None, "status"):
        status = status_bench.run(10_000 if args.quick else 100_000, repeat=1 if args.quick else 3)
        emit("", "## Status of a large job", "", status_bench.table(status))
        all_targets.append(
            Target(
                f"`dagbatch status --json` of a {status.tasks:,}-task job in a few seconds",
                status.best < status_bench.TARGET_S and status.listed == status.tasks,
                f"{status.best:.2f} s best of {len(status.seconds)}, under "
                f"{status_bench.TARGET_S:g} s; {status.listed:,} tasks in the answer",
            )
        )
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
    met = sum(t.met for t in all_targets)
    emit(
        "",
        "## Targets",
        "",
        f"{met} of {len(all_targets)} met.",
        "",
        targets_text(all_targets),
        "",
        f"Ran in {time.monotonic() - started:.0f} s; load average at the end: {load} "
        "(a shared machine makes absolute times noisy; the ratios are the claim).",
    )
    if args.write_results:
        RESULTS.write_text("\n".join(parts) + "\n")
        print(f"\nwrote {RESULTS}", flush=True)
    return 0
