"""`dagbatch show`: a picture of the compiled plan, folded, optionally with live state.

A thin shell over ``dagbatch.show``: reads the plan (a plan directory, or a workflow compiled
on the spot), folds it, fetches task states when ``--job-id`` is given, writes the picture.
Exit codes: 0 ok, 1 invalid workflow, 2 usage (bad options, unreadable plan, missing
credentials, unwritable output), 3 the service refused (authentication, unknown job).
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from dagbatch.cli.exit_codes import ExitCode, fail
from dagbatch.compiler.options import OVER_LIMIT_STRATEGIES
from dagbatch.errors import ConfigError, DagbatchError
from dagbatch.limits import API_VERSIONS, DEFAULT_API_VERSION, DEFAULT_TASK_IDS_MARGIN
from dagbatch.redact import redact
from dagbatch.show.fold import DEFAULT_MAX_NODES, fold_plan
from dagbatch.show.render import FORMATS, format_for_path, render

if TYPE_CHECKING:
    from dagbatch.compiler.pipeline import CompileOptions
    from dagbatch.show.model import PlanView, TaskState
    from dagbatch.submit.client import EntraAuth, SharedKeyAuth


def _err(message: str) -> None:
    """A message on stderr with secrets masked."""
    click.echo(redact(message), err=True)


def _read_view(source: str, options: CompileOptions) -> PlanView:
    """The plan of a plan directory, or of a workflow compiled now."""
    from dagbatch.compiler.loader import load_workflow, split_target
    from dagbatch.compiler.pipeline import compile_graph
    from dagbatch.show.source import view_of_compiled, view_of_plan_dir

    if Path(source).is_dir():
        return view_of_plan_dir(Path(source))
    path, _ = split_target(source)
    if not path.is_file():
        raise ConfigError(f"no such plan directory or workflow file: {source}")
    loaded = load_workflow(source)
    return view_of_compiled(compile_graph(loaded.graph, options), loaded.graph)


def _live_states(
    view: PlanView,
    job_id: str,
    endpoint: str | None,
    account: str | None,
    account_key: str | None,
    auth_kind: str,
) -> dict[str, TaskState]:
    """Every task's state in the job, with "can never run" marked."""
    from dagbatch.show.live import fetch_task_states, mark_never_runs
    from dagbatch.submit.client import BatchClient, EntraAuth, SharedKeyAuth

    if not endpoint:
        raise ConfigError("no Batch endpoint: set AZURE_BATCH_ENDPOINT or pass --endpoint")
    auth: SharedKeyAuth | EntraAuth
    if auth_kind == "entra":
        auth = EntraAuth()
    else:
        if not account:
            raise ConfigError("no Batch account: set AZURE_BATCH_ACCOUNT or pass --account")
        if not account_key:
            raise ConfigError("no account key: set AZURE_BATCH_ACCESS_KEY (or use --auth entra)")
        auth = SharedKeyAuth(account, account_key)

    async def fetch() -> dict[str, TaskState]:
        """The states, with the client closed afterwards."""
        async with BatchClient(endpoint, auth) as client:
            return await fetch_task_states(client, job_id)

    return mark_never_runs(view, asyncio.run(fetch()))


@click.command("show")
@click.argument("source", metavar="WORKFLOW.py[:NAME]|PLAN_DIR")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default=None,
    help="Output format [default: from --out's suffix, else text].",
)
@click.option(
    "--out",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    help="File to write (default: standard output).",
)
@click.option(
    "--max-nodes",
    type=click.IntRange(2, 10_000),
    default=DEFAULT_MAX_NODES,
    show_default=True,
    help="Most nodes drawn; folding stops before it would draw more.",
)
@click.option("--no-fold", is_flag=True, help="One node per task (small plans only).")
@click.option("--job-id", help="Colour the picture by the state of this job's tasks.")
@click.option("--endpoint", envvar="AZURE_BATCH_ENDPOINT", help="[env AZURE_BATCH_ENDPOINT]")
@click.option("--account", envvar="AZURE_BATCH_ACCOUNT", help="[env AZURE_BATCH_ACCOUNT]")
@click.option(
    "--account-key",
    envvar="AZURE_BATCH_ACCESS_KEY",
    show_default=False,
    help="Prefer the environment variable AZURE_BATCH_ACCESS_KEY.",
)
@click.option(
    "--auth",
    "auth_kind",
    type=click.Choice(["sharedkey", "entra"]),
    default="sharedkey",
    show_default=True,
)
@click.option(
    "--api-version",
    type=click.Choice(API_VERSIONS),
    default=DEFAULT_API_VERSION,
    show_default=True,
    help="For a workflow: the api-version it is compiled for.",
)
@click.option(
    "--over-limit",
    type=click.Choice(OVER_LIMIT_STRATEGIES),
    default="barrier",
    show_default=True,
    help="For a workflow: as in compile.",
)
@click.option(
    "--taskids-margin",
    type=click.IntRange(0, 63000),
    default=DEFAULT_TASK_IDS_MARGIN,
    show_default=True,
    help="For a workflow: as in compile.",
)
def show_cmd(
    source: str,
    fmt: str | None,
    out: Path | None,
    max_nodes: int,
    no_fold: bool,
    job_id: str | None,
    endpoint: str | None,
    account: str | None,
    account_key: str | None,
    auth_kind: str,
    api_version: str,
    over_limit: str,
    taskids_margin: int,
) -> None:
    """Draw the plan Batch receives: tasks that play the same role fold into one node.

    SOURCE is a plan directory (from `dagbatch compile`) or a workflow file, compiled first.
    With --job-id, each node is coloured by the state of its tasks in that job.
    """
    from dagbatch.compiler.pipeline import CompileOptions

    fmt = fmt or (format_for_path(out) if out else "text")
    try:
        options = CompileOptions(
            api_version=api_version,  # type: ignore[arg-type]
            over_limit=over_limit,  # type: ignore[arg-type]
            taskids_margin=taskids_margin,
        )
        view = _read_view(source, options)
        states = None
        if job_id:
            states = _live_states(view, job_id, endpoint, account, account_key, auth_kind)
        picture = fold_plan(view, max_nodes=max_nodes, fold=not no_fold, states=states)
        text = render(picture, fmt)
    except DagbatchError as exc:
        fail(exc)
    except ValueError as exc:
        _err(f"error: {exc}")
        sys.exit(ExitCode.USAGE)
    if out is None:
        click.echo(text, nl=False)
        return
    try:
        out.write_text(text, encoding="utf-8")
    except OSError as exc:
        _err(f"error: cannot write {out}: {exc}")
        sys.exit(ExitCode.USAGE)
    _err(f"wrote {out} ({fmt}, {len(picture.nodes)} node(s) for {picture.tasks:,} task(s))")
