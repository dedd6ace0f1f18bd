"""emit: wire payloads — each task's JSON bytes, and the job body.

``dependsOn`` comes from ``plan_dependencies``, ``exitConditions`` from
``plan_exit_conditions``; this pass only writes them out. Emit runs before batching (and
interleaved with it, as a generator) because batching cuts requests on the exact bytes: a
request's size is only known once its tasks are serialized.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import orjson

from dagbatch.compiler import models
from dagbatch.compiler.dependencies import PlannedTasks
from dagbatch.compiler.exits import ExitPlan, sets_dependency_action
from dagbatch.compiler.ranges import Dependencies
from dagbatch.errors import Diagnostic, InvalidWorkflow
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


def iter_task_bytes(
    order: Sequence[int],
    ids: Sequence[str],
    props: Sequence[Mapping[str, Any]],
    deps: Sequence[Dependencies],
    exits: Mapping[int, Mapping[str, Any]],
) -> Iterator[bytes]:
    """Each task's JSON bytes, in ``order``; the hot loop of the compiler.

    A generator on purpose: orjson returns each result in a buffer of a few KB, so the
    batching pass joins them into request bodies as they come instead of holding 200,000.
    """
    dumps = orjson.dumps
    get_exit = exits.get
    i = -1
    try:
        for i in order:
            dep = deps[i]
            body: dict[str, Any] = {"id": ids[i], **props[i]}
            if dep.task_ids or dep.ranges:
                body["dependsOn"] = depends_on_wire(dep)
            ec = get_exit(i)
            if ec is not None:
                body["exitConditions"] = ec
            yield dumps(body)
    except orjson.JSONEncodeError as exc:
        raise InvalidWorkflow([_not_json(exc, ids[i], None)]) from exc


def _not_json(exc: Exception, task_id: str | None, field: str | None) -> Diagnostic:
    return Diagnostic(
        code="invalid-value",
        message=f"cannot be written as JSON: {exc}",
        task_id=task_id,
        field=field,
        hint="a lone surrogate such as '\\ud800' (often from os.fsdecode of a bad file "
        "name) is not text; remove it or encode the value",
    )


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
    uses_deps = any(d.task_ids or d.ranges for d in planned.deps) or any(
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
        raise InvalidWorkflow([_not_json(exc, None, "job")]) from exc
    return body
