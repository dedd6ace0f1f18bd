"""The `dagbatch` command line: a thin shell over the library.

Exit codes are defined once, in ``dagbatch.cli.exit_codes``.
"""

from __future__ import annotations

import click


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="dagbatch")
def main() -> None:
    """Compile networkx workflows into Azure Batch requests, submit them exactly once, try
    them on this machine with Batch's rules, and see a job through (status, rerun, finish)."""
    from dagbatch.gcpause import gc_fewer_full
    from dagbatch.redact import install_log_redaction

    install_log_redaction()  # no secret reaches a log record from here on
    # A command holds a workflow's graph, its plan or a job's listing of up to millions of
    # small objects, and each full collection walks them all: ten times rarer for the whole
    # command (dagbatch.gcpause), restored when it ends.
    click.get_current_context().with_resource(gc_fewer_full())


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
