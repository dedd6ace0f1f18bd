"""`dagbatch show`: a picture of the compiled plan, folded, optionally with live state.

A thin shell over ``dagbatch.show``: reads the plan (a plan directory, or a workflow compiled
on the spot), folds it, fetches task states when ``--job-id`` is given, writes the picture.
Exit codes: 0 ok, 1 invalid workflow, 2 usage (bad options, unreadable plan, missing
credentials, unwritable output, a job that holds none of the plan's tasks), 3 the service
refused (authentication, unknown job).
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from dagbatch.asyncrun import run_coroutine
from dagbatch.cli.compile import shape_options
from dagbatch.cli.exit_codes import ExitCode, fail, print_diagnostics
from dagbatch.cli.options import (
    GivenPath,
    check_writable,
    client_from_options,
    given_source,
    service_options,
)
from dagbatch.cli.output import write_stdout
from dagbatch.errors import ConfigError, DagbatchError
from dagbatch.paths import write_whole
from dagbatch.redact import redact
from dagbatch.show.fold import DEFAULT_MAX_NODES, fold_plan
from dagbatch.show.render import FORMATS, format_for_path, image_refusal, render

if TYPE_CHECKING:
    from dagbatch.compiler.pipeline import CompileOptions
    from dagbatch.show.model import PlanView, TaskState


def _err(message: str) -> None:
    """A message on stderr with secrets masked."""
    click.echo(redact(message), err=True)


def _read_view(source: str, options: CompileOptions) -> PlanView:
    """The plan of a plan directory, or of a workflow compiled now."""
    from dagbatch.compiler.loader import load_workflow, split_target
    from dagbatch.compiler.pipeline import compile_loaded
    from dagbatch.show.source import view_of_compiled, view_of_plan_dir

    if Path(source).is_dir():
        return view_of_plan_dir(Path(source))
    path, _ = split_target(source)
    if not path.is_file():
        raise ConfigError(f"no such plan directory or workflow file: {source}")
    if path.suffix != ".py":  # a usage error, as in run and submit
        from dagbatch.plan import not_a_source

        raise not_a_source(source)
    loaded = load_workflow(source)
    plan = compile_loaded(loaded, options)
    print_diagnostics(list(plan.warnings))  # as `dagbatch compile` shows them
    return view_of_compiled(plan, loaded.graph)


def _live_states(
    view: PlanView,
    job_id: str,
    endpoint: str | None,
    account: str | None,
    account_key: str | None,
    auth_kind: str,
) -> dict[str, TaskState]:
    """Every task's state in the job, with "can never run" (and skipped) marked."""
    from dagbatch.observe.progress import ANALYSING, LISTING, count_progress
    from dagbatch.show.live import fetch_task_states

    client = client_from_options(endpoint, account, account_key, auth_kind)
    # A job of 100,000s of tasks takes seconds to read and analyse: counted on stderr as
    # `dagbatch status` counts them.
    listing, analysing = count_progress(LISTING), count_progress(ANALYSING)

    async def fetch() -> dict[str, TaskState]:
        """The states, with the client closed afterwards."""
        async with client:
            return await fetch_task_states(
                client, job_id, view, listing=listing, analysing=analysing
            )

    try:
        return run_coroutine(fetch())
    finally:
        for line in (listing, analysing):
            if line is not None:
                line.close()


def _unused_shape_options(ctx: click.Context, plan_dir: str) -> None:
    """Warn of plan-shaping options given with a compiled plan: they are not used, and the
    picture is the plan as compiled, which may not be the one the user asked for. An
    ``--api-version`` the plan was compiled for (plan.json says it) is not warned of."""
    given = [
        name
        for name in ("api_version", "over_limit", "taskids_margin")
        if ctx.get_parameter_source(name) is not click.core.ParameterSource.DEFAULT
    ]
    if "api_version" in given:
        import orjson

        from dagbatch.plan import PLAN_FILE

        try:
            compiled_for = orjson.loads((Path(plan_dir) / PLAN_FILE).read_bytes())["apiVersion"]
        except (OSError, orjson.JSONDecodeError, KeyError, TypeError):
            compiled_for = None  # the plan's own checks say what is wrong with it
        if compiled_for == ctx.params["api_version"]:
            given.remove("api_version")
    given = [f"--{name.replace('_', '-')}" for name in given]
    if given:
        verb, them = ("is", "it") if len(given) == 1 else ("are", "them")
        _err(
            f"warning: {' and '.join(given)} {verb} not used: {plan_dir} is a compiled plan, "
            f"drawn as it was compiled; to draw it otherwise, give the workflow file with "
            f"{them}, or compile again with {them}"
        )


@click.command("show")
@click.argument("source", metavar="WORKFLOW.py[:NAME]|PLAN_DIR", callback=given_source)
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
    type=GivenPath(dir_okay=False, path_type=Path),
    help="File to write; - (the default) is standard output.",
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
@service_options
@shape_options
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

    The source is a plan directory (from `dagbatch compile`) or a workflow file, compiled
    first. With --job-id, each node is coloured by the state of its tasks in that job.
    """
    from dagbatch.compiler.pipeline import CompileOptions

    if out is not None and str(out) == "-":  # as for most tools: standard output
        out = None
    if Path(source).is_dir():
        _unused_shape_options(click.get_current_context(), source)
    # Before compiling, reading the job and drawing: all of it would be lost (as run --picture).
    check_writable(out, "--out")
    if out is not None and not fmt and (why := image_refusal(out)) is not None:
        raise click.BadParameter(why, param_hint="--out")
    if fmt and out is not None and format_for_path(out) not in (fmt, "text"):
        # e.g. -o picture.svg --format dot: the file's name would say what it does not hold
        _err(
            f"warning: writing {fmt} into {out}, whose suffix says {format_for_path(out)}; "
            "leave out --format to follow the suffix"
        )
    elif fmt and out is not None and image_refusal(out) is not None:
        _err(f"warning: writing {fmt} into {out}, whose suffix says an image")
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
            view = dataclasses.replace(view, job_id=job_id)  # the job drawn, not plan.json's
        picture = fold_plan(view, max_nodes=max_nodes, fold=not no_fold, states=states)
        text = render(picture, fmt)
    except DagbatchError as exc:
        fail(exc)
    if out is None:
        write_stdout(text)  # a reader that stops early ends the command with 141
        return
    try:
        write_whole(out, text.encode("utf-8"))
    except OSError as exc:
        _err(f"error: cannot write {out}: {exc}")
        sys.exit(ExitCode.USAGE)
    _err(f"wrote {out} ({fmt}, {len(picture.nodes)} node(s) for {picture.tasks:,} task(s))")
