"""`dagbatch emulator`: serve the local Azure Batch emulator."""

from __future__ import annotations

import base64
import binascii
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import click

from dagbatch.cli.exit_codes import ExitCode, fail
from dagbatch.cli.local_node import require_emulator_extra, stop_once
from dagbatch.cli.options import GivenPath, local_node_options
from dagbatch.emulator import DEV_ACCOUNT, DEV_KEY, OPERATIONS, FaultConfig
from dagbatch.errors import DagbatchError, EmulatorError
from dagbatch.redact import redact

if TYPE_CHECKING:
    from collections.abc import Mapping

    from dagbatch.emulator.scheduler import Runner
    from dagbatch.emulator.storage_account import StorageAccount


def _probability(ctx: click.Context, param: click.Parameter, value: float) -> float:
    if not 0.0 <= value <= 1.0:
        raise click.BadParameter("must be a probability between 0 and 1")
    return value


@click.command("emulator")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    default=8470,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="Port (0: any free).",
)
@click.option("--account", default=DEV_ACCOUNT, show_default=True, help="Batch account name.")
@click.option(
    "--key",
    default=DEV_KEY,
    help="Account key (base64). The default is a fixed, public development key: for local use "
    "only, never a secret.",
)
@click.option(
    "--latency-ms",
    default=0.0,
    type=click.FloatRange(min=0),
    help="Delay before answering each request of the --fault-ops operations (counted from "
    "when the request was read).",
)
@click.option(
    "--fault-task-error",
    default=0.0,
    type=float,
    callback=_probability,
    help="Per-task probability of a servererror (task not stored).",
)
@click.option(
    "--fault-throttle",
    default=0.0,
    type=float,
    callback=_probability,
    help="Per-request probability of 429 TooManyRequests.",
)
@click.option(
    "--fault-busy",
    default=0.0,
    type=float,
    callback=_probability,
    help="Per-request probability of 503 ServerBusy.",
)
@click.option(
    "--fault-internal",
    default=0.0,
    type=float,
    callback=_probability,
    help="Per-request probability of 500 InternalError.",
)
@click.option(
    "--fault-drop",
    default=0.0,
    type=float,
    callback=_probability,
    help="Per-request probability of storing a random prefix of the tasks and then dropping "
    "the connection.",
)
@click.option(
    "--fault-ops",
    default="addtaskcollection",
    show_default=True,
    help="Comma-separated operations faults apply to (" + ", ".join(OPERATIONS) + ").",
)
@click.option(
    "--retry-after",
    default=1,
    show_default=True,
    type=click.IntRange(min=0),
    help="Retry-After seconds.",
)
@click.option("--seed", default=0, show_default=True, type=int, help="Seed for the faults.")
@click.option(
    "--workdir",
    type=GivenPath(path_type=Path, file_okay=False),
    default=None,
    help="Where tasks run, laid out like a node (default: a new temporary directory).",
)
@local_node_options
@click.option(
    "--store-only",
    is_flag=True,
    help="Store tasks and never run them (they stay active): for submission tests.",
)
@click.option(
    "--storage-connection-string",
    envvar="AZURE_STORAGE_CONNECTION_STRING",
    default=None,
    help="The local pool's auto-storage account (autoStorageContainerName resource files), "
    "as an Azure Storage connection string [env AZURE_STORAGE_CONNECTION_STRING]. Default: "
    "Azurite's development account when Azurite listens on 127.0.0.1:10000.",
)
def emulator_cmd(
    host: str,
    port: int,
    account: str,
    key: str,
    latency_ms: float,
    fault_task_error: float,
    fault_throttle: float,
    fault_busy: float,
    fault_internal: float,
    fault_drop: float,
    fault_ops: str,
    retry_after: int,
    seed: int,
    slots: int | None,
    workdir: Path | None,
    simulate: bool,
    exit_codes_file: Path | None,
    store_only: bool,
    storage_connection_string: str | None,
) -> None:
    """Serve a local Azure Batch emulator: jobs and tasks as the service serves them, Shared
    Key checking, the service's validation, and optional seeded fault injection. Tasks run
    with Batch's scheduling and dependency rules: as processes (default), simulated
    (--simulate), or not at all (--store-only).

    For local testing only: the default account key is public. Stop it with Ctrl-C (exit
    130) or kill (143): running tasks are killed; a temporary work directory is removed.
    Needs the emulator extra: pip install 'dagbatch[emulator]'.
    """
    require_emulator_extra("emulator")
    try:
        base64.b64decode(key, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise click.BadParameter("the key must be base64", param_hint="--key") from exc
    try:
        faults = FaultConfig(
            latency_ms=latency_ms,
            task_server_error=fault_task_error,
            throttle=fault_throttle,
            busy=fault_busy,
            internal=fault_internal,
            drop=fault_drop,
            retry_after=retry_after,
            seed=seed,
            operations=frozenset(op.strip() for op in fault_ops.split(",") if op.strip()),
        )
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    from dagbatch.emulator.storage_account import StorageAccount

    storage: StorageAccount | None = None
    if storage_connection_string:
        try:
            storage = StorageAccount.from_connection_string(storage_connection_string)
        except ValueError as exc:
            raise click.BadParameter(
                redact(str(exc)), param_hint="--storage-connection-string"
            ) from exc
    if workdir is not None:  # a file in the way, said before the emulator starts serving
        from dagbatch.paths import file_in_the_way

        if not workdir.exists() and (blocker := file_in_the_way(workdir)) is not None:
            raise click.BadParameter(
                f"cannot make {workdir}: {blocker} is not a directory", param_hint="--workdir"
            )
    from dagbatch.emulator.simulate import load_exit_codes
    from dagbatch.errors import ConfigError

    try:
        codes = load_exit_codes(exit_codes_file) if exit_codes_file else {}
    except ConfigError as exc:
        raise click.BadParameter(str(exc), param_hint="--exit-codes") from exc
    # From here Ctrl-C and `kill` unwind through _start_and_serve's finally, start-up
    # included, so a temporary work directory it made is removed however the emulator stops.
    try:
        with stop_once():
            _start_and_serve(
                host,
                port,
                account,
                key,
                faults,
                slots,
                storage,
                codes,
                simulate,
                store_only,
                workdir,
            )
    except KeyboardInterrupt:
        click.echo("interrupted: the emulator stopped; no task process is left running", err=True)
        raise SystemExit(ExitCode.INTERRUPTED) from None
    except DagbatchError as exc:  # its --workdir taken by another emulator
        fail(exc)


def _start_and_serve(
    host: str,
    port: int,
    account: str,
    key: str,
    faults: FaultConfig,
    slots: int | None,
    storage: StorageAccount | None,
    codes: Mapping[str, tuple[int, float | None]],
    simulate: bool,
    store_only: bool,
    workdir: Path | None,
) -> None:
    """Make the runner (and its temporary work directory), serve, then clean up."""
    from dagbatch.emulator.runner import RealRunner
    from dagbatch.emulator.simulate import SimulatedRunner, WhatIfRunner

    runner: Runner | None = None
    mode = "stored, never run"
    temporary: Path | None = None  # a work directory made here, removed at the end
    if simulate:
        runner, mode = SimulatedRunner(codes), "simulated (no process runs)"
    elif not store_only:
        if workdir is None:
            workdir = temporary = Path(tempfile.mkdtemp(prefix="dagbatch-emulator-"))
        real = RealRunner(workdir, account=account, storage=storage)
        runner = WhatIfRunner(real, codes) if codes else real
        mode = f"run as processes under {real.root}"
        if temporary is not None:
            mode += " (a temporary directory, removed when the emulator stops; --workdir keeps)"
    try:
        _serve(host, port, account, key, faults, runner, slots, storage, mode)
    finally:
        if temporary is not None:
            shutil.rmtree(temporary, ignore_errors=True)


def _serve(
    host: str,
    port: int,
    account: str,
    key: str,
    faults: FaultConfig,
    runner: Runner | None,
    slots: int | None,
    storage: StorageAccount | None,
    mode: str,
) -> None:
    """Start the emulator, say where it listens, and serve until stopped."""
    from dagbatch.emulator.runner import RealRunner
    from dagbatch.emulator.server import EmulatorServer, serve_forever
    from dagbatch.emulator.simulate import WhatIfRunner
    from dagbatch.emulator.storage_account import AZURITE_BLOB_PORT

    try:
        server = EmulatorServer(
            host=host,
            port=port,
            account=account,
            key=key,
            faults=faults,
            log_level="warning",
            runner=runner,
            slots=slots,
            storage=storage,
        )
    except OSError as exc:
        click.echo(f"error: cannot listen on {host}:{port}: {exc.strerror or exc}", err=True)
        raise SystemExit(ExitCode.USAGE) from exc
    from dagbatch.emulator.server import exposure_warning

    warning = exposure_warning(host, key)
    if warning:
        click.echo(warning, err=True)
    click.echo(f"Azure Batch emulator listening on {server.endpoint} (Ctrl-C to stop)")
    click.echo("For local use only. Export:")
    click.echo(f"  export AZURE_BATCH_ENDPOINT={server.endpoint}")
    click.echo(f"  export AZURE_BATCH_ACCOUNT={account}")
    # The development key is public; a key of the user's own is never printed.
    shown = key if key == DEV_KEY else "<the key given with --key>"
    click.echo(f"  export AZURE_BATCH_ACCESS_KEY={shown}")
    if isinstance(runner, RealRunner | WhatIfRunner):
        (runner if isinstance(runner, RealRunner) else runner.real).account_url = server.endpoint
    click.echo(f"Tasks: {mode}; {server.engine.slots} task slot(s)")
    if storage is not None:
        click.echo(f"Auto storage: account {storage.name} at {storage.blob_endpoint}")
    else:
        click.echo(
            "Auto storage: Azurite's development account when Azurite listens on "
            f"127.0.0.1:{AZURITE_BLOB_PORT}"
        )
    if faults.active:
        click.echo(f"Fault injection: {faults}")
    try:
        serve_forever(server)
    except EmulatorError as exc:  # its scheduler stopped on an error: exit 3, saying so
        fail(exc)
