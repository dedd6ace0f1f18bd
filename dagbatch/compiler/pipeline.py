"""The compiler: pure passes called in one visible sequence, ``PASSES``.

::

    nx.DiGraph
      1 normalize             -> WorkflowSpec (ids, properties, intents, parent lists)
      2 validate              -> diagnostics (ids, cycles, failure intent, completion)
      3 plan_dependencies     -> PlannedTasks (dependsOn: taskIds, ranges, barriers)
      4 order_tasks           -> submit order (topological, barriers before their child)
      5 plan_exit_conditions  -> ExitPlan (exitConditions, job actions)
      6 task_objects          -> each task's wire object
      7 cut_batches           -> exact request bodies of at most 100 tasks and 1 MB, in waves
      8 job_body              -> the Add Job body
                              => CompiledPlan

Each pass is a function of frozen values with a docstring. ``compile_graph`` raises
``InvalidWorkflow`` with every error found; warnings ride along on the plan.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Final, cast

import networkx as nx
import orjson

from dagbatch.compiler.batching import Cut, cut_batches, oversized_tasks
from dagbatch.compiler.dependencies import (
    BARRIER_COMMANDS,
    DEFAULT_BARRIER_COMMAND,
    DEFAULT_OVER_LIMIT,
    OVER_LIMIT_STRATEGIES,
    OverLimit,
    PlannedTasks,
    order_tasks,
    plan_dependencies,
)
from dagbatch.compiler.emit import job_body, task_objects
from dagbatch.compiler.exits import plan_exit_conditions
from dagbatch.compiler.models import POOL_OS_VALUES, JobSettings, PoolOs
from dagbatch.compiler.spec import WorkflowSpec, normalize
from dagbatch.compiler.validate import EMPTY_WORKFLOW, validate
from dagbatch.errors import ConfigError, Diagnostic, InvalidWorkflow
from dagbatch.gcpause import gc_paused
from dagbatch.limits import (
    API_VERSIONS,
    DEFAULT_API_VERSION,
    DEFAULT_TASK_IDS_MARGIN,
    MAX_BODY_BYTES,
    TASK_IDS_CHAR_LIMIT,
    ApiVersion,
)
from dagbatch.plan import Batch
from dagbatch.wireshape import task_shape

if TYPE_CHECKING:
    from dagbatch.compiler.loader import LoadedWorkflow

#: The compiler's passes, in the order ``compile_graph`` runs them (the README's "How compile
#: works" lists the same names).
PASSES: Final[tuple[Callable[..., Any], ...]] = (
    normalize,
    validate,
    plan_dependencies,
    order_tasks,
    plan_exit_conditions,
    task_objects,
    cut_batches,
    job_body,
)


@dataclass(frozen=True)
class CompileOptions:
    api_version: ApiVersion = DEFAULT_API_VERSION
    over_limit: OverLimit = DEFAULT_OVER_LIMIT
    taskids_margin: int = DEFAULT_TASK_IDS_MARGIN
    #: None: by the pool's OS (``pool_os`` here or in the job settings), Linux if unknown
    barrier_command: str | None = None
    #: the pool's node OS, "linux" or "windows" (overrides the job setting ``pool_os``)
    pool_os: PoolOs | None = None
    #: job settings that override ``graph.graph["job"]`` (e.g. from the command line): a
    #: mapping or a ``JobSettings`` (kept as the mapping of its settings as given)
    job: Mapping[str, Any] | JobSettings = field(default_factory=dict)

    def __post_init__(self) -> None:
        """Each option checked here, as a ``ConfigError`` naming it: a bad one would otherwise
        surface deep in a pass as a ``KeyError`` or ``AttributeError``."""
        margin = self.taskids_margin
        if type(margin) is not int or not 0 <= margin < TASK_IDS_CHAR_LIMIT:
            raise ConfigError(
                f"taskids_margin must be from 0 to {TASK_IDS_CHAR_LIMIT - 1}, not {margin!r}"
            )
        if self.over_limit not in OVER_LIMIT_STRATEGIES:
            raise ConfigError(
                f"over_limit must be one of {', '.join(OVER_LIMIT_STRATEGIES)}, "
                f"not {self.over_limit!r}"
            )
        if self.api_version not in API_VERSIONS:
            raise ConfigError(
                f"api_version must be one of {', '.join(API_VERSIONS)}, not {self.api_version!r}"
            )
        if self.pool_os is not None:
            folded = str(self.pool_os).lower()
            if folded not in POOL_OS_VALUES:
                raise ConfigError(
                    f"pool_os must be one of {', '.join(POOL_OS_VALUES)} (or None), "
                    f"not {self.pool_os!r}"
                )
            object.__setattr__(self, "pool_os", folded)  # "Linux" as the job setting takes it
        if isinstance(self.job, JobSettings):  # built in Python: its settings as given
            object.__setattr__(self, "job", self.job.model_dump(exclude_unset=True))
        if not isinstance(self.job, Mapping):
            raise ConfigError(
                f"job must be a mapping of job settings (e.g. {{'id': 'nightly'}}), not a "
                f"{type(self.job).__name__}"
            )
        if self.barrier_command is not None and not isinstance(self.barrier_command, str):
            raise ConfigError("barrier_command must be a command line (str) or None")
        if self.barrier_command is not None and not self.barrier_command.strip():
            # Batch would run nothing: every barrier fails to launch, and the task it serves
            # never runs (a task's own empty command line is refused the same way).
            raise ConfigError("barrier_command is empty: an empty command line runs nothing")

    @property
    def budget(self) -> int:
        return TASK_IDS_CHAR_LIMIT - self.taskids_margin


@dataclass(frozen=True)
class CompiledPlan:
    api_version: ApiVersion
    job_id: str | None
    job: Mapping[str, Any]  # the Add Job body
    on_all_tasks_complete: str  # set after the last task landed
    batches: tuple[Batch, ...]  # in submit order
    counts: Mapping[str, int]
    barriers: tuple[str, ...]
    id_map: Mapping[str, str]
    warnings: tuple[Diagnostic, ...]

    @property
    def task_count(self) -> int:
        return self.counts["tasks"]


def compile_graph(graph: nx.DiGraph, options: CompileOptions | None = None) -> CompiledPlan:
    """Compile a workflow graph into the plan of request bodies; raises InvalidWorkflow
    (``ConfigError`` for options that are no ``CompileOptions``)."""
    if options is not None and not isinstance(options, CompileOptions):
        raise ConfigError(
            "the compile options are a dagbatch.CompileOptions (CompileOptions(job={...}, "
            f"...)), not {type(options).__name__}"
        )
    with gc_paused():
        return _compile(graph, options or CompileOptions())


def compile_loaded(loaded: LoadedWorkflow, options: CompileOptions | None = None) -> CompiledPlan:
    """``compile_graph`` of a loaded workflow file, the file's own warnings
    (``LoadedWorkflow.warnings``: ``several-workflows``) first among the plan's, or among the
    diagnostics of the ``InvalidWorkflow`` raised: what every command that loads a file shows."""
    try:
        plan = compile_graph(loaded.graph, options)
    except InvalidWorkflow as exc:
        if not loaded.warnings:
            raise
        raise InvalidWorkflow([*loaded.warnings, *exc.diagnostics]) from exc
    warnings = plan.warnings
    if loaded.others:  # the graph found has no task, and others in the file have some
        pick = f"{loaded.path}:{loaded.others[0]}"
        named = ", ".join(map(repr, loaded.others[:5]))
        warnings = tuple(
            replace(d, hint=f"the file holds a graph with tasks: {named}; pass {pick}")
            if d.code == EMPTY_WORKFLOW
            else d
            for d in warnings
        )
    if not loaded.warnings and warnings is plan.warnings:
        return plan
    return replace(plan, warnings=(*loaded.warnings, *warnings))


def _compile(graph: nx.DiGraph, opts: CompileOptions) -> CompiledPlan:
    """The passes of ``PASSES``, in that order. Each takes frozen values and returns new ones;
    diagnostics are collected along the way and errors stop the compile between passes."""
    api = opts.api_version
    # __post_init__ made a JobSettings the mapping of its settings: opts.job is one here.
    overrides = cast(Mapping[str, Any], opts.job)
    spec, diags = normalize(graph, api_version=api, job_overrides=overrides)
    # A node key that is no str or int is reported once, by normalize, not again for the
    # characters of the stand-in id it gets.
    bad_keys = {d.task_id for d in diags if d.code == "invalid-id"}
    diags += [d for d in validate(spec) if d.code != "invalid-id" or d.task_id not in bad_keys]
    _raise_on_errors(diags)
    command, os_known = _barrier_command(opts, spec.job)
    planned, more = plan_dependencies(
        spec, budget=opts.budget, strategy=opts.over_limit, barrier_command=command
    )
    diags += more
    if planned.barriers and not os_known:
        diags.append(_barrier_os_unknown(command))
    _raise_on_errors(diags)
    order = order_tasks(spec, planned)
    exit_plan, more = plan_exit_conditions(planned, spec.job)
    diags += more
    _raise_on_errors(diags)
    tasks = task_objects(planned.ids, planned.props, planned.deps, exit_plan.exits)
    max_body = MAX_BODY_BYTES[api]
    cuts = cut_batches(order, tasks, planned.preds, max_body_bytes=max_body)
    diags += oversized_tasks(cuts, planned.ids, max_body_bytes=max_body, api_version=api)
    _raise_on_errors(diags)
    job = job_body(spec.job, api, planned, exit_plan)
    diags += _sas_tokens(cuts, job, api)
    return _compiled_plan(spec, planned, cuts, job, diags)


#: A SAS token's signature parameter in a URL, or a URL's password (``://user:password@``):
#: the secrets a plan can hold, each with how the warning names it.
_SECRETS_IN_URLS: Final = (
    (re.compile(rb"[?&]sig="), "SAS tokens (sig=)"),
    (re.compile(rb"://[^/?#@\s\"]*:[^/?#@\s\"]+@"), "URL passwords (user:password@)"),
)
_SAS_SIGNATURE = re.compile(b"|".join(pattern.pattern for pattern, _ in _SECRETS_IN_URLS))


def _sas_tokens(
    cuts: Sequence[Cut], job: Mapping[str, Any], api_version: ApiVersion
) -> list[Diagnostic]:
    """A warning when the plan holds SAS signatures (``sig=``) or URL passwords: it is
    then a secret."""
    # A body without '=' or '@' (one memchr each) holds neither: most bodies are ruled out
    # by that before the slower searches.
    holders = [
        t["id"]
        for b in cuts
        if ((b"=" in b.body and b"sig=" in b.body) or b"@" in b.body)
        and _SAS_SIGNATURE.search(b.body)
        for t in orjson.loads(b.body)["value"]
        if _SAS_SIGNATURE.search(orjson.dumps(t))
    ]
    in_job = _SAS_SIGNATURE.search(orjson.dumps(job)) is not None
    if not holders and not in_job:
        return []
    held = b"".join(
        [orjson.dumps(job)] + [b.body for b in cuts if b"sig=" in b.body or b"@" in b.body]
    )
    kinds = " and ".join(name for pattern, name in _SECRETS_IN_URLS if pattern.search(held))
    where = []
    if holders:
        shown = ", ".join(map(repr, holders[:5])) + (" ..." if len(holders) > 5 else "")
        where.append(f"{len(holders)} task(s) ({shown})")
    if in_job:
        where.append("the job settings")
    return [
        Diagnostic(
            code="plan-holds-secrets",
            severity="warning",
            message=f"{' and '.join(where)} carry {kinds}: whoever reads the plan can use them",
            task_id=holders[0] if holders else None,
            hint="do not commit or share the plan directory; prefer "
            + (
                "managed identities (identity_reference) or short-lived tokens"
                if "identityReference" in (task_shape(api_version)["resourceFiles"] or {})
                else "short-lived tokens"  # the version has no identityReference [spec-2017]
            ),
        )
    ]


def _barrier_command(opts: CompileOptions, job: JobSettings) -> tuple[str, bool]:
    """The barrier tasks' command line, and whether the pool's OS was known to choose it."""
    if opts.barrier_command is not None:
        return opts.barrier_command, True
    pool_os = opts.pool_os or job.pool_os
    if pool_os is None:
        return DEFAULT_BARRIER_COMMAND, False
    return BARRIER_COMMANDS[pool_os], True


def _barrier_os_unknown(command: str) -> Diagnostic:
    return Diagnostic(
        code="barrier-os-unknown",
        severity="warning",
        message=f"barrier tasks were added with the command line {command!r}, which runs on "
        "Linux nodes only, and the pool's OS is not known",
        field="job.poolOs",
        hint="say which OS the pool runs: pool_os='linux' or 'windows' in graph.graph['job'], "
        "or --pool-os (or give --barrier-command)",
    )


def _compiled_plan(
    spec: WorkflowSpec,
    planned: PlannedTasks,
    cuts: Sequence[Cut],
    job: Mapping[str, Any],
    diags: Sequence[Diagnostic],
) -> CompiledPlan:
    """The plan as the rest of dagbatch sees it: batches with task ids, counts, warnings."""
    ids = planned.ids
    name = list(ids).__getitem__  # a list's __getitem__ is a quicker call than a tuple's
    batches = tuple(
        Batch(index=n, wave=b.wave, task_ids=tuple(map(name, b.tasks)), body=b.body)
        for n, b in enumerate(cuts, start=1)
    )
    counts = {
        "tasks": len(ids),
        "userTasks": planned.user_count,
        "barriers": len(planned.barriers),
        "edges": sum(spec.parent_counts),
        "requests": len(batches),
        "waves": max((b.wave for b in batches), default=0),
        "ranges": planned.ranges,
        "maxTaskIdsChars": planned.max_task_ids_chars,
    }
    return CompiledPlan(
        api_version=spec.api_version,
        job_id=spec.job.id,
        job=job,
        on_all_tasks_complete=spec.job.on_all_tasks_complete or "noaction",
        batches=batches,
        counts=counts,
        barriers=tuple(ids[b] for b in planned.barriers),
        id_map=dict(planned.id_map or {}),
        warnings=tuple(d for d in diags if d.severity == "warning"),
    )


def check_graph(graph: nx.DiGraph, options: CompileOptions | None = None) -> list[Diagnostic]:
    """Every diagnostic (errors and warnings) the compiler would give, returned rather than
    raised as ``InvalidWorkflow``. Input that is no workflow at all (``graph`` not a
    networkx.DiGraph, ``options`` not a ``CompileOptions``) is still a ``ConfigError``."""
    try:
        plan = compile_graph(graph, options)
    except InvalidWorkflow as exc:
        return list(exc.diagnostics)
    return list(plan.warnings)


def _raise_on_errors(diags: list[Diagnostic]) -> None:
    if any(d.severity == "error" for d in diags):
        raise InvalidWorkflow(diags)
