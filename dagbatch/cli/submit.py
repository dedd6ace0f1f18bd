"""`dagbatch submit`: send a plan (or a workflow, compiled first) to a Batch job exactly once.

A thin shell over ``dagbatch.submit.submission``: reads options and credentials, prints the
report, picks the exit code (0 every task landed, 1 invalid workflow, 2 usage, 3 submission
incomplete or refused). The account key is taken from ``AZURE_BATCH_ACCESS_KEY`` (preferred)
or ``--account-key`` and never printed.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import click
import orjson

from dagbatch.cli.exit_codes import ExitCode, fail, print_diagnostics
from dagbatch.cli.options import (
    GivenPath,
    batch_id,
    client_from_options,
    concurrency_option,
    given_source,
    service_options,
)
from dagbatch.cli.output import write_stdout
from dagbatch.defaults import DEFAULT_TIMEOUT
from dagbatch.errors import ConfigError, DagbatchError, PlanError
from dagbatch.redact import redact
from dagbatch.submit.journal import journal_exists, read_journal
from dagbatch.submit.progress import make_progress
from dagbatch.submit.report import SubmitReport, report_path_for, write_report
from dagbatch.submit.retry import (
    DEFAULT_BASE_DELAY,
    DEFAULT_MAX_DELAY,
    DEFAULT_MAX_RETRIES,
    DEFAULT_MAX_TOTAL_WAIT,
    RetryPolicy,
)

# The plan format (pydantic) and the submission (httpx) are imported by the functions that
# use them: `dagbatch --help` and `dagbatch submit --help` import neither.
if TYPE_CHECKING:
    from dagbatch.compiler.pipeline import CompiledPlan

#: Where ``dagbatch submit workflow.py`` compiles to, under the current directory:
#: ``.dagbatch/<job_id>/plan`` (and the journal beside it, so a re-compile does not wipe it).
WORK_DIR = ".dagbatch"


@dataclass(frozen=True)
class PlanSource:
    """A plan directory to submit and the default journal path for it."""

    plan_dir: Path
    job_id: str | None
    default_journal: Path | None  # None: <plan_dir>/journal-<job_id>.jsonl


def _plan_from_source(
    path: Path,
    *,
    job_id: str | None,
    pool_id: str | None,
    workdir: Path,
    resume: bool,
    journal_path: Path | None = None,
) -> PlanSource:
    """Compile ``path`` (``workflow.py[:NAME]``) into ``workdir/.dagbatch/<job_id>/plan``.

    With ``resume`` and a submission of it started (a journal with sends), the plan that was
    submitted is used as it is: a workflow whose compile is not deterministic would otherwise
    give another plan, which the journal refuses. Raises ``WorkflowLoadError`` /
    ``InvalidWorkflow``.
    """
    from dagbatch.compiler.export import write_plan
    from dagbatch.compiler.loader import load_workflow
    from dagbatch.compiler.pipeline import CompileOptions, compile_loaded
    from dagbatch.plan import PLAN_FILE, journal_file

    if resume and job_id:
        # Resume the plan that was submitted, never a new compile of the workflow: a workflow
        # that is not deterministic (it iterates a set, say) compiles differently in each
        # process, and its journal would not match.
        base = workdir / WORK_DIR / job_id
        journal = journal_path or base / journal_file(job_id)
        if (base / "plan" / PLAN_FILE).is_file() and read_journal(journal).sent:
            return PlanSource(base / "plan", job_id, journal)
    loaded = load_workflow(path)
    compiled = compile_loaded(loaded, CompileOptions(job={"id": job_id, "pool_id": pool_id}))
    print_diagnostics(list(compiled.warnings))  # as `dagbatch compile` shows them
    job_id = job_id or compiled.job_id
    if not job_id:
        raise ConfigError("the workflow sets no job id: pass --job-id")
    base = workdir / WORK_DIR / job_id
    journal = journal_path or base / journal_file(job_id)
    state = read_journal(journal)
    started = state.sent
    if started and not resume:
        # Refuse before the compiled plan replaces the one the journal belongs to.
        raise journal_exists(job_id, journal, state, compiled.task_count)
    if started and (base / "plan" / PLAN_FILE).is_file():
        # Resume: the plan submitted. Say so when this compile gives another one.
        _warn_if_plans_differ(compiled, base / "plan")
        return PlanSource(base / "plan", job_id, journal)
    plan_dir = write_plan(compiled, base / "plan")
    return PlanSource(plan_dir, job_id, journal)


def _warn_if_plans_differ(compiled: CompiledPlan, plan_dir: Path) -> None:
    """Warn when ``compiled`` has other batches than the plan directory ``plan_dir``."""
    from dagbatch.plan import PLAN_FILE, batch_entry

    try:
        submitted = orjson.loads((plan_dir / PLAN_FILE).read_bytes()).get("batches")
    except (OSError, orjson.JSONDecodeError):
        return
    now = [batch_entry(b)["sha256"] for b in compiled.batches]
    if [b.get("sha256") for b in submitted or ()] != now:
        _err(
            "warning: the workflow now compiles to another plan than the one submitted; if it "
            "did not change, it is not deterministic (iterating a set, for one, gives another "
            f"order in each process). Resuming the plan that was submitted, {plan_dir}"
        )


def _workflow_journal(plan_dir: Path, job_id: str | None) -> Path | None:
    """The journal ``submit WORKFLOW.py`` keeps beside the plan it compiled
    (``WORK_DIR/<job>/plan`` and ``WORK_DIR/<job>/journal-<job>.jsonl``), when ``plan_dir`` is
    such a plan: submitting that directory goes on with the same journal, instead of starting
    a second one inside it that knows nothing of the tasks already sent. None otherwise (the
    default, ``PLAN_DIR/journal-JOB.jsonl``)."""
    from dagbatch.plan import PLAN_FILE, journal_file

    if plan_dir.name != "plan" or plan_dir.resolve().parent.parent.name != WORK_DIR:
        return None
    if job_id is None:
        try:
            job_id = orjson.loads((plan_dir / PLAN_FILE).read_bytes()).get("jobId")
        except (OSError, orjson.JSONDecodeError, AttributeError):
            return None
    if not isinstance(job_id, str) or plan_dir.resolve().parent.name != job_id:
        return None
    beside = plan_dir.parent / journal_file(job_id)
    return beside if beside.is_file() and not (plan_dir / journal_file(job_id)).exists() else None


def resolve_source(
    source: str,
    *,
    job_id: str | None = None,
    pool_id: str | None = None,
    workdir: Path | None = None,
    resume: bool = False,
    journal_path: Path | None = None,
) -> PlanSource:
    """A plan directory as is, or a ``workflow.py[:NAME]`` compiled first."""
    path = Path(source)
    if check_source(source):
        return PlanSource(path, job_id, _workflow_journal(path, job_id))
    return _plan_from_source(
        path,
        job_id=job_id,
        pool_id=pool_id,
        workdir=workdir or Path.cwd(),
        resume=resume,
        journal_path=journal_path,
    )


def check_source(source: str) -> bool:
    """``PlanError`` unless ``source`` is a plan directory (True) or a workflow .py file
    that exists (False). Quick, and said before the credentials are looked for: a mistyped
    path is the first thing to fix."""
    path = Path(source)
    if path.is_dir():
        if not (path / "plan.json").is_file():
            raise PlanError(f"{path} is not a plan directory (no plan.json)")
        return True
    from dagbatch.compiler.loader import split_target

    file, _ = split_target(source)
    if file.suffix != ".py":
        from dagbatch.plan import not_a_source

        raise not_a_source(source)
    if not file.is_file():
        raise PlanError(f"no such workflow file: {file}")
    return False


#: How many failed tasks the printed report lists; the JSON report has all of them.
MAX_PRINTED_FAILURES = 50


def _err(message: str) -> None:
    click.echo(redact(message), err=True)


def print_report(report: SubmitReport, report_file: Path | None) -> None:
    """The final report on stdout: totals, then every task that did not land (capped)."""
    verdict = "complete" if report.ok else "INCOMPLETE"
    lines = [
        f"submission of job {report.job_id!r} {verdict}: {report.confirmed}/{report.total} "
        f"tasks confirmed in {report.elapsed:.1f} s",
        f"  added {report.added}, already there (verified) {report.verified_existing}, "
        + (f"adopted {report.adopted}, " if report.adopted else "")
        + f"confirmed by an earlier run {report.previously_confirmed}; "
        f"{report.requests} request(s), {report.retries} retries",
    ]
    if report.job_created:
        lines.append("  job created")
    if report.job_terminate_set:
        lines.append("  job set to terminate when all its tasks complete")
    if report.job_task_count is not None:
        lines.append(f"  the job holds {report.job_task_count} task(s)")
    lines.extend(f"  note: {note}" for note in report.notes)
    groups = (
        ("did not land", [f for f in report.failures if f.kind not in ("unconfirmed", "missing")]),
        (
            "not confirmed (they may have landed; --resume checks them)",
            [f for f in report.failures if f.kind == "unconfirmed"],
        ),
        (
            "confirmed earlier but missing from the job",
            [f for f in report.failures if f.kind == "missing"],
        ),
    )
    budget = MAX_PRINTED_FAILURES
    for heading, failures in groups:
        if not failures:
            continue
        shown = failures[: max(budget, 0)]
        budget -= len(shown)
        if not shown:  # the screen's share went to the groups above
            lines.append(f"{len(failures):,} task(s) {heading}: listed in the JSON report")
            continue
        lines.append(f"{len(failures):,} task(s) {heading}:")
        for f in shown:
            lines.append(f"  {f.task_id}: {f.code} ({f.kind}): {f.message}")
        if len(failures) > len(shown):
            more = len(failures) - len(shown)
            lines.append(f"  ... and {more} more (all of them in the JSON report)")
    if report.not_submitted:
        lines.append(
            f"{len(report.not_submitted):,} task(s) were not submitted because a task before them "
            "(in an earlier wave or earlier in their batch) did not land; fix the cause and run "
            "again with --resume"
        )
    if report_file is not None:
        lines.append(f"report: {report_file}")
    if not report.ok:
        lines.append(f"journal: {report.journal_path} (run again with --resume to continue)")
    write_stdout(redact("\n".join(lines)) + "\n")  # a reader that stops early: exit 141


@click.command("submit")
@click.argument("source", metavar="PLAN_DIR|WORKFLOW.py[:NAME]", callback=given_source)
@click.option(
    "--job-id", callback=batch_id, help="Job to add the tasks to (default: plan.json's jobId)."
)
@service_options
@click.option("--create-job", is_flag=True, help="Create the job from job.json first.")
@click.option(
    "--pool-id", callback=batch_id, help="Pool for --create-job (fills job.json's poolInfo)."
)
@concurrency_option
@click.option("--resume", is_flag=True, help="Continue a submission from its journal.")
@click.option(
    "--adopt-existing",
    is_flag=True,
    help="Count a task the job already holds, the same as the plan's but not added by this "
    "submission (a lost journal), as landed instead of a conflict.",
)
@click.option(
    "--journal",
    "journal_path",
    type=GivenPath(dir_okay=False, path_type=Path),
    help="Journal file (default: PLAN_DIR/journal-JOB.jsonl; .dagbatch/JOB/journal-JOB.jsonl "
    "for a plan submit WORKFLOW.py compiled).",
)
@click.option(
    "--max-retries",
    type=click.IntRange(0, 100),
    default=DEFAULT_MAX_RETRIES,
    show_default=True,
    help="Retries per request before its tasks are reported as failed.",
)
@click.option(
    "--backoff",
    type=click.FloatRange(0.0),
    default=DEFAULT_BASE_DELAY,
    show_default=True,
    help="Base of the exponential backoff, seconds (full jitter).",
)
@click.option(
    "--max-backoff",
    type=click.FloatRange(0.0),
    default=DEFAULT_MAX_DELAY,
    show_default=True,
    help="Longest single backoff, seconds (a server's Retry-After is honoured as given).",
)
@click.option(
    "--max-wait",
    type=click.FloatRange(0.0),
    default=DEFAULT_MAX_TOTAL_WAIT,
    show_default=True,
    help="Most total seconds slept for one request's retries.",
)
@click.option(
    "--timeout",
    type=click.FloatRange(0.1),
    default=DEFAULT_TIMEOUT,
    show_default=True,
    help="Per-request timeout, seconds (a timed-out request's tasks are re-sent).",
)
@click.option("--quiet", "-q", is_flag=True, help="No progress output.")
def submit_cmd(
    source: str,
    job_id: str | None,
    endpoint: str | None,
    account: str | None,
    account_key: str | None,
    auth_kind: str,
    create_job: bool,
    pool_id: str | None,
    concurrency: int | None,
    resume: bool,
    adopt_existing: bool,
    journal_path: Path | None,
    max_retries: int,
    backoff: float,
    max_backoff: float,
    max_wait: float,
    timeout: float,
    quiet: bool,
) -> None:
    """Submit a plan directory (or WORKFLOW.py, compiled first) to a Batch job, exactly once.

    Credentials come from AZURE_BATCH_ENDPOINT, AZURE_BATCH_ACCOUNT and AZURE_BATCH_ACCESS_KEY
    (or the options). An interrupted submission continues with --resume.
    """
    from dagbatch.paths import file_in_the_way
    from dagbatch.submit.submission import submit_plan

    try:
        check_source(source)
        if journal_path is not None and (blocker := file_in_the_way(journal_path)) is not None:
            raise ConfigError(
                f"cannot write the journal {journal_path}: {blocker} is not a directory (--journal)"
            )
        client = client_from_options(
            endpoint,
            account,
            account_key,
            auth_kind,
            timeout=timeout,
            retry=RetryPolicy(
                max_retries=max_retries,
                base_delay=backoff,
                max_delay=max_backoff,
                max_total_wait=max_wait,
            ),
        )
        found = resolve_source(
            source, job_id=job_id, pool_id=pool_id, resume=resume, journal_path=journal_path
        )
        report = submit_plan(
            found.plan_dir,
            job_id=found.job_id,
            client=client,
            concurrency=concurrency,
            resume=resume,
            journal_path=journal_path or found.default_journal,
            create_job=create_job,
            pool_id=pool_id,
            progress=make_progress(quiet=quiet),
            adopt_existing=adopt_existing,
        )
    except DagbatchError as exc:
        fail(exc)
    except KeyboardInterrupt:
        _err("interrupted: run the same command with --resume to continue")
        sys.exit(ExitCode.INTERRUPTED)

    report_file = report_path_for(report.journal_path)
    try:
        write_report(report, report_file)
    except OSError as exc:
        _err(f"warning: could not write the JSON report: {exc}")
        print_report(report, None)
    else:
        print_report(report, report_file)
    sys.exit(ExitCode.OK if report.ok else ExitCode.INCOMPLETE)
