"""The `dagbatch` command line: a thin shell over the library.

Exit codes are defined once, in ``dagbatch.cli.exit_codes``.
"""

from __future__ import annotations

import logging
import os
import select
import sys
from typing import Any

import click

from dagbatch.cli.exit_codes import ExitCode


def _stdout_closed() -> bool:
    """Whether standard output's reader has gone (a pipe's read end closed: Linux and macOS
    report POLLERR on the write end). Tells a ``| head`` that stopped reading from a broken
    connection to the service, which raises the same ``BrokenPipeError``."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):
        return False
    if not hasattr(select, "poll"):
        return True  # no way to ask (Windows): take it as the output
    poller = select.poll()
    poller.register(fd, select.POLLOUT)
    return any(mask & (select.POLLERR | select.POLLHUP) for _, mask in poller.poll(0))


class _Commands(click.Group):
    """The command group; a reader that closes standard output early (``| head``) ends the
    command quietly with ``ExitCode.OUTPUT_CLOSED``, where click would exit 1 (the code of an
    invalid workflow) or Python would print a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            try:
                return super().invoke(ctx)
            finally:
                # Written out here, while a closed pipe can still be told apart; otherwise
                # the interpreter's last flush would fail after the exit code was chosen.
                if sys.stdout is not None:
                    sys.stdout.flush()
        except KeyboardInterrupt:
            # Ctrl-C where the command has no cleanup of its own to report (`validate`,
            # `compile`, `show` while the workflow loads): click would say "Aborted!" and
            # exit 1, the code of an invalid workflow.
            click.echo("interrupted", err=True)
            sys.exit(ExitCode.INTERRUPTED)
        except BrokenPipeError:
            if not _stdout_closed():
                raise
            # Nothing more can reach the reader; later writes and the final flush go nowhere.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            os.close(devnull)
            sys.exit(ExitCode.OUTPUT_CLOSED)


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="dagbatch")
def main() -> None:
    """Compile networkx workflows into Azure Batch requests, submit them exactly once, try
    them on this machine with Batch's rules, and see a job through (status, rerun, finish)."""
    from dagbatch.gcpause import gc_fewer_full
    from dagbatch.redact import install_log_redaction

    install_log_redaction()  # no secret reaches a log record from here on
    _keep_credential_log_off_screen()
    _no_encoding_errors()
    # A command holds a workflow's graph, its plan or a job's listing of up to millions of
    # small objects, and each full collection walks them all: ten times rarer for the whole
    # command (dagbatch.gcpause), restored when it ends.
    click.get_current_context().with_resource(gc_fewer_full())


def _no_encoding_errors() -> None:
    """A character standard output's encoding lacks (``PYTHONIOENCODING=ascii``, a C locale)
    is written as an escape (``\u2192``) rather than ending the command with a
    ``UnicodeEncodeError`` after its work is done; standard error does so already."""
    stream = sys.stdout
    if stream is not None and getattr(stream, "errors", None) == "strict":
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="backslashreplace")


#: Loggers of libraries whose failures the commands report themselves, in their own words.
QUIET_LOGGERS = ("azure.identity",)


def _keep_credential_log_off_screen() -> None:
    """azure-identity logs a credential chain's failure (every credential it tried and why)
    as a warning, then raises it; with no logging set up, Python prints such a warning on
    stderr (``logging.lastResort``), and the command's own error said it all a second time.
    A ``NullHandler`` on those loggers keeps them off the screen; a handler the user sets up
    on the root logger still gets every record."""
    for name in QUIET_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(h, logging.NullHandler) for h in logger.handlers):
            logger.addHandler(logging.NullHandler())


def _register() -> None:
    from dagbatch.cli.compile import compile_cmd, validate_cmd
    from dagbatch.cli.emulator import emulator_cmd
    from dagbatch.cli.observe import finish_cmd, rerun_cmd, status_cmd, watch_cmd
    from dagbatch.cli.run import run_cmd
    from dagbatch.cli.show import show_cmd
    from dagbatch.cli.submit import submit_cmd

    for command in (
        compile_cmd,
        validate_cmd,
        submit_cmd,
        status_cmd,
        watch_cmd,
        rerun_cmd,
        finish_cmd,
        emulator_cmd,
        run_cmd,
        show_cmd,
    ):
        main.add_command(command)


_register()
