"""Job operations: create, get, update (PATCH) and replace (PUT).

Switching ``onAllTasksComplete`` back from ``terminatejob`` is 400 ``InvalidPropertyValue``
[BATCH_FACTS 6].
"""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from dagbatch.emulator import replies, rules
from dagbatch.emulator.context import Ctx
from dagbatch.emulator.store import Job, http_time, iso_time, make_etag, now


def get_job_or_404(ctx: Ctx, job_id: str) -> Job:
    """The job, or 404 ``JobNotFound``."""
    with ctx.store.lock:
        job = ctx.store.jobs.get(job_id.lower())
    if job is None:
        raise replies.job_not_found(ctx.base)
    return job


def job_headers(ctx: Ctx, job: Job) -> dict[str, str]:
    """ETag, Last-Modified, DataServiceId and Location of a job."""
    url = f"{ctx.base}/jobs/{job.id}"
    return {
        "ETag": make_etag(job.serial),
        "Last-Modified": http_time(job.modified),
        "DataServiceId": url,
        "Location": url,
    }


def maybe_complete(job: Job, at: float) -> None:
    """Lock held. A terminatejob job whose tasks are all complete ends."""
    if (
        job.state == "active"
        and job.on_all_tasks_complete == "terminatejob"
        and job.all_tasks_complete()
    ):
        job.state = "completed"
        job.state_time = at


async def create_job(ctx: Ctx) -> Response:
    body = rules.parse_object(ctx)
    job_id = rules.check_job_id(ctx, body)
    rules.require_pool_info(ctx, body)
    rules.check_job_enums(ctx, body)
    at = now()
    job: Job | None = None
    with ctx.store.lock:
        if job_id.lower() not in ctx.store.jobs:
            job = Job(
                id=job_id,
                spec=body,
                created=at,
                modified=at,
                serial=ctx.store.next_serial(),
                state_time=at,
            )
            ctx.store.jobs[job_id.lower()] = job
            maybe_complete(job, at)
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
    doc.update(
        {
            "url": f"{ctx.base}/jobs/{job.id}",
            "eTag": make_etag(job.serial),
            "lastModified": iso_time(job.modified),
            "creationTime": iso_time(job.created),
            "state": job.state,
            "stateTransitionTime": iso_time(job.state_time),
            "executionInfo": {
                "startTime": iso_time(job.created),
                "poolId": str(job.spec.get("poolInfo", {}).get("poolId", "")),
            },
        }
    )
    if job.state == "completed":
        doc["previousState"] = "active"
        doc["executionInfo"]["endTime"] = iso_time(job.state_time)
        doc["executionInfo"]["terminateReason"] = "AllTasksComplete"
    return doc


async def get_job(ctx: Ctx) -> Response:
    job = get_job_or_404(ctx, ctx.param("job_id"))
    with ctx.store.lock:
        doc = {"odata.metadata": f"{ctx.base}/$metadata#jobs/@Element", **job_doc(ctx, job)}
        headers = job_headers(ctx, job)
    del headers["Location"]
    return replies.json_response(200, doc, headers)


async def _update_job(ctx: Ctx, allowed: frozenset[str], replace: bool) -> Response:
    job = get_job_or_404(ctx, ctx.param("job_id"))
    body = rules.parse_object(ctx)
    rules.only_properties(ctx, body, allowed)
    if replace:
        rules.require_pool_info(ctx, body)
    rules.check_job_enums(ctx, body)
    at = now()
    with ctx.store.lock:
        state = job.state
        before = job.on_all_tasks_complete
        after = body.get("onAllTasksComplete", "noaction" if replace else before)
        if state == "active" and not (before == "terminatejob" and after != "terminatejob"):
            job.spec.update(body)
            if replace:
                job.spec["onAllTasksComplete"] = after
            job.serial = ctx.store.next_serial()
            job.modified = at
            maybe_complete(job, at)
        headers = job_headers(ctx, job)
    if state != "active":
        raise replies.job_completed(ctx.base)
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
