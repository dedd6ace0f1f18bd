"""The compiler: pure passes called in one visible sequence.

::

    nx.DiGraph --normalize--> WorkflowSpec --validate--> diagnostics
      --limits (ranges inside)--> PlannedTasks --order--> topological order
      --emit--> task bytes --batch--> requests in waves --> CompiledPlan

``compile_graph`` raises ``InvalidWorkflow`` with every error found; warnings ride along on
the plan.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import networkx as nx

from dagbatch.compiler import dependencies, emit, models
from dagbatch.compiler.batching import ENVELOPE_BYTES, cut_batches
from dagbatch.compiler.dependencies import OverLimit
from dagbatch.compiler.spec import DEFAULT_INTENT, normalize
from dagbatch.compiler.validate import validate
from dagbatch.errors import Diagnostic, InvalidWorkflow
from dagbatch.limits import (
    DEFAULT_API_VERSION,
    DEFAULT_TASK_IDS_MARGIN,
    MAX_BODY_BYTES,
    TASK_IDS_CHAR_LIMIT,
    ApiVersion,
)
from dagbatch.plan import Batch


@dataclass(frozen=True)
class CompileOptions:
    api_version: ApiVersion = DEFAULT_API_VERSION
    over_limit: OverLimit = "barrier"
    taskids_margin: int = DEFAULT_TASK_IDS_MARGIN
    barrier_command: str = dependencies.DEFAULT_BARRIER_COMMAND
    #: job settings that override ``graph.graph["job"]`` (e.g. from the command line)
    job: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not 0 <= self.taskids_margin < TASK_IDS_CHAR_LIMIT:
            raise ValueError(
                f"taskids_margin must be from 0 to {TASK_IDS_CHAR_LIMIT - 1}, "
                f"not {self.taskids_margin}"
            )
        if self.over_limit not in dependencies.OVER_LIMIT_STRATEGIES:
            raise ValueError(f"over_limit must be one of {dependencies.OVER_LIMIT_STRATEGIES}")

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


def _modes(planned: dependencies.PlannedTasks) -> list[str | None]:
    """What each task's dependents want: None (no dependents) or the agreed `when`."""
    modes: list[str | None] = [None] * len(planned.ids)
    for p in set().union(*planned.preds):
        modes[p] = "success"
    for (u, _v), w in planned.when.items():
        modes[u] = w  # validate guaranteed one `when` per parent
    return modes


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a pass allocates millions of small,
    acyclic objects: its repeated full sweeps over the user's graph otherwise cost a third
    of the compile time. Reference counting still frees everything as usual."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def compile_graph(graph: nx.DiGraph, options: CompileOptions | None = None) -> CompiledPlan:
    """Compile a workflow graph into the plan of request bodies; raises InvalidWorkflow."""
    with _gc_paused():
        return _compile(graph, options or CompileOptions())


def _compile(graph: nx.DiGraph, opts: CompileOptions) -> CompiledPlan:
    api = opts.api_version
    spec, diags = normalize(graph, api_version=api, job_overrides=opts.job)
    diags += validate(spec)
    _raise_on_errors(diags)

    planned, more = dependencies.plan_dependencies(
        spec, budget=opts.budget, strategy=opts.over_limit, barrier_command=opts.barrier_command
    )
    diags += more
    _raise_on_errors(diags)

    job = spec.job
    job_actions = job.on_task_failure == "performexitoptionsjobaction" or any(
        i.job_action not in (None, "none") or emit.sets_job_action(i.exit_conditions)
        for i in planned.intents
        if i is not DEFAULT_INTENT
    )
    modes = _modes(planned)
    order = spec.topological[0]  # computed once, by validate
    if planned.barriers:
        # A barrier's parents are parents of its child, so just before the child is a
        # place in topological order for it.
        with_barriers: list[int] = []
        for i in order:
            before = planned.barriers_of.get(i)
            if before:
                with_barriers.extend(before)
            with_barriers.append(i)
        order = with_barriers

    max_body = MAX_BODY_BYTES[api]
    ids = planned.ids
    deps = planned.deps
    # exitConditions for the tasks whose intent or dependents differ from Batch's defaults
    # (all tasks when the job uses job actions); the rest get none.
    intents = planned.intents
    special = (
        range(len(ids))
        if job_actions
        else [
            i
            for i, (m, it) in enumerate(zip(modes, intents, strict=True))
            if it is not DEFAULT_INTENT or (m is not None and m != "success")
        ]
    )
    exits: dict[int, dict[str, Any]] = {}
    for i in special:
        ec = emit.derive_exit_conditions(
            intents[i], mode=modes[i], job_actions=job_actions, task_id=ids[i], diags=diags
        )
        if ec is not None:
            exits[i] = ec
    uses_deps = any(d.task_ids or d.ranges for d in deps) or any(
        map(emit.sets_dependency_action, exits.values())
    )
    max_chars = max((d.chars for d in deps), default=0)
    range_count = sum(len(d.ranges) for d in deps if d.ranges)

    parts = emit.iter_task_bytes(order, ids, planned.props, deps, exits)
    cuts = cut_batches(order, parts, planned.preds, max_body_bytes=max_body)
    for b in cuts:
        if b.size >= max_body:  # only a lone task can overflow a request
            size = b.size - ENVELOPE_BYTES
            diags.append(
                Diagnostic(
                    code="task-too-large",
                    message=f"the task serializes to {size} bytes; a request body must be "
                    f"under {max_body} bytes for api-version {api}",
                    task_id=ids[b.tasks[0]],
                    hint="move large data (environment values, resource file lists) into "
                    "files fetched by the task",
                )
            )
    _raise_on_errors(diags)
    batches = tuple(
        Batch(
            index=n,
            wave=b.wave,
            task_ids=tuple(map(ids.__getitem__, b.tasks)),
            body=b.body,
        )
        for n, b in enumerate(cuts, start=1)
    )

    on_task_failure = "performexitoptionsjobaction" if job_actions else "noaction"
    job_body = models.job_wire(job, api)
    job_body = {
        **{k: v for k, v in job_body.items() if k not in ("onAllTasksComplete", "onTaskFailure")},
        "usesTaskDependencies": uses_deps or bool(job_body.get("usesTaskDependencies")),
        "onTaskFailure": on_task_failure,
        "onAllTasksComplete": "noaction",
    }
    counts = {
        "tasks": len(ids),
        "userTasks": planned.user_count,
        "barriers": len(planned.barriers),
        "edges": sum(len(p) for p in spec.preds),
        "requests": len(batches),
        "waves": max((b.wave for b in batches), default=0),
        "ranges": range_count,
        "maxTaskIdsChars": max_chars,
    }
    return CompiledPlan(
        api_version=api,
        job_id=job.id,
        job=job_body,
        on_all_tasks_complete=job.on_all_tasks_complete or "noaction",
        batches=batches,
        counts=counts,
        barriers=tuple(ids[b] for b in planned.barriers),
        id_map=dict(planned.id_map),
        warnings=tuple(d for d in diags if d.severity == "warning"),
    )


def check_graph(graph: nx.DiGraph, options: CompileOptions | None = None) -> list[Diagnostic]:
    """Every diagnostic (errors and warnings) the compiler would give; raises nothing."""
    try:
        plan = compile_graph(graph, options)
    except InvalidWorkflow as exc:
        return list(exc.diagnostics)
    return list(plan.warnings)


def _raise_on_errors(diags: list[Diagnostic]) -> None:
    if any(d.severity == "error" for d in diags):
        raise InvalidWorkflow(diags)
