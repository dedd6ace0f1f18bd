"""Job operations: create, get, list, update (PATCH), replace (PUT), terminate, disable,
enable, delete, and the task counts.

Switching ``onAllTasksComplete`` back from ``terminatejob`` is 400 ``InvalidPropertyValue``
[BATCH_FACTS 6]. Codes chosen where the service's are not documented: terminating, disabling
or enabling a completed job is 409 ``JobCompleted``; disabling a job that is not active is
409 ``JobNotActive``, enabling one that is not disabled 409 ``JobNotDisabled``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import compress
from typing import Any, Final, cast
from urllib.parse import quote

from starlette.responses import Response

from dagbatch import limits
from dagbatch.emulator import odata, replies, rules
from dagbatch.emulator.conditions import check_conditions
from dagbatch.emulator.context import Ctx
from dagbatch.emulator.scheduler import ACTIVE, COMPLETED, PREPARING, RUNNING, TaskSpec
from dagbatch.emulator.store import Job, http_time, make_etag, now
from dagbatch.servicetime import service_time

#: The properties a job list ``$filter`` may name.
JOB_FILTER_FIELDS: Final = frozenset(
    {"id", "state", "priority", "displayName", "executionInfo/terminateReason"}
)


def get_job_or_404(ctx: Ctx, job_id: str) -> Job:
    """The job, or 404 ``JobNotFound``."""
    with ctx.store.lock:
        job = ctx.store.jobs.get(job_id.lower())
    if job is None:
        raise replies.job_not_found(ctx.base)
    return job


def job_conditions(ctx: Ctx, job: Job, *, read: bool = False) -> None:
    """Lock held. The request's conditional headers against the job (``conditions``)."""
    check_conditions(ctx, make_etag(job.serial), job.modified, read=read)


def job_headers(ctx: Ctx, job: Job) -> dict[str, str]:
    """ETag, Last-Modified, DataServiceId and Location of a job."""
    url = f"{ctx.base}/jobs/{job.id}"
    return {
        "ETag": make_etag(job.serial),
        "Last-Modified": http_time(job.modified),
        "DataServiceId": url,
        "Location": url,
    }


def maybe_complete(ctx: Ctx, job: Job) -> None:
    """Lock held. A terminatejob job whose tasks are all complete ends [BATCH_FACTS 6]."""
    ctx.store.engine.check_all_complete(job)


async def create_job(ctx: Ctx) -> Response:
    body = rules.parse_object(ctx)
    rules.only_properties(ctx, body, rules.JOB_CREATE_PROPS[ctx.api_version])
    job_id = rules.check_job_id(ctx, body)
    rules.require_pool_info(ctx, body)
    rules.check_job_enums(ctx, body)
    rules.check_job_values(ctx, body)
    at = now()
    job: Job | None = None
    with ctx.store.lock:
        if job_id.lower() not in ctx.store.jobs:
            serial = ctx.store.next_serial()
            job = Job(
                id=job_id,
                spec=body,
                created=at,
                modified=at,
                serial=serial,
                created_serial=serial,
                state_time=at,
            )
            ctx.store.jobs[job_id.lower()] = job
            ctx.store.engine.job_created(job)
            # Created with terminatejob and no tasks: it is complete at once [BATCH_FACTS 6].
            maybe_complete(ctx, job)
    if job is None:
        raise replies.error(ctx.base, 409, "JobExists", "The specified job already exists.")
    return Response(status_code=201, headers=job_headers(ctx, job))


def job_doc(ctx: Ctx, job: Job) -> dict[str, Any]:
    """Lock held. The job as the service returns it."""
    doc = dict(job.spec)
    doc.setdefault("usesTaskDependencies", False)
    doc.setdefault("onAllTasksComplete", "noaction")
    doc.setdefault("onTaskFailure", "noaction")
    doc.setdefault("priority", 0)
    # What the service answers for the settings a job was created without [spec-2025
    # example Jobs_GetJob]: no limit on parallel tasks, no preemption, no wall-clock limit,
    # no retries.
    doc.setdefault("maxParallelTasks", limits.NO_PARALLEL_TASKS_LIMIT)
    doc.setdefault("allowTaskPreemption", False)
    doc["constraints"] = {
        "maxWallClockTime": limits.UNLIMITED_DURATION,
        "maxTaskRetryCount": 0,
        **(job.spec.get("constraints") or {}),
    }
    doc.update(
        {
            "url": f"{ctx.base}/jobs/{job.id}",
            "eTag": make_etag(job.serial),
            "lastModified": service_time(job.modified),
            "creationTime": service_time(job.created),
            "state": job.state,
            "stateTransitionTime": service_time(job.state_time),
            "executionInfo": {
                "startTime": service_time(job.created),
                "poolId": str(job.spec.get("poolInfo", {}).get("poolId", "")),
            },
        }
    )
    if job.previous_state is not None:
        doc["previousState"] = job.previous_state
        doc["previousStateTransitionTime"] = service_time(job.previous_state_time)
    if job.state == "completed":
        doc["executionInfo"]["endTime"] = service_time(job.state_time)
        doc["executionInfo"]["terminateReason"] = job.terminate_reason or "UserTerminate"
    return doc


async def get_job(ctx: Ctx) -> Response:
    """The job, trimmed to its ``$select`` as ``get_task`` does (Jobs_GetJob takes "An OData
    $select clause" [spec-2025]). ``$expand`` (the job's ``stats``) is refused: the emulator
    keeps no statistics (``rules.select_names``)."""
    job = get_job_or_404(ctx, ctx.param("job_id"))
    names = rules.select_names(ctx)
    with ctx.store.lock:
        job_conditions(ctx, job, read=True)
        doc = {"odata.metadata": f"{ctx.base}/$metadata#jobs/@Element", **job_doc(ctx, job)}
        headers = job_headers(ctx, job)
    del headers["Location"]
    return replies.json_response(200, odata.select(doc, names), headers)


def _pool_change_refused(job: Job, body: Mapping[str, Any], replace: bool) -> bool:
    """Lock held. Whether the body's ``poolInfo`` is refused: "You may change the Pool for a
    Job only when the Job is disabled. The Patch Job call will fail if you include the
    poolInfo element and the Job is not disabled" [spec-2025 BatchJobUpdateOptions.poolInfo].
    A PATCH may not name it at all then; a PUT must name it (``poolInfo`` is the one required
    property of the replace body, BatchJob), so a PUT is refused only when it changes it."""
    if "poolInfo" not in body or job.state == "disabled":
        return False
    return not replace or body["poolInfo"] != job.spec.get("poolInfo")


def replaced_spec(spec: Mapping[str, Any], body: Mapping[str, Any]) -> dict[str, Any]:
    """The job's properties after a PUT: "This fully replaces all the updatable properties of
    the Job. For example, if the Job has constraints associated with it and if constraints is
    not specified with this request, then the Batch service will remove the existing
    constraints" [spec-2025 Jobs_ReplaceJob]. Every updatable property left out of the body
    is removed, so it reads as its documented default (BatchJob: priority "The default value
    is 0", maxParallelTasks "the default value is -1", onAllTasksComplete "The default is
    noaction"; constraints, metadata and allowTaskPreemption: none). The properties a PUT
    cannot change (id, usesTaskDependencies, onTaskFailure, ...) are kept."""
    kept = {k: v for k, v in spec.items() if k not in rules.JOB_REPLACE_PROPS}
    return {**kept, **body}


async def _update_job(ctx: Ctx, allowed: frozenset[str], replace: bool) -> Response:
    """PATCH (``replace`` False) or PUT. A completed job refuses both (409 ``JobCompleted``);
    an active or a disabled one takes them: a disabled job is not completed, and disabling is
    the documented way to change its pool [spec-2025 BatchJobUpdateOptions.poolInfo]."""
    job = get_job_or_404(ctx, ctx.param("job_id"))
    body = rules.parse_object(ctx)
    rules.only_properties(ctx, body, allowed)
    if replace:
        rules.require_pool_info(ctx, body)
    rules.check_job_enums(ctx, body)
    rules.check_job_values(ctx, body)
    at = now()
    with ctx.store.lock:
        job_conditions(ctx, job)
        state = job.state
        before = job.on_all_tasks_complete
        after = body.get("onAllTasksComplete", "noaction" if replace else before)
        pool_refused = state != "completed" and _pool_change_refused(job, body, replace)
        if (
            state != "completed"
            and not pool_refused
            and not (before == "terminatejob" and after != "terminatejob")
        ):
            if replace:
                job.spec = replaced_spec(job.spec, body)
            else:
                job.spec.update(body)
            job.serial = ctx.store.next_serial()
            job.modified = at
            ctx.store.engine.arm_job_deadline(job)
            maybe_complete(ctx, job)
            ctx.store.engine.wake()
        headers = job_headers(ctx, job)
    if state == "completed":
        raise replies.job_completed(ctx.base)
    if pool_refused:
        # The code is not documented; the closest of the service's documented codes
        # (azure-sdk-for-net BatchErrorCodeStrings): 409 OperationInvalidForCurrentState,
        # "The specified operation is not valid for the current state of the resource".
        raise replies.error(
            ctx.base,
            409,
            "OperationInvalidForCurrentState",
            "The pool of a job may be changed only while the job is disabled.",
            {"PropertyName": "poolInfo", "JobState": state},
        )
    if before == "terminatejob" and after != "terminatejob":
        raise replies.invalid_value(
            ctx.base,
            "onAllTasksComplete",
            after,
            "onAllTasksComplete cannot be changed from terminatejob to noaction.",
        )
    del headers["Location"]
    return Response(status_code=200, headers=headers)


async def update_job(ctx: Ctx) -> Response:
    return await _update_job(ctx, rules.JOB_UPDATE_PROPS, replace=False)


async def replace_job(ctx: Ctx) -> Response:
    return await _update_job(ctx, rules.JOB_REPLACE_PROPS, replace=True)


async def list_jobs(ctx: Ctx) -> Response:
    """The jobs, ``$filter``ed and ``$select``ed, at most ``maxresults`` a page (an
    ``odata.nextLink`` with a ``$skiptoken`` to the rest). The token is the creation serial
    of the next job, not a position: a job deleted between two pages moves no other job, so
    every job that lives through the listing is listed once."""
    params = ctx.request.query_params
    max_results = rules.max_results(ctx)
    start = rules.skip_token(ctx)
    try:
        keep = (
            odata.parse_filter(params["$filter"], JOB_FILTER_FIELDS)
            if params.get("$filter")
            else None
        )
    except odata.FilterError as exc:
        raise replies.invalid_query(ctx.base, str(exc), "$filter") from exc
    names = rules.select_names(ctx)
    value: list[dict[str, Any]] = []
    with ctx.store.lock:
        # The store keeps jobs in creation order (a re-created id is a new, later entry).
        jobs = [job for job in ctx.store.jobs.values() if job.created_serial >= start]
        pos = 0
        while pos < len(jobs) and len(value) < max_results:
            doc = job_doc(ctx, jobs[pos])
            if keep is None or keep(doc):
                value.append(odata.select(doc, names))
            pos += 1
    body: dict[str, Any] = {"odata.metadata": f"{ctx.base}/$metadata#jobs", "value": value}
    if pos < len(jobs):
        body["odata.nextLink"] = next_link(ctx, "/jobs", max_results, jobs[pos].created_serial)
    return replies.json_response(200, body)


def _accepted(ctx: Ctx, job: Job) -> Response:
    headers = job_headers(ctx, job)
    del headers["Location"]
    return Response(status_code=202, headers=headers)


def _optional_body(ctx: Ctx) -> dict[str, Any]:
    return rules.parse_object(ctx) if ctx.body.strip() else {}


async def terminate_job(ctx: Ctx) -> Response:
    """Running tasks are killed, active tasks stay active, the job completes [BATCH_FACTS 5]."""
    job = get_job_or_404(ctx, ctx.param("job_id"))
    body = _optional_body(ctx)
    rules.only_properties(ctx, body, frozenset({"terminateReason"}))
    reason = body.get("terminateReason") or "UserTerminate"
    with ctx.store.lock:
        job_conditions(ctx, job)
        if job.state == "completed":
            raise replies.job_completed(ctx.base)
        ctx.store.engine.terminate_job(job, str(reason))
    return _accepted(ctx, job)


async def disable_job(ctx: Ctx) -> Response:
    job = get_job_or_404(ctx, ctx.param("job_id"))
    body = rules.parse_object(ctx)
    rules.only_properties(ctx, body, frozenset({"disableTasks"}))
    mode = body.get("disableTasks")
    if mode is None:
        raise replies.missing_property(ctx.base, "disableTasks")
    if mode not in ("requeue", "terminate", "wait"):
        raise replies.invalid_value(ctx.base, "disableTasks", mode)
    with ctx.store.lock:
        job_conditions(ctx, job)
        if job.state == "completed":
            raise replies.job_completed(ctx.base)
        # "If you try to disable a Job that is in any state other than active, disabling, or
        # disabled, the request fails with status code 409" (Disable Job): disabling a
        # disabled job is accepted, and changes nothing (its running tasks were dealt with
        # by the first disable; which mode a second one would apply is not documented).
        if job.state == "active":
            ctx.store.engine.disable_job(job, mode)
        elif job.state != "disabled":
            raise replies.error(ctx.base, 409, "JobNotActive", "The specified job is not active.")
    return _accepted(ctx, job)


async def enable_job(ctx: Ctx) -> Response:
    job = get_job_or_404(ctx, ctx.param("job_id"))
    with ctx.store.lock:
        job_conditions(ctx, job)
        if job.state == "completed":
            raise replies.job_completed(ctx.base)
        if job.state != "disabled":
            raise replies.error(
                ctx.base, 409, "JobNotDisabled", "The specified job is not disabled."
            )
        ctx.store.engine.enable_job(job)
    return _accepted(ctx, job)


async def delete_job(ctx: Ctx) -> Response:
    job = get_job_or_404(ctx, ctx.param("job_id"))
    with ctx.store.lock:
        job_conditions(ctx, job)
        ctx.store.engine.delete_job(job)
    return Response(status_code=202)


#: The order of both ``taskCounts`` and ``taskSlotCounts``.
COUNT_KEYS: Final = ("active", "running", "completed", "succeeded", "failed")


def count_tasks(
    states: bytearray, failures: Mapping[int, Any], specs: Sequence[TaskSpec | None]
) -> tuple[list[int], list[int]]:
    """(task counts, slot counts) in ``COUNT_KEYS`` order: running includes preparing;
    succeeded and failed split completed by result [BATCH_FACTS 10]; deleted tasks are not
    counted. A task with no spec needs one slot.

    Counted with C-level scans (``bytearray.count``; the few tasks that failed or need
    other than one slot one by one): `dagbatch submit` and `status` ask for the counts of
    jobs of 100,000 tasks.
    """
    failed = [pos for pos in failures if states[pos] == COMPLETED]
    completed = states.count(COMPLETED)
    tasks = [
        states.count(ACTIVE),
        states.count(RUNNING) + states.count(PREPARING),
        completed,
        completed - len(failed),
        len(failed),
    ]
    slots = tasks.copy()
    for pos in compress(range(min(len(specs), len(states))), specs):
        extra = cast(TaskSpec, specs[pos]).slots - 1
        if not extra:
            continue
        state = states[pos]
        if state == ACTIVE:
            slots[0] += extra
        elif state in (RUNNING, PREPARING):
            slots[1] += extra
        elif state == COMPLETED:
            slots[2] += extra
            slots[4 if pos in failures else 3] += extra
    return tasks, slots


async def task_counts(ctx: Ctx) -> Response:
    """``taskCounts`` and ``taskSlotCounts`` (``count_tasks``)."""
    job = get_job_or_404(ctx, ctx.param("job_id"))
    with ctx.store.lock:
        graph = job.graph
        tasks, slots = count_tasks(
            job.task_state, job.task_failure, graph.specs if graph is not None else []
        )
    return replies.json_response(
        200,
        {
            "odata.metadata": f"{ctx.base}/$metadata#taskcounts/@Element",
            "taskCounts": dict(zip(COUNT_KEYS, tasks, strict=True)),
            "taskSlotCounts": dict(zip(COUNT_KEYS, slots, strict=True)),
        },
    )


def next_link(ctx: Ctx, path: str, max_results: int, token: int | str) -> str:
    """The ``odata.nextLink`` of a paged list: the request's query (``$filter``, ``$select``,
    list task files' ``recursive``) with the next page's ``$skiptoken``."""
    params = ctx.request.query_params
    query = f"api-version={quote(ctx.api_version)}&maxresults={max_results}"
    query += "&$skiptoken=" + quote(str(token), safe="")
    for name in ("$filter", "$select", "recursive"):
        if params.get(name):
            query += f"&{name}=" + quote(params[name], safe="")
    return f"{ctx.base}{path}?{query}"
