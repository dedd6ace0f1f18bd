"""Read what Batch receives into a ``PlanView``: from a plan directory or from a compiled
plan (and, for group names, the workflow graph it came from).

Group names (``_group`` node attributes) exist only in the workflow: a picture of a plan
directory folds by structure alone. The user's names of renumbered ids (`--over-limit
renumber`) come from the plan's id map in both cases.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dagbatch.gcpause import gc_paused
from dagbatch.show.model import EdgeKind, Intent, PlanView
from dagbatch.visible import visible
from dagbatch.wireshape import exit_actions

if TYPE_CHECKING:  # annotations only: `dagbatch --help` imports this without the compiler
    import networkx as nx

    from dagbatch.compiler.pipeline import CompiledPlan

#: The node attribute that names a group of tasks in a workflow.
GROUP_ATTRIBUTE = "_group"


def _satisfies(exit_conditions: Mapping[str, Any], code: int) -> bool:
    """Whether exiting with ``code`` satisfies the dependents: Batch's rule, from its one
    implementation (``wireshape.exit_actions``, shared with the emulator and observe)."""
    return exit_actions(exit_conditions, "exit", code, code == 0)[0].lower() == "satisfy"


def read_intent(exit_conditions: Mapping[str, Any] | None, *, job_actions: bool) -> Intent:
    """The ``Intent`` of a task from its exitConditions (docs/BATCH_FACTS.md "Exit
    conditions").

    ``job_actions``: the job's onTaskFailure is performexitoptionsjobaction, under which a
    failure without an explicit jobAction terminates the job (docs/BATCH_FACTS.md).
    """
    ec = exit_conditions or {}
    on_zero = _satisfies(ec, 0)
    default = ec.get("default") or {}
    on_fail = default.get("dependencyAction") == "satisfy"
    kind: EdgeKind
    if on_zero and on_fail:
        kind = "always"
    elif on_zero:
        kind = "success"
    elif on_fail:
        kind = "failure"
    else:
        kind = "never"
    # Non-zero codes listed with the action opposite to the default.
    flipped: list[str] = []
    for entry in ec.get("exitCodes") or ():
        code = entry.get("code")
        if isinstance(code, int) and code != 0 and _satisfies(ec, code) != on_fail:
            flipped.append(str(code))
    for entry in ec.get("exitCodeRanges") or ():
        action = (entry.get("exitOptions") or {}).get("dependencyAction") or "block"
        if (action == "satisfy") != on_fail and not entry.get("start", 1) <= 0 <= entry.get(
            "end", -1
        ):
            flipped.append(f"{entry.get('start')}-{entry.get('end')}")
    exceptions = ""
    if flipped:
        exceptions = ("+" if not on_fail else "-") + ",".join(flipped)
    # A failed download or launch, or failed output files, take their own entry's action
    # (block where it names none), else the default's [BATCH_FACTS run-time rules 5]: said
    # where that differs from the other failures, by Batch's rule's one implementation.
    errors = []
    for name, ended in (("pre", "preprocessing"), ("upload", "upload")):
        action = exit_actions(ec, ended, None, False)[0].lower()
        if (action == "satisfy") != on_fail:
            errors.append(f"{name}:{action}")
    job_action = "none"
    if job_actions:
        job_action = str(default.get("jobAction") or "terminate")
    return Intent(kind=kind, exceptions=exceptions, job_action=job_action, errors=" ".join(errors))


def _int_index(ids: list[str]) -> tuple[list[int], list[int]]:
    """Sorted integer values of the ids that are integers (Batch reads ``007`` as 7), and the
    task index of each, for the parents a ``taskIdRange`` selects."""
    pairs = sorted((int(tid), i) for i, tid in enumerate(ids) if tid.isdigit())
    return [v for v, _ in pairs], [i for _, i in pairs]


def build_view(
    tasks: Iterable[tuple[int, Mapping[str, Any]]],
    *,
    job_id: str | None,
    api_version: str,
    on_task_failure: str,
    requests: int,
    submit_waves: int,
    barriers: Iterable[str],
    groups: Mapping[str, str] | None = None,
    names: Mapping[str, str] | None = None,
) -> PlanView:
    """A ``PlanView`` from the task bodies in submit order, each with its request's wave.

    ``names``: the user's name of each renumbered id (plan.json ``idMap``: new id -> original
    name, as `dagbatch status` reads it); the picture draws those names."""
    # Half a dozen objects a task, none in a cycle, while the caller's workflow graph
    # may hold millions: the collector's sweeps would walk it again and again
    # (dagbatch.gcpause). A third of the time on a 100,000-task plan.
    with gc_paused():
        view = PlanView(
            job_id=job_id,
            api_version=api_version,
            on_task_failure=on_task_failure,
            requests=requests,
            submit_waves=submit_waves,
        )
        depends: list[Mapping[str, Any]] = []
        for wave, body in tasks:
            tid = str(body["id"])
            view.ids.append(tid)
            view.wave.append(wave)
            view.exits.append(body.get("exitConditions"))
            view.command.append(str(body.get("commandLine", "")))
            view.display.append(body.get("displayName"))
            depends.append(body.get("dependsOn") or {})
        barrier_set = set(barriers)
        view.barrier = [tid in barrier_set for tid in view.ids]
        groups = groups or {}
        view.group = [groups.get(tid) for tid in view.ids]
        view.names = [names.get(tid, tid) for tid in view.ids] if names else list(view.ids)

        position = {tid: i for i, tid in enumerate(view.ids)}
        values, holders = _int_index(view.ids)
        unknown = 0
        for dep in depends:
            named = dep.get("taskIds") or ()
            try:
                parents = list(map(position.__getitem__, named))
            except KeyError:
                parents = [position[p] for p in named if p in position]
                unknown += len(named) - len(parents)
            spans = tuple((int(r["start"]), int(r["end"])) for r in dep.get("taskIdRanges") or ())
            before = len(parents)
            for start, end in spans:
                lo = bisect.bisect_left(values, start)
                hi = bisect.bisect_right(values, end)
                parents.extend(holders[lo:hi])
            view.parents.append(parents)
            view.range_parents.append(len(parents) - before)
            view.ranges.append(spans)
        view.unknown_parents = unknown
        return view


def _graph_groups(graph: nx.DiGraph | None, id_map: Mapping[str, str]) -> dict[str, str]:
    """Task id -> the ``_group`` attribute of its workflow node (ids renumbered by the
    compiler are mapped back through ``id_map``: new id -> original id)."""
    if graph is None:
        return {}
    named = {
        str(node): visible(str(data[GROUP_ATTRIBUTE]))
        for node, data in graph.nodes(data=True)
        if data.get(GROUP_ATTRIBUTE) is not None
    }
    if not named:
        return {}
    if id_map:
        return {new: named[old] for new, old in id_map.items() if old in named}
    return named


def view_of_compiled(plan: CompiledPlan, graph: nx.DiGraph | None = None) -> PlanView:
    """The ``PlanView`` of a compiled plan; ``graph`` (the workflow) supplies group names."""

    def tasks() -> Iterable[tuple[int, Mapping[str, Any]]]:
        """Every task body with its request's wave, in submit order."""
        for batch in plan.batches:
            for body in batch.tasks:
                yield batch.wave, body

    return build_view(
        tasks(),
        job_id=plan.job_id,
        api_version=plan.api_version,
        on_task_failure=str(plan.job.get("onTaskFailure", "noaction")),
        requests=len(plan.batches),
        submit_waves=plan.counts.get("waves", 0),
        barriers=plan.barriers,
        groups=_graph_groups(graph, plan.id_map),
        names=plan.id_map,
    )


def view_of_plan_dir(plan_dir: Path) -> PlanView:
    """The ``PlanView`` of a plan directory (checked as submit checks it; ``PlanError``)."""
    from dagbatch.plan import load_plan

    loaded = load_plan(plan_dir)
    manifest = loaded.manifest
    return build_view(
        ((batch.wave, task) for batch in loaded.batches for task in batch.tasks),
        job_id=manifest.jobId,
        api_version=manifest.apiVersion,
        on_task_failure=str(loaded.job.get("onTaskFailure", "noaction")),
        requests=len(loaded.batches),
        submit_waves=max((b.wave for b in loaded.batches), default=0),
        barriers=manifest.barriers,
        names=manifest.idMap,
    )
