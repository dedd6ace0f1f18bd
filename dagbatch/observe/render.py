"""The text of `dagbatch status`, `rerun` and `finish` (plain lines; the CLI prints them, a
notebook can too)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from dagbatch.observe.model import (
    OUTCOMES,
    FinishReport,
    JobStatus,
    RerunPlan,
    RerunReport,
    Strand,
)
from dagbatch.observe.stranded import TASK_ENDED
from dagbatch.visible import visible

#: Entries shown of each list (running, failed, stranded); ``--json`` has all of them.
SHOWN = 20

_VERDICT_TEXT = {
    "complete": "COMPLETE: every task has completed",
    "running": "RUNNING: tasks are running or can still run",
    "stuck": "STUCK: only tasks that can never run remain",
    "terminated": "TERMINATED",
}


def duration(seconds: float | None) -> str:
    """``1h 02m``, ``3m 05s``, ``12.3s``."""
    if seconds is None:
        return "?"
    s = max(0.0, seconds)
    if s < 60:
        return f"{s:.1f}s"
    m, sec = divmod(int(s), 60)
    if m < 60:
        return f"{m}m {sec:02d}s"
    h, m = divmod(m, 60)
    return f"{h}h {m:02d}m"


def _more(lines: list[str], total: int, shown: int) -> None:
    if total > shown:
        lines.append(f"  ... and {total - shown} more (all of them in --json)")


def verdict_line(status: JobStatus, target: str) -> str:
    """The one-line answer, with the command that moves the job on."""
    text = _VERDICT_TEXT[status.verdict]
    failed = status.outcomes.get("failed", 0) + status.outcomes.get("cancelled", 0)
    if status.verdict == "complete" and failed:
        text = f"COMPLETE WITH FAILURES: {failed:,} task(s) failed or never ran"
        if status.job_state == "active" and status.outcomes.get("failed", 0):
            # The job stays open (onAllTasksComplete noaction): Batch still reactivates
            # its failed tasks, so this ending is not final.
            text += (
                f"; the job is still active: fix the cause and `dagbatch rerun {target} "
                "--failed` runs them again"
            )
    if status.verdict == "terminated":
        reason = status.terminate_reason or "unknown reason"
        by = f" by task {status.terminated_by}" if status.terminated_by else ""
        text = f"TERMINATED{by} ({reason})"
        if reason == "AllTasksComplete":
            text += _completed_early(status)
    disabled = status.job_state in ("disabled", "disabling")
    by = f" by task {status.disabled_by} (jobAction disable)" if status.disabled_by else ""
    if status.verdict == "running" and disabled:
        text += f"; but the job is {status.job_state}{by}: no task starts until it is enabled"
    if status.verdict == "stuck":
        enable = f"`az batch job enable --job-id {status.job_id}`"
        if disabled and not status.stranded and not status.missing:
            return (
                f"job {status.job_id}: STUCK: the job is disabled{by}, so no task starts until "
                f"it is enabled ({enable}, or the portal)"
            )
        if disabled and status.outcomes.get("waiting", 0):
            # Tasks wait that would run once the job is enabled: not "only tasks that can
            # never run remain".
            text = (
                f"STUCK: the job is disabled{by}, so no task starts until it is enabled "
                f"({enable}, once the cause is fixed); {len(status.stranded):,} task(s) can "
                "never run even then"
            )
        elif disabled:
            text += f"; the job is disabled{by}: enable it ({enable}) once the cause is fixed"
        if status.not_in_job and not status.stranded and not status.missing:
            text = (
                f"STUCK: every task the job holds has completed, but {len(status.not_in_job):,} "
                f"task(s) of the plan are not in it ({_missing_fix(status, target)})"
            )
        elif status.missing and not status.stranded:
            fix = _missing_fix(status, target) if status.planned else "add them to the job"
            text = text.replace(
                "only tasks that can never run remain",
                f"the tasks left wait on tasks the job does not hold ({fix})",
            )
        elif any(s.kind == "stranded" for s in status.stranded):
            text += (
                f"; fix the cause and `dagbatch rerun {target} --failed`, "
                f"or end it with `dagbatch finish {target}`"
            )
        elif any(s.kind == "cycle" for s in status.stranded):
            text += (
                "; they wait on each other (a dependency cycle), so none of them can start: "
                f"end them with `dagbatch finish {target}`, and add them again without the cycle"
            )
        else:
            text += f"; end it with `dagbatch finish {target}` (handlers not needed: skipped)"
        if any(s.kind == "cycle" for s in status.stranded) and "cycle" not in text:
            text += "; some wait on each other (a dependency cycle) and can never start"
    return f"job {status.job_id}: {text}"


def _completed_early(status: JobStatus) -> str:
    """Why a job completed with tasks still to come, and what to do: its onAllTasksComplete
    (terminatejob) was set before the last task was added [BATCH_FACTS run-time rules 6]."""
    if status.not_in_job:
        before = f"before {len(status.not_in_job):,} task(s) of the plan were added"
    else:
        before = "before any task was added"
    return (
        f" {before}: onAllTasksComplete terminatejob ends a job once the tasks it holds have "
        "completed, and a job that holds none at once, so set it after the last task is "
        "added (`dagbatch submit` does); no task can be added to a completed job: submit "
        "under a new job id"
    )


def _missing_fix(status: JobStatus, target: str) -> str:
    """What to do about tasks of the plan the job lacks. A submission cut short is finished
    by `submit --resume`; but a job that also holds tasks the plan does not was perhaps never
    this plan's (another job of the same name, another plan): resuming would add the plan's
    tasks to it, so the job id is to be checked first."""
    resume = f"`dagbatch submit {target} --resume`"
    if not status.not_in_plan:
        # Deleted from the job after they landed, they are no submission's to finish: the
        # journal records them confirmed, and --resume refuses to go on in that job.
        return (
            f"was its submission cut short? {resume} finishes it; if they were deleted "
            "after they landed, it refuses: submit the plan to a new job (--job-id NEW "
            "--create-job)"
        )
    shown = ", ".join(status.not_in_plan[:3]) + (", ..." if len(status.not_in_plan) > 3 else "")
    return (
        f"the job also holds {len(status.not_in_plan):,} task(s) the plan does not "
        f"({shown}), so it may not be this plan's job: check the job id (--job-id); only if "
        f"it is, {resume} adds the missing ones"
    )


def render_status(status: JobStatus, *, target: str = "PLAN_DIR", shown: int = SHOWN) -> str:
    """The whole `dagbatch status` screen."""
    o = status.outcomes
    counts = ", ".join(f"{o[k]:,} {k}" for k in OUTCOMES if o.get(k))
    states = ", ".join(f"{k} {v:,}" for k, v in status.states.items())
    lines = [verdict_line(status, target)]
    age = "the job took" if status.job_state == "completed" else "job age"
    elapsed = f"; {age} {duration(status.elapsed)}" if status.elapsed is not None else ""
    barriers = f" (+{status.barriers} barrier)" if status.barriers else ""
    lines.append(f"tasks {status.total:,}{barriers}: {counts or 'none'}{elapsed}")
    if status.succeeded_by_exit_code:
        lines.append(
            f"  of the succeeded, {status.succeeded_by_exit_code:,} by an exit code their "
            "exit conditions count as a success (Batch's task counts call them failed)"
        )
    lines.append(f"  by state: {states}")
    if len(status.waves) > 1:
        present = [k for k in OUTCOMES if any(w.counts.get(k) for w in status.waves)]
        lines.append("  wave " + "".join(f"{k:>11}" for k in present))
        for w in status.waves:
            lines.append(f"  {w.wave:>4} " + "".join(f"{w.counts.get(k, 0):>11,}" for k in present))
    if status.running:
        lines.append(f"running ({len(status.running):,}, longest first):")
        for r in status.running[:shown]:
            lines.append(f"  {r.name}  {r.state} {duration(r.seconds)}")
        _more(lines, len(status.running), shown)
    if status.failed:
        # Barriers are folded out of the counts, but a failed one is listed: it holds its
        # child back as a failed task would.
        users = status.outcomes.get("failed", 0)
        extra = len(status.failed) - users
        more = f", and {extra:,} barrier task(s) dagbatch added" if extra > 0 else ""
        lines.append(f"failed ({users:,}{more}):")
        for f in status.failed[:shown]:
            code = f"exit {f.exit_code}" if f.exit_code is not None else "no exit code"
            if f.retry_count:  # the text said nothing of them, only --json did
                code += f" (tried {f.retry_count + 1} times)"
            info = ""
            if f.failure is not None:
                fi = f.failure
                info = f"  {fi.category or ''} {fi.code or ''}: {fi.message or ''}"
                info = info.rstrip(": ")
                if fi.code == TASK_ENDED:  # killed while it ran, not a failure of its own
                    info += (
                        " (it was running when the job was terminated)"
                        if status.verdict == "terminated"
                        else " (terminated while it ran)"
                    )
            lines.append(f"  {f.name}  {code}{visible(info)}")
            if f.stderr_tail:
                # The task's own bytes: escape sequences shown, not sent to the terminal.
                tail = f.stderr_tail.rstrip("\n").splitlines()[-5:]
                lines.extend(f"    stderr | {visible(t)}" for t in tail)
        _more(lines, len(status.failed), shown)
    if status.stranded:
        lines.append(f"can never run ({len(status.stranded):,}):")
        if len(status.stranded) <= shown:
            lines.extend(f"  [{s.kind}] {s.explain()}" for s in status.stranded)
        else:
            _stranded_by_root(lines, status.stranded, shown)
    if status.cancelled:
        lines.append(f"cancelled: never ran, will not run ({len(status.cancelled):,}):")
        lines.extend(f"  {name}" for name in status.cancelled[:shown])
        _more(lines, len(status.cancelled), shown)
    if status.missing:
        lines.append(f"waiting on tasks the job does not hold ({len(status.missing):,}):")
        for m in status.missing[:shown]:
            lines.append(f"  {m.name} waits on {', '.join(m.missing)}")
        _more(lines, len(status.missing), shown)
    if status.not_in_plan:
        n = len(status.not_in_plan)
        lines.append(
            f"{n:,} task(s) of the job are not in the plan (counted above; a range of the plan "
            "may select one): " + ", ".join(status.not_in_plan[:5]) + (" ..." if n > 5 else "")
        )
    if status.not_in_job:
        n = len(status.not_in_job)
        # While the tasks the job holds still run, the verdict line has no room for it:
        # the fix is said here (a submission cut short: `submit --resume`).
        if status.job_state == "completed":
            fix = "the job has completed: no task can be added to it"
        elif status.planned:
            fix = _missing_fix(status, target)
        else:
            fix = "not submitted?"
        lines.append(
            f"{n:,} task(s) of the plan are not in the job ({fix}): "
            + ", ".join(status.not_in_job[:5])
            + (" ..." if n > 5 else "")
        )
    return "\n".join(lines)


def _stranded_by_root(lines: list[str], stranded: Sequence[Strand], shown: int) -> None:
    """More stranded tasks than ``shown``: one entry per task whose ending holds them back
    (and kind), with one of its tasks' chains and the names of a few others."""
    groups: dict[tuple[str, str], list[Strand]] = {}
    for s in stranded:
        groups.setdefault((s.kind, s.root_id), []).append(s)
    for members in list(groups.values())[:shown]:
        first = members[0]
        if len(members) == 1:
            lines.append(f"  [{first.kind}] {first.explain()}")
            continue
        others = [m.name for m in members[1:6]]
        more = len(members) - 1 - len(others)
        lines.append(
            f"  [{first.kind}] {len(members):,} tasks behind {first.chain[-1]}, e.g. "
            f"{first.explain()}; also "
            + ", ".join(others)
            + (f" and {more:,} more" if more > 0 else "")
        )
    if len(groups) > shown:
        lines.append(
            f"  ... and {len(groups) - shown} more task(s) holding others back "
            "(all of them in --json)"
        )


def render_rerun_plan(plan: RerunPlan, *, shown: int = SHOWN) -> str:
    names = [plan.names.get(t, t) for t in plan.reactivate]
    lines = [f"rerun in job {plan.job_id}: {len(names):,} task(s) to reactivate"]
    lines += [f"  {n}" for n in names[:shown]]
    _more(lines, len(names), shown)
    # The stranded tasks that run once their parents do; the tasks reactivated above (those
    # terminated while they waited) wait for theirs too, and are not listed twice.
    listed = set(names)
    waiting = [n for n in plan.resumes if n not in listed]
    if waiting:
        more = len(waiting) - shown
        lines.append(
            f"then waiting again for their parents ({len(waiting):,}): "
            + ", ".join(waiting[:shown])
            + (f" ... and {more:,} more (all of them in --json)" if more > 0 else "")
        )
    if plan.still_stuck:
        lines.append(f"still stuck for other reasons ({len(plan.still_stuck):,}):")
        lines += [f"  {s.explain()}" for s in plan.still_stuck[:shown]]
        _more(lines, len(plan.still_stuck), shown)
    if plan.refused:
        lines.append(f"not rerun ({len(plan.refused):,}):")
        lines += [f"  {p.name}: {p.reason}" for p in plan.refused]
    if plan.job_disabled and plan.reactivate:
        lines.append(
            f"the job is disabled: they start only once it is enabled (`az batch job enable "
            f"--job-id {plan.job_id}`, or the portal)"
        )
    return "\n".join(lines)


def render_rerun(report: RerunReport) -> str:
    lines = [f"reactivated {len(report.reactivated):,} task(s)"]
    for e in report.errors:
        lines.append(f"  could not reactivate {e.name}: {e.reason}")
    return "\n".join(lines)


def render_finish(report: FinishReport, *, target: str = "PLAN_DIR", shown: int = SHOWN) -> str:
    if report.verdict_before == "running" and not report.terminated and not report.left_alone:
        return f"job {report.job_id} holds no task yet: nothing to terminate"
    if report.verdict_before == "running" and not report.terminated:
        return (
            f"job {report.job_id} is still running ({report.left_alone:,} task(s) can still "
            f"run): nothing terminated. Wait, or `dagbatch watch {target} --finish`."
        )
    if not report.terminated and not report.errors:
        if report.verdict_before == "complete":
            # The verdict, not the job's state: a job left active (onAllTasksComplete
            # noaction) whose tasks have all completed is not "complete" to Batch.
            return f"every task of job {report.job_id} has completed: nothing to terminate"
        return f"job {report.job_id} is {report.verdict_before}: nothing to terminate"
    kinds = Counter(s.kind for s in report.terminated)
    cycles = f", {kinds['cycle']} in or behind a dependency cycle" if kinds["cycle"] else ""
    lines = [
        f"terminated {len(report.terminated):,} task(s) that could never run in job "
        f"{report.job_id} ({kinds['skipped']} skipped, {kinds['stranded']} stranded "
        f"by a failure{cycles}); nothing that could still run was touched"
    ]
    for s in report.terminated[:shown]:
        folded = f" (+{len(s.barriers)} barrier)" if s.barriers else ""
        lines.append(f"  {s.kind}: {s.name}{folded}: {s.explain()}")
    _more(lines, len(report.terminated), shown)
    for e in report.errors:
        lines.append(f"  could not terminate {e.name}: {e.reason}")
    return "\n".join(lines)
