"""The emulator's ASGI application (Starlette): routing and the prologue every operation
shares (counters, ``api-version``, Shared Key checks, fault injection).

The operations live in ``jobs`` and ``tasks``, the service's validation rules in ``rules``,
the error factory in ``replies``. Served operations (paths relative to the account endpoint,
``?api-version=`` required):

- ``POST /jobs``                               create a job (201)
- ``GET|PATCH|PUT /jobs/{jobId}``              get, update, replace a job
- ``POST /jobs/{jobId}/addtaskcollection``     add up to 100 tasks (200, per-task results)
- ``POST /jobs/{jobId}/tasks``                 add one task (201)
- ``GET /jobs/{jobId}/tasks``                  list tasks, OData paging (``maxresults``,
                                               ``odata.nextLink`` with a ``$skiptoken``)
- ``GET|PUT /jobs/{jobId}/tasks/{taskId}``     get one task, update its constraints
- ``GET /jobs``, ``DELETE /jobs/{jobId}``, ``POST /jobs/{jobId}/terminate|disable|enable``,
  ``GET /jobs/{jobId}/taskcounts``
- ``POST /jobs/{jobId}/tasks/{taskId}/terminate|reactivate``, ``DELETE .../tasks/{taskId}``,
  ``GET .../tasks/{taskId}/files`` and ``GET|HEAD .../files/{filePath}``
- ``GET /_emulator/stats``                     counters; no auth, loopback clients only
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import unquote

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from dagbatch import limits, signing
from dagbatch.emulator import jobs, replies, tasks, wire
from dagbatch.emulator.context import Ctx, EmulatorSettings
from dagbatch.emulator.faults import FaultConfig, body_key, pick_request_fault, request_rng
from dagbatch.emulator.store import EmulatorStore, now

__all__ = ["BatchEmulatorApp", "EmulatorSettings", "create_app"]

Handler = Callable[[Ctx], Awaitable[Response]]

#: Seconds a client has to send a whole request body.
READ_TIMEOUT = 60.0
#: Bytes of an over-limit body read (and dropped) so the client can read the 413; past this
#: the connection is closed instead.
DRAIN_LIMIT = 64 * 1024 * 1024

#: (method, path, operation name, handler): the operation names are the ones
#: ``FaultConfig.operations`` and the request counters use.
ROUTES: list[tuple[str, str, str, Handler]] = [
    ("POST", "/jobs", "createjob", jobs.create_job),
    ("GET", "/jobs/{job_id}", "getjob", jobs.get_job),
    ("PATCH", "/jobs/{job_id}", "updatejob", jobs.update_job),
    ("PUT", "/jobs/{job_id}", "replacejob", jobs.replace_job),
    ("POST", "/jobs/{job_id}/addtaskcollection", "addtaskcollection", tasks.add_task_collection),
    ("GET", "/jobs/{job_id}/tasks", "listtasks", tasks.list_tasks),
    ("POST", "/jobs/{job_id}/tasks", "addtask", tasks.add_task),
    ("GET", "/jobs/{job_id}/tasks/{task_id}", "gettask", tasks.get_task),
    ("PUT", "/jobs/{job_id}/tasks/{task_id}", "replacetask", tasks.replace_task),
    ("GET", "/jobs", "listjobs", jobs.list_jobs),
    ("DELETE", "/jobs/{job_id}", "deletejob", jobs.delete_job),
    ("POST", "/jobs/{job_id}/terminate", "terminatejob", jobs.terminate_job),
    ("POST", "/jobs/{job_id}/disable", "disablejob", jobs.disable_job),
    ("POST", "/jobs/{job_id}/enable", "enablejob", jobs.enable_job),
    ("GET", "/jobs/{job_id}/taskcounts", "gettaskcounts", jobs.task_counts),
    ("POST", "/jobs/{job_id}/tasks/{task_id}/terminate", "terminatetask", tasks.terminate_task),
    ("POST", "/jobs/{job_id}/tasks/{task_id}/reactivate", "reactivatetask", tasks.reactivate_task),
    ("DELETE", "/jobs/{job_id}/tasks/{task_id}", "deletetask", tasks.delete_task),
    ("GET", "/jobs/{job_id}/tasks/{task_id}/files", "listtaskfiles", tasks.list_task_files),
    (
        "GET",
        "/jobs/{job_id}/tasks/{task_id}/files/{file_path:path}",
        "gettaskfile",
        tasks.get_task_file,
    ),
    (
        "HEAD",
        "/jobs/{job_id}/tasks/{task_id}/files/{file_path:path}",
        "gettaskfileproperties",
        tasks.get_task_file,
    ),
]


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


class BatchEmulatorApp:
    """Builds the Starlette app over one store and one settings object."""

    def __init__(
        self, store: EmulatorStore, settings: EmulatorSettings, engine: Any = None
    ) -> None:
        self.store = store
        self.settings = settings
        self.engine = engine

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
        raise replies.error(
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
            raise replies.error(
                base,
                400,
                "MissingRequiredQueryParameter",
                "A query parameter that's mandatory for this request is not specified.",
                {"QueryParameterName": "api-version"},
            )
        if api_version not in limits.API_VERSIONS:
            # The service refuses an api-version it does not serve (the emulator serves the
            # versions whose schema it knows).
            raise replies.error(
                base,
                400,
                "InvalidQueryParameterValue",
                "Value for one of the query parameters specified in the request URI is invalid.",
                {
                    "QueryParameterName": "api-version",
                    "QueryParameterValue": api_version,
                    "Reason": "The specified api version is not supported; this emulator "
                    f"serves {', '.join(limits.API_VERSIONS)}.",
                },
            )
        if self.settings.check_auth:
            self._authenticate(request, base)
        body = b""
        if request.method in ("POST", "PUT", "PATCH"):
            body = await self._read_body(request, base, api_version)
        config = self.settings.faults
        path = request.scope["path"]
        occurrence = self.store.occurrence(body_key(request.method, path, body))
        rng = request_rng(config.seed, request.method, path, body, occurrence)
        faults = config if op in config.operations else None
        drop = False
        reply_at = 0.0
        if faults is not None:
            if faults.latency_ms:
                # The answer leaves latency_ms after the request was read: the request is
                # processed meanwhile (``Ctx.hold``), so its CPU time is not added to the
                # latency, and the wait never holds the event loop.
                reply_at = time.monotonic() + faults.latency_ms / 1000.0
            fault = pick_request_fault(faults, rng)
            if fault is not None:
                with self.store.lock:
                    self.store.counters.faults[fault] += 1
            retry = {"Retry-After": str(faults.retry_after)}
            if fault in ("throttle", "busy", "internal") and reply_at:
                await asyncio.sleep(reply_at - time.monotonic())
            if fault == "throttle":
                reply = replies.error(
                    base, 429, "TooManyRequests", "The server is throttling requests."
                )
                reply.response.headers.update(retry)
                raise reply
            if fault == "busy":
                reply = replies.error(base, 503, "ServerBusy", "The server is currently busy.")
                reply.response.headers.update(retry)
                raise reply
            if fault == "internal":
                raise replies.error(
                    base, 500, "InternalError", "The server encountered an internal error."
                )
            drop = fault == "drop"
        return Ctx(
            request,
            op,
            api_version,
            base,
            body,
            rng,
            faults,
            drop,
            self.store,
            self.engine,
            reply_at,
        )

    async def _read_body(self, request: Request, base: str, api_version: str) -> bytes:
        """The body, read no further than the service would accept: at the api-version's
        size limit the request is answered 413 ``RequestBodyTooLarge`` and nothing more is
        kept (the rest is drained, up to ``DRAIN_LIMIT``, so the client reads the answer;
        past that the connection is closed). A client slower than ``READ_TIMEOUT`` seconds
        for the whole body gets 408."""
        limit = limits.MAX_BODY_BYTES[api_version]
        declared = request.headers.get("content-length", "")
        too_large = declared.isdigit() and int(declared) >= limit
        chunks: list[bytes] = []
        size = 0

        async def read() -> None:
            nonlocal size, too_large
            async for chunk in request.stream():
                size += len(chunk)
                if size >= limit:
                    too_large = True
                if too_large:
                    if size > DRAIN_LIMIT:
                        return
                    continue  # drained, not kept
                chunks.append(chunk)

        try:
            # A deadline over this task, not wait_for: no second task per request.
            async with asyncio.timeout(READ_TIMEOUT):
                await read()
        except TimeoutError as exc:
            reply = replies.error(
                base, 408, "RequestTimeout", "The request body was not received in time."
            )
            reply.response.headers["Connection"] = "close"
            raise reply from exc
        if too_large:
            reply = replies.body_too_large(base, limit)
            if size > DRAIN_LIMIT:
                reply.response.headers["Connection"] = "close"
            raise reply
        return b"".join(chunks)

    def endpoint(self, op: str, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def run(request: Request) -> Response:
            counters = self.store.counters
            with self.store.lock:
                counters.in_flight[op] += 1
                if counters.in_flight[op] > counters.peak_in_flight[op]:
                    counters.peak_in_flight[op] = counters.in_flight[op]
            try:
                return await serve(request)
            finally:
                with self.store.lock:
                    counters.in_flight[op] -= 1

        async def serve(request: Request) -> Response:
            ctx: Ctx | None = None
            try:
                ctx = await self._prologue(request, op)
                response = await handler(ctx)
                if ctx.drop:
                    self._decorate(request, response)
                    await ctx.hold()
                    return replies.DroppedResponse(response)
            except replies.Reply as reply:
                response = reply.response
            if ctx is not None:
                await ctx.hold()
            self._decorate(request, response)
            with self.store.lock:
                self.store.counters.responses[response.status_code] += 1
            return response

        return run

    @staticmethod
    def _decorate(request: Request, response: Response) -> None:
        response.headers["request-id"] = str(uuid.uuid4())
        # Echoed only when asked: "return-client-request-id: Whether the server should return
        # the client-request-id in the response" [spec-2025, every operation].
        client_id = request.headers.get("client-request-id")
        if client_id and request.headers.get("return-client-request-id", "").lower() == "true":
            response.headers["client-request-id"] = client_id
        response.headers["DataServiceVersion"] = "3.0"

    # --- the app ---

    async def stats(self, request: Request) -> Response:
        client = request.client
        if client is None or client.host not in ("127.0.0.1", "::1", "localhost"):
            return replies.json_response(
                403, wire.error_body(_base_url(request), "Forbidden", "Loopback only.")
            )
        return replies.json_response(200, self.store.stats())

    async def http_error(self, request: Request, exc: Exception) -> Response:
        """Routing failures (unknown path, wrong verb) in the Batch error shape."""
        base = _base_url(request)
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        if status == 405:
            reply = replies.error(
                base,
                405,
                "UnsupportedHttpVerb",
                f"The resource doesn't support the specified HTTP verb {request.method}.",
            )
            reply.response.headers["Allow"] = (
                (exc.headers or {}).get("Allow", "") if isinstance(exc, HTTPException) else ""
            )
        elif status == 404:
            reply = replies.error(
                base,
                404,
                "InvalidUri",
                "The requested URI does not represent any resource "
                "on the server (not served by this emulator).",
                {"Path": request.url.path},
            )
        else:
            reply = replies.error(base, status, "InternalError", "The server encountered an error.")
        self._decorate(request, reply.response)
        with self.store.lock:
            self.store.counters.responses[reply.response.status_code] += 1
        return reply.response

    def build(self) -> Starlette:
        routes = [Route("/_emulator/stats", self.stats, methods=["GET"])]
        routes += [
            Route(path, self.endpoint(op, handler), methods=[method])
            for method, path, op, handler in ROUTES
        ]
        return Starlette(routes=routes, exception_handlers={HTTPException: self.http_error})


def create_app(
    store: EmulatorStore | None = None,
    *,
    accounts: Mapping[str, str],
    faults: FaultConfig | None = None,
    check_auth: bool = True,
    engine: Any = None,
) -> tuple[Starlette, EmulatorSettings, EmulatorStore]:
    """The ASGI app, its (mutable) settings and its store."""
    store = store if store is not None else EmulatorStore()
    if store.engine is None:
        # A store-only emulator: tasks are kept and never run (see ``scheduler.Engine``).
        from dagbatch.emulator.scheduler import Engine

        Engine(store, None)
    settings = EmulatorSettings(dict(accounts), faults or FaultConfig(), check_auth)
    return BatchEmulatorApp(store, settings, engine).build(), settings, store
