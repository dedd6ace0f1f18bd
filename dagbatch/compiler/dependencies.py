"""limits: keep every ``dependsOn.taskIds`` under the character budget.

After ranges, a task whose ``taskIds`` still exceed the budget (64000 minus a margin) is
handled by the chosen strategy; an over-limit payload is never emitted.

- ``barrier`` (default): no-op tasks that each depend on a slice of the parents; the child
  depends on the barriers instead. A barrier inherits each parent's edge ``when``, so the
  parent's dependencyAction decides whether the barrier runs exactly as it would have decided
  for the child; the barrier then exits 0 and satisfies the child. A parent that blocks blocks
  the barrier, which blocks the child: the child runs exactly when it would have.
- ``renumber``: every task gets an integer id in topological order (the original name goes to
  ``displayName`` unless one is set, and to the id map), so that parent runs become ranges;
  whatever is still over the budget then gets barriers.
- ``error``: a diagnostic naming each task over the budget.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from dagbatch.compiler.ranges import NO_DEPS, Dependencies, RangeIndex, dependencies_of
from dagbatch.compiler.spec import DEFAULT_INTENT, Intent, WorkflowSpec
from dagbatch.errors import Diagnostic

OverLimit = Literal["barrier", "renumber", "error"]
OVER_LIMIT_STRATEGIES: tuple[OverLimit, ...] = ("barrier", "renumber", "error")

#: Runs on Linux pool nodes without a shell; Windows pools want e.g. "cmd /c exit 0".
DEFAULT_BARRIER_COMMAND = "/bin/true"


@dataclass
class PlannedTasks:
    """The job's final task set: the user's tasks, then any barriers, by index."""

    ids: list[str]
    props: list[Mapping[str, Any]]
    intents: list[Intent]
    preds: list[Sequence[int]]
    when: dict[tuple[int, int], str]
    deps: list[Dependencies]
    barriers: list[int] = field(default_factory=list)
    #: the barriers that stand before each child that needed them
    barriers_of: dict[int, list[int]] = field(default_factory=dict)
    id_map: dict[str, str] = field(default_factory=dict)
    user_count: int = 0


def plan_dependencies(
    spec: WorkflowSpec,
    *,
    budget: int,
    strategy: OverLimit,
    barrier_command: str = DEFAULT_BARRIER_COMMAND,
) -> tuple[PlannedTasks, list[Diagnostic]]:
    ids = list(spec.ids)
    props = list(spec.props)
    preds: list[Sequence[int]] = list(spec.preds)
    id_map: dict[str, str] = {}
    deps = _all_dependencies(ids, preds, budget)
    over = [i for i, d in enumerate(deps) if d.chars > budget]
    diags: list[Diagnostic] = []
    if over and strategy == "error":
        for i in over:
            diags.append(
                Diagnostic(
                    code="task-ids-too-long",
                    message=f"dependsOn.taskIds would be {deps[i].chars} characters, over the "
                    f"budget of {budget} (Batch's limit is 64000)",
                    task_id=ids[i],
                    field="dependsOn.taskIds",
                    hint="use --over-limit barrier or renumber, or give the parents integer "
                    "ids in runs so they collapse into taskIdRanges",
                )
            )
        return _planned(spec, ids, props, preds, deps, id_map), diags
    if over and strategy == "renumber":
        order = spec.topological[0]  # the user graph is unchanged so far
        new_ids = [""] * len(ids)
        for pos, i in enumerate(order, start=1):
            new_ids[i] = str(pos)
        for i, old in enumerate(ids):
            id_map[new_ids[i]] = old
            if "displayName" not in props[i]:
                props[i] = {"displayName": old, **props[i]}
        ids = new_ids
        deps = _all_dependencies(ids, preds, budget)
        over = [i for i, d in enumerate(deps) if d.chars > budget]
    planned = _planned(spec, ids, props, preds, deps, id_map)
    if over:
        diags.extend(_insert_barriers(planned, over, budget, barrier_command))
    return planned, diags


def _planned(
    spec: WorkflowSpec,
    ids: list[str],
    props: list[Mapping[str, Any]],
    preds: list[Sequence[int]],
    deps: list[Dependencies],
    id_map: dict[str, str],
) -> PlannedTasks:
    return PlannedTasks(
        ids=ids,
        props=props,
        intents=list(spec.intents),
        preds=preds,
        when=dict(spec.when),
        deps=deps,
        id_map=id_map,
        user_count=len(ids),
    )


def _all_dependencies(
    ids: Sequence[str], preds: Sequence[Sequence[int]], budget: int
) -> list[Dependencies]:
    index = RangeIndex.build(ids)
    name = ids.__getitem__
    if not index.intable:
        # No integer ids in the job: every parent is a plain id (the common string-id case).
        return [Dependencies(tuple(map(name, ps)), ()) if ps else NO_DEPS for ps in preds]
    plain = index.intable.isdisjoint
    return [
        (
            Dependencies(tuple(map(name, ps)), ())
            if plain(ps)
            else dependencies_of(ps, ids, index, budget)
        )
        if ps
        else NO_DEPS
        for ps in preds
    ]


def _barrier_id(child: str, k: int, taken: set[str]) -> str:
    digest = hashlib.sha256(child.encode()).hexdigest()[:12]
    n = 0
    while True:
        bid = f"dagbatch-barrier-{digest}-{k}" + (f"-{n}" if n else "")
        if bid.lower() not in taken:
            taken.add(bid.lower())
            return bid
        n += 1


def _insert_barriers(
    planned: PlannedTasks, over: list[int], budget: int, command: str
) -> list[Diagnostic]:
    diags: list[Diagnostic] = []
    by_id = {tid: i for i, tid in enumerate(planned.ids)}
    taken = {tid.lower() for tid in planned.ids}
    for child in over:
        cid = planned.ids[child]
        dep = planned.deps[child]
        slices: list[list[str]] = [[]]
        used = 0
        for tid in dep.task_ids:
            if used + len(tid) > budget and slices[-1]:
                slices.append([])
                used = 0
            slices[-1].append(tid)
            used += len(tid)
        in_ids = {by_id[t] for t in dep.task_ids}
        new_preds = [p for p in planned.preds[child] if p not in in_ids]
        barrier_ids: list[str] = []
        for k, part in enumerate(slices, start=1):
            bid = _barrier_id(cid, k, taken)
            b = len(planned.ids)
            parent_idx = [by_id[t] for t in part]
            planned.ids.append(bid)
            planned.props.append(
                {
                    "displayName": f"dagbatch barrier {k}/{len(slices)} for {cid}"[:1024],
                    "commandLine": command,
                }
            )
            planned.intents.append(DEFAULT_INTENT)
            planned.preds.append(parent_idx)
            planned.deps.append(Dependencies(tuple(part), ()))
            for p in parent_idx:
                w = planned.when.pop((p, child), None)
                if w is not None:
                    planned.when[(p, b)] = w
            planned.barriers.append(b)
            planned.barriers_of.setdefault(child, []).append(b)
            barrier_ids.append(bid)
            new_preds.append(b)
        planned.preds[child] = new_preds
        planned.deps[child] = Dependencies(tuple(barrier_ids), dep.ranges)
        if planned.deps[child].chars > budget:
            diags.append(
                Diagnostic(
                    code="task-ids-too-long",
                    message=f"even with {len(slices)} barrier tasks, dependsOn.taskIds is over "
                    "the budget",
                    task_id=cid,
                    field="dependsOn.taskIds",
                    hint="use --over-limit renumber, or split the fan-in in the workflow",
                )
            )
        diags.append(
            Diagnostic(
                code="barriers-inserted",
                severity="warning",
                message=f"dependsOn.taskIds was {dep.chars} characters, over the budget of "
                f"{budget}; {len(slices)} barrier task(s) now stand between it and its parents",
                task_id=cid,
                field="dependsOn.taskIds",
            )
        )
    return diags
