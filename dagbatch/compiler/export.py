"""export: the dry-run plan directory, a contract that tests and tools read.

::

    plan/
      plan.json            manifest: format, api-version, job id, counts, batches in submit
                           order (file, wave, task count, bytes, sha256), barriers, id map,
                           warnings
      job.json             the Add Job body
      batches/000001.json  the exact addtaskcollection body, one file a request

Output is deterministic: the same graph gives byte-identical files. The directory is written
next to its final place and swapped in, so a failed export never leaves a half-written plan.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from dagbatch.compiler.pipeline import CompiledPlan
from dagbatch.errors import ConfigError

PLAN_FORMAT = 1
PLAN_FILE = "plan.json"
JOB_FILE = "job.json"
BATCH_DIR = "batches"


def batch_file(index: int) -> str:
    return f"{BATCH_DIR}/{index:06d}.json"


def manifest(plan: CompiledPlan) -> dict[str, Any]:
    return {
        "format": PLAN_FORMAT,
        "apiVersion": plan.api_version,
        "jobId": plan.job_id,
        "onAllTasksComplete": plan.on_all_tasks_complete,
        "counts": dict(plan.counts),
        "batches": [
            {
                "index": r.index,
                "file": batch_file(r.index),
                "wave": r.wave,
                "tasks": len(r.task_ids),
                "bytes": len(r.body),
                "sha256": hashlib.sha256(r.body).hexdigest(),
            }
            for r in plan.requests
        ],
        "barriers": list(plan.barriers),
        "idMap": dict(plan.id_map),
        "warnings": [d.to_dict() for d in plan.warnings],
    }


def _dumps(data: Any) -> bytes:
    return orjson.dumps(data, option=orjson.OPT_INDENT_2) + b"\n"


def write_plan(plan: CompiledPlan, out: Path) -> Path:
    """Write the plan directory at ``out`` (replacing a previous plan there)."""
    out = Path(out)
    is_plan = (out / PLAN_FILE).is_file()
    journals = sorted(p.name for p in out.glob("journal-*.jsonl")) if is_plan else []
    if journals:
        # A submission of this plan was started: replacing the plan would lose the record of
        # what was sent, and a later run could not tell its own tasks from someone else's.
        raise ConfigError(
            f"{out} holds a submission journal ({', '.join(journals)}); finish it with "
            "`dagbatch submit --resume`, or compile to another --out"
        )
    if out.exists() and not is_plan and (not out.is_dir() or any(out.iterdir())):
        raise ConfigError(f"{out} exists and is not a plan directory; choose an empty or new --out")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        (tmp / BATCH_DIR).mkdir()
        for r in plan.requests:
            (tmp / batch_file(r.index)).write_bytes(r.body)
        (tmp / JOB_FILE).write_bytes(_dumps(plan.job))
        (tmp / PLAN_FILE).write_bytes(_dumps(manifest(plan)))
        if out.exists():
            old = out.with_name(f".{out.name}.old-{os.getpid()}")
            out.rename(old)
            tmp.rename(out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def iter_jsonl(plan: CompiledPlan) -> Iterator[bytes]:
    """One request body a line, in submit order."""
    for r in plan.requests:
        yield r.body + b"\n"


def summary(plan: CompiledPlan) -> str:
    c = plan.counts
    lines = [
        f"tasks     {c['tasks']:>10,}  ({c['userTasks']:,} from the workflow, "
        f"{c['barriers']:,} barrier)",
        f"edges     {c['edges']:>10,}",
        f"requests  {c['requests']:>10,}  in {c['waves']:,} wave(s)",
        f"ranges    {c['ranges']:>10,}  taskIdRanges emitted",
        f"taskIds   {c['maxTaskIdsChars']:>10,}  characters at most in one task's dependsOn",
        f"api       {plan.api_version:>10}  job {plan.job_id or '(set at submit with --job-id)'}",
    ]
    if plan.id_map:
        lines.append(f"renumbered {len(plan.id_map):>9,}  tasks (see idMap in plan.json)")
    if plan.warnings:
        lines.append(f"warnings  {len(plan.warnings):>10,}")
    return "\n".join(lines)
