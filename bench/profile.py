"""Sampling profiles for bench/PROFILE.md: ``python -m bench.profile [submit|compile]``.

Needs py-spy on PATH or in the venv (``pip install py-spy``; not a project dependency).

- submit: one emulator at 50 ms latency in its own process, a compiled plan of 50,000 tasks,
  and ``dagbatch submit --concurrency N`` for N = 16, 64, 128 under ``py-spy record``;
- compile: ``compile_graph`` on the layered 200,000-task workload (the graph is built before
  sampling starts; only samples inside compile_graph count).

Prints, per profile, the functions with the largest share of samples: "self" (the sample's
innermost frame) and "total" (anywhere on the stack). Samples are py-spy's default (active
threads only, so idle waiting in the event loop's selector does not count).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from dagbatch.emulator import DEV_ACCOUNT, DEV_KEY

from .submit_bench import POOL_ID, REPO, Emulator, prepare_plan

RATE = 250  # samples per second
TOP = 15


def _py_spy() -> str:
    found = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(found).exists():
        raise SystemExit("py-spy is not installed: pip install py-spy")
    return found


def record(cmd: list[str], out: Path, env: dict[str, str] | None = None) -> None:
    """Run ``cmd`` under py-spy, writing collapsed stacks (with line numbers)."""
    subprocess.run(
        [_py_spy(), "record", "-r", str(RATE), "--format", "raw", "-o", str(out), "--", *cmd],
        check=True,
        env=env,
        cwd=REPO,
        stdout=subprocess.DEVNULL,
    )


#: Innermost frames that are a thread waiting, not working: py-spy's idle detection misses
#: them here (the default thread pool's workers blocked on their queue; the event loop's
#: selector). They are left out of the shares and counted apart.
IDLE = ("_worker (futures/thread.py:81)", "EpollSelector.select (selectors.py:468)")
#: Frames every sample of a command passes through: left out of the "total" table.
WRAPPERS = (
    "<frozen runpy>",
    "click/core.py",
    "asyncio/runners.py",
    "asyncio/base_events.py",
    "threading.py",
    "dagbatch/__main__.py",
    "<string>",
)


def summarize(collapsed: Path, *, only: str | None = None, top: int = TOP) -> str:
    """The top functions by self share (at the line), the top modules by self share, and the
    top functions by total share (anywhere on the stack) of the busy samples. ``only``: keep
    the samples whose stack has a function of this name."""
    self_count: Counter[str] = Counter()
    module_count: Counter[str] = Counter()
    total_count: Counter[str] = Counter()
    samples = idle = 0
    for line in collapsed.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if not stack:
            continue
        frames = [_frame(f) for f in stack.split(";")]
        functions = [f.rsplit(":", 1)[0] + ")" if ":" in f else f for f in frames]
        if only and not any(f.startswith(only + " ") for f in functions):
            continue
        count = int(n)
        if frames[-1] in IDLE:
            idle += count
            continue
        samples += count
        self_count[frames[-1]] += count
        module_count[_module(functions[-1])] += count
        for f in set(functions):
            if not any(w in f for w in WRAPPERS):
                total_count[f] += count
    if not samples:
        return "(no samples)"
    lines = [
        f"{samples:,} busy samples ({idle:,} more of idle waiting left out)",
        "",
        "| self | function (module:line) |",
        "|---:|---|",
    ]
    lines += [f"| {n / samples:.1%} | `{f}` |" for f, n in self_count.most_common(top)]
    lines += ["", "| self | module |", "|---:|---|"]
    lines += [f"| {n / samples:.1%} | `{m}` |" for m, n in module_count.most_common(10)]
    lines += ["", "| total | function (module) |", "|---:|---|"]
    lines += [f"| {n / samples:.1%} | `{f}` |" for f, n in total_count.most_common(top)]
    return "\n".join(lines)


def _module(function: str) -> str:
    return function.split(" (", 1)[1].rstrip(")") if " (" in function else function


def _frame(frame: str) -> str:
    """``name (dir/module.py:line)`` from py-spy's ``name (/full/path/module.py:line)``."""
    if " (" not in frame:
        return frame
    name, path = frame.split(" (", 1)
    return f"{name} ({'/'.join(Path(path.rstrip(')')).parts[-2:])})"


def profile_submit(concurrencies: tuple[int, ...], tasks: int, latency_ms: float) -> str:
    work = Path(tempfile.mkdtemp(prefix="dagbatch-profile-"))
    out = []
    try:
        plan_dir, _, _ = prepare_plan(tasks, work / "plan")
        emulator = Emulator(latency_ms, work)
        env = {
            **os.environ,
            "AZURE_BATCH_ENDPOINT": emulator.endpoint,
            "AZURE_BATCH_ACCOUNT": DEV_ACCOUNT,
            "AZURE_BATCH_ACCESS_KEY": DEV_KEY,
        }
        try:
            for n in concurrencies:
                stacks = work / f"submit-{n}.txt"
                job = f"profile-{n}-{int(time.time())}"
                started = time.monotonic()
                submit = ["-m", "dagbatch", "submit", str(plan_dir), "--job-id", job]
                options = ["--create-job", "--pool-id", POOL_ID, "-q", "--concurrency", str(n)]
                record([sys.executable, *submit, *options], stacks, env)
                wall = time.monotonic() - started
                out += [
                    f"### submit, {latency_ms:g} ms x {n}, {tasks:,} tasks "
                    f"({wall:.1f} s wall under the profiler, interpreter start included)",
                    "",
                    summarize(stacks),
                    "",
                ]
                print("\n".join(out[-4:]), flush=True)
        finally:
            emulator.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return "\n".join(out)


_COMPILE = """
import gc
from bench.workloads import layered
from dagbatch.compiler.pipeline import compile_graph
g = layered(20, 10_000)
gc.collect()
for _ in range({repeat}):
    compile_graph(g)
"""


def profile_compile(repeat: int) -> str:
    work = Path(tempfile.mkdtemp(prefix="dagbatch-profile-"))
    try:
        stacks = work / "compile.txt"
        record([sys.executable, "-c", _COMPILE.format(repeat=repeat)], stacks)
        text = summarize(stacks, only="compile_graph")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    head = f"### compile_graph, layered 200k (20 x 10,000, 950,000 edges), {repeat} runs\n\n"
    print(head + text, flush=True)
    return head + text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("what", nargs="?", choices=["submit", "compile", "all"], default="all")
    parser.add_argument("--tasks", type=int, default=50_000)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--concurrency", type=int, action="append")
    parser.add_argument("--repeat", type=int, default=3, help="compile runs to sample")
    args = parser.parse_args()
    if args.what in ("submit", "all"):
        profile_submit(tuple(args.concurrency or (16, 64, 128)), args.tasks, args.latency_ms)
    if args.what in ("compile", "all"):
        profile_compile(args.repeat)


if __name__ == "__main__":
    main()
