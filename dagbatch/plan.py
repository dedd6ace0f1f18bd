"""The plan directory: the one module that knows its format, and reads and writes it.

A plan directory is a contract that tests and tools read::

    plan/
      plan.json            manifest: format, api-version, job id, counts, batches in submit
                           order (file, wave, task count, bytes, sha256), barriers, id map,
                           warnings
      job.json             the Add Job body
      batches/000001.json  the exact addtaskcollection body, one file a batch
      journal-<job>.jsonl  written by `dagbatch submit`: what was sent and confirmed

A **batch** is one addtaskcollection request body: the compiler cuts them (``Batch``), this
module writes and reads them, and the submission sends them. It is the one word for that thing
across the code.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, ValidationError

from dagbatch.errors import ConfigError, PlanError
from dagbatch.limits import ApiVersion

PLAN_FORMAT = 1
PLAN_FILE = "plan.json"
JOB_FILE = "job.json"
BATCH_DIR = "batches"
JOURNAL_GLOB = "journal-*.jsonl"


def batch_file(index: int) -> str:
    """The path of batch ``index`` (1-based, submit order) inside a plan directory."""
    return f"{BATCH_DIR}/{index:06d}.json"


def journal_file(job_id: str) -> str:
    """The name of the submission journal of ``job_id`` inside a plan directory."""
    return f"journal-{job_id}.jsonl"


@dataclass(frozen=True)
class Batch:
    """One addtaskcollection request body: its place in submit order, its wave, its task ids
    (in request order) and its exact bytes."""

    index: int  # 1-based, submit order
    wave: int
    task_ids: tuple[str, ...]
    body: bytes

    @property
    def file(self) -> str:
        return batch_file(self.index)

    @cached_property
    def tasks(self) -> tuple[dict[str, Any], ...]:
        """The task bodies, parsed on first use (the sha256 already vouches for the bytes)."""
        return tuple(orjson.loads(self.body)["value"])


class BatchEntry(BaseModel):
    """One batch as plan.json lists it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    index: int
    file: str
    wave: int
    tasks: int
    bytes: int
    sha256: str


class PlanManifest(BaseModel):
    """plan.json. Unknown top-level keys are ignored (``format`` guards incompatible changes)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    format: Literal[1]
    apiVersion: ApiVersion
    jobId: str | None = None
    onAllTasksComplete: Literal["noaction", "terminatejob"] = "noaction"
    counts: dict[str, int] = {}
    batches: list[BatchEntry]
    barriers: list[str] = []
    idMap: dict[str, str] = {}
    warnings: list[dict[str, Any]] = []


def batch_entry(batch: Batch) -> dict[str, Any]:
    """The plan.json entry of ``batch``."""
    return {
        "index": batch.index,
        "file": batch.file,
        "wave": batch.wave,
        "tasks": len(batch.task_ids),
        "bytes": len(batch.body),
        "sha256": hashlib.sha256(batch.body).hexdigest(),
    }


@dataclass(frozen=True)
class LoadedPlan:
    """A plan directory read back and checked."""

    directory: Path
    sha256: str  # of plan.json
    manifest: PlanManifest
    job: dict[str, Any]
    batches: tuple[Batch, ...]

    @property
    def total_tasks(self) -> int:
        return sum(len(b.task_ids) for b in self.batches)

    def waves(self) -> list[list[Batch]]:
        """The batches grouped by wave, in submit order."""
        out: list[list[Batch]] = []
        for batch in self.batches:
            if not out or out[-1][0].wave != batch.wave:
                out.append([])
            out[-1].append(batch)
        return out


def _dumps(data: Any) -> bytes:
    return orjson.dumps(data, option=orjson.OPT_INDENT_2) + b"\n"


def write_plan_dir(
    out: Path, manifest: dict[str, Any], job: dict[str, Any], batches: tuple[Batch, ...]
) -> Path:
    """Write a plan directory at ``out``, replacing a previous plan there.

    The directory is written next to its final place and swapped in, so a failed write never
    leaves a half-written plan. A plan that holds a submission journal is not replaced.
    """
    out = Path(out)
    is_plan = (out / PLAN_FILE).is_file()
    journals = sorted(p.name for p in out.glob(JOURNAL_GLOB)) if is_plan else []
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
        for b in batches:
            (tmp / b.file).write_bytes(b.body)
        (tmp / JOB_FILE).write_bytes(_dumps(job))
        (tmp / PLAN_FILE).write_bytes(_dumps(manifest))
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


def _task_ids(raw: bytes, file: str) -> tuple[str, ...]:
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise PlanError(f"{file} is not valid JSON: {exc}") from exc
    tasks = body.get("value") if isinstance(body, dict) else None
    if not isinstance(tasks, list) or not all(
        isinstance(t, dict) and isinstance(t.get("id"), str) for t in tasks
    ):
        raise PlanError(f"{file} is not a task collection body {{'value': [...]}}")
    return tuple(t["id"] for t in tasks)


def load_plan(plan_dir: Path) -> LoadedPlan:
    """Read and check a plan directory; ``PlanError`` says what is wrong with it."""
    plan_dir = Path(plan_dir)
    manifest_path = plan_dir / PLAN_FILE
    try:
        manifest_bytes = manifest_path.read_bytes()
    except OSError as exc:
        raise PlanError(
            f"{plan_dir} is not a plan directory: cannot read {PLAN_FILE} ({exc})"
        ) from exc
    try:
        manifest = PlanManifest.model_validate_json(manifest_bytes)
    except ValidationError as exc:
        raise PlanError(f"{manifest_path} is not a valid plan manifest:\n{exc}") from exc
    try:
        job = orjson.loads((plan_dir / JOB_FILE).read_bytes())
    except (OSError, orjson.JSONDecodeError) as exc:
        raise PlanError(f"cannot read {plan_dir / JOB_FILE}: {exc}") from exc
    if not isinstance(job, dict):
        raise PlanError(f"{plan_dir / JOB_FILE} is not a JSON object")

    root = plan_dir.resolve()
    batches: list[Batch] = []
    seen: dict[str, str] = {}
    last_wave = 0
    for entry in manifest.batches:
        if entry.wave < max(last_wave, 1):
            raise PlanError(f"{PLAN_FILE}: batch {entry.index} has wave {entry.wave} out of order")
        last_wave = entry.wave
        if entry.file != batch_file(entry.index):
            raise PlanError(
                f"{PLAN_FILE}: batch {entry.index} names file {entry.file!r}, "
                f"not {batch_file(entry.index)!r}"
            )
        path = (plan_dir / entry.file).resolve()
        if not path.is_relative_to(root):
            raise PlanError(f"{PLAN_FILE}: batch file {entry.file!r} is outside the plan directory")
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise PlanError(f"cannot read batch file {entry.file}: {exc}") from exc
        digest = hashlib.sha256(raw).hexdigest()
        if digest != entry.sha256.lower():
            raise PlanError(
                f"{entry.file} does not match {PLAN_FILE} (sha256 {digest} != {entry.sha256}): "
                "the plan was modified after it was compiled; compile it again"
            )
        ids = _task_ids(raw, entry.file)
        if len(ids) != entry.tasks:
            raise PlanError(f"{entry.file} holds {len(ids)} tasks, {PLAN_FILE} says {entry.tasks}")
        for task_id in ids:
            key = task_id.lower()  # ids are unique ignoring case
            if key in seen:
                raise PlanError(f"task id {task_id!r} appears twice ({seen[key]}, {entry.file})")
            seen[key] = entry.file
        batches.append(Batch(entry.index, entry.wave, ids, raw))
    return LoadedPlan(
        directory=plan_dir,
        sha256=hashlib.sha256(manifest_bytes).hexdigest(),
        manifest=manifest,
        job=job,
        batches=tuple(batches),
    )
