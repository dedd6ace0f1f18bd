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
    InvalidWorkflow,
    PlanError,
    SubmitError,
    WorkflowLoadError,
)


class ExitCode(enum.IntEnum):
    OK = 0
    INVALID = 1  # the workflow is invalid or cannot be loaded
    USAGE = 2  # bad options, unreadable or foreign files, a plan that fails its checks
    INCOMPLETE = 3  # a submission did not land whole, or the service refused it
    INTERRUPTED = 130  # Ctrl-C; run again (with --resume) to continue


def exit_code_of(exc: BaseException) -> ExitCode:
    """The exit code for a library exception (the order matters: subclasses first)."""
    if isinstance(exc, WorkflowLoadError | InvalidWorkflow):
        return ExitCode.INVALID
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
    elif isinstance(exc, BatchServiceError):
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
