"""`dagbatch submit`: send a plan (or a workflow, compiled first) to a Batch job exactly once.

A thin shell over ``dagbatch.submit.submission``: reads options and credentials, prints the
report, picks the exit code (0 every task landed, 1 invalid workflow, 2 usage, 3 submission
incomplete or refused). The account key is taken from ``AZURE_BATCH_ACCESS_KEY`` (preferred)
or ``--account-key`` and never printed.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from dagbatch.cli.exit_codes import ExitCode, fail
from dagbatch.cli.options import client_from_options, service_options
from dagbatch.errors import DagbatchError
from dagbatch.submit.client import RetryPolicy, redact
from dagbatch.submit.progress import make_progress
from dagbatch.submit.submission import (
    DEFAULT_CONCURRENCY,
    SubmitReport,
    report_path_for,
    resolve_source,
    submit_plan,
    write_report,
)

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
        f"confirmed by an earlier run {report.previously_confirmed}; "
        f"{report.requests} request(s), {report.retries} retries",
    ]
    if report.job_created:
        lines.append("  job created")
    if report.job_terminate_set:
        lines.append("  job set to terminate when all its tasks complete")
    if report.failures:
        lines.append(f"{len(report.failures)} task(s) did not land:")
        for f in report.failures[:MAX_PRINTED_FAILURES]:
            lines.append(f"  {f.task_id}: {f.code} ({f.kind}): {f.message}")
        if len(report.failures) > MAX_PRINTED_FAILURES:
            more = len(report.failures) - MAX_PRINTED_FAILURES
            lines.append(f"  ... and {more} more (all of them in the JSON report)")
    if report.not_submitted:
        lines.append(
            f"{len(report.not_submitted)} task(s) of later waves were not submitted because an "
            "earlier wave did not fully land; fix the cause and run again with --resume"
        )
    if report_file is not None:
        lines.append(f"report: {report_file}")
    if not report.ok:
        lines.append(f"journal: {report.journal_path} (run again with --resume to continue)")
    click.echo(redact("\n".join(lines)))


@click.command("submit")
@click.argument("source", metavar="PLAN_DIR|WORKFLOW.py[:NAME]")
@click.option("--job-id", help="Job to add the tasks to (default: plan.json's jobId).")
@service_options
@click.option("--create-job", is_flag=True, help="Create the job from job.json first.")
@click.option("--pool-id", help="Pool for --create-job (fills job.json's poolInfo).")
@click.option(
    "--concurrency",
    type=click.IntRange(1, 256),
    default=DEFAULT_CONCURRENCY,
    show_default=True,
    help="Requests of one wave in flight at once.",
)
@click.option("--resume", is_flag=True, help="Continue a submission from its journal.")
@click.option(
    "--journal",
    "journal_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Journal file (default: PLAN_DIR/journal-JOB.jsonl).",
)
@click.option(
    "--max-retries",
    type=click.IntRange(0, 100),
    default=8,
    show_default=True,
    help="Retries per request before its tasks are reported as failed.",
)
@click.option(
    "--backoff",
    type=click.FloatRange(0.0),
    default=0.5,
    show_default=True,
    help="Base of the exponential backoff, seconds (full jitter).",
)
@click.option(
    "--max-backoff",
    type=click.FloatRange(0.0),
    default=30.0,
    show_default=True,
    help="Longest single backoff, seconds (a server's Retry-After is honoured as given).",
)
@click.option(
    "--max-wait",
    type=click.FloatRange(0.0),
    default=600.0,
    show_default=True,
    help="Most total seconds slept for one request's retries.",
)
@click.option(
    "--timeout",
    type=click.FloatRange(0.1),
    default=60.0,
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
    concurrency: int,
    resume: bool,
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
    try:
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
            max_connections=max(concurrency, 16) + 8,
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
