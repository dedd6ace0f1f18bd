"""Task operations: add a collection, add one, get, list (OData paging, ``$filter``,
``$select``), terminate, reactivate, delete, and the task's files (list, get).

A task's document is what the service returns: the create body plus the read-only fields,
``executionInfo`` (``retryCount``/``requeueCount`` always; the start while it runs or once it
completed; end, exit code, result and ``failureInfo`` once they exist [BATCH_FACTS 1];
``lastRequeueTime`` once requeued), ``nodeInfo`` once it ran, and the defaults
the service fills in (``constraints``, ``userIdentity``, ``requiredSlots``; see the official
``Tasks_GetTask`` example). Codes chosen where the service's are not documented: terminating
a completed task is 409 ``TaskCompleted``; reactivating a task that is not completed with a
failure is 409 ``TaskNotFailed``; a missing file is 404 ``FileNotFound``.
"""

from __future__ import annotations

import os
import re
from bisect import bisect_left
from collections.abc import Set as AbstractSet
from operator import itemgetter
from pathlib import Path
from typing import Any, Final
from urllib.parse import quote, unquote_to_bytes

import orjson
from starlette.responses import Response

from dagbatch import limits
from dagbatch.emulator import odata, replies, rules, wire
from dagbatch.emulator.conditions import check_conditions
from dagbatch.emulator.context import Ctx
from dagbatch.emulator.faults import TASK_SERVER_ERROR_CODES
from dagbatch.emulator.jobs import get_job_or_404, next_link
from dagbatch.emulator.scheduler import COMPLETED, DELETED, NO_PREVIOUS, RUNNING, STATE_NAMES
from dagbatch.emulator.store import NO_EXIT, Job, http_time, make_etag, now, task_modified
from dagbatch.servicetime import service_time

#: The properties a task list ``$filter`` may name.
TASK_FILTER_FIELDS: Final = frozenset(
    {
        "id",
        "displayName",
        "state",
        "previousState",
        "requiredSlots",
        "executionInfo/result",
        "executionInfo/exitCode",
        "executionInfo/retryCount",
        "executionInfo/requeueCount",
        "executionInfo/failureInfo/category",
        "executionInfo/failureInfo/code",
    }
)


def file_mode(mode: int) -> str:
    """A file's mode as Batch writes it, octal with a leading 0 (``0770``: the spec's own
    example of ``fileMode``), not Python's ``0o770``."""
    return f"0{mode & 0o777:o}"


def add_tasks(
    ctx: Ctx, job: Job, tasks: list[dict[str, Any]], with_faults: bool
) -> list[dict[str, Any]]:
    """Validate and store ``tasks`` in order; one result object per task.

    Tasks are checked and answered one by one (a task may repeat an id added earlier in the
    same request: TaskExists), then stored, indexed by the scheduler and counted in bulk.
    """
    store = ctx.store
    rng = ctx.rng
    p_server = ctx.faults.task_server_error if (ctx.faults and with_faults) else 0.0
    static = rules.task_errors(tasks, job)
    # bytes(memoryview(...)): orjson's result keeps a ~4 KB allocation behind each small
    # object; an exact-size copy keeps a million stored tasks in a few hundred MB.
    dumps = orjson.dumps
    raws = [
        bytes(memoryview(dumps(task))) if err is None else b""
        for task, err in zip(tasks, static, strict=True)
    ]
    results: list[dict[str, Any]] = []
    at = now()
    modified = service_time(at)
    location = f"{ctx.base}/jobs/{job.id}/tasks/"
    with store.lock:
        if job.state not in ("active", "disabled"):
            raise replies.job_completed(ctx.base)
        index = job.index
        position = len(job.task_ids)
        serial = store.last_serial
        new_ids: list[str] = []
        new_raws: list[bytes] = []
        added: list[tuple[int, dict[str, Any]]] = []
        # Per-task outcome counts, in the order first seen (as counted one by one).
        outcomes: dict[str, int] = {}
        server_faults = 0
        for task, err, raw in zip(tasks, static, raws, strict=True):
            task_id = task["id"] if isinstance(task["id"], str) else str(task["id"])
            result: dict[str, Any]
            if p_server > 0 and rng.random() < p_server:
                code = rng.choice(TASK_SERVER_ERROR_CODES)
                server_faults += 1
                result = {
                    "taskId": task_id,
                    "status": "servererror",
                    "error": wire.error_dict(code, "The server could not add the task; retry it."),
                }
                outcome = code
            else:
                if err is None:
                    key = task_id.lower()
                    if key in index:
                        err = wire.error_dict("TaskExists", "The specified task already exists.")
                if err is not None:
                    result = {"taskId": task_id, "status": "clienterror", "error": err}
                    outcome = err["code"]
                else:
                    index[key] = position
                    new_ids.append(task_id)
                    new_raws.append(raw)
                    added.append((position, task))
                    position += 1
                    serial += 1
                    result = {
                        "taskId": task_id,
                        "status": "success",
                        "eTag": make_etag(serial),
                        "lastModified": modified,
                        "location": location + task_id,
                    }
                    outcome = "success"
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
            results.append(result)
        store.add_tasks(job, new_ids, new_raws, at)
        counters = store.counters
        if server_faults:
            counters.faults["task_server_error"] += server_faults
        for outcome, count in outcomes.items():
            counters.task_results[outcome] += count
        if added:
            store.engine.tasks_added(job, added)
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


#: The task's id and the top-level properties the service makes itself: a document of only
#: these (``$select=id,state,executionInfo``, as `dagbatch status` asks) needs no parse of
#: the stored body.
SERVICE_KEYS: Final = frozenset(
    {
        "id",
        "url",
        "eTag",
        "lastModified",
        "creationTime",
        "state",
        "stateTransitionTime",
        "previousState",
        "nodeInfo",
        "executionInfo",
    }
)

#: The service's properties written together (all of them when any is asked for).
_HEADER_KEYS: Final = frozenset(
    {"url", "eTag", "lastModified", "creationTime", "stateTransitionTime"}
)


def task_doc(ctx: Ctx, job: Job, pos: int, keys: AbstractSet[str] | None = None) -> dict[str, Any]:
    """Lock held. The task as the service returns it: every property, or at least ``keys``
    (the top-level names a ``$select`` and ``$filter`` need; the caller trims the rest).
    A listing of 100,000 tasks built every property of each only to keep three."""
    task_id = job.task_ids[pos]
    doc: dict[str, Any]
    if keys is not None and keys <= SERVICE_KEYS:
        doc = {"id": task_id}  # the stored id is the body's (a task's id is a string)
    else:
        doc = orjson.loads(job.task_raw[pos])
        constraints = {
            "maxWallClockTime": limits.UNLIMITED_DURATION,
            "retentionTime": limits.DEFAULT_RETENTION,
            "maxTaskRetryCount": int(
                (job.spec.get("constraints") or {}).get("maxTaskRetryCount", 0) or 0
            ),
        }
        constraints.update(doc.get("constraints") or {})
        doc["constraints"] = constraints
        doc.setdefault(
            "userIdentity", {"autoUser": {"scope": "pool", "elevationLevel": "nonadmin"}}
        )
        doc.setdefault("requiredSlots", 1)
    state = job.task_state[pos]
    if keys is None or not keys.isdisjoint(_HEADER_KEYS):
        changed = service_time(job.task_state_time[pos])
        updated = job.task_updated.get(pos) if job.task_updated else None
        doc.update(
            {
                "url": f"{ctx.base}/jobs/{job.id}/tasks/{task_id}",
                "eTag": make_etag(job.task_serial[pos]),
                "lastModified": changed
                if updated is None
                else service_time(task_modified(job, pos)),
                "creationTime": service_time(job.task_created[pos]),
                "state": STATE_NAMES[state],
                "stateTransitionTime": changed,
            }
        )
    elif "state" in keys:
        doc["state"] = STATE_NAMES[state]
    prev = job.task_prev[pos]
    if prev != NO_PREVIOUS:
        # Not set while the task is in its initial active state [BATCH_FACTS 1].
        doc["previousState"] = STATE_NAMES[prev]
        doc["previousStateTransitionTime"] = service_time(job.task_prev_time[pos])
    if keys is not None and "executionInfo" not in keys and "nodeInfo" not in keys:
        return doc
    info: dict[str, Any] = {
        "retryCount": job.task_retry[pos],
        "requeueCount": job.task_requeue[pos],
    }
    requeued = job.task_requeued_at.get(pos)
    if requeued is not None:
        # "set only if the requeueCount is nonzero" [spec-2025 BatchTaskExecutionInfo].
        info["lastRequeueTime"] = service_time(requeued)
    started = job.task_start[pos]
    if started:
        if state in (RUNNING, COMPLETED):
            # "present only for Tasks that are in the running or completed state": not for
            # a task back in the queue (a retry to come, a requeue) [spec-2025].
            info["startTime"] = service_time(started)
            if job.task_retry[pos]:
                info["lastRetryTime"] = service_time(started)
        pool = str((job.spec.get("poolInfo") or {}).get("poolId", ""))
        node = ctx.store.engine.node_id
        root = f"workitems/{job.id}/job-1/{task_id}"
        node_url = f"{ctx.base}/pools/{pool}/nodes/{node}"
        doc["nodeInfo"] = {
            "affinityId": f"TVM:{node}",
            "nodeUrl": node_url,
            "poolId": pool,
            "nodeId": node,
            "taskRootDirectory": root,
            "taskRootDirectoryUrl": f"{node_url}/files/{root}",
        }
    if state == COMPLETED:
        info["endTime"] = service_time(job.task_end[pos])
        code = job.task_exit[pos]
        if code != NO_EXIT:
            info["exitCode"] = code
        failure = job.task_failure.get(pos)
        info["result"] = "failure" if failure else "success"
        if failure:
            info["failureInfo"] = failure
    doc["executionInfo"] = info
    return doc


def _find(ctx: Ctx, job: Job) -> int:
    """Lock held. The position of the path's task, or 404."""
    pos = job.index.get(ctx.param("task_id").lower())
    if pos is None:
        raise replies.task_not_found(ctx.base)
    return pos


def _task_headers(ctx: Ctx, job: Job, pos: int) -> dict[str, str]:
    """Lock held. The headers the task operations answer with [S Tasks_GetTask,
    Tasks_ReplaceTask, Tasks_TerminateTask, Tasks_ReactivateTask]: the task's ETag and
    Last-Modified as they are now, and its URL as DataServiceId."""
    return {
        "ETag": make_etag(job.task_serial[pos]),
        "Last-Modified": http_time(task_modified(job, pos)),
        "DataServiceId": f"{ctx.base}/jobs/{job.id}/tasks/{job.task_ids[pos]}",
    }


def _task_conditions(ctx: Ctx, job: Job, pos: int, *, read: bool = False) -> None:
    """Lock held. The request's conditional headers against the task (``conditions``)."""
    check_conditions(ctx, make_etag(job.task_serial[pos]), task_modified(job, pos), read=read)


async def get_task(ctx: Ctx) -> Response:
    job = get_job_or_404(ctx, ctx.param("job_id"))
    names = rules.select_names(ctx)
    with ctx.store.lock:
        pos = _find(ctx, job)
        _task_conditions(ctx, job, pos, read=True)
        doc = task_doc(ctx, job, pos)
        headers = _task_headers(ctx, job, pos)
    body = {"odata.metadata": f"{ctx.base}/$metadata#tasks/@Element", **doc}
    return replies.json_response(200, odata.select(body, names), headers)


async def list_tasks(ctx: Ctx) -> Response:
    params = ctx.request.query_params
    job = get_job_or_404(ctx, ctx.param("job_id"))
    max_results = rules.max_results(ctx)
    start = rules.skip_token(ctx)
    try:
        text = params.get("$filter")
        keep = odata.parse_filter(text, TASK_FILTER_FIELDS) if text else None
    except odata.FilterError as exc:
        raise replies.invalid_query(
            ctx.base, f"The $filter is not supported: {exc}", "$filter"
        ) from exc
    names = rules.select_names(ctx)
    # The top-level properties the answer and the filter need; the rest is not built.
    keys = None if names is None else set(names) | odata.filter_fields(text)
    docs: list[dict[str, Any]] = []
    with ctx.store.lock:
        total = len(job.task_ids)
        pos = start
        states = job.task_state
        while pos < total and len(docs) < max_results:
            if states[pos] != DELETED:
                doc = task_doc(ctx, job, pos, keys)
                if keep is None or keep(doc):
                    docs.append(odata.select(doc, names))
            pos += 1
    body: dict[str, Any] = {"odata.metadata": f"{ctx.base}/$metadata#tasks", "value": docs}
    if pos < total:
        body["odata.nextLink"] = next_link(ctx, f"/jobs/{job.id}/tasks", max_results, pos)
    return replies.json_response(200, body)


async def replace_task(ctx: Ctx) -> Response:
    """Tasks_ReplaceTask, "Updates the properties of the specified Task": the task's
    ``constraints`` become the body's (left out, they are removed, and the task reads the
    defaults again: the job's retry count, no wall-clock limit, 7 days' retention), checked
    as on add (``rules.check_task_update``). A completed task takes it too (its
    ``retentionTime`` still matters). The engine reads the task's limits again
    (``Engine.constraints_changed``). 200 with the task's new ETag."""
    rules.check_body_size(ctx)
    body = rules.parse_object(ctx)
    rules.check_task_update(ctx, body)
    job = get_job_or_404(ctx, ctx.param("job_id"))
    with ctx.store.lock:
        pos = _find(ctx, job)
        _task_conditions(ctx, job, pos)
        task = orjson.loads(job.task_raw[pos])
        if "constraints" in body:
            task["constraints"] = body["constraints"]
        else:
            task.pop("constraints", None)
        job.task_raw[pos] = orjson.dumps(task)
        job.task_serial[pos] = ctx.store.next_serial()
        job.task_updated[pos] = now()
        ctx.store.engine.constraints_changed(job, pos, task)
        headers = _task_headers(ctx, job, pos)
    return Response(status_code=200, headers=headers)


async def terminate_task(ctx: Ctx) -> Response:
    job = get_job_or_404(ctx, ctx.param("job_id"))
    with ctx.store.lock:
        pos = _find(ctx, job)
        _task_conditions(ctx, job, pos)
        if not terminate_at(ctx.store.engine, job, pos):
            raise replies.error(
                ctx.base, 409, "TaskCompleted", "The specified task is already completed."
            )
        headers = _task_headers(ctx, job, pos)
    return Response(status_code=204, headers=headers)


def terminate_at(engine: Any, job: Job, pos: int) -> bool:
    """Lock held. Terminate task ``pos`` of ``job`` [BATCH_FACTS 7]; False, and nothing
    done, when it is already completed (the service answers 409 ``TaskCompleted``). The
    terminate task operation's work, also for `dagbatch run`'s own finish in process."""
    if job.task_state[pos] == COMPLETED:
        return False
    engine.terminate_task(job, pos)
    return True


async def reactivate_task(ctx: Ctx) -> Response:
    """Only a completed task that failed, in a job that is not completed [BATCH_FACTS 7]."""
    job = get_job_or_404(ctx, ctx.param("job_id"))
    with ctx.store.lock:
        pos = _find(ctx, job)
        _task_conditions(ctx, job, pos)
        if job.state == "completed":
            raise replies.job_completed(ctx.base)
        if job.task_state[pos] != COMPLETED or pos not in job.task_failure:
            raise replies.error(
                ctx.base,
                409,
                "TaskNotFailed",
                "Only a completed task that failed can be reactivated.",
            )
        ctx.store.engine.reactivate_task(job, pos)
        headers = _task_headers(ctx, job, pos)
    return Response(status_code=204, headers=headers)


async def delete_task(ctx: Ctx) -> Response:
    job = get_job_or_404(ctx, ctx.param("job_id"))
    with ctx.store.lock:
        pos = _find(ctx, job)
        _task_conditions(ctx, job, pos)
        ctx.store.engine.delete_task(job, pos)
    return Response(status_code=200)


# --- the task's files ---


def _task_root(ctx: Ctx, job: Job) -> tuple[Path | None, str]:
    with ctx.store.lock:
        pos = _find(ctx, job)
        task_id = job.task_ids[pos]
        started = bool(job.task_start[pos]) or job.task_state[pos] == COMPLETED
    runner = ctx.store.engine.runner
    root = runner.task_dir(job.id, task_id) if (runner is not None and started) else None
    return root, task_id


#: What list task files can filter on, and how [odata-filters-in-batch, "List task files":
#: ``name``, ``startswith`` only].
FILE_FILTER_FIELDS: Final = frozenset({"name"})
FILE_FILTER_OPS: Final = frozenset({odata.STARTSWITH})


def _shown(name: str) -> str:
    """A file name as text: bytes of it that are not UTF-8 (kept by the OS decoding as lone
    surrogates, which JSON and headers cannot hold) become U+FFFD."""
    return os.fsencode(name).decode("utf-8", "replace")


def _file_url(url_base: str, name: str) -> str:
    """The file's url: its name's bytes percent-encoded, so any name (a space, a '#', bytes
    that are not UTF-8) gives a URL that ``get_task_file`` reads back to the same file."""
    return f"{url_base}/{quote(os.fsencode(name), safe='/')}"


def _file_entry(ctx: Ctx, url_base: str, root: Path, path: Path) -> dict[str, Any]:
    name = path.relative_to(root).as_posix()
    entry: dict[str, Any] = {
        "name": _shown(name),
        "url": _file_url(url_base, name),
        "isDirectory": path.is_dir(),
    }
    if not path.is_dir():
        st = path.stat()
        entry["properties"] = {
            "creationTime": service_time(st.st_ctime),
            "lastModified": service_time(st.st_mtime),
            "contentLength": str(st.st_size),
            "contentType": "application/octet-stream",
            "fileMode": file_mode(st.st_mode),
        }
    return entry


async def list_task_files(ctx: Ctx) -> Response:
    """``stdout.txt``, ``stderr.txt`` and ``wd`` (everything under it with ``recursive``),
    in path order, at most ``maxresults`` a page. The ``$skiptoken`` names the next file's
    path (``rules.path_token``), not a position: files made or removed by the running task
    between two pages move no other file, so every file that lives through the listing is
    listed once."""
    job = get_job_or_404(ctx, ctx.param("job_id"))
    max_results = rules.max_results(ctx)
    start = rules.skip_path(ctx)
    text = ctx.request.query_params.get("$filter")
    try:
        keep = odata.parse_filter(text, FILE_FILTER_FIELDS, FILE_FILTER_OPS) if text else None
    except odata.FilterError as exc:
        raise replies.invalid_query(
            ctx.base, f"The $filter is not supported: {exc}", "$filter"
        ) from exc
    root, task_id = _task_root(ctx, job)
    recursive = ctx.request.query_params.get("recursive", "false").lower() == "true"
    url_base = f"{ctx.base}/jobs/{job.id}/tasks/{task_id}/files"
    paths: list[tuple[tuple[str, ...], Path]] = []
    if root is not None and root.is_dir():
        found = root.rglob("*") if recursive else root.iterdir()
        paths = sorted(((p.relative_to(root).parts, p) for p in found), key=itemgetter(0))
        if keep is not None:  # filtered before paging: a page holds maxresults matches
            paths = [(parts, p) for parts, p in paths if keep({"name": _shown("/".join(parts))})]
    first = bisect_left(paths, tuple(start.split("/")), key=itemgetter(0)) if start else 0
    page = [p for _, p in paths[first : first + max_results]]
    value = [_file_entry(ctx, url_base, root, p) for p in page] if root is not None else []
    body: dict[str, Any] = {"odata.metadata": f"{ctx.base}/$metadata#files", "value": value}
    if first + max_results < len(paths):
        files_path = f"/jobs/{job.id}/tasks/{task_id}/files"
        token = rules.path_token("/".join(paths[first + max_results][0]))
        body["odata.nextLink"] = next_link(ctx, files_path, max_results, token)
    return replies.json_response(200, body)


def _file_in(root: Path | None, rel: str) -> Path | None:
    """The file ``rel`` names inside the task directory ``root``; None when there is none
    (no directory, no such file, a path leading outside it, or one no file can have: a NUL
    byte)."""
    if root is None:
        return None
    try:
        target = (root / rel).resolve()
        inside = target.is_relative_to(root.resolve())
        return target if inside and target.is_file() else None
    except (OSError, ValueError):
        return None


def _requested_file(ctx: Ctx) -> str:
    """The file path a get (or head) task file request names, read from the raw request
    path ``/jobs/{job}/tasks/{task}/files/{path}``: the percent-encoded bytes of a name that
    is not UTF-8 (a listing's ``url``) come back as that name, where the decoded path
    parameter has U+FFFD in their place. (Ids hold no '/', so the path is the seventh part.)"""
    raw = ctx.request.scope.get("raw_path")
    parts = raw.split(b"/", 6) if isinstance(raw, bytes) else []
    if len(parts) == 7 and (parts[1], parts[3], parts[5]) == (b"jobs", b"tasks", b"files"):
        return os.fsdecode(unquote_to_bytes(parts[6]))
    return ctx.param("file_path")


#: ``ocp-range``: "bytes=startRange-endRange" [S Tasks_GetTaskFile], both inclusive; the end
#: may be left out (to the end of the file), as HTTP byte ranges allow.
_BYTE_RANGE: Final = re.compile(r"bytes=(\d+)-(\d*)")


def _byte_range(ctx: Ctx, header: str, size: int) -> tuple[int, int]:
    """(first, last) byte of the file that ``ocp-range`` asks for, clamped to the file (the
    spec answers a range with 200 and the bytes, and says nothing of one past the end).
    A header that is not a byte range is a 400 naming the header."""
    match = _BYTE_RANGE.fullmatch(header.strip())
    if match is None or (match[2] and int(match[2]) < int(match[1])):
        raise replies.error(
            ctx.base,
            400,
            "InvalidHeaderValue",
            "The value for one of the HTTP headers is not in the correct format.",
            {"HeaderName": "ocp-range", "HeaderValue": header},
        )
    last = int(match[2]) if match[2] else size - 1
    return int(match[1]), min(last, size - 1)


async def get_task_file(ctx: Ctx) -> Response:
    job = get_job_or_404(ctx, ctx.param("job_id"))
    root, task_id = _task_root(ctx, job)
    rel = _requested_file(ctx)
    target = _file_in(root, rel)
    if target is None and "\\" in rel:
        # The path with Windows separators, as Batch lists a Windows node's files
        # ("startup\\stderr.txt"); a name holding a backslash itself is looked for first.
        rel = rel.replace("\\", "/")
        target = _file_in(root, rel)
    if target is None:
        raise replies.error(
            ctx.base,
            404,
            "FileNotFound",
            "The specified file does not exist.",
            {"FilePath": _shown(rel)},
        )
    st = target.stat()
    headers = {
        "ocp-creation-time": http_time(st.st_ctime),
        "ocp-batch-file-isdirectory": "false",
        "ocp-batch-file-url": _file_url(f"{ctx.base}/jobs/{job.id}/tasks/{task_id}/files", rel),
        "ocp-batch-file-mode": file_mode(st.st_mode),
        "Last-Modified": http_time(st.st_mtime),
    }
    content = b""
    if ctx.request.method != "HEAD":
        content = target.read_bytes()
        wanted = ctx.request.headers.get("ocp-range")
        if wanted is not None:
            first, last = _byte_range(ctx, wanted, len(content))
            content = content[first : last + 1]
    response = Response(
        content, status_code=200, media_type="application/octet-stream", headers=headers
    )
    if ctx.request.method == "HEAD":
        response.headers["Content-Length"] = str(st.st_size)
    return response
