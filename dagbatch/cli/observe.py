"""`dagbatch status`, `watch`, `rerun` and `finish`: a thin shell over ``dagbatch.observe``.

Exit codes (``dagbatch.cli.exit_codes``): the verdict for status and watch (0 complete, 4
complete with failures, 5 stuck, 6 running, 7 terminated); rerun 0 when done, 8 where Batch
cannot do it; finish 0 when done, 6 when the job still runs; 2 usage, 3 service errors. Each
command's help says its own.
"""

from __future__ import annotations

import shlex
import sys
import time
from collections.abc import Callable, Coroutine
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias, TypeVar

import click
import orjson

from dagbatch.asyncrun import run_coroutine
from dagbatch.cli.exit_codes import ExitCode, fail
from dagbatch.cli.options import (
    GivenPath,
    client_from_options,
    concurrency_option,
    service_options,
)
from dagbatch.cli.output import write_stdout
from dagbatch.defaults import MAX_STDERR_TASKS, STDERR_TASKS
from dagbatch.errors import ConfigError, DagbatchError, RefusedError
from dagbatch.redact import redact

# ``dagbatch.observe`` (httpx, pydantic) is imported by the commands when they run:
# `dagbatch --help` and `dagbatch status --help` import none of it.
if TYPE_CHECKING:
    from dagbatch.observe.model import JobStatus
    from dagbatch.observe.service import JobService
    from dagbatch.observe.status import WorkflowView
    from dagbatch.observe.watch import Tick
    from dagbatch.submit.client import BatchClient

F = TypeVar("F", bound=Callable[..., Any])
#: A plan's view, or how to load it (in a thread, while the tasks are listed).
ViewSource: TypeAlias = "WorkflowView | Callable[[], WorkflowView] | None"
T = TypeVar("T")


def verdict_exit_code(status: JobStatus) -> ExitCode:
    """The exit code of `status` and `watch`: the verdict (README, "Exit codes")."""
    if status.verdict == "complete":
        bad = status.outcomes.get("failed", 0) + status.outcomes.get("cancelled", 0)
        return ExitCode.FAILED if bad else ExitCode.OK
    return {
        "running": ExitCode.RUNNING,
        "stuck": ExitCode.STUCK,
        "terminated": ExitCode.TERMINATED,
    }[status.verdict]


def _job_options(command: F) -> F:
    command = click.option(
        "--job-id", help="The job (default: plan.json's jobId; required without PLAN_DIR)."
    )(command)
    command = click.argument(
        "plan_dir",
        metavar="[PLAN_DIR]",
        required=False,
        type=GivenPath(path_type=Path),
        callback=_plan_dir_not_a_file,
    )(command)
    return service_options(command)


def _plan_dir_not_a_file(
    ctx: click.Context, param: click.Parameter, value: Path | None
) -> Path | None:
    """A file given as PLAN_DIR (most often the workflow file) is refused with where the plan
    directories are: ``submit WORKFLOW.py`` keeps its plan in ``.dagbatch/JOB/plan``."""
    if value is None or not value.is_file():
        return value
    found = sorted(str(p) for p in Path(".dagbatch").glob("*/plan") if p.is_dir())
    here = f"; plan directories here: {', '.join(found[:5])}" if found else ""
    raise click.BadParameter(
        f"{value} is a file; give the plan directory (`dagbatch submit WORKFLOW.py` keeps it "
        f"in .dagbatch/JOB/plan, JOB being the workflow's job id){here}",
        ctx=ctx,
        param=param,
    )


def _echo(text: str, *, err: bool = False) -> None:
    """A line (or a whole report) with secrets masked, on stderr or stdout; on stdout a
    reader that stops early ends the command with 141 (``write_stdout``)."""
    if err:
        click.echo(redact(text), err=True)
    else:
        write_stdout(redact(text) + "\n")


class _Reading:
    """The counts `status`, `watch`, `rerun` and `finish` show on stderr while they read a
    job and analyse it (a 200,000-task job takes seconds at each): a line rewritten in place
    on a terminal, erased when the count is complete; a plain line every 10 seconds
    otherwise, so a quick read prints nothing (``dagbatch.observe.progress``). Never on
    stdout, which carries the report or ``--json``."""

    def __init__(self, *, quiet: bool = False) -> None:
        from dagbatch.observe.progress import ANALYSING, LISTING, count_progress

        self.listing = count_progress(LISTING, quiet=quiet)
        self.analysing = count_progress(ANALYSING, quiet=quiet)

    def close(self) -> None:
        """Erase a line left on the terminal (the command was cut short)."""
        for line in (self.listing, self.analysing):
            if line is not None:
                line.close()


def _run(
    plan_dir: Path | None,
    job_id: str | None,
    creds: tuple[str | None, str | None, str | None, str],
    body: Callable[[JobService, ViewSource, BatchClient], Coroutine[Any, Any, T]],
    *,
    interrupted: str = "interrupted",
) -> T:
    """Open the view and the client, run ``body``, close; library errors exit the one way.
    ``interrupted``: what Ctrl-C says (how to go on, where a command leaves work half done)."""
    from dagbatch.observe.service import JobService
    from dagbatch.observe.status import plan_job_id, plan_view

    try:
        jid = plan_job_id(plan_dir, job_id) if plan_dir is not None else job_id
        if not jid:
            raise ConfigError("give a PLAN_DIR or --job-id")
        client = client_from_options(*creds)
        # The plan is read (and checked) in a thread while the job's tasks are listed.
        view = partial(plan_view, plan_dir, job_id) if plan_dir is not None else None

        async def go() -> T:
            async with client:
                return await body(JobService(client, jid), view, client)

        return run_coroutine(go())
    except DagbatchError as exc:
        # One wording for every command: what the service refused is said as `submit` and
        # `show` say it (a job it does not hold: ``service.job_not_found``).
        fail(exc)
    except KeyboardInterrupt:
        _echo(interrupted, err=True)
        sys.exit(ExitCode.INTERRUPTED)


def _target(plan_dir: Path | None, job_id: str | None) -> str:
    """The arguments that name this job again in a command the output suggests: the plan
    directory and the --job-id the user gave (another job than plan.json's, perhaps), so the
    suggested command acts on the same job."""
    parts = [] if plan_dir is None else [shlex.quote(str(plan_dir))]
    if job_id is not None:
        parts.append(f"--job-id {shlex.quote(job_id)}")
    return " ".join(parts)


@click.command("status")
@_job_options
@click.option("--json", "as_json", is_flag=True, help="One JSON object on stdout, for CI.")
@click.option(
    "--stderr-tasks",
    type=click.IntRange(0, MAX_STDERR_TASKS),
    default=STDERR_TASKS,
    show_default=True,
    help="Failed tasks whose stderr.txt tail is read.",
)
def status_cmd(
    plan_dir: Path | None,
    job_id: str | None,
    endpoint: str | None,
    account: str | None,
    account_key: str | None,
    auth_kind: str,
    as_json: bool,
    stderr_tasks: int,
) -> None:
    """Where is my workflow? Counts by state and wave, running and failed tasks, the tasks
    that can never run and why, and a verdict (also the exit code).

    Exit codes: 0 complete, every task succeeded or was skipped; 4 complete, some failed; 5
    stuck (only tasks that can never run remain, or the job is disabled); 6 running; 7
    terminated; 2 usage; 3 the service refused a call.
    """
    from dagbatch.observe.render import render_status
    from dagbatch.observe.status import build_status, read_snapshot

    reading = _Reading()

    async def body(service: JobService, view: ViewSource, _: BatchClient) -> JobStatus:
        v, snap = await read_snapshot(
            service, view, stderr_tasks=stderr_tasks, progress=reading.listing
        )
        return build_status(v, snap, progress=reading.analysing)[0]

    try:
        status = _run(plan_dir, job_id, (endpoint, account, account_key, auth_kind), body)
    finally:
        reading.close()
    if as_json:
        _echo(orjson.dumps(status.to_dict(), option=orjson.OPT_INDENT_2).decode())
    else:
        _echo(render_status(status, target=_target(plan_dir, job_id)))
    sys.exit(verdict_exit_code(status))


def _tick_line(tick: Tick) -> str:
    s = tick.status
    o = s.outcomes
    parts = " ".join(f"{k} {o[k]:,}" for k in o if o[k])
    return f"[{tick.elapsed:7.1f}s] {s.verdict}: {parts} ({tick.rate:.1f} completions/s)"


@click.command("watch")
@_job_options
@click.option(
    "--interval",
    type=click.FloatRange(0.1),
    default=2.0,
    show_default=True,
    help="Seconds between refreshes.",
)
@click.option(
    "--timeout", type=click.FloatRange(0.0), help="Stop watching after this many seconds."
)
@click.option(
    "--finish",
    "finish_when_stuck",
    is_flag=True,
    help="When only tasks that can never run remain, terminate them (as `finish`) and watch "
    "the job complete.",
)
@click.option("--plain", is_flag=True, help="One line per change even on a terminal.")
def watch_cmd(
    plan_dir: Path | None,
    job_id: str | None,
    endpoint: str | None,
    account: str | None,
    account_key: str | None,
    auth_kind: str,
    interval: float,
    timeout: float | None,
    finish_when_stuck: bool,
    plain: bool,
) -> None:
    """The status, refreshed until the job completes or is stuck: a live display on a
    terminal, one line per change otherwise; the exit code is the last verdict.

    Exit codes: 0 complete, every task succeeded or was skipped; 4 complete, some failed; 5
    stuck; 6 still running when --timeout was reached; 7 terminated; 2 usage; 3 the service
    refused a call.
    """
    from dagbatch.observe.progress import (
        ANALYSING,
        LISTING,
        TERMINATING,
        CountLine,
        count_progress,
        count_text,
    )
    from dagbatch.observe.render import render_finish, render_status
    from dagbatch.observe.watch import watch

    target = _target(plan_dir, job_id)
    live: Any = None
    if not plain and sys.stdout.isatty():
        try:
            from rich.console import Console
            from rich.live import Live
            from rich.text import Text

            live = Live(Text(""), console=Console(), refresh_per_second=4)
        except ImportError:
            live = None
    shown = ""  # the live display's status text, below which a finish counts its terminates
    counter: CountLine | None = None
    began: float | None = None

    def finish_progress(done: int, total: int) -> None:
        """The count of a ``--finish``'s terminate requests: in the live display, under the
        status; else on stderr, as `dagbatch finish` shows it."""
        nonlocal counter, began
        if live is None:
            counter = counter or count_progress(TERMINATING)
            if counter is not None:
                counter(done, total)
            return
        from rich.text import Text

        began = time.monotonic() if began is None else began
        count = count_text(TERMINATING, done, total, time.monotonic() - began)
        live.update(Text(redact(f"{shown}\n{count}")))

    # The first refresh reads and analyses the whole job before anything is shown: its
    # counts on stderr as `status` shows them, or in the live display.
    reading = _Reading() if live is None else None

    def in_live(what: str) -> Callable[[int, int], None]:
        """A count drawn in the live display (empty once complete)."""
        began = time.monotonic()

        def progress(done: int, total: int) -> None:
            from rich.text import Text

            text = count_text(what, done, total, time.monotonic() - began)
            live.update(Text(redact(text if done < total else "")))

        return progress

    async def body(service: JobService, view: ViewSource, _: BatchClient) -> JobStatus:
        nonlocal shown
        last: JobStatus | None = None
        previous = ""
        async for tick in watch(
            service,
            view,
            interval=interval,
            timeout=timeout,
            finish_when_stuck=finish_when_stuck,
            finish_progress=finish_progress,
            listing=reading.listing if reading is not None else in_live(LISTING),
            analysing=reading.analysing if reading is not None else in_live(ANALYSING),
        ):
            if reading is not None:
                reading.close()
            if counter is not None:
                counter.close()  # the finish is over: its report follows
            last = tick.status
            if live is not None:
                from rich.text import Text

                header = f"elapsed {tick.elapsed:.0f}s, {tick.rate:.1f} completions/s\n"
                shown = header + render_status(tick.status, target=target)
                live.update(Text(redact(shown)))
            else:
                line = _tick_line(tick)
                key = line.split("]", 1)[1]
                if key != previous:
                    _echo(line)
                    previous = key
            if tick.finished is not None:
                message = render_finish(tick.finished, target=target)
                if live is not None:
                    live.console.print(redact(message))
                else:
                    _echo(message)
        assert last is not None
        return last

    started = time.monotonic()
    if live is not None:
        with live:
            status = _run(plan_dir, job_id, (endpoint, account, account_key, auth_kind), body)
    else:
        try:
            status = _run(plan_dir, job_id, (endpoint, account, account_key, auth_kind), body)
        finally:
            if reading is not None:
                reading.close()
    if live is None:
        _echo(render_status(status, target=target))
    _echo(f"watched for {time.monotonic() - started:.1f}s")
    sys.exit(verdict_exit_code(status))


@click.command("rerun")
@_job_options
@click.option("--failed", is_flag=True, help="Rerun every task that ran and failed.")
@click.option(
    "--task",
    "tasks",
    multiple=True,
    help="Rerun this task (your name for it, or its id); repeat for more.",
)
@click.option("--dry-run", is_flag=True, help="Say what would be rerun; change nothing.")
@concurrency_option
@click.option("--json", "as_json", is_flag=True, help="The report as one JSON object.")
def rerun_cmd(
    plan_dir: Path | None,
    job_id: str | None,
    endpoint: str | None,
    account: str | None,
    account_key: str | None,
    auth_kind: str,
    failed: bool,
    tasks: tuple[str, ...],
    dry_run: bool,
    concurrency: int | None,
    as_json: bool,
) -> None:
    """Reactivate failed tasks (Batch's reactivate task) so the tasks that waited on them run.
    Says first which tasks will resume and which stay stuck for other reasons.

    Exit codes: 0 done (or nothing to do); 8 Batch cannot do it (the job is completed, or a
    named task is not a failed one: the fix is printed); 2 usage; 3 the service refused a
    reactivate (each listed).
    """
    from dagbatch.observe import steer
    from dagbatch.observe.model import RerunReport
    from dagbatch.observe.progress import REACTIVATING, count_progress
    from dagbatch.observe.render import render_rerun, render_rerun_plan
    from dagbatch.observe.status import read_snapshot

    try:
        steer.rerun_selection(failed, tasks)  # before any request
    except ConfigError as exc:
        fail(exc)

    reading = _Reading()

    async def body(service: JobService, view: ViewSource, _: BatchClient) -> Any:
        v, snap = await read_snapshot(service, view, stderr_tasks=0, progress=reading.listing)
        pending = steer.read_pending(v, snap.job) if failed else frozenset()
        try:
            plan = steer.plan_rerun(
                v, snap, failed=failed, tasks=tasks, pending=pending, progress=reading.analysing
            )
        except RefusedError as exc:
            if as_json:  # still one JSON object on stdout, for the script that asked
                return exc
            raise
        if not as_json:
            _echo(render_rerun_plan(plan))
        if dry_run or not plan.reactivate:
            return RerunReport(plan=plan, reactivated=(), errors=())
        progress = count_progress(REACTIVATING)  # one request a task: thousands take a while
        try:
            return await steer.rerun(
                service, v, snap, plan, concurrency=concurrency, progress=progress
            )
        finally:
            if progress is not None:
                progress.close()

    again = f"dagbatch rerun {_target(plan_dir, job_id)} --failed"
    # Only --failed reads the record of what a rerun cut short was still to bring back; it
    # takes every other failed task of the job too, which a --task rerun had not chosen.
    besides = "" if failed else " (and every other failed task of the job)"
    try:
        report = _run(
            plan_dir,
            job_id,
            (endpoint, account, account_key, auth_kind),
            body,
            interrupted=f"interrupted: some tasks may be reactivated and others not yet; "
            f"`{again}` brings back the rest{besides}",
        )
    finally:
        reading.close()
    if isinstance(report, RefusedError):
        _echo(orjson.dumps({"refused": str(report)}, option=orjson.OPT_INDENT_2).decode())
        fail(report)
    if as_json:
        _echo(orjson.dumps(report.to_dict(), option=orjson.OPT_INDENT_2).decode())
    elif not dry_run and report.plan.reactivate:
        _echo(render_rerun(report))
        _echo(f"follow it with `dagbatch watch {_target(plan_dir, job_id)}`")
    elif dry_run:
        _echo("dry run: nothing was reactivated (run it again without --dry-run)")
    if report.errors:
        sys.exit(ExitCode.INCOMPLETE)
    if report.plan.refused:
        sys.exit(ExitCode.REFUSED)
    sys.exit(ExitCode.OK)


@click.command("finish")
@_job_options
@concurrency_option
@click.option("--json", "as_json", is_flag=True, help="The report as one JSON object.")
@click.option("--quiet", "-q", is_flag=True, help="No progress output.")
def finish_cmd(
    plan_dir: Path | None,
    job_id: str | None,
    endpoint: str | None,
    account: str | None,
    account_key: str | None,
    auth_kind: str,
    concurrency: int | None,
    as_json: bool,
    quiet: bool,
) -> None:
    """When only tasks that can never run remain, terminate them (Batch's terminate task) so
    the job completes; lists what it terminated and why. Never touches a task that could
    still run.

    Exit codes: 0 done (or nothing to do); 6 the job still runs: nothing terminated; 2 usage;
    3 the service refused a terminate (each listed).
    """
    from dagbatch.observe import steer
    from dagbatch.observe.progress import TERMINATING, count_progress
    from dagbatch.observe.render import render_finish
    from dagbatch.observe.status import read_snapshot

    progress = count_progress(TERMINATING, quiet=quiet)
    reading = _Reading(quiet=quiet)

    async def body(service: JobService, view: ViewSource, _: BatchClient) -> Any:
        v, snap = await read_snapshot(service, view, stderr_tasks=0, progress=reading.listing)
        return await steer.finish(
            service,
            v,
            snap,
            progress=progress,
            concurrency=concurrency,
            analysing=reading.analysing,
        )

    again = f"dagbatch finish {_target(plan_dir, job_id)}"
    try:
        report = _run(
            plan_dir,
            job_id,
            (endpoint, account, account_key, auth_kind),
            body,
            interrupted=f"interrupted: some tasks may be terminated and others not yet; `{again}` "
            "terminates the rest",
        )
    finally:
        reading.close()
        if progress is not None:
            progress.close()
    if as_json:
        _echo(orjson.dumps(report.to_dict(), option=orjson.OPT_INDENT_2).decode())
    else:
        _echo(render_finish(report, target=_target(plan_dir, job_id)))
    if report.errors:
        sys.exit(ExitCode.INCOMPLETE)
    if report.verdict_before == "running":
        sys.exit(ExitCode.RUNNING)
    sys.exit(ExitCode.OK)
