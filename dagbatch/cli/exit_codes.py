"""Exit codes of every `dagbatch` command, defined once, and the one mapping from the library's
exceptions to them (README, "Exit codes")."""

from __future__ import annotations

import enum
import sys
from typing import NoReturn

import click

from dagbatch.errors import (
    AuthenticationError,
    BatchServiceError,
    ConfigError,
    DagbatchError,
    Diagnostic,
    EmulatorError,
    InvalidWorkflow,
    PlanError,
    RefusedError,
    SubmitError,
    WorkflowLoadError,
)


class ExitCode(enum.IntEnum):
    OK = 0
    INVALID = 1  # the workflow is invalid or cannot be loaded
    USAGE = 2  # bad options, unreadable or foreign files, a plan that fails its checks
    INCOMPLETE = 3  # a submission did not land whole, or the service refused it
    # The verdict of a run or of a job (`dagbatch run`, `status`, `watch`; `finish` and
    # `rerun` where they apply):
    FAILED = 4  # some task failed (every task that could run has ended)
    STUCK = 5  # no task failed, but only tasks that can never run remain (or never ran)
    RUNNING = 6  # tasks are running or can still run (`run`: its --timeout was reached)
    TERMINATED = 7  # the job was terminated (by a task's jobAction, a user or a time limit)
    REFUSED = 8  # Batch cannot do what was asked to this job as it is (the fix is printed)
    INTERRUPTED = 130  # Ctrl-C; run again (with --resume) to continue
    #: SIGHUP (the terminal or the ssh session closed): `run` and `emulator` stop as on
    #: ``kill``, their tasks' processes killed first (128 + 1, what a shell reports).
    HANGUP = 129
    #: Standard output was closed by its reader before the command had written it all
    #: (``dagbatch status --json | head``): the code a shell gives any tool ended by SIGPIPE
    #: (128 + 13).
    OUTPUT_CLOSED = 141
    #: ``kill`` (SIGTERM): `run` and `emulator` stop as on Ctrl-C, their tasks' processes
    #: killed first (``dagbatch.signals.TERMINATED_EXIT``, kept there so the emulator's
    #: library need not import the command line); `compile` removes the plan it was writing;
    #: other commands end on the spot, with the code a shell gives any program SIGTERM ended
    #: (128 + 15).
    KILLED = 143


def exit_code_of(exc: BaseException) -> ExitCode:
    """The exit code for a library exception (the order matters: subclasses first)."""
    if isinstance(exc, WorkflowLoadError | InvalidWorkflow):
        return ExitCode.INVALID
    if isinstance(exc, RefusedError):
        return ExitCode.REFUSED
    if isinstance(exc, ConfigError | PlanError):
        return ExitCode.USAGE
    if isinstance(exc, AuthenticationError | SubmitError | EmulatorError):
        return ExitCode.INCOMPLETE
    if isinstance(exc, KeyboardInterrupt):
        return ExitCode.INTERRUPTED
    return ExitCode.USAGE


def fail(exc: DagbatchError, *, prefix: str = "error") -> NoReturn:
    """Print ``exc`` the one way every command prints it, and exit with its code."""
    if isinstance(exc, InvalidWorkflow):
        print_diagnostics(list(exc.diagnostics))
    elif isinstance(exc, BatchServiceError):
        # Every command that talks to the service ends here (submit, status, show --job-id,
        # ...): the request, not a submission, is what was refused.
        click.echo(f"{prefix}: the service refused the request: {exc}", err=True)
    else:
        click.echo(f"{prefix}: {exc}", err=True)
    sys.exit(exit_code_of(exc))


#: A group of identical diagnostics larger than this is shown as its first one and a count.
GROUP_OVER = 3
#: Task ids a group names before "and N more".
GROUP_NAMES = 5


def print_diagnostics(diags: list[Diagnostic], *, expand: bool = False) -> None:
    """Errors first, then warnings, then a count line when there are errors.

    Identical diagnostics (same severity, code and field: one mistake repeated over
    many tasks) are grouped: the first in full, then the count and a few task ids. ``expand``
    (the ``--all`` option) prints every one.
    """
    errors = [d for d in diags if d.severity == "error"]
    warnings = [d for d in diags if d.severity == "warning"]
    lines: list[str] = []
    for group in _groups([*errors, *warnings], expand):
        lines.append(group[0].format())
        if len(group) > 1:
            rest = [repr(d.task_id) for d in group[1:] if d.task_id is not None]
            names = ", ".join(rest[:GROUP_NAMES]) + (", ..." if len(rest) > GROUP_NAMES else "")
            lines.append(
                f"    ... and {len(group) - 1:,} more {group[0].code} like it"
                + (f" (tasks {names})" if names else "")
                + "; --all lists every one"
            )
    if errors:
        lines.append(f"{len(errors):,} error(s), {len(warnings):,} warning(s)")
    if lines:
        click.echo("\n".join(lines), err=True)


def _groups(diags: list[Diagnostic], expand: bool) -> list[list[Diagnostic]]:
    """Consecutive output groups: each diagnostic alone, or a run of identical ones."""
    by_key: dict[tuple[str, str, str | None], list[Diagnostic]] = {}
    for d in diags:
        by_key.setdefault((d.severity, d.code, d.field), []).append(d)
    out: list[list[Diagnostic]] = []
    for group in by_key.values():
        if expand or len(group) <= GROUP_OVER:
            out.extend([d] for d in group)
        else:
            out.append(group)
    order = {id(d): n for n, d in enumerate(diags)}
    out.sort(key=lambda g: order[id(g[0])])
    return out
