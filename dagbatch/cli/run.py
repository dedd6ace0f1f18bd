"""`dagbatch run`: try a workflow on this machine (a thin shell over ``dagbatch.local.run``)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from dagbatch.cli import exit_codes
from dagbatch.cli.exit_codes import ExitCode
from dagbatch.cli.options import check_writable, local_node_options
from dagbatch.cli.output import write_stdout
from dagbatch.errors import DagbatchError

#: Rows of the task table shown on screen; every task is in --report.
SHOWN: int = 40

_EXIT_FOR = {
    "ok": ExitCode.OK,
    "tasks-failed": ExitCode.FAILED,
    "tasks-never-ran": ExitCode.STUCK,
    "timeout": ExitCode.RUNNING,
}


def _err(message: str) -> None:
    click.echo(message, err=True)


def parse_fail(values: tuple[str, ...]) -> dict[str, tuple[int, float | None]]:
    """``--fail ID[=CODE]`` values into a what-if table (CODE defaults to 1)."""
    table: dict[str, tuple[int, float | None]] = {}
    for value in values:
        task_id, sep, code = value.partition("=")
        if not task_id:
            raise click.BadParameter(f"{value!r}: expected ID or ID=CODE", param_hint="--fail")
        try:
            table[task_id] = (int(code) if sep else 1, None)
        except ValueError as exc:
            raise click.BadParameter(
                f"{value!r}: the exit code must be an integer", param_hint="--fail"
            ) from exc
    return table


def _shown(path: Path) -> str:
    """A path relative to the working directory when it is below it."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _duration(start: float | None, end: float | None) -> str:
    return f"{end - start:.2f}s" if start is not None and end is not None else "-"


def report_lines(report: object) -> list[str]:
    """The run's report, for people: its lines (``run_cmd`` writes them in one block)."""
    from dagbatch.local.run import RunReport

    assert isinstance(report, RunReport)
    job = report.job
    reason = f" ({job.terminate_reason})" if job.terminate_reason else ""
    by = f" by task {report.terminated_by}" if report.terminated_by else ""
    if report.job_action == "disable" and job.state == "completed":
        # Disabled by the task, then ended by onAllTasksComplete: both are true.
        by = f", after task {report.terminated_by}'s jobAction disabled it"
    lines: list[str] = []
    echo = lines.append
    outcomes = report.outcomes
    succeeded = sum(1 for o in outcomes if o.succeeded)
    mode = " (simulated)" if report.simulated == frozenset() else ""
    echo("")
    echo(f"job {report.job_id}: {job.state}{reason}{by}")
    skipped = f", skipped {len(report.skipped)}" if report.skipped else ""
    cut = f", cut off by the --timeout {len(report.cut_off)}" if report.cut_off else ""
    requeued = f", requeued {len(report.requeued)}" if report.requeued else ""
    echo(
        f"tasks {len(outcomes)}: succeeded {succeeded}, failed {len(report.failed)}{skipped}"
        f"{cut}{requeued}, never ran {len(report.never_ran)}; {report.elapsed:.1f} s{mode}"
    )
    if report.timed_out:
        echo("the --timeout was reached: running tasks were terminated")
    finished = report.finished
    if finished is not None and (finished.terminated or finished.errors):
        echo(
            f"ended the job as `dagbatch finish` does: terminated {len(finished.terminated)} "
            "task(s) that could never run"
            + (f"; {len(finished.errors)} could not be terminated" if finished.errors else "")
        )
        for problem in finished.errors:
            echo(f"  {problem.name}: {problem.reason}")
    # Failed and never-ran tasks first: they are what a reader looks for.
    ordered = sorted(
        outcomes, key=lambda o: (o.succeeded or report.is_skipped(o.task_id), o.status.ran)
    )
    echo("")
    echo(f"{'TASK':<24} {'STATE':<10} {'EXIT':>5} {'TIME':>8}  OUTPUT / WHY")
    for o in ordered[:SHOWN]:
        st = o.status
        code = "-" if st.exit_code is None else str(st.exit_code)
        strand = report.terminated.get(o.task_id)
        if strand is not None and strand.kind == "skipped":
            detail = "skipped: " + strand.explain()
        elif o.reason is not None and o.reason.requeued:
            detail = f"requeued after it started: {o.reason.text()}"
        elif o.reason is not None:
            ended = " (terminated at the end)" if strand is not None else ""
            detail = f"never ran{ended}: {o.reason.text()}"
        elif o.task_id in report.cut_off:
            detail = f"cut off by the --timeout ({st.failure_code})"
        elif st.failure_code and st.failure_code != "FailureExitCode":
            detail = f"{st.failure_code}: {st.failure_message}"
        else:
            out = report.output_dir(o.task_id)
            detail = _shown(out) if out is not None and st.ran else ""
            if o.satisfied:
                detail = f"exit code {st.exit_code} counts as success" + (
                    f": {detail}" if detail else ""
                )
        echo(f"{o.task_id:<24} {st.state:<10} {code:>5} {_duration(st.start, st.end):>8}  {detail}")
    if len(ordered) > SHOWN:
        echo(f"... and {len(ordered) - SHOWN} more (all of them in --report FILE.json)")
    if report.node_root is not None:
        echo("")
        root = _shown(report.node_root)
        echo(
            f"task files: {root}/workitems/{report.job_id}/job-1/TASK/ "
            "(stdout.txt, stderr.txt, wd/)"
        )
    return lines


@click.command("run")
@click.argument("source", metavar="WORKFLOW.py[:NAME]|PLAN_DIR")
@click.option(
    "--workdir",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Run directory, kept after the run (default: .dagbatch/JOB/run).",
)
@local_node_options
@click.option(
    "--fail",
    "fail",
    multiple=True,
    metavar="ID[=CODE]",
    help="What if task ID ends with CODE (default 1): it does not run. Repeatable.",
)
@click.option(
    "--report",
    "report_file",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Also write the report as JSON (every task: state, exit code, whether it ran, why not).",
)
@click.option(
    "--timeout",
    type=click.FloatRange(0.0, min_open=True),
    default=None,
    help="Stop after this many seconds: running tasks are terminated.",
)
@click.option(
    "--picture",
    "picture_file",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Also draw the plan coloured by the outcome (as `dagbatch show`); the format comes "
    "from the suffix: .svg, .html, .dot, .mmd, else text.",
)
@click.option(
    "--no-finish",
    is_flag=True,
    help="Leave the tasks that can never run active at the end (by default they are "
    "terminated as `dagbatch finish` does, so the job can complete).",
)
@click.option("--quiet", "-q", is_flag=True, help="No live progress.")
def run_cmd(
    source: str,
    slots: int | None,
    workdir: Path | None,
    simulate: bool,
    exit_codes_file: Path | None,
    fail: tuple[str, ...],
    report_file: Path | None,
    timeout: float | None,
    picture_file: Path | None,
    no_finish: bool,
    quiet: bool,
) -> None:
    """Try a workflow on this machine: compile it (if needed), run its tasks in an embedded
    local Batch emulator with Batch's exact dependency and exit rules, and report what ran,
    what failed and why the rest never ran.

    At the end, tasks that can never run are terminated as `dagbatch finish` does (a failure
    handler whose parent succeeded is reported skipped); --no-finish leaves them active.

    Exit codes: 0 every task ran and succeeded (or was skipped); 4 some task failed; 5 no task
    failed but some never ran; 6 the --timeout was reached; 1 invalid workflow; 2 usage; 3 the
    emulator refused the plan.
    """
    from dagbatch.emulator.simulate import load_exit_codes
    from dagbatch.local.run import RunOptions, Snapshot, run_local

    check_writable(report_file, "--report")
    check_writable(picture_file, "--picture")
    try:
        codes = dict(load_exit_codes(exit_codes_file)) if exit_codes_file else {}
        codes.update(parse_fail(fail))
        options = RunOptions(
            slots=slots,
            workdir=workdir,
            simulate=simulate,
            exit_codes=codes,
            timeout=timeout,
            finish=not no_finish,
        )

        def show(snapshot: Snapshot) -> None:
            c = snapshot.counts
            running = ", ".join(snapshot.running)
            more = f": {running}" if running else ""
            retries = f"  retries {snapshot.retries}" if snapshot.retries else ""
            _err(
                f"[{snapshot.elapsed:6.1f}s] active {c['active']}  running {c['running']}{more}  "
                f"completed {c['completed']}/{snapshot.total} ({snapshot.failed} failed)"
                f"{retries}"
            )

        from dagbatch.emulator.server import sigterm_as_exit

        with sigterm_as_exit():  # `kill`: the tasks' processes are killed too, as on Ctrl-C
            report = run_local(source, options, on_progress=None if quiet else show)
    except DagbatchError as exc:
        exit_codes.fail(exc)
    # The files first, then standard output in one block: a reader that stops early (`|
    # head`) ends the command with 141 (write_stdout), and the files are written all the same.
    lines = report_lines(report)
    warnings: list[str] = []
    if report_file is not None:
        try:
            report_file.write_text(json.dumps(report.to_dict(), indent=1) + "\n", encoding="utf-8")
        except OSError as exc:
            warnings.append(f"warning: could not write {report_file}: {exc.strerror or exc}")
        else:
            lines.append(f"report: {report_file}")
    if picture_file is not None:
        try:
            picture = report.write_picture(picture_file)
        except (OSError, DagbatchError, ValueError) as exc:
            why = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
            warnings.append(f"warning: could not write {picture_file}: {why}")
        else:
            lines.append(f"picture: {picture_file} ({len(picture.nodes)} node(s))")
    try:
        write_stdout("\n".join(lines) + "\n")
    finally:
        # After the report, as before; and said even when the reader left early (141), so a
        # file that could not be written is never missing without a word.
        for warning in warnings:
            _err(warning)
    sys.exit(_EXIT_FOR[report.verdict])
