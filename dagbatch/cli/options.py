"""Options shared by several commands, declared once: the endpoint and credentials of the
commands that talk to a Batch account (`submit`, `status`, `watch`, `rerun`, `finish`,
`show`), the requests in flight of those that send many (`submit`, `rerun`, `finish`), and
the local node of the commands that run tasks here (`run`, `emulator`)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from dagbatch.defaults import AUTH_KINDS

if TYPE_CHECKING:
    from dagbatch.submit.client import BatchClient

F = TypeVar("F", bound=Callable[..., Any])


def service_options(command: F) -> F:
    """Add ``--endpoint``, ``--account``, ``--account-key`` and ``--auth`` (as ``auth_kind``)."""
    decorators = [
        click.option(
            "--endpoint",
            envvar="AZURE_BATCH_ENDPOINT",
            help="Batch account URL, e.g. https://acct.region.batch.azure.com "
            "[env AZURE_BATCH_ENDPOINT].",
        ),
        click.option(
            "--account",
            envvar="AZURE_BATCH_ACCOUNT",
            help="Account name [env AZURE_BATCH_ACCOUNT].",
        ),
        click.option(
            "--account-key",
            envvar="AZURE_BATCH_ACCESS_KEY",
            show_default=False,
            help="Account key; prefer the environment variable AZURE_BATCH_ACCESS_KEY.",
        ),
        click.option(
            "--auth",
            "auth_kind",
            type=click.Choice(AUTH_KINDS),
            default="sharedkey",
            show_default=True,
            help="Shared Key (account key) or Microsoft Entra ID (needs dagbatch[entra]).",
        ),
    ]
    for decorate in reversed(decorators):
        command = decorate(command)
    return command


def concurrency_option(command: F) -> F:
    """Add ``--concurrency N`` (``concurrency``: None when left out, i.e. adaptive): the
    requests `submit`, `rerun` and `finish` keep in flight (``dagbatch.submit.concurrency``)."""
    from dagbatch.submit.concurrency import DEFAULT_CONCURRENCY, MAX_CONCURRENCY, MIN_CONCURRENCY

    return click.option(
        "--concurrency",
        type=click.IntRange(MIN_CONCURRENCY, MAX_CONCURRENCY),
        default=None,
        show_default="adaptive",
        help=(
            f"Requests in flight at once, fixed ({MIN_CONCURRENCY}-{MAX_CONCURRENCY}). "
            f"Default: adaptive, from {DEFAULT_CONCURRENCY} up to {MAX_CONCURRENCY} while "
            "throughput rises, halved when the service throttles (429/503)."
        ),
    )(command)


def client_from_options(
    endpoint: str | None,
    account: str | None,
    account_key: str | None,
    auth_kind: str,
    **options: Any,
) -> BatchClient:
    """The client the service options describe (``ConfigError`` says what is missing)."""
    from dagbatch.submit.client import connect  # httpx: not imported for --help

    return connect(endpoint, account, account_key, auth=auth_kind, **options)


def local_node_options(command: F) -> F:
    """Add ``--slots``, ``--simulate`` and ``--exit-codes`` (as ``exit_codes_file``): the local
    node that runs the tasks (``dagbatch run``, ``dagbatch emulator``)."""
    decorators = [
        click.option(
            "--slots",
            type=click.IntRange(1),
            default=None,
            help="Task slots of the local node (default: one per CPU).",
        ),
        click.option(
            "--simulate",
            is_flag=True,
            help="Run no process: each task ends with its what-if exit code.",
        ),
        click.option(
            "--exit-codes",
            "exit_codes_file",
            type=GivenPath(path_type=Path, dir_okay=False, exists=True),
            default=None,
            help='What-if exit codes: a JSON file {"task-id": code, ...} (or {"exitCode": c, '
            '"duration": s}): those tasks do not run and end with the code (with --simulate '
            "every task is what-if; unlisted ones end with 0).",
        ),
    ]
    for decorate in reversed(decorators):
        command = decorate(command)
    return command


class GivenPath(click.Path):
    """``click.Path`` that refuses an empty string: ``Path("")`` is ``.``, so ``--out ""`` (a
    variable that expanded to nothing) would name the current directory, which no one
    meant. A usage error (exit 2) naming the option or argument."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, str | bytes) and not value:
            self.fail("an empty path names no file or directory", param, ctx)
        return super().convert(value, param, ctx)


def given_source(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """A click callback for a workflow file or plan directory argument given as a string:
    an empty one is refused as ``GivenPath`` refuses it, not read as the current directory."""
    if value == "":
        raise click.BadParameter("an empty path names no file or directory")
    return value


def check_writable(path: Path | None, option: str) -> None:
    """A usage error (exit 2) for an output file that cannot be written, given before the
    run: found only at its end, it would come after all of the run's work, and the run would
    still exit with its verdict."""
    from dagbatch.paths import file_in_the_way

    if path is None:
        return
    folder = path.parent
    why = None
    if path.is_dir():
        why = "it is a directory"
    elif (blocker := file_in_the_way(path)) is not None:
        why = f"{blocker} is not a directory"
    elif not folder.is_dir():
        why = f"there is no directory {folder}"
    elif not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        why = "permission denied"
    if why is not None:
        raise click.BadParameter(f"cannot write {path}: {why}", param_hint=option)


def batch_id(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """A click callback for a job or pool id given on the command line: Batch's id rule
    (``limits.ID_PATTERN``), checked before anything is compiled or sent, as a usage error."""
    from dagbatch.limits import ID_PATTERN, MAX_ID_LENGTH

    if value is not None and not ID_PATTERN.fullmatch(value):
        raise click.BadParameter(
            f"{value!r}: a Batch id is 1 to {MAX_ID_LENGTH} letters, digits, '-' and '_'"
        )
    return value
