"""Writes plan directories in the exact format of the plan contract, for submit tests.

``write_plan`` takes batches (wave, tasks) and writes plan.json, job.json and
batches/NNNNNN.json (compact orjson bytes, sha256 of the file bytes in plan.json).
``layered_plan`` builds a realistic multi-wave plan: wave k's tasks depend on tasks of wave k-1.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson

Task = dict[str, Any]


def write_plan(
    root: Path,
    batches: Sequence[tuple[int, Sequence[Task]]],
    *,
    job_id: str | None = "job",
    api_version: str = "2025-06-01",
    on_all_tasks_complete: str = "noaction",
    on_task_failure: str = "noaction",
    uses_task_dependencies: bool = True,
    pool_id: str | None = None,
) -> Path:
    """Write a plan directory at ``root`` (created); ``batches`` are (wave, tasks) in order."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "batches").mkdir(exist_ok=True)
    entries = []
    edges = 0
    for index, (wave, tasks) in enumerate(batches, start=1):
        data = orjson.dumps({"value": list(tasks)})
        name = f"batches/{index:06d}.json"
        (root / name).write_bytes(data)
        edges += sum(len(t.get("dependsOn", {}).get("taskIds", [])) for t in tasks)
        entries.append(
            {
                "index": index,
                "file": name,
                "wave": wave,
                "tasks": len(tasks),
                "bytes": len(data),
                "sha256": hashlib.sha256(data).hexdigest(),
            }
        )
    total = sum(len(t) for _, t in batches)
    manifest = {
        "format": 1,
        "apiVersion": api_version,
        "jobId": job_id,
        "onAllTasksComplete": on_all_tasks_complete,
        "counts": {
            "tasks": total,
            "userTasks": total,
            "barriers": 0,
            "edges": edges,
            "requests": len(entries),
            "waves": len({w for w, _ in batches}),
            "ranges": 0,
            "maxTaskIdsChars": 0,
        },
        "batches": entries,
        "barriers": [],
        "warnings": [],
    }
    job: dict[str, Any] = {
        "usesTaskDependencies": uses_task_dependencies,
        "onTaskFailure": on_task_failure,
        "onAllTasksComplete": "noaction",
    }
    if job_id is not None:
        job = {"id": job_id, **job}
    if pool_id is not None:
        job["poolInfo"] = {"poolId": pool_id}
    job_data = orjson.dumps(job, option=orjson.OPT_INDENT_2)
    (root / "job.json").write_bytes(job_data)
    manifest["job"] = {"file": "job.json", "sha256": hashlib.sha256(job_data).hexdigest()}
    (root / "plan.json").write_bytes(orjson.dumps(manifest, option=orjson.OPT_INDENT_2))
    return root


def layered_plan(
    root: Path,
    *,
    tasks: int,
    waves: int,
    per_batch: int = 100,
    parents: int = 2,
    seed: int = 0,
    **kwargs: Any,
) -> Path:
    """A plan of ``tasks`` tasks in ``waves`` layers; each task of layer k>1 depends on
    ``parents`` random tasks of layer k-1. Ids are ``t{k}-{i}``."""
    rng = random.Random(seed)
    per_wave = [tasks // waves + (1 if i < tasks % waves else 0) for i in range(waves)]
    batches: list[tuple[int, list[Task]]] = []
    previous: list[str] = []
    for k, count in enumerate(per_wave, start=1):
        layer: list[Task] = []
        for i in range(count):
            task_id = f"t{k}-{i}"
            task: Task = {"id": task_id, "commandLine": f"/bin/sh -c 'echo {k} {i}'"}
            if previous:
                task["dependsOn"] = {"taskIds": rng.sample(previous, min(parents, len(previous)))}
            layer.append(task)
        for start in range(0, len(layer), per_batch):
            batches.append((k, layer[start : start + per_batch]))
        previous = [t["id"] for t in layer]
    return write_plan(root, batches, **kwargs)


def plan_tasks(root: Path) -> list[tuple[int, Task]]:
    """(wave, task) for every task of a plan directory, in submit order."""
    manifest = orjson.loads((root / "plan.json").read_bytes())
    out: list[tuple[int, Task]] = []
    for entry in manifest["batches"]:
        body = orjson.loads((root / entry["file"]).read_bytes())
        out.extend((entry["wave"], t) for t in body["value"])
    return out
