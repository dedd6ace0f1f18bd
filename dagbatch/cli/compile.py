"""`dagbatch compile` and `dagbatch validate`."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click
import orjson

from dagbatch.cli.exit_codes import ExitCode, fail, print_diagnostics
from dagbatch.cli.options import GivenPath, batch_id, given_source
from dagbatch.cli.output import write_stdout
from dagbatch.compiler.options import BARRIER_COMMANDS, DEFAULT_OVER_LIMIT, OVER_LIMIT_STRATEGIES
from dagbatch.errors import ConfigError, Diagnostic, InvalidWorkflow, WorkflowLoadError
from dagbatch.limits import (
    API_VERSIONS,
    DEFAULT_API_VERSION,
    DEFAULT_TASK_IDS_MARGIN,
    TASK_IDS_CHAR_LIMIT,
)

if TYPE_CHECKING:
    from dagbatch.compiler.pipeline import CompiledPlan, CompileOptions

F = TypeVar("F", bound=Callable[..., Any])

_BARRIER_HELP = (
    "Command line of barrier tasks (default by the pool's OS: "
    + ", ".join(f"{os_name} {command!r}" for os_name, command in BARRIER_COMMANDS.items())
    + ")."
)


def _command_line(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """A command line given as an option: not empty (Batch runs nothing for it: the task
    fails to launch, and what waits on it never runs), as a task's own is refused."""
    if value is not None and not value.strip():
        raise click.BadParameter("an empty command line runs nothing; leave the option out")
    return value


def shape_options(fn: F) -> F:
    """``--api-version``, ``--over-limit`` and ``--taskids-margin``: what shapes the plan,
    for every command that compiles a workflow (``compile``, ``validate``, ``show``)."""
    decorators = [
        click.option(
            "--api-version",
            type=click.Choice(API_VERSIONS),
            default=DEFAULT_API_VERSION,
            show_default=True,
            help="Batch REST api-version whose schema the payloads follow.",
        ),
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
    ]
    for deco in reversed(decorators):
        fn = deco(fn)
    return fn


def compile_options(fn: F) -> F:
    """Options shared by every command that compiles a workflow."""
    decorators = [
        click.argument("workflow", metavar="WORKFLOW.py[:NAME]", callback=given_source),
        shape_options,
        click.option(
            "--job-id", callback=batch_id, help="Job id (overrides graph.graph['job']['id'])."
        ),
        click.option("--pool-id", callback=batch_id, help="Pool for job.json's poolInfo."),
        click.option(
            "--pool-os",
            type=click.Choice(sorted(BARRIER_COMMANDS), case_sensitive=False),
            help="The pool's node OS (overrides graph.graph['job']['pool_os']); picks the "
            "barrier tasks' command line.",
        ),
        click.option("--barrier-command", callback=_command_line, help=_BARRIER_HELP),
        click.option(
            "--all",
            "show_all",
            is_flag=True,
            help="List every diagnostic (identical ones are grouped by default).",
        ),
    ]
    for deco in reversed(decorators):
        fn = deco(fn)
    return fn


def options_from(kw: dict[str, Any]) -> CompileOptions:
    from dagbatch.compiler.pipeline import CompileOptions

    return CompileOptions(
        api_version=kw["api_version"],
        over_limit=kw["over_limit"],
        taskids_margin=kw["taskids_margin"],
        barrier_command=kw["barrier_command"],
        pool_os=kw["pool_os"],
        job={"id": kw["job_id"], "pool_id": kw["pool_id"]},
    )


def target_problem(workflow: str) -> str | None:
    """Why ``workflow`` names no workflow file (a directory, missing, not ``.py``), or None:
    a usage error (exit 2) in every command, said before anything is loaded."""
    from dagbatch.compiler.loader import split_target, suffix_problem

    path, _ = split_target(workflow)
    if path.is_dir():
        found = sorted(p.name for p in path.glob("*.py"))[:5]
        inside = f" (it holds {', '.join(found)})" if found else ""
        return f"{path} is a directory, not a workflow file; name the .py file{inside}"
    if not path.is_file():
        return f"no such workflow file: {path}"
    if (why := suffix_problem(path)) is not None:
        return f"{path}: {why}"
    return None


def _check_target(workflow: str) -> None:
    """Exit 2 unless ``workflow`` names a workflow file (``target_problem``)."""
    if (why := target_problem(workflow)) is not None:
        fail(ConfigError(why))


def load_and_compile(
    workflow: str, options: CompileOptions, *, show_all: bool = False
) -> CompiledPlan:
    """Load and compile, turning failures into the CLI's exit codes."""
    from dagbatch.compiler.loader import load_workflow
    from dagbatch.compiler.pipeline import compile_loaded

    _check_target(workflow)
    try:
        return compile_loaded(load_workflow(workflow), options)
    except InvalidWorkflow as exc:
        print_diagnostics(list(exc.diagnostics), expand=show_all)
        sys.exit(ExitCode.INVALID)
    except WorkflowLoadError as exc:
        fail(exc)


@click.command("compile")
@compile_options
@click.option(
    "--out",
    "-o",
    type=GivenPath(file_okay=False, path_type=Path),
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
def compile_cmd(out: Path, fmt: str, quiet: bool, show_all: bool, **kw: Any) -> None:
    """Compile WORKFLOW.py into Batch request bodies (a dry run: touches no service).

    WORKFLOW.py builds a networkx.DiGraph named graph, workflow or dag, or defines build()
    (one of them); WORKFLOW.py:NAME picks another attribute. Loading runs the file's code.
    """
    from dagbatch.compiler.export import iter_jsonl, summary, write_plan

    if fmt == "jsonl" and click.get_current_context().get_parameter_source("out") == (
        click.core.ParameterSource.COMMANDLINE
    ):
        raise click.UsageError(
            "--format jsonl writes the request bodies to standard output, not to --out; "
            "redirect it (> plan.jsonl), or drop --format jsonl to write the plan directory"
        )
    # A mistyped workflow path is said first: the --out check below would otherwise speak of
    # the plan directory (which may hold a journal) for a file that is not there.
    _check_target(kw["workflow"])
    if fmt == "dir":
        from dagbatch.plan import check_plan_target

        try:  # a wrong --out is said first and alone, not after the compile's warnings
            check_plan_target(Path(out))
        except ConfigError as exc:
            fail(exc)
    plan = load_and_compile(kw.pop("workflow"), options_from(kw), show_all=show_all)
    print_diagnostics(list(plan.warnings), expand=show_all)
    if fmt == "jsonl":
        out_stream = sys.stdout.buffer
        for line in iter_jsonl(plan):
            out_stream.write(line)
        out_stream.flush()
        return
    from dagbatch.signals import sigterm_as_exit

    try:
        with sigterm_as_exit():  # `kill` while writing: the half-written copy is removed
            written = write_plan(plan, out)
    except ConfigError as exc:  # an OSError of the writing too (write_plan names it)
        fail(exc)
    if not quiet:
        click.echo(summary(plan, written), err=True)
        click.echo(
            f"wrote {written}/ (plan.json, job.json, {len(plan.batches)} batch file(s))", err=True
        )


def _json_line(record: dict[str, Any]) -> bytes:
    try:
        return orjson.dumps(record) + b"\n"
    except TypeError:  # a lone surrogate (in an invalid id): escaped, as JSON allows
        return json.dumps(record).encode() + b"\n"


#: The keys of every object `validate --format json` writes, in this order (null where a
#: diagnostic has none: a reader can index them all).
JSON_KEYS = ("code", "severity", "message", "task_id", "field", "hint")


def _json_record(**values: Any) -> dict[str, Any]:
    return {**dict.fromkeys(JSON_KEYS), **values}


def _json_lines(diags: list[Diagnostic]) -> None:
    """One JSON object a diagnostic, written in one block (``write_stdout``: a reader that
    stops early ends the command with 141)."""
    write_stdout(b"".join(_json_line(_json_record(**d.to_dict())) for d in diags))


def _json_fail(exc: WorkflowLoadError | ConfigError, code: ExitCode) -> NoReturn:
    record = _json_record(code="load-error", severity="error", message=str(exc))
    if isinstance(exc, WorkflowLoadError):
        record.update(file=exc.path, line=exc.line)  # each key always, null where unknown
    else:
        record["code"] = "usage"
    write_stdout(_json_line(record))
    sys.exit(code)


@click.command("validate")
@compile_options
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="text: grouped diagnostics on stderr; json: one JSON object a diagnostic on stdout.",
)
@click.option("--quiet", "-q", is_flag=True, help="Only errors and warnings, no 'ok' line.")
def validate_cmd(fmt: str, quiet: bool, show_all: bool, **kw: Any) -> None:
    """Check WORKFLOW.py against Batch's rules and list every problem; writes nothing."""
    from dagbatch.compiler.loader import load_workflow
    from dagbatch.compiler.pipeline import compile_loaded

    workflow = kw.pop("workflow")
    if fmt == "text":
        plan = load_and_compile(workflow, options_from(kw), show_all=show_all)
        print_diagnostics(list(plan.warnings), expand=show_all)
        if not quiet:
            click.echo(
                f"ok: {plan.counts['tasks']:,} task{'' if plan.counts['tasks'] == 1 else 's'} "
                f"in {plan.counts['requests']:,} "
                f"request(s), {len(plan.warnings)} warning(s)",
                err=True,
            )
        return
    if (why := target_problem(workflow)) is not None:
        _json_fail(ConfigError(why), ExitCode.USAGE)
    try:
        plan = compile_loaded(load_workflow(workflow), options_from(kw))
    except WorkflowLoadError as exc:
        _json_fail(exc, ExitCode.INVALID)
    except InvalidWorkflow as exc:
        _json_lines(list(exc.diagnostics))
        sys.exit(ExitCode.INVALID)
    _json_lines(list(plan.warnings))
