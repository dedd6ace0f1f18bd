"""`dagbatch run`: try a workflow on this machine (a thin shell over ``dagbatch.local.run``)."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Final

import click
import orjson

from dagbatch.cli import exit_codes
from dagbatch.cli.exit_codes import GROUP_OVER, ExitCode
from dagbatch.cli.local_node import require_emulator_extra, stop_once
from dagbatch.cli.options import GivenPath, check_writable, given_source, local_node_options
from dagbatch.cli.output import write_stdout
from dagbatch.errors import DagbatchError
from dagbatch.paths import write_whole

if TYPE_CHECKING:
    from dagbatch.local.run import RunReport
    from dagbatch.observe.outcome import Reason, TaskOutcome

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
            entry = (int(code) if sep else 1, None)
        except ValueError as exc:
            raise click.BadParameter(
                f"{value!r}: the exit code must be an integer", param_hint="--fail"
            ) from exc
        if table.setdefault(task_id, entry) != entry:
            raise click.BadParameter(
                f"{task_id!r} is given twice, with exit codes {table[task_id][0]} and "
                f"{entry[0]}: which one is meant?",
                param_hint="--fail",
            )
    from dagbatch.emulator.simulate import parse_exit_codes
    from dagbatch.errors import ConfigError

    try:  # the what-if file's rules (an int32 code)
        return parse_exit_codes({t: code for t, (code, _) in table.items()}, "--fail")
    except ConfigError as exc:
        raise click.BadParameter(str(exc).removeprefix("--fail: "), param_hint="--fail") from exc


def _shown(path: Path) -> str:
    """A path relative to the working directory when it is below it."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _duration(start: float | None, end: float | None) -> str:
    return f"{end - start:.2f}s" if start is not None and end is not None else "-"


#: Where the report's table rows go, first to last: what a reader looks for comes first.
_FAILED, _CUT_OFF, _REQUEUED, _NEVER_RAN, _SKIPPED, _SUCCEEDED = range(6)
#: Of the last line of a failed task's stderr.txt, what the report reads and shows at most.
STDERR_TAIL_BYTES: int = 4096
STDERR_LINE_CHARS: int = 200


def _rank(report: RunReport, o: TaskOutcome, failed: set[str]) -> int:
    """Where a task's row goes in the table (``_FAILED`` first)."""
    if o.task_id in failed:
        return _FAILED
    if o.task_id in report.cut_off:
        return _CUT_OFF
    if o.reason is not None and o.reason.requeued:
        return _REQUEUED
    if report.is_skipped(o.task_id):
        return _SKIPPED
    return _SUCCEEDED if o.succeeded else _NEVER_RAN


def _root(reason: Reason) -> tuple[Reason, bool]:
    """The reason at the end of a never-ran chain (past every parent that never ran either),
    and whether there was such a parent (``Reason.end``: linear time over a chain's tasks)."""
    root = reason.end()
    return root, root is not reason


def _last_stderr_line(directory: Path) -> str | None:
    """The last non-blank line of a task's ``stderr.txt`` (its end only is read; secrets
    masked, control characters shown escaped), or None.

    The task could have put anything in its place: only a regular file is read, never
    through a symbolic link (``/dev/zero`` would be read for ever, a FIFO would block, a link
    to another file would print it), and at most ``STDERR_TAIL_BYTES`` of it."""
    from dagbatch.redact import redact
    from dagbatch.visible import visible

    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    try:
        fd = os.open(directory / "stderr.txt", flags)
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            return None
        tail = os.pread(fd, STDERR_TAIL_BYTES, max(0, info.st_size - STDERR_TAIL_BYTES))
    except OSError:
        return None
    finally:
        os.close(fd)
    text = tail.decode("utf-8", "replace")
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        return None
    line = visible(redact(lines[-1]))
    return line if len(line) <= STDERR_LINE_CHARS else line[: STDERR_LINE_CHARS - 3] + "..."


def _stderr_file(directory: Path) -> str:
    """Where a failed task said why: ``stderr: PATH``."""
    return f"stderr: {_shown(directory / 'stderr.txt')}"


def _last_words(directory: Path) -> list[str]:
    """The row under a failed task's: the last line of its stderr, if there is one."""
    last = _last_stderr_line(directory)
    return [] if last is None else [f"  last line of its stderr: {last}"]


#: The TASK column's width: at least this; more for longer labels, up to the maximum.
TASK_WIDTH: Final = 24
TASK_WIDTH_MAX: Final = 72


def _label(report: RunReport, task_id: str) -> str:
    """A task as the table names it: its id, or, for an id ``--over-limit renumber`` gave,
    the workflow's name for it and the id (``renders-frame-7 (6)``)."""
    name = report.names.get(task_id)
    return f"{name} ({task_id})" if name else task_id


def _task_width(report: RunReport) -> int:
    """The TASK column's width: ``TASK_WIDTH``, or the longest label, up to the maximum (the
    columns after it stay aligned for ids up to Batch's 64 characters)."""
    longest = max((len(o.task_id) for o in report.outcomes), default=0)
    if report.names:
        longest = max(longest, *(len(_label(report, t)) for t in report.names))
    return min(max(TASK_WIDTH, longest), TASK_WIDTH_MAX)


def _row(report: RunReport, o: TaskOutcome, width: int) -> list[str]:
    """One task's row of the table (a failed task's last line of stderr under it)."""
    st = o.status
    code = "-" if st.exit_code is None else str(st.exit_code)
    strand = report.terminated.get(o.task_id)
    below: list[str] = []
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
        out = report.output_dir(o.task_id)
        if o.failed and out is not None and st.ran and st.exit_code is not None:
            # Its process ran (killed at its maxWallClockTime, say): what it wrote, under.
            below.append(f"  {_stderr_file(out)}")
            below.extend(_last_words(out))
    else:
        out = report.output_dir(o.task_id)
        detail = _shown(out) if out is not None and st.ran else ""
        if o.satisfied:
            detail = f"exit code {st.exit_code} counts as success" + (
                f": {detail}" if detail else ""
            )
        elif o.failed and out is not None and st.ran:
            # The cause a reader looks for: where the task said why, and its last words.
            detail = _stderr_file(out)
            below.extend(_last_words(out))
    label = _label(report, o.task_id)
    row = f"{label:<{width}} {st.state:<10} {code:>5} {_duration(st.start, st.end):>8}  {detail}"
    return [row.rstrip(), *below]


def _folded(report: RunReport, group: list[TaskOutcome], width: int) -> list[str]:
    """The one row of many tasks that never ran for the same root cause."""
    first = group[0]
    assert first.reason is not None
    root, _ = _root(first.reason)
    through = sum(1 for o in group if o.reason is not None and _root(o.reason)[1])
    ended = " (terminated at the end)" if first.task_id in report.terminated else ""
    how = ""
    if through == len(group):
        how = ", each through a parent that never ran"
    elif through:
        how = f", directly or ({through:,} of them) through a parent that never ran"
    ids = [_label(report, o.task_id) for o in group]
    named = ", ".join(ids if len(ids) <= 4 else [*ids[:3], "...", ids[-1]])
    among = sum(1 for o in group if o.task_id in report.barriers)
    tasks = f"{len(group) - among:,} tasks" + (f" (+{among:,} barrier)" if among else "")
    return [
        f"{tasks:<{width}} {first.status.state:<10} {'-':>5} {'-':>8}  never ran{ended}: "
        f"{root.text()}{how} ({named})"
    ]


def _table(report: RunReport, width: int) -> tuple[list[list[str]], list[int]]:
    """The table's rows (each one or more lines) and how many tasks each stands for: failed
    tasks first, then cut off, requeued, never ran, skipped, succeeded (each in plan order);
    more than ``GROUP_OVER`` tasks that never ran for the same root cause (and are in the
    same state) fold into one row."""
    failed = {o.task_id for o in report.failed}
    ordered = sorted(report.outcomes, key=lambda o: _rank(report, o, failed))
    groups: dict[tuple[str, bool, str], list[TaskOutcome]] = {}
    for o in ordered:
        if o.reason is not None and _rank(report, o, failed) == _NEVER_RAN:
            key = (o.status.state, o.task_id in report.terminated, _root(o.reason)[0].text())
            groups.setdefault(key, []).append(o)
    folded = {id(g[0]): g for g in groups.values() if len(g) > GROUP_OVER}
    inside = {id(o) for g in folded.values() for o in g}
    rows: list[list[str]] = []
    sizes: list[int] = []
    for o in ordered:
        group = folded.get(id(o))
        if group is not None:
            rows.append(_folded(report, group, width))
            sizes.append(len(group))
        elif id(o) not in inside:
            rows.append(_row(report, o, width))
            sizes.append(1)
    return rows, sizes


def _finish_line(report: RunReport) -> list[str]:
    """What the finish at the end did, in words that agree with the job's line above it: it
    ends tasks, and the job completes only if it is set to terminate when they complete."""
    finished = report.finished
    if finished is None or not (finished.terminated or finished.errors):
        return []
    job = report.job
    then = ""
    if job.state == "completed":
        then = ", so the job completed"
    elif job.state == "active" and report.on_all_tasks_complete != "terminatejob":
        setting = report.on_all_tasks_complete or "noaction"
        then = f"; the job stays active (its onAllTasksComplete is {setting}, not terminatejob)"
    lines = [
        f"terminated the {len(finished.terminated):,} task(s) left waiting that could never run, "
        "as `dagbatch finish` does"
        + (f" ({len(finished.errors)} could not be terminated)" if finished.errors else "")
        + then
    ]
    lines.extend(f"  {problem.name}: {problem.reason}" for problem in finished.errors)
    return lines


def _timeout_line(report: RunReport) -> str:
    """What the ``--timeout`` stopped. It counts from the run's start, so a run whose tasks
    take long to compile and add can reach it before any task starts: that is said, with the
    time the preparation took; or before the workflow was even loaded or compiled."""
    if report.stopped_while is not None:
        return (
            f"the --timeout was reached while the workflow was still {report.stopped_while}: "
            f"stopped after {report.elapsed:.1f} s, before any task was added; the run "
            "directory was left as it was (give a longer --timeout)"
        )
    if report.cut_off:
        return "the --timeout was reached: running tasks were terminated"
    if any(o.status.ran for o in report.outcomes):
        return "the --timeout was reached while no task was running"
    return (
        "the --timeout was reached before any task started: compiling the workflow and "
        f"adding its {len(report.outcomes):,} tasks took {report.prepared_after:.1f} s "
        "(give a longer --timeout)"
    )


def report_lines(report: RunReport) -> list[str]:
    """The run's report, for people: its lines (``run_cmd`` writes them in one block)."""
    if report.stopped_while is not None:  # no job, no task: the one line says it all
        return [_timeout_line(report)]
    job = report.job
    reason = f" ({job.terminate_reason})" if job.terminate_reason else ""
    by = f" by task {report.terminated_by}" if report.terminated_by else ""
    if report.job_action == "disable" and job.state == "completed":
        # Disabled by the task, then ended by onAllTasksComplete: both are true.
        by = f", after task {report.terminated_by}'s jobAction disabled it"
    lines: list[str] = []
    echo = lines.append
    outcomes = report.outcomes
    mode = " (simulated)" if report.simulated == frozenset() else ""
    echo(f"job {report.job_id}: {job.state}{reason}{by}")
    # The workflow's own tasks are counted; the barriers dagbatch added are counted apart
    # (as `dagbatch status` and the finish line count them).
    barriers = report.barriers
    own = report.own
    failed = report.failed
    n_failed, n_skipped, n_requeued = own(failed), own(report.skipped), own(report.requeued)
    n_cut = len(report.cut_off - barriers)
    skipped = f", skipped {n_skipped:,}" if n_skipped else ""
    cut = f", cut off by the --timeout {n_cut:,}" if n_cut else ""
    requeued = f", requeued {n_requeued:,}" if n_requeued else ""
    added = f" (+{len(barriers):,} barrier)" if barriers else ""
    barrier_failed = len(failed) - n_failed
    also = f" (and {barrier_failed:,} barrier task(s) dagbatch added)" if barrier_failed else ""
    echo(
        f"tasks {own(outcomes):,}{added}: succeeded "
        f"{own(o for o in outcomes if o.succeeded):,}, failed {n_failed:,}{also}{skipped}{cut}"
        f"{requeued}, never ran {own(report.never_ran):,}; {report.elapsed:.1f} s{mode}"
    )
    if report.timed_out:
        echo(_timeout_line(report))
    lines.extend(_finish_line(report))
    width = _task_width(report)
    rows, sizes = _table(report, width)
    echo("")
    echo(f"{'TASK':<{width}} {'STATE':<10} {'EXIT':>5} {'TIME':>8}  OUTPUT / WHY")
    for row in rows[:SHOWN]:
        lines.extend(row)
    if len(rows) > SHOWN:
        echo(f"... and {sum(sizes[SHOWN:]):,} more (all of them in --report FILE.json)")
    if report.node_root is not None:
        echo("")
        root = _shown(report.node_root)
        echo(
            f"task files: {root}/workitems/{report.job_id}/job-1/TASK/ "
            "(stdout.txt, stderr.txt, wd/)"
        )
    return lines


def report_json(report: RunReport) -> bytes:
    """The ``--report`` file's bytes: ``RunReport.to_dict`` as JSON indented by two spaces
    (UTF-8, a newline at the end)."""
    return orjson.dumps(report.to_dict(), option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE)


@click.command("run")
@click.argument("source", metavar="WORKFLOW.py[:NAME]|PLAN_DIR", callback=given_source)
@click.option(
    "--workdir",
    type=GivenPath(path_type=Path, file_okay=False),
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
    type=GivenPath(path_type=Path, dir_okay=False),
    default=None,
    help="Also write the report as JSON (every task: state, exit code, whether it ran, why not).",
)
@click.option(
    "--timeout",
    type=click.FloatRange(0.0, min_open=True),
    default=None,
    help="Stop after this many seconds (loading and compiling the workflow count): running "
    "tasks are terminated.",
)
@click.option(
    "--picture",
    "picture_file",
    type=GivenPath(path_type=Path, dir_okay=False),
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
    handler whose parent succeeded is reported skipped); --no-finish leaves them active. The
    report lists failed tasks first (with where their stderr is); many tasks that never ran
    for one cause share a row.

    Needs the emulator extra: pip install 'dagbatch[emulator]'.

    Exit codes: 0 every task ran and succeeded (or was skipped); 4 some task failed; 5 no task
    failed but some never ran; 6 the --timeout was reached; 1 invalid workflow; 2 usage; 3 the
    emulator refused the plan, or its scheduler stopped on an error; 130 Ctrl-C, 143 kill, 129
    a hangup (the tasks' processes are killed first).
    """
    require_emulator_extra("run")
    from dagbatch.emulator.simulate import load_exit_codes
    from dagbatch.local.run import RunOptions, Snapshot, run_local

    check_writable(report_file, "--report")
    check_writable(picture_file, "--picture")
    if picture_file is not None:
        from dagbatch.show.render import image_refusal

        if (refusal := image_refusal(picture_file)) is not None:
            raise click.BadParameter(refusal, param_hint="--picture")
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

        from dagbatch.observe.progress import ANALYSING, TERMINATING, count_progress

        # The end-of-run finish terminates one task a request: its progress on stderr, and
        # before it, the analysis that finds the tasks to terminate (seconds at 200,000).
        ending = count_progress(TERMINATING, quiet=quiet)
        finding = count_progress(ANALYSING, quiet=quiet)
        # Ctrl-C and `kill`: the tasks' processes are killed before the command ends.
        try:
            with stop_once():
                report = run_local(
                    source,
                    options,
                    on_progress=None if quiet else show,
                    on_finish=ending,
                    on_note=None if quiet else _err,
                    on_finding=finding,
                    # As `dagbatch compile` shows them, -q or not.
                    on_warnings=lambda found: exit_codes.print_diagnostics(list(found)),
                )
        finally:
            for line in (finding, ending):
                if line is not None:
                    line.close()
    except DagbatchError as exc:
        exit_codes.fail(exc)
    except KeyboardInterrupt:
        _err("interrupted: the run stopped; no task process is left running")
        sys.exit(ExitCode.INTERRUPTED)
    # The files first, then standard output in one block: a reader that stops early (`|
    # head`) ends the command with 141 (write_stdout), and the files are written all the same.
    lines = report_lines(report)
    warnings = [f"note: {line}" for line in report.not_emulated]
    if report_file is not None:
        try:
            write_whole(report_file, report_json(report))
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
        except Exception as exc:  # a fault in drawing must not cost the run's report
            warnings.append(
                f"warning: could not draw {picture_file}: {type(exc).__name__}: {exc} (a fault "
                "of dagbatch's own; the run's report and exit code stand)"
            )
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
