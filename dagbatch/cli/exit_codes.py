"""Exit codes of every `dagbatch` command, defined once, and the one mapping from the library's
exceptions to them (README, "Exit codes")."""

from __future__ import annotations

import enum
import sys
from typing import NoReturn

import click

from dagbatch.errors import (
    AuthenticationError,
    ConfigError,
    DagbatchError,
    Diagnostic,
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
    # The verdict of `dagbatch status` / `watch` (and `finish`, `rerun` where they apply):
    # (the same numbers as `dagbatch run`: 4 some task failed, 5 some never ran, 6 not over)
    FAILED = 4  # the job is complete, and some tasks failed (or never ran because one did)
    STUCK = 5  # only tasks that can never run remain: `dagbatch finish` or `rerun`
    RUNNING = 6  # tasks are running or can still run
    TERMINATED = 7  # the job was terminated (by a task's jobAction, a user or a time limit)
    REFUSED = 8  # Batch cannot do what was asked to this job as it is (the fix is printed)
    INTERRUPTED = 130  # Ctrl-C; run again (with --resume) to continue


def exit_code_of(exc: BaseException) -> ExitCode:
    """The exit code for a library exception (the order matters: subclasses first)."""
    if isinstance(exc, WorkflowLoadError | InvalidWorkflow):
        return ExitCode.INVALID
    if isinstance(exc, RefusedError):
        return ExitCode.REFUSED
    if isinstance(exc, ConfigError | PlanError):
        return ExitCode.USAGE
    if isinstance(exc, AuthenticationError | SubmitError):
        return ExitCode.INCOMPLETE
    if isinstance(exc, KeyboardInterrupt):
        return ExitCode.INTERRUPTED
    return ExitCode.USAGE


def fail(exc: DagbatchError, *, prefix: str = "error") -> NoReturn:
    """Print ``exc`` the one way every command prints it, and exit with its code."""
    if isinstance(exc, InvalidWorkflow):
        print_diagnostics(list(exc.diagnostics))
    elif isinstance(exc, SubmitError) and not isinstance(exc, AuthenticationError):
        click.echo(f"{prefix}: the service refused the submission: {exc}", err=True)
    else:
        click.echo(f"{prefix}: {exc}", err=True)
    sys.exit(exit_code_of(exc))


def print_diagnostics(diags: list[Diagnostic]) -> None:
    """Errors first, then warnings, then a count line when there are errors."""
    errors = [d for d in diags if d.severity == "error"]
    warnings = [d for d in diags if d.severity == "warning"]
    for d in [*errors, *warnings]:
        click.echo(d.format(), err=True)
    if errors:
        click.echo(f"{len(errors)} error(s), {len(warnings)} warning(s)", err=True)
