"""emit: wire payloads — each task's wire object, and the job body.

``dependsOn`` comes from ``plan_dependencies``, ``exitConditions`` from
``plan_exit_conditions``; this pass only writes them out. Batching then
serializes the objects a request at a time, and cuts requests on the exact bytes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from dagbatch.compiler import models
from dagbatch.compiler.batching import not_json
from dagbatch.compiler.dependencies import PlannedTasks
from dagbatch.compiler.exits import ExitPlan, sets_dependency_action
from dagbatch.compiler.ranges import Dependencies
from dagbatch.compiler.spec import Props
from dagbatch.errors import InvalidWorkflow
from dagbatch.limits import ApiVersion


def depends_on_wire(deps: Dependencies) -> dict[str, Any] | None:
    if not deps.task_ids and not deps.ranges:
        return None
    out: dict[str, Any] = {}
    if deps.task_ids:
        out["taskIds"] = deps.task_ids  # orjson writes tuples as arrays
    if deps.ranges:
        out["taskIdRanges"] = [{"start": a, "end": b} for a, b in deps.ranges]
    return out


def task_objects(
    ids: Sequence[str],
    props: Sequence[Props],
    deps: Sequence[Dependencies],
    exits: Mapping[int, Mapping[str, Any]],
) -> list[dict[str, Any]]:
    """Each task's wire object (``id``, its properties, ``dependsOn``, ``exitConditions``),
    by task index; the hot loop of the compiler.

    Built in index order, not submit order, on purpose: the properties were made in index
    order and lie in memory that way, so one sequential pass is about four times quicker
    than visiting them in topological order. The objects take a few hundred bytes a task
    next to the graph's kilobyte or so; batching serializes them a request at a time.
    """
    # A command-line-only task's object is one dict display. A task with more properties
    # gets ``dependsOn`` added to its dict afterwards: ``{"id": tid, **p, "dependsOn": x}``
    # would build a second dict for the trailing key and merge it. Tasks that share their
    # parents share one ``Dependencies`` (``plan_dependencies``), and then one ``dependsOn``
    # dict: a sweep's shards, one after another, need one dict, not one each.
    objects: list[dict[str, Any]] = []
    append = objects.append
    last: Dependencies | None = None
    wire: dict[str, Any] | None = None
    for tid, p, d in zip(ids, props, deps, strict=True):
        if d is not last:
            last = d
            task_ids, ranges = d
            if ranges:
                wire = depends_on_wire(d)
            elif task_ids:
                wire = {"taskIds": task_ids}  # orjson writes tuples as arrays
            else:
                wire = None
        if isinstance(p, str):
            if wire is None:
                append({"id": tid, "commandLine": p})
            else:
                append({"id": tid, "commandLine": p, "dependsOn": wire})
        else:
            obj = {"id": tid, **p}
            if wire is not None:
                obj["dependsOn"] = wire
            append(obj)
    for i, ec in exits.items():
        objects[i]["exitConditions"] = ec
    return objects


def job_body(
    job: models.JobSettings, api_version: ApiVersion, planned: PlannedTasks, exit_plan: ExitPlan
) -> dict[str, Any]:
    """The Add Job body: the user's job settings plus what the plan needs.

    ``usesTaskDependencies`` when some task depends on another or sets a dependencyAction;
    ``onTaskFailure: performexitoptionsjobaction`` when job actions are used; and
    ``onAllTasksComplete: noaction``, because a job with no tasks counts as complete: the
    user's ``terminatejob`` is applied by submit after the last task landed.
    """
    wire = models.job_wire(job, api_version)
    uses_deps = any(map(any, planned.deps)) or any(  # any task_ids or ranges
        map(sets_dependency_action, exit_plan.exits.values())
    )
    body = {
        **{k: v for k, v in wire.items() if k not in ("onAllTasksComplete", "onTaskFailure")},
        "usesTaskDependencies": uses_deps or bool(wire.get("usesTaskDependencies")),
        "onTaskFailure": "performexitoptionsjobaction" if exit_plan.job_actions else "noaction",
        "onAllTasksComplete": "noaction",
    }
    try:
        orjson.dumps(body)
    except orjson.JSONEncodeError as exc:
        raise InvalidWorkflow([not_json(exc, None, "job")]) from exc
    return body
