"""The `dagbatch` command line: a thin shell over the library.

Exit codes are defined in ``dagbatch.cli.exit_codes``: 0 ok, 1 invalid workflow, 2 usage (bad
options, unreadable files), 3 submission incomplete (or refused by the service); `dagbatch run`
adds 4 some task failed, 5 no task failed but some never ran, 6 its --timeout was reached;
`status` and `watch` give their verdict the same way (4 complete with failures, 5 stuck, 6
still running, 7 terminated), `rerun` 8 where Batch cannot do it.
"""

from __future__ import annotations

import click

EXIT_OK = 0
EXIT_INVALID = 1
EXIT_USAGE = 2
EXIT_INCOMPLETE = 3
EXIT_TASKS_FAILED = 4
EXIT_NEVER_RAN = 5
EXIT_TIMEOUT = 6


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="dagbatch")
def main() -> None:
    """Compile networkx workflows into Azure Batch task-collection requests and submit them."""


def _register() -> None:
    # The command modules import this one for the exit codes, so they are added last.
    from dagbatch.cli.compile import compile_cmd, validate_cmd
    from dagbatch.cli.emulator import emulator_cmd
    from dagbatch.cli.observe import finish_cmd, rerun_cmd, status_cmd, watch_cmd
    from dagbatch.cli.run import run_cmd
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
    ):
        main.add_command(command)


_register()
