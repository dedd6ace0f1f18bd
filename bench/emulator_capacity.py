"""How much memory the emulator's store needs for a million tasks (issue: "holds 1,000,000
tasks within a few GB").

Runs in a child process so the figure is that process's own peak RSS: the tasks go into an
``EmulatorStore`` exactly as the add-task-collection handler stores them (exact-size JSON
bytes plus per-task metadata), then every 1000th one is read back and checked.
"""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import dataclass

import orjson

from .rss import peak_mb

CHILD_FLAG = "--child"


@dataclass(frozen=True)
class Capacity:
    tasks: int
    peak_rss_mb: float
    baseline_rss_mb: float
    seconds: float

    @property
    def store_mb(self) -> float:
        return self.peak_rss_mb - self.baseline_rss_mb


def _child(tasks: int) -> None:
    from dagbatch.emulator.store import EmulatorStore, Job

    store = EmulatorStore()
    job = Job(id="capacity", spec={"id": "capacity"}, created=0.0, modified=0.0, serial=0)
    store.jobs["capacity"] = job
    before = peak_mb()
    started = time.perf_counter()
    for i in range(tasks):
        task = {
            "id": f"task-{i:07d}",
            "commandLine": f"python3 step.py --item {i}",
            "dependsOn": {"taskIds": [f"task-{i - 1:07d}"]} if i else None,
        }
        raw = bytes(memoryview(orjson.dumps(task)))  # as the handler stores it
        with store.lock:
            store.add_task(job, task["id"], raw, 0.0)  # type: ignore[arg-type]
    for i in range(0, tasks, 1000):
        got = store.task("capacity", f"TASK-{i:07d}")  # ids are case-insensitive
        assert got is not None and got["commandLine"].endswith(f" {i}"), i
    assert store.task_count("capacity") == tasks
    seconds = time.perf_counter() - started
    peak = peak_mb()
    print(
        orjson.dumps({"tasks": tasks, "peak": peak, "before": before, "seconds": seconds}).decode()
    )


def run(tasks: int = 1_000_000) -> Capacity:
    out = subprocess.run(
        [sys.executable, "-m", "bench.emulator_capacity", CHILD_FLAG, str(tasks)],
        capture_output=True,
        text=True,
        check=True,
    )
    data = orjson.loads(out.stdout.strip().splitlines()[-1])
    return Capacity(data["tasks"], data["peak"], data["before"], data["seconds"])


def table(c: Capacity) -> str:
    return (
        "| tasks stored | process peak RSS MB | of which the store MB | seconds |\n"
        "|---:|---:|---:|---:|\n"
        f"| {c.tasks:,} | {c.peak_rss_mb:.0f} | {c.store_mb:.0f} | {c.seconds:.1f} |"
    )


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == CHILD_FLAG:
        _child(int(sys.argv[2]))
    else:
        print(table(run()))
