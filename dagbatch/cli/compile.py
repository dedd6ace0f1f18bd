"""`dagbatch compile` and `dagbatch validate`."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from dagbatch.cli.exit_codes import fail
from dagbatch.compiler.dependencies import (
    DEFAULT_BARRIER_COMMAND,
    DEFAULT_OVER_LIMIT,
    OVER_LIMIT_STRATEGIES,
)
from dagbatch.compiler.export import iter_jsonl, summary, write_plan
from dagbatch.compiler.loader import load_workflow, split_target
from dagbatch.compiler.pipeline import CompiledPlan, CompileOptions, compile_graph
from dagbatch.errors import ConfigError, InvalidWorkflow, WorkflowLoadError
from dagbatch.limits import (
    API_VERSIONS,
    DEFAULT_API_VERSION,
    DEFAULT_TASK_IDS_MARGIN,
    TASK_IDS_CHAR_LIMIT,
)

F = TypeVar("F", bound=Callable[..., Any])


def compile_options(fn: F) -> F:
    """Options shared by every command that compiles a workflow."""
    decorators = [
        click.argument("workflow", metavar="WORKFLOW.py[:NAME]"),
        click.option(
            "--api-version",
            type=click.Choice(API_VERSIONS),
            default=DEFAULT_API_VERSION,
            show_default=True,
            help="Batch REST api-version whose schema the payloads follow.",
        ),
        click.option("--job-id", help="Job id (overrides graph.graph['job']['id'])."),
        click.option("--pool-id", help="Pool for job.json's poolInfo."),
        click.option(
            "--over-limit",
            type=click.Choice(OVER_LIMIT_STRATEGIES),
            default=DEFAULT_OVER_LIMIT,
            show_default=True,
            help="What to do with a task whose dependsOn.taskIds exceed the budget.",
        ),
        click.option(
            "--taskids-margin",
            type=click.IntRange(0, TASK_IDS_CHAR_LIMIT - 1),
            default=DEFAULT_TASK_IDS_MARGIN,
            show_default=True,
            help=f"Characters kept below Batch's {TASK_IDS_CHAR_LIMIT}-character taskIds limit.",
        ),
        click.option(
            "--barrier-command",
            default=DEFAULT_BARRIER_COMMAND,
            show_default=True,
            help="Command line of barrier tasks (use 'cmd /c exit 0' on Windows pools).",
        ),
    ]
    for deco in reversed(decorators):
        fn = deco(fn)
    return fn


def options_from(kw: dict[str, Any]) -> CompileOptions:
    return CompileOptions(
        api_version=kw["api_version"],
        over_limit=kw["over_limit"],
        taskids_margin=kw["taskids_margin"],
        barrier_command=kw["barrier_command"],
        job={"id": kw["job_id"], "pool_id": kw["pool_id"]},
    )


def load_and_compile(workflow: str, options: CompileOptions) -> CompiledPlan:
    """Load and compile, turning failures into the CLI's exit codes."""
    path, _ = split_target(workflow)
    if not path.is_file():
        raise click.UsageError(f"no such workflow file: {path}")
    try:
        loaded = load_workflow(workflow)
        return compile_graph(loaded.graph, options)
    except (WorkflowLoadError, InvalidWorkflow) as exc:
        fail(exc)


@click.command("compile")
@compile_options
@click.option(
    "--out",
    "-o",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("plan"),
    show_default=True,
    help="Plan directory to write (replaced if it holds a previous plan).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["dir", "jsonl"]),
    default="dir",
    show_default=True,
    help="dir: the plan directory; jsonl: one request body a line on stdout.",
)
@click.option("--quiet", "-q", is_flag=True, help="No summary.")
def compile_cmd(out: Path, fmt: str, quiet: bool, **kw: Any) -> None:
    """Compile WORKFLOW.py into Batch request bodies (a dry run: touches no service).

    WORKFLOW.py builds a networkx.DiGraph named graph, workflow or dag, or defines build();
    WORKFLOW.py:NAME picks another attribute. Loading runs the file's code.
    """
    plan = load_and_compile(kw.pop("workflow"), options_from(kw))
    for w in plan.warnings:
        click.echo(w.format(), err=True)
    if fmt == "jsonl":
        out_stream = sys.stdout.buffer
        for line in iter_jsonl(plan):
            out_stream.write(line)
        out_stream.flush()
        return
    try:
        written = write_plan(plan, out)
    except ConfigError as exc:
        fail(exc)
    except OSError as exc:
        fail(ConfigError(f"cannot write {out}: {exc}"))
    if not quiet:
        click.echo(summary(plan), err=True)
        click.echo(
            f"wrote {written}/ (plan.json, job.json, {len(plan.batches)} batch file(s))", err=True
        )


@click.command("validate")
@compile_options
def validate_cmd(**kw: Any) -> None:
    """Check WORKFLOW.py against Batch's rules and list every problem; writes nothing."""
    plan = load_and_compile(kw.pop("workflow"), options_from(kw))
    for w in plan.warnings:
        click.echo(w.format(), err=True)
    click.echo(
        f"ok: {plan.counts['tasks']:,} tasks in {plan.counts['requests']:,} request(s), "
        f"{len(plan.warnings)} warning(s)",
        err=True,
    )
