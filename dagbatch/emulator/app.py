"""The emulator's ASGI application (Starlette): routes, Shared Key checks, Batch answers.

Served operations (paths relative to the account endpoint, ``?api-version=`` required):

- ``POST /jobs``                               create a job (201)
- ``GET|PATCH|PUT /jobs/{jobId}``              get, update, replace a job
- ``POST /jobs/{jobId}/addtaskcollection``     add up to 100 tasks (200, per-task results)
- ``POST /jobs/{jobId}/tasks``                 add one task (201)
- ``GET /jobs/{jobId}/tasks``                  list tasks, OData paging (``maxresults``,
                                               ``odata.nextLink`` with a ``$skiptoken``)
- ``GET /jobs/{jobId}/tasks/{taskId}``         get one task
- ``GET /_emulator/stats``                     counters; no auth, loopback clients only

Whole-request errors use the Batch error body. Codes chosen where the service's exact code is
not documented: more than 100 tasks in one request is 400 ``InvalidRequestBody`` (values
``Reason: TooManyTasks``); an unknown property is 400 ``InvalidRequestBody`` naming it (values
``PropertyName``); a task without ``id`` fails the request with 400
``MissingRequiredProperty`` (there is no id to report it under); adding to a completed job is
409 ``JobCompleted``; switching ``onAllTasksComplete`` back from ``terminatejob`` is 400
``InvalidPropertyValue``. Tasks never run here: a job completes only when its
``onAllTasksComplete`` is ``terminatejob`` while it has no tasks.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any, Final
from urllib.parse import quote, unquote

import orjson
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from dagbatch import limits, signing
from dagbatch.emulator import wire
from dagbatch.emulator.faults import (
    TASK_SERVER_ERROR_CODES,
    FaultConfig,
    body_key,
    pick_request_fault,
    request_rng,
)
from dagbatch.emulator.store import EmulatorStore, Job, http_time, iso_time, make_etag, now

MEDIA_TYPE: Final = "application/json;odata=minimalmetadata"
LIST_PAGE_DEFAULT: Final = 1000
LIST_PAGE_MAX: Final = 1000

_JOB_ENUMS: Final[dict[str, tuple[str, ...]]] = {
    "onAllTasksComplete": ("noaction", "terminatejob"),
    "onTaskFailure": ("noaction", "performexitoptionsjobaction"),
}
#: Properties of BatchJobUpdateOptions (PATCH) [spec-2025].
_JOB_UPDATE_PROPS: Final = frozenset(
    {
        "priority",
        "allowTaskPreemption",
        "maxParallelTasks",
        "constraints",
        "poolInfo",
        "onAllTasksComplete",
        "metadata",
        "networkConfiguration",
    }
)
#: Properties of BatchJobReplaceOptions / JobUpdateParameter (PUT).
_JOB_REPLACE_PROPS: Final = frozenset(
    {
        "priority",
        "allowTaskPreemption",
        "maxParallelTasks",
        "constraints",
        "poolInfo",
        "onAllTasksComplete",
        "metadata",
    }
)


class Reply(Exception):
    """Raised inside a handler to answer at once with ``response``."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response


class DroppedResponse(Response):
    """Starts ``inner`` (status, headers with its Content-Length, half its body) and then
    returns without finishing it: uvicorn closes the connection, and the client sees a
    transport error after the request was (partly) processed."""

    def __init__(self, inner: Response) -> None:
        super().__init__(status_code=inner.status_code)
        self.inner = inner

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = bytes(self.inner.body)
        # An empty body (201 Created, 200 on update) would be complete as soon as the headers
        # arrive; announce one byte more than is ever sent so the client sees a cut.
        headers = [(k, v) for k, v in self.inner.raw_headers if k.lower() != b"content-length"]
        headers.append((b"content-length", str(max(len(body), 1)).encode()))
        await send(
            {"type": "http.response.start", "status": self.inner.status_code, "headers": headers}
        )
        await send(
            {"type": "http.response.body", "body": body[: len(body) // 2], "more_body": True}
        )


@dataclass
class EmulatorSettings:
    """What an app instance checks and injects. ``faults`` may be swapped while running."""

    accounts: Mapping[str, str]
    faults: FaultConfig
    check_auth: bool = True


@dataclass
class Ctx:
    """Per-request facts gathered before the handler runs."""

    request: Request
    op: str
    api_version: str
    base: str
    body: bytes
    rng: random.Random
    faults: FaultConfig | None
    drop: bool


def _json(status: int, payload: Any, headers: Mapping[str, str] | None = None) -> Response:
    content = payload if isinstance(payload, bytes) else orjson.dumps(payload)
    return Response(content, status_code=status, media_type=MEDIA_TYPE, headers=headers)


def _error(
    base: str, status: int, code: str, message: str, values: Mapping[str, str] | None = None
) -> Reply:
    return Reply(_json(status, wire.error_body(base, code, message, values)))


def _base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def _query_pairs(raw_query: bytes) -> list[tuple[str, str]]:
    """(name, value) pairs for signing: names percent-decoded, values as sent (``auth``
    decodes them)."""
    pairs: list[tuple[str, str]] = []
    for part in raw_query.decode("latin-1").split("&"):
        if not part:
            continue
        name, _, value = part.partition("=")
        pairs.append((unquote(name), value))
    return pairs


Handler = Callable[[Ctx], Awaitable[Response]]


class BatchEmulatorApp:
    """Builds the Starlette app over one store and one settings object."""

    def __init__(self, store: EmulatorStore, settings: EmulatorSettings) -> None:
        self.store = store
        self.settings = settings

    # --- the prologue shared by every Batch operation ---

    def _authenticate(self, request: Request, base: str) -> None:
        headers = request.headers
        raw_date = headers.get("ocp-date") or headers.get("date")
        if not raw_date:
            self._auth_failed(base, "The request does not carry an ocp-date or Date header.")
        try:
            sent = parsedate_to_datetime(raw_date).timestamp()  # type: ignore[arg-type]
        except (TypeError, ValueError, IndexError):
            self._auth_failed(base, f"The date header '{raw_date}' is not an RFC 1123 date.")
        if abs(now() - sent) > limits.MAX_CLOCK_SKEW_SECONDS:
            self._auth_failed(
                base, "The request date is more than 15 minutes away from the server's clock."
            )
        raw_path = request.scope.get("raw_path") or request.scope["path"].encode()
        path = raw_path.decode("latin-1").split("?", 1)[0]
        ok = signing.verify(
            headers.get("authorization"),
            self.settings.accounts,
            request.method,
            path,
            _query_pairs(request.scope.get("query_string", b"")),
            headers,
        )
        if not ok:
            self._auth_failed(
                base,
                "The MAC signature found in the HTTP request is not the same as any computed "
                "signature, or the account is unknown.",
            )

    def _auth_failed(self, base: str, detail: str) -> Any:
        with self.store.lock:
            self.store.counters.auth_failures += 1
        raise _error(
            base,
            403,
            "AuthenticationFailed",
            "Server failed to authenticate the request. Make sure the value of Authorization "
            "header is formed correctly including the signature.",
            {"AuthenticationErrorDetail": detail},
        )

    async def _prologue(self, request: Request, op: str) -> Ctx:
        base = _base_url(request)
        with self.store.lock:
            self.store.counters.requests[op] += 1
        api_version = request.query_params.get("api-version")
        if not api_version:
            raise _error(
                base,
                400,
                "MissingRequiredQueryParameter",
                "A query parameter that's mandatory for this request is not specified.",
                {"QueryParameterName": "api-version"},
            )
        if self.settings.check_auth:
            self._authenticate(request, base)
        body = await request.body() if request.method in ("POST", "PUT", "PATCH") else b""
        config = self.settings.faults
        path = request.scope["path"]
        occurrence = self.store.occurrence(body_key(request.method, path, body))
        rng = request_rng(config.seed, request.method, path, body, occurrence)
        faults = config if op in config.operations else None
        drop = False
        if faults is not None:
            if faults.latency_ms:
                await asyncio.sleep(faults.latency_ms / 1000.0)
            fault = pick_request_fault(faults, rng)
            if fault is not None:
                with self.store.lock:
                    self.store.counters.faults[fault] += 1
            retry = {"Retry-After": str(faults.retry_after)}
            if fault == "throttle":
                reply = _error(base, 429, "TooManyRequests", "The server is throttling requests.")
                reply.response.headers.update(retry)
                raise reply
            if fault == "busy":
                reply = _error(base, 503, "ServerBusy", "The server is currently busy.")
                reply.response.headers.update(retry)
                raise reply
            if fault == "internal":
                raise _error(
                    base, 500, "InternalError", "The server encountered an internal error."
                )
            drop = fault == "drop"
        return Ctx(request, op, api_version, base, body, rng, faults, drop)

    def endpoint(self, op: str, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def run(request: Request) -> Response:
            try:
                ctx = await self._prologue(request, op)
                response = await handler(ctx)
                if ctx.drop:
                    self._decorate(request, response)
                    return DroppedResponse(response)
            except Reply as reply:
                response = reply.response
            self._decorate(request, response)
            with self.store.lock:
                self.store.counters.responses[response.status_code] += 1
            return response

        return run

    @staticmethod
    def _decorate(request: Request, response: Response) -> None:
        response.headers["request-id"] = str(uuid.uuid4())
        client_id = request.headers.get("client-request-id")
        if client_id:
            response.headers["client-request-id"] = client_id
        response.headers["DataServiceVersion"] = "3.0"

    # --- helpers ---

    def _parse_object(self, ctx: Ctx) -> dict[str, Any]:
        try:
            value = orjson.loads(ctx.body)
        except orjson.JSONDecodeError as exc:
            raise _error(
                ctx.base,
                400,
                "InvalidRequestBody",
                "The request body is not valid JSON.",
                {"Reason": str(exc)},
            ) from exc
        if not isinstance(value, dict):
            raise _error(
                ctx.base, 400, "InvalidRequestBody", "The request body must be a JSON object."
            )
        return value

    def _get_job(self, ctx: Ctx, job_id: str) -> Job:
        with self.store.lock:
            job = self.store.jobs.get(job_id.lower())
        if job is None:
            raise _error(ctx.base, 404, "JobNotFound", "The specified job does not exist.")
        return job

    @staticmethod
    def _job_headers(ctx: Ctx, job: Job) -> dict[str, str]:
        url = f"{ctx.base}/jobs/{job.id}"
        return {
            "ETag": make_etag(job.serial),
            "Last-Modified": http_time(job.modified),
            "DataServiceId": url,
            "Location": url,
        }

    def _require_pool_info(self, ctx: Ctx, body: Mapping[str, Any]) -> None:
        if not isinstance(body.get("poolInfo"), dict):
            raise _error(
                ctx.base,
                400,
                "MissingRequiredProperty",
                "A required property is missing.",
                {"PropertyName": "poolInfo"},
            )

    def _check_job_enums(self, ctx: Ctx, body: Mapping[str, Any]) -> None:
        for name, allowed in _JOB_ENUMS.items():
            if name in body and body[name] not in allowed:
                raise _error(
                    ctx.base,
                    400,
                    "InvalidPropertyValue",
                    f"The value provided for {name} is invalid.",
                    {"PropertyName": name, "PropertyValue": str(body[name])},
                )

    def _maybe_complete(self, job: Job, at: float) -> None:
        """Lock held. A terminatejob job whose tasks are all complete ends."""
        if (
            job.state == "active"
            and job.on_all_tasks_complete == "terminatejob"
            and job.all_tasks_complete()
        ):
            job.state = "completed"
            job.state_time = at

    # --- jobs ---

    async def create_job(self, ctx: Ctx) -> Response:
        body = self._parse_object(ctx)
        job_id = body.get("id")
        if job_id is None:
            raise _error(
                ctx.base,
                400,
                "MissingRequiredProperty",
                "A required property is missing.",
                {"PropertyName": "id"},
            )
        if not isinstance(job_id, str) or not limits.ID_PATTERN.fullmatch(job_id):
            raise _error(
                ctx.base,
                400,
                "InvalidPropertyValue",
                "The value provided for id is invalid.",
                {"PropertyName": "id", "PropertyValue": str(job_id)},
            )
        self._require_pool_info(ctx, body)
        self._check_job_enums(ctx, body)
        at = now()
        job: Job | None = None
        with self.store.lock:
            if job_id.lower() not in self.store.jobs:
                job = Job(
                    id=job_id,
                    spec=body,
                    created=at,
                    modified=at,
                    serial=self.store.next_serial(),
                    state_time=at,
                )
                self.store.jobs[job_id.lower()] = job
                self._maybe_complete(job, at)
        if job is None:
            raise _error(ctx.base, 409, "JobExists", "The specified job already exists.")
        return Response(status_code=201, headers=self._job_headers(ctx, job))

    async def get_job(self, ctx: Ctx) -> Response:
        job = self._get_job(ctx, ctx.request.path_params["job_id"])
        with self.store.lock:
            doc = dict(job.spec)
            doc.setdefault("usesTaskDependencies", False)
            doc.setdefault("onAllTasksComplete", "noaction")
            doc.setdefault("onTaskFailure", "noaction")
            doc.setdefault("priority", 0)
            doc.update(
                {
                    "odata.metadata": f"{ctx.base}/$metadata#jobs/@Element",
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
            headers = self._job_headers(ctx, job)
        del headers["Location"]
        return _json(200, doc, headers)

    async def _update_job(self, ctx: Ctx, allowed: frozenset[str], replace: bool) -> Response:
        job = self._get_job(ctx, ctx.request.path_params["job_id"])
        body = self._parse_object(ctx)
        for name in body:
            if name not in allowed:
                raise _error(
                    ctx.base,
                    400,
                    "InvalidRequestBody",
                    f"The request body contains an unknown property '{name}'.",
                    {"PropertyName": name},
                )
        if replace:
            self._require_pool_info(ctx, body)
        self._check_job_enums(ctx, body)
        at = now()
        with self.store.lock:
            state = job.state
            before = job.on_all_tasks_complete
            after = body.get("onAllTasksComplete", "noaction" if replace else before)
            if state == "active" and not (before == "terminatejob" and after != "terminatejob"):
                job.spec.update(body)
                if replace:
                    job.spec["onAllTasksComplete"] = after
                job.serial = self.store.next_serial()
                job.modified = at
                self._maybe_complete(job, at)
            headers = self._job_headers(ctx, job)
        if state != "active":
            raise _error(
                ctx.base, 409, "JobCompleted", "The specified job is already in a completed state."
            )
        if before == "terminatejob" and after != "terminatejob":
            raise _error(
                ctx.base,
                400,
                "InvalidPropertyValue",
                "onAllTasksComplete cannot be changed from terminatejob to noaction.",
                {"PropertyName": "onAllTasksComplete", "PropertyValue": str(after)},
            )
        del headers["Location"]
        return Response(status_code=200, headers=headers)

    async def update_job(self, ctx: Ctx) -> Response:
        return await self._update_job(ctx, _JOB_UPDATE_PROPS, replace=False)

    async def replace_job(self, ctx: Ctx) -> Response:
        return await self._update_job(ctx, _JOB_REPLACE_PROPS, replace=True)

    # --- adding tasks ---

    def _task_error(self, task: dict[str, Any], job: Job) -> dict[str, Any] | None:
        """The per-task client error for a task, apart from TaskExists, or None."""
        task_id = task["id"]
        if not isinstance(task_id, str) or not limits.ID_PATTERN.fullmatch(task_id):
            return wire.error_dict(
                "InvalidPropertyValue",
                "The value provided for one of the properties in the request body is invalid.",
                {"PropertyName": "id", "PropertyValue": str(task_id)},
            )
        command_line = task.get("commandLine")
        if command_line is None:
            return wire.error_dict(
                "MissingRequiredProperty",
                "A required property was not specified in the request body.",
                {"PropertyName": "commandLine"},
            )
        if not isinstance(command_line, str):
            return wire.error_dict(
                "InvalidPropertyValue",
                "The value provided for one of the properties in the request body is invalid.",
                {"PropertyName": "commandLine"},
            )
        depends_on = task.get("dependsOn")
        if depends_on is not None:
            if not job.uses_task_dependencies:
                return wire.error_dict(
                    "TaskDependenciesNotSpecifiedOnJob",
                    "The task has dependencies, but the job does not specify task dependencies.",
                )
            ids = depends_on.get("taskIds") if isinstance(depends_on, dict) else None
            if isinstance(ids, list):
                total = sum(len(i) for i in ids if isinstance(i, str))
                if total > limits.TASK_IDS_CHAR_LIMIT:
                    return wire.error_dict(
                        "TaskDependencyListTooLong",
                        "The dependency list of the task is too long.",
                        {"TaskIdsLength": str(total), "MaxLength": str(limits.TASK_IDS_CHAR_LIMIT)},
                    )
        for options in wire.iter_exit_options(task.get("exitConditions")):
            if (
                options.get("jobAction") is not None
                and job.on_task_failure != "performexitoptionsjobaction"
            ):
                return wire.error_dict(
                    "InvalidPropertyValue",
                    "jobAction may only be specified when the job's onTaskFailure is "
                    "performexitoptionsjobaction.",
                    {"PropertyName": "jobAction", "PropertyValue": str(options["jobAction"])},
                )
            if options.get("dependencyAction") is not None and not job.uses_task_dependencies:
                return wire.error_dict(
                    "InvalidPropertyValue",
                    "dependencyAction may only be specified when the job uses task dependencies.",
                    {
                        "PropertyName": "dependencyAction",
                        "PropertyValue": str(options["dependencyAction"]),
                    },
                )
        return None

    def _check_tasks_shape(self, ctx: Ctx, tasks: list[Any]) -> None:
        shape = wire.task_shape(ctx.api_version)
        for task in tasks:
            if not isinstance(task, dict):
                raise _error(
                    ctx.base, 400, "InvalidRequestBody", "Each task must be a JSON object."
                )
            bad = wire.unknown_property(task, shape)
            if bad is not None:
                raise _error(
                    ctx.base,
                    400,
                    "InvalidRequestBody",
                    f"The request body contains an unknown property '{bad}'.",
                    {"PropertyName": bad},
                )
            if "id" not in task:
                raise _error(
                    ctx.base,
                    400,
                    "MissingRequiredProperty",
                    "A required property was not specified in the request body.",
                    {"PropertyName": "id"},
                )

    def _add_tasks(
        self, ctx: Ctx, job: Job, tasks: list[dict[str, Any]], with_faults: bool
    ) -> list[dict[str, Any]]:
        """Validate and store ``tasks`` in order; one result object per task."""
        rng = ctx.rng
        p_server = ctx.faults.task_server_error if (ctx.faults and with_faults) else 0.0
        static = [self._task_error(task, job) for task in tasks]
        # bytes(memoryview(...)): orjson's result keeps a ~4 KB allocation behind each small
        # object; an exact-size copy keeps a million stored tasks in a few hundred MB.
        raws = [
            bytes(memoryview(orjson.dumps(task))) if err is None else b""
            for task, err in zip(tasks, static, strict=True)
        ]
        results: list[dict[str, Any]] = []
        at = now()
        modified = iso_time(at)
        with self.store.lock:
            counters = self.store.counters
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
                            serial = self.store.add_task(job, task_id, raw, at)
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
            raise _error(
                ctx.base, 409, "JobCompleted", "The specified job is already in a completed state."
            )
        return results

    async def add_task_collection(self, ctx: Ctx) -> Response:
        limit = limits.MAX_BODY_BYTES.get(ctx.api_version, limits.MAX_BODY_BYTES["2025-06-01"])
        if len(ctx.body) >= limit:
            raise _error(
                ctx.base,
                413,
                "RequestBodyTooLarge",
                "The request body is too large and exceeds the maximum permissible limit.",
                {"MaxLimit": str(limit)},
            )
        body = self._parse_object(ctx)
        tasks = body.get("value")
        if not isinstance(tasks, list):
            raise _error(
                ctx.base,
                400,
                "InvalidRequestBody",
                "The request body must be an object with a 'value' array of tasks.",
                {"PropertyName": "value"},
            )
        if len(tasks) > limits.MAX_TASKS_PER_REQUEST:
            raise _error(
                ctx.base,
                400,
                "InvalidRequestBody",
                f"The collection holds {len(tasks)} tasks; at most "
                f"{limits.MAX_TASKS_PER_REQUEST} are allowed in one request.",
                {"Reason": "TooManyTasks", "MaxTasks": str(limits.MAX_TASKS_PER_REQUEST)},
            )
        for name in body:
            if name != "value":
                raise _error(
                    ctx.base,
                    400,
                    "InvalidRequestBody",
                    f"The request body contains an unknown property '{name}'.",
                    {"PropertyName": name},
                )
        self._check_tasks_shape(ctx, tasks)
        job = self._get_job(ctx, ctx.request.path_params["job_id"])
        if ctx.drop:
            prefix = ctx.rng.randint(0, len(tasks))
            done = self._add_tasks(ctx, job, tasks[:prefix], with_faults=False)
            return _json(200, {"value": done})
        results = self._add_tasks(ctx, job, tasks, with_faults=True)
        ctx.rng.shuffle(results)
        return _json(200, {"value": results})

    async def add_task(self, ctx: Ctx) -> Response:
        limit = limits.MAX_BODY_BYTES.get(ctx.api_version, limits.MAX_BODY_BYTES["2025-06-01"])
        if len(ctx.body) >= limit:
            raise _error(
                ctx.base,
                413,
                "RequestBodyTooLarge",
                "The request body is too large and exceeds the maximum permissible limit.",
            )
        task = self._parse_object(ctx)
        self._check_tasks_shape(ctx, [task])
        job = self._get_job(ctx, ctx.request.path_params["job_id"])
        (result,) = self._add_tasks(ctx, job, [task], with_faults=True)
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
        raise _error(ctx.base, status, error["code"], error["message"]["value"], values)

    # --- reading tasks ---

    @staticmethod
    def _task_doc(ctx: Ctx, job: Job, pos: int) -> bytes:
        """The stored task with the service's read-only fields, spliced into its JSON."""
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

    async def get_task(self, ctx: Ctx) -> Response:
        job = self._get_job(ctx, ctx.request.path_params["job_id"])
        task_id = ctx.request.path_params["task_id"]
        with self.store.lock:
            pos = job.index.get(task_id.lower())
            doc = self._task_doc(ctx, job, pos) if pos is not None else None
            etag = make_etag(job.task_serial[pos]) if pos is not None else ""
            created = job.task_created[pos] if pos is not None else 0.0
        if doc is None:
            raise _error(ctx.base, 404, "TaskNotFound", "The specified task does not exist.")
        meta = f'{{"odata.metadata":"{ctx.base}/$metadata#tasks/@Element",'.encode()
        return _json(200, meta + doc[1:], {"ETag": etag, "Last-Modified": http_time(created)})

    async def list_tasks(self, ctx: Ctx) -> Response:
        params = ctx.request.query_params
        job = self._get_job(ctx, ctx.request.path_params["job_id"])
        try:
            max_results = int(params.get("maxresults", LIST_PAGE_DEFAULT))
            start = int(params.get("$skiptoken", "0"))
        except ValueError as exc:
            raise _error(
                ctx.base,
                400,
                "InvalidQueryParameterValue",
                "Value for one of the query parameters specified in the request URI is invalid.",
            ) from exc
        if not 1 <= max_results <= LIST_PAGE_MAX or start < 0:
            raise _error(
                ctx.base,
                400,
                "InvalidQueryParameterValue",
                "Value for one of the query parameters specified in the request URI is invalid.",
                {"QueryParameterName": "maxresults"},
            )
        state_filter = _state_filter(params.get("$filter"))
        with self.store.lock:
            total = len(job.task_ids)
            end = min(start + max_results, total)
            if state_filter in (None, "active"):
                docs = [self._task_doc(ctx, job, pos) for pos in range(start, end)]
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
            query = (
                f"api-version={quote(ctx.api_version)}&maxresults={max_results}&$skiptoken={end}"
            )
            if params.get("$filter"):
                query += "&$filter=" + quote(params["$filter"], safe="")
            next_link = f"{ctx.base}/jobs/{job.id}/tasks?{query}"
            body += b',"odata.nextLink":' + orjson.dumps(next_link)
        return _json(200, body + b"}")

    # --- the app ---

    async def stats(self, request: Request) -> Response:
        client = request.client
        if client is None or client.host not in ("127.0.0.1", "::1", "localhost"):
            return _json(403, wire.error_body(_base_url(request), "Forbidden", "Loopback only."))
        return _json(200, self.store.stats())

    def build(self) -> Starlette:
        e = self.endpoint
        routes = [
            Route("/_emulator/stats", self.stats, methods=["GET"]),
            Route("/jobs", e("createjob", self.create_job), methods=["POST"]),
            Route("/jobs/{job_id}", e("getjob", self.get_job), methods=["GET"]),
            Route("/jobs/{job_id}", e("updatejob", self.update_job), methods=["PATCH"]),
            Route("/jobs/{job_id}", e("replacejob", self.replace_job), methods=["PUT"]),
            Route(
                "/jobs/{job_id}/addtaskcollection",
                e("addtaskcollection", self.add_task_collection),
                methods=["POST"],
            ),
            Route("/jobs/{job_id}/tasks", e("listtasks", self.list_tasks), methods=["GET"]),
            Route("/jobs/{job_id}/tasks", e("addtask", self.add_task), methods=["POST"]),
            Route("/jobs/{job_id}/tasks/{task_id}", e("gettask", self.get_task), methods=["GET"]),
        ]

        async def http_error(request: Request, exc: Exception) -> Response:
            base = _base_url(request)
            status = exc.status_code if isinstance(exc, HTTPException) else 500
            if status == 405:
                reply = _error(
                    base,
                    405,
                    "UnsupportedHttpVerb",
                    f"The resource doesn't support the specified HTTP verb {request.method}.",
                )
                reply.response.headers["Allow"] = (
                    (exc.headers or {}).get("Allow", "") if isinstance(exc, HTTPException) else ""
                )
            elif status == 404:
                reply = _error(
                    base,
                    404,
                    "InvalidUri",
                    "The requested URI does not represent any resource "
                    "on the server (not served by this emulator).",
                    {"Path": request.url.path},
                )
            else:
                reply = _error(base, status, "InternalError", "The server encountered an error.")
            self._decorate(request, reply.response)
            with self.store.lock:
                self.store.counters.responses[reply.response.status_code] += 1
            return reply.response

        return Starlette(routes=routes, exception_handlers={HTTPException: http_error})


def _state_filter(value: str | None) -> str | None:
    """The state a ``$filter`` of the form ``state eq 'x'`` selects; other filters: None
    (ignored, every task is listed)."""
    if not value:
        return None
    parts = value.split()
    if len(parts) == 3 and parts[0] == "state" and parts[1] == "eq":
        return parts[2].strip("'")
    return None


def create_app(
    store: EmulatorStore | None = None,
    *,
    accounts: Mapping[str, str],
    faults: FaultConfig | None = None,
    check_auth: bool = True,
) -> tuple[Starlette, EmulatorSettings, EmulatorStore]:
    """The ASGI app, its (mutable) settings and its store."""
    store = store if store is not None else EmulatorStore()
    settings = EmulatorSettings(dict(accounts), faults or FaultConfig(), check_auth)
    return BatchEmulatorApp(store, settings).build(), settings, store
