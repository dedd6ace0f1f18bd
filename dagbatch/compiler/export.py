"""export: a compiled plan as a plan directory (``dagbatch.plan`` owns the format), as JSON
lines, or as a summary for the terminal."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from dagbatch.compiler.pipeline import CompiledPlan
from dagbatch.compiler.validate import NEVER_COMPLETES
from dagbatch.errors import ConfigError
from dagbatch.plan import (
    PLAN_FORMAT,
    batch_entry,
    check_plan_dir_type,
    job_entry,
    write_plan_dir,
)


def manifest(plan: CompiledPlan) -> dict[str, Any]:
    """plan.json of ``plan`` (the format lives in ``dagbatch.plan``)."""
    return {
        "format": PLAN_FORMAT,
        "apiVersion": plan.api_version,
        "jobId": plan.job_id,
        "onAllTasksComplete": plan.on_all_tasks_complete,
        "counts": dict(plan.counts),
        "job": job_entry(dict(plan.job)),
        "batches": [batch_entry(b) for b in plan.batches],
        "barriers": list(plan.barriers),
        "idMap": dict(plan.id_map),
        "warnings": [d.to_dict() for d in plan.warnings],
    }


def write_plan(plan: CompiledPlan, out: str | Path) -> Path:
    """Write the plan directory at ``out`` (a str or a Path; replacing a previous plan
    there). ``ConfigError`` when ``plan`` is no ``CompiledPlan`` (``compile_graph``'s), or
    when the plan cannot be written there (the system's reason said)."""
    if not isinstance(plan, CompiledPlan):
        raise ConfigError(
            "write_plan writes the CompiledPlan that compile_graph returns, not "
            f"{type(plan).__name__}"
        )
    check_plan_dir_type(out)
    try:
        return write_plan_dir(Path(out), manifest(plan), dict(plan.job), plan.batches)
    except OSError as exc:  # a folder that cannot be made, a full disk: named, as a DagbatchError
        raise ConfigError(f"cannot write {out}: {exc}") from exc


def iter_jsonl(plan: CompiledPlan) -> Iterator[bytes]:
    """One request body a line, in submit order."""
    for b in plan.batches:
        yield b.body + b"\n"


def needs_finish(plan: CompiledPlan) -> bool:
    """Whether the workflow can end with tasks that never run, so that its job (set to
    ``terminatejob``) completes only once they are terminated (``dagbatch finish``)."""
    return any(d.code == NEVER_COMPLETES for d in plan.warnings)


def finish_command(plan: CompiledPlan, plan_dir: Path | str = "PLAN_DIR") -> str:
    """The command that ends such a job once only those tasks remain."""
    job = "" if plan.job_id else " --job-id JOB"
    return f"dagbatch finish {plan_dir}{job}"


def summary(plan: CompiledPlan, plan_dir: Path | str | None = None) -> str:
    """The compile summary: counts, the api-version and job, renumbering, warnings, and
    whether the job needs ``dagbatch finish`` to end (with the command for ``plan_dir``)."""
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
    if needs_finish(plan):
        command = finish_command(plan, plan_dir if plan_dir is not None else "PLAN_DIR")
        lines.append(
            "finish    the job can end with tasks that never run (never-completes): once only "
            f"they remain, end it with `{command}` (or `dagbatch watch ... --finish`; "
            "`dagbatch run` does it itself)"
        )
    return "\n".join(lines)
