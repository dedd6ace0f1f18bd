"""The HTTP client for the Batch data plane: one injectable network seam, auth, retries, redaction.

``BatchClient`` talks to ``{endpoint}`` with httpx (asyncio). Every attempt gets a fresh
``ocp-date`` and is signed again (Shared Key) or carries a fresh bearer token (Entra ID).
Whole-request answers are translated into this module's exceptions at the boundary:

- ``TransientError``: 429 / 500 / 503 / other 5xx, a timeout or a dropped connection; the
  request may have been processed fully, partly or not at all. Retryable.
- ``RequestBodyTooLarge``: 413; the caller splits the request.
- ``dagbatch.errors.AuthenticationError``: 401/403 (``AuthenticationFailed``).
- ``dagbatch.errors.BatchServiceError``: any other error answer.

Simple calls (get/create/patch job, get task) are retried here with ``RetryPolicy``; the add
task collection call is a single attempt, because what to re-send depends on the per-task
results and is decided by ``dagbatch.submit.submission``.

Secrets never leave this module in clear: ``redact`` (``dagbatch.redact``, re-exported here)
masks SAS signatures (``sig=``), Shared Key signatures, bearer tokens and every registered
secret (the account key), and every message built here goes through it.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import quote

import httpx
import orjson

from dagbatch import signing as shared_key
from dagbatch.errors import AuthenticationError, BatchServiceError, ConfigError, SubmitError
from dagbatch.limits import CONTENT_TYPE, DEFAULT_API_VERSION
from dagbatch.redact import redact as redact  # re-exported: callers import it from here too
from dagbatch.redact import redact_loggers
from dagbatch.redact import register_secret as register_secret

log = logging.getLogger("dagbatch.submit.client")

#: Scope of the Batch data plane for Microsoft Entra ID tokens (the double slash is intended).
ENTRA_SCOPE = "https://batch.core.windows.net//.default"

#: Loggers whose records are redacted (a logger's filters do not apply to its children, so
#: each one that can carry a URL or a message from the service is listed).
REDACTED_LOGGERS = (
    "dagbatch",
    "dagbatch.submit.client",
    "dagbatch.submit.submission",
    "dagbatch.submit.journal",
    "dagbatch.submit.progress",
    "httpx",
    "httpcore",
    "httpcore.connection",
    "httpcore.http11",
    "httpcore.http2",
    "httpcore.proxy",
)
redact_loggers(REDACTED_LOGGERS)


# --------------------------------------------------------------------------------------
# Exceptions of this module (all derive from dagbatch.errors)


class TransientError(SubmitError):
    """A whole-request failure worth retrying: 429/5xx, a timeout or a dropped connection.

    ``status`` is None for transport errors; ``retry_after`` is the server's ``Retry-After``
    in seconds when it sent one.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        retry_after: float | None = None,
    ):
        self.status = status
        self.code = code or (f"HTTP{status}" if status else "ConnectionError")
        self.retry_after = retry_after
        super().__init__(redact(message))


class RequestBodyTooLarge(BatchServiceError):
    """413 ``RequestBodyTooLarge``: send fewer tasks per request."""


# --------------------------------------------------------------------------------------
# Authentication


class Auth(Protocol):
    """Adds the authentication headers to a request about to be sent."""

    async def apply(self, request: httpx.Request) -> None: ...


@dataclass(frozen=True)
class SharedKeyAuth:
    """Shared Key: ``Authorization: SharedKey {account}:{signature}``, signed per attempt."""

    account: str
    key: str = field(repr=False)

    def __post_init__(self) -> None:
        register_secret(self.key)
        try:
            shared_key.signature(self.key, "")
        except ValueError as exc:
            raise ConfigError(
                "the account key is not valid base64: check AZURE_BATCH_ACCESS_KEY"
            ) from exc

    async def apply(self, request: httpx.Request) -> None:
        request.headers["ocp-date"] = shared_key.rfc1123_now()
        path = request.url.raw_path.split(b"?", 1)[0].decode("ascii")
        query = request.url.params.multi_items()
        request.headers["Authorization"] = shared_key.authorization_header(
            self.account, self.key, request.method, path, query, dict(request.headers)
        )


class EntraAuth:
    """Microsoft Entra ID bearer tokens from azure-identity (the ``dagbatch[entra]`` extra)."""

    def __init__(self, credential: Any = None, *, scope: str = ENTRA_SCOPE):
        if credential is None:
            try:
                from azure.identity import DefaultAzureCredential
            except ImportError as exc:
                raise ConfigError(
                    "--auth entra needs azure-identity: pip install 'dagbatch[entra]'"
                ) from exc
            credential = DefaultAzureCredential()
        self._credential = credential
        self._scope = scope
        self._token: str | None = None
        self._expires_on = 0.0
        self._lock = asyncio.Lock()

    async def apply(self, request: httpx.Request) -> None:
        async with self._lock:
            if self._token is None or time.time() > self._expires_on - 300:
                try:
                    token = await asyncio.to_thread(self._credential.get_token, self._scope)
                except Exception as exc:
                    raise AuthenticationError(
                        f"could not get a Microsoft Entra ID token: {redact(str(exc))}"
                    ) from exc
                register_secret(token.token)
                self._token = token.token
                self._expires_on = float(token.expires_on)
        request.headers["ocp-date"] = shared_key.rfc1123_now()
        request.headers["Authorization"] = f"Bearer {self._token}"


# --------------------------------------------------------------------------------------
# Retry policy


def _new_rng() -> random.Random:
    return random.Random()


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter, honouring ``Retry-After``, bounded two ways.

    The delay before retry ``n`` (0-based) is uniform in ``[0, min(max_delay, base_delay *
    2**n)]`` ("full jitter"), or exactly the server's ``Retry-After`` when it sent one. A
    request gives up after ``max_retries`` retries, or when the next wait would take the total
    time slept for it past ``max_total_wait``. ``sleep`` and ``rng`` are injectable for tests.
    """

    max_retries: int = 8
    base_delay: float = 0.5
    max_delay: float = 30.0
    max_total_wait: float = 600.0
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    rng: random.Random = field(default_factory=_new_rng)

    def delay(self, retry: int, retry_after: float | None = None) -> float:
        """Seconds to wait before retry number ``retry`` (0-based)."""
        if retry_after is not None:
            return max(0.0, retry_after)
        ceiling = min(self.max_delay, self.base_delay * (2.0**retry))
        return self.rng.uniform(0.0, ceiling)


class RetryState:
    """Counts the retries of one unit of work against a ``RetryPolicy``."""

    def __init__(self, policy: RetryPolicy):
        self.policy = policy
        self.retries = 0
        self.waited = 0.0

    async def backoff(self, retry_after: float | None = None) -> bool:
        """Sleep before the next attempt; False when the budget is spent (give up)."""
        if self.retries >= self.policy.max_retries:
            return False
        wait = self.policy.delay(self.retries, retry_after)
        if self.waited + wait > self.policy.max_total_wait:
            return False
        self.retries += 1
        self.waited += wait
        await self.policy.sleep(wait)
        return True


# --------------------------------------------------------------------------------------
# Results


@dataclass(frozen=True, slots=True)
class TaskAddResult:
    """One entry of the addtaskcollection answer."""

    task_id: str
    status: str  # lower-cased: success | clienterror | servererror
    code: str | None = None
    message: str | None = None


@dataclass(frozen=True, slots=True)
class ServiceAnswer:
    """A parsed JSON answer: status code and body (None when absent or not JSON)."""

    status: int
    body: Any


def _error_of(body: Any) -> tuple[str | None, str]:
    """(code, message) of a Batch error body ``{"code", "message": {"value"}}``."""
    if not isinstance(body, dict):
        return None, ""
    code = body.get("code")
    message = body.get("message")
    if isinstance(message, dict):
        message = message.get("value")
    return (str(code) if code is not None else None), redact(str(message or ""))


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None  # an HTTP date: rare for Batch; fall back to our own backoff


_TRANSIENT_STATUS = frozenset({408, 429, 500, 502, 503, 504})


def _parse_json(response: httpx.Response) -> Any:
    if not response.content:
        return None
    try:
        return orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return None


class _SyncTransportAdapter(httpx.AsyncBaseTransport):
    """Runs a synchronous httpx transport in a worker thread."""

    def __init__(self, transport: httpx.BaseTransport):
        self._transport = transport

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        def call() -> httpx.Response:
            response = self._transport.handle_request(request)
            content = response.read()
            return httpx.Response(response.status_code, headers=response.headers, content=content)

        return await asyncio.to_thread(call)

    async def aclose(self) -> None:
        self._transport.close()


# --------------------------------------------------------------------------------------
# The client


class BatchClient:
    """Async client for the few Batch data-plane operations dagbatch needs.

    ``transport`` is the one network seam: pass ``httpx.MockTransport`` or any transport in
    tests; None uses httpx's default (a connection pool). The httpx client is created on first
    use inside the running event loop and closed by ``aclose``.
    """

    def __init__(
        self,
        endpoint: str,
        auth: Auth,
        *,
        transport: httpx.BaseTransport | httpx.AsyncBaseTransport | None = None,
        api_version: str = DEFAULT_API_VERSION,
        timeout: float = 60.0,
        retry: RetryPolicy | None = None,
        max_connections: int = 64,
    ):
        endpoint = endpoint.strip().rstrip("/")
        if not endpoint.startswith(("http://", "https://")):
            raise ConfigError(f"endpoint must be an http(s) URL, got {redact(endpoint)!r}")
        self.endpoint = endpoint
        self.auth = auth
        self.api_version = api_version
        self.timeout = timeout
        self.retry = retry or RetryPolicy()
        self._transport = transport
        self._max_connections = max_connections
        self._http: httpx.AsyncClient | None = None

    def _client(self) -> httpx.AsyncClient:
        if self._http is None:
            transport: httpx.AsyncBaseTransport | None
            if isinstance(self._transport, httpx.AsyncBaseTransport):
                transport = self._transport
            elif isinstance(self._transport, httpx.BaseTransport):
                transport = _SyncTransportAdapter(self._transport)
            else:
                transport = httpx.AsyncHTTPTransport(
                    limits=httpx.Limits(
                        max_connections=self._max_connections,
                        max_keepalive_connections=self._max_connections,
                    ),
                    retries=0,
                )
            self._http = httpx.AsyncClient(
                transport=transport,
                timeout=httpx.Timeout(self.timeout, connect=min(self.timeout, 30.0)),
                headers={"User-Agent": "dagbatch"},
            )
        return self._http

    async def aclose(self) -> None:
        """Close the connection pool (a later call opens a new one)."""
        if self._http is not None:
            http, self._http = self._http, None
            await http.aclose()

    async def __aenter__(self) -> BatchClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # -- one attempt -------------------------------------------------------------------

    async def _send(
        self,
        method: str,
        path: str,
        *,
        body: bytes | None = None,
        api_version: str | None = None,
    ) -> httpx.Response:
        """One signed attempt. Transport failures become ``TransientError``."""
        http = self._client()
        headers = {"client-request-id": str(uuid.uuid4())}
        if body is not None:
            headers["Content-Type"] = CONTENT_TYPE
        request = http.build_request(
            method,
            self.endpoint + path,
            params={"api-version": api_version or self.api_version},
            content=body,
            headers=headers,
        )
        await self.auth.apply(request)
        try:
            response = await http.send(request)
        except httpx.TimeoutException as exc:
            raise TransientError(f"{method} {path}: timed out ({type(exc).__name__})") from exc
        except httpx.TransportError as exc:
            raise TransientError(
                f"{method} {path}: connection failed ({type(exc).__name__}: {exc})"
            ) from exc
        return response

    def _raise_for(self, method: str, path: str, response: httpx.Response) -> None:
        """Translate an error answer into this module's exceptions."""
        status = response.status_code
        if status < 400:
            return
        code, message = _error_of(_parse_json(response))
        what = f"{method} {path}: {message or response.reason_phrase}"
        if status in (401, 403) and (code in (None, "AuthenticationFailed") or status == 401):
            raise AuthenticationError(
                "authentication failed: check AZURE_BATCH_ACCOUNT / AZURE_BATCH_ACCESS_KEY"
                f" (HTTP {status} {code or ''}: {message})".rstrip()
            )
        if status in _TRANSIENT_STATUS:
            raise TransientError(what, status=status, code=code, retry_after=_retry_after(response))
        if status == 413:
            raise RequestBodyTooLarge(status, code or "RequestBodyTooLarge", what)
        raise BatchServiceError(status, code, what)

    # -- operations --------------------------------------------------------------------

    async def add_task_collection(
        self, job_id: str, body: bytes, *, api_version: str | None = None
    ) -> list[TaskAddResult]:
        """POST /jobs/{job}/addtaskcollection once; per-task results in the order given."""
        path = f"/jobs/{quote(job_id, safe='')}/addtaskcollection"
        response = await self._send("POST", path, body=body, api_version=api_version)
        self._raise_for("POST", path, response)
        payload = _parse_json(response)
        if not isinstance(payload, dict) or not isinstance(payload.get("value"), list):
            raise TransientError(
                f"POST {path}: answer is not a task collection result", status=response.status_code
            )
        results: list[TaskAddResult] = []
        for entry in payload["value"]:
            if not isinstance(entry, dict) or not isinstance(entry.get("taskId"), str):
                continue
            code, message = _error_of(entry.get("error"))
            results.append(
                TaskAddResult(
                    task_id=entry["taskId"],
                    status=str(entry.get("status", "")).lower(),
                    code=code,
                    message=message or None,
                )
            )
        return results

    async def call(
        self,
        method: str,
        path: str,
        *,
        body: Mapping[str, Any] | None = None,
        ok_codes: frozenset[str] = frozenset(),
        api_version: str | None = None,
    ) -> ServiceAnswer:
        """A simple call retried on transient failures per ``self.retry``.

        An error answer whose code is in ``ok_codes`` (e.g. ``JobExists``) is returned instead
        of raised.
        """
        raw = orjson.dumps(body) if body is not None else None
        state = RetryState(self.retry)
        while True:
            try:
                response = await self._send(method, path, body=raw, api_version=api_version)
                payload = _parse_json(response)
                if response.status_code >= 400:
                    code, _ = _error_of(payload)
                    if code in ok_codes:
                        return ServiceAnswer(response.status_code, payload)
                self._raise_for(method, path, response)
                return ServiceAnswer(response.status_code, payload)
            except TransientError as exc:
                log.info("retrying %s %s: %s", method, path, exc)
                if not await state.backoff(exc.retry_after):
                    raise

    async def get_job(self, job_id: str, *, api_version: str | None = None) -> ServiceAnswer:
        """GET one job; a ``JobNotFound`` answer is returned, not raised."""
        return await self.call(
            "GET",
            f"/jobs/{quote(job_id, safe='')}",
            ok_codes=frozenset({"JobNotFound"}),
            api_version=api_version,
        )

    async def create_job(
        self, job: Mapping[str, Any], *, api_version: str | None = None
    ) -> ServiceAnswer:
        """POST /jobs; a ``JobExists`` answer is returned, not raised."""
        return await self.call(
            "POST", "/jobs", body=job, ok_codes=frozenset({"JobExists"}), api_version=api_version
        )

    async def patch_job(
        self, job_id: str, changes: Mapping[str, Any], *, api_version: str | None = None
    ) -> ServiceAnswer:
        """PATCH /jobs/{job} with ``changes`` (e.g. ``onAllTasksComplete``)."""
        return await self.call(
            "PATCH", f"/jobs/{quote(job_id, safe='')}", body=changes, api_version=api_version
        )

    async def get_task(
        self, job_id: str, task_id: str, *, api_version: str | None = None
    ) -> ServiceAnswer:
        """GET one task; a ``TaskNotFound`` answer is returned, not raised."""
        path = f"/jobs/{quote(job_id, safe='')}/tasks/{quote(task_id, safe='')}"
        return await self.call(
            "GET", path, ok_codes=frozenset({"TaskNotFound"}), api_version=api_version
        )
