"""Task operations: add a collection, add one, get one, list them (OData paging)."""

from __future__ import annotations

from typing import Any, Final
from urllib.parse import quote

import orjson
from starlette.responses import Response

from dagbatch.emulator import replies, rules, wire
from dagbatch.emulator.context import Ctx
from dagbatch.emulator.faults import TASK_SERVER_ERROR_CODES
from dagbatch.emulator.jobs import get_job_or_404
from dagbatch.emulator.store import Job, http_time, iso_time, make_etag, now

LIST_PAGE_DEFAULT: Final = 1000
LIST_PAGE_MAX: Final = 1000


def add_tasks(
    ctx: Ctx, job: Job, tasks: list[dict[str, Any]], with_faults: bool
) -> list[dict[str, Any]]:
    """Validate and store ``tasks`` in order; one result object per task."""
    store = ctx.store
    rng = ctx.rng
    p_server = ctx.faults.task_server_error if (ctx.faults and with_faults) else 0.0
    static = [rules.task_error(task, job) for task in tasks]
    # bytes(memoryview(...)): orjson's result keeps a ~4 KB allocation behind each small
    # object; an exact-size copy keeps a million stored tasks in a few hundred MB.
    raws = [
        bytes(memoryview(orjson.dumps(task))) if err is None else b""
        for task, err in zip(tasks, static, strict=True)
    ]
    results: list[dict[str, Any]] = []
    at = now()
    modified = iso_time(at)
    with store.lock:
        counters = store.counters
        if job.state != "active":
            completed = True
        else:
            completed = False
            for task, err, raw in zip(tasks, static, raws, strict=True):
                task_id = task["id"] if isinstance(task["id"], str) else str(task["id"])
                server_fault = p_server > 0 and rng.random() < p_server
                result: dict[str, Any] = {"taskId": task_id}
                if server_fault:
                    code = rng.choice(TASK_SERVER_ERROR_CODES)
                    counters.faults["task_server_error"] += 1
                    result["status"] = "servererror"
                    result["error"] = wire.error_dict(
                        code, "The server could not add the task; retry it."
                    )
                elif err is None and task_id.lower() in job.index:
                    err = wire.error_dict("TaskExists", "The specified task already exists.")
                if not server_fault:
                    if err is not None:
                        result["status"] = "clienterror"
                        result["error"] = err
                    else:
                        serial = store.add_task(job, task_id, raw, at)
                        result.update(
                            status="success",
                            eTag=make_etag(serial),
                            lastModified=modified,
                            location=f"{ctx.base}/jobs/{job.id}/tasks/{task_id}",
                        )
                key = result["error"]["code"] if "error" in result else "success"
                counters.task_results[key] += 1
                results.append(result)
    if completed:
        raise replies.job_completed(ctx.base)
    return results


async def add_task_collection(ctx: Ctx) -> Response:
    rules.check_body_size(ctx)
    tasks = rules.check_collection(ctx, rules.parse_object(ctx))
    rules.check_tasks_shape(ctx, tasks)
    job = get_job_or_404(ctx, ctx.param("job_id"))
    if ctx.drop:
        prefix = ctx.rng.randint(0, len(tasks))
        done = add_tasks(ctx, job, tasks[:prefix], with_faults=False)
        return replies.json_response(200, {"value": done})
    results = add_tasks(ctx, job, tasks, with_faults=True)
    ctx.rng.shuffle(results)
    return replies.json_response(200, {"value": results})


async def add_task(ctx: Ctx) -> Response:
    rules.check_body_size(ctx)
    task = rules.parse_object(ctx)
    rules.check_tasks_shape(ctx, [task])
    job = get_job_or_404(ctx, ctx.param("job_id"))
    (result,) = add_tasks(ctx, job, [task], with_faults=True)
    if result["status"] == "success":
        url = result["location"]
        return Response(
            status_code=201,
            headers={
                "ETag": result["eTag"],
                "Last-Modified": http_time(now()),
                "DataServiceId": url,
                "Location": url,
            },
        )
    error = result["error"]
    status = {"TaskExists": 409}.get(error["code"], 400)
    if result["status"] == "servererror":
        status = 500
    values = {v["key"]: v["value"] for v in error.get("values", [])}
    raise replies.error(ctx.base, status, error["code"], error["message"]["value"], values)


def task_doc(ctx: Ctx, job: Job, pos: int) -> bytes:
    """Lock held. The stored task with the service's read-only fields, spliced into its JSON."""
    task_id = job.task_ids[pos]
    created = iso_time(job.task_created[pos])
    extra = orjson.dumps(
        {
            "url": f"{ctx.base}/jobs/{job.id}/tasks/{task_id}",
            "eTag": make_etag(job.task_serial[pos]),
            "lastModified": created,
            "creationTime": created,
            "state": "active",
            "stateTransitionTime": created,
        }
    )
    return job.task_raw[pos][:-1] + b"," + extra[1:]


async def get_task(ctx: Ctx) -> Response:
    job = get_job_or_404(ctx, ctx.param("job_id"))
    task_id = ctx.param("task_id")
    with ctx.store.lock:
        pos = job.index.get(task_id.lower())
        doc = task_doc(ctx, job, pos) if pos is not None else None
        etag = make_etag(job.task_serial[pos]) if pos is not None else ""
        created = job.task_created[pos] if pos is not None else 0.0
    if doc is None:
        raise replies.task_not_found(ctx.base)
    meta = f'{{"odata.metadata":"{ctx.base}/$metadata#tasks/@Element",'.encode()
    return replies.json_response(
        200, meta + doc[1:], {"ETag": etag, "Last-Modified": http_time(created)}
    )


def _state_filter(value: str | None) -> str | None:
    """The state a ``$filter`` of the form ``state eq 'x'`` selects; other filters: None
    (ignored, every task is listed)."""
    if not value:
        return None
    parts = value.split()
    if len(parts) == 3 and parts[0] == "state" and parts[1] == "eq":
        return parts[2].strip("'")
    return None


async def list_tasks(ctx: Ctx) -> Response:
    params = ctx.request.query_params
    job = get_job_or_404(ctx, ctx.param("job_id"))
    message = "Value for one of the query parameters specified in the request URI is invalid."
    try:
        max_results = int(params.get("maxresults", LIST_PAGE_DEFAULT))
        start = int(params.get("$skiptoken", "0"))
    except ValueError as exc:
        raise replies.invalid_query(ctx.base, message) from exc
    if not 1 <= max_results <= LIST_PAGE_MAX or start < 0:
        raise replies.invalid_query(ctx.base, message, "maxresults")
    state_filter = _state_filter(params.get("$filter"))
    with ctx.store.lock:
        total = len(job.task_ids)
        end = min(start + max_results, total)
        if state_filter in (None, "active"):
            docs = [task_doc(ctx, job, pos) for pos in range(start, end)]
        else:
            docs, end = [], total
    body = (
        b'{"odata.metadata":"'
        + f"{ctx.base}/$metadata#tasks".encode()
        + b'","value":['
        + b",".join(docs)
        + b"]"
    )
    if end < total:
        query = f"api-version={quote(ctx.api_version)}&maxresults={max_results}&$skiptoken={end}"
        if params.get("$filter"):
            query += "&$filter=" + quote(params["$filter"], safe="")
        next_link = f"{ctx.base}/jobs/{job.id}/tasks?{query}"
        body += b',"odata.nextLink":' + orjson.dumps(next_link)
    return replies.json_response(200, body + b"}")
