"""The HTTP client for the Batch data plane: one injectable network seam.

``BatchClient`` talks to ``{endpoint}`` with httpx (asyncio), except the hot request, POST
addtaskcollection, and every other POST or GET without a query, which go through the lean
HTTP/1.1 client of ``dagbatch.submit.http11`` when nothing calls for httpx (no ``transport=``
given, no proxy for the endpoint). Every attempt gets a fresh ``ocp-date`` and is signed again
by its ``Auth`` (``dagbatch.submit.auth``). Whole-request answers are translated into
``dagbatch.errors`` exceptions at the boundary:

- ``TransientError``: 429 / 500 / 503 / other 5xx, a timeout or a dropped connection; the
  request may have been processed fully, partly or not at all. Retryable.
- ``EndpointUnreachable``: no connection could be made and none ever was: a wrong endpoint or
  no network fails fast, naming the endpoint and the cause.
- ``RequestBodyTooLarge``: 413; the caller splits the request.
- ``AuthenticationError``: 401/403 (``AuthenticationFailed``).
- ``BatchServiceError``: any other error answer.

Simple calls (get/create/patch job, get task, task counts, list) are retried here with the
``RetryPolicy`` (``dagbatch.submit.retry``); the add task collection call is a single attempt,
because what to re-send depends on the per-task results and is decided by the submission.
Every message built here goes through ``dagbatch.redact.redact``.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import ssl
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from itertools import repeat
from operator import add, itemgetter
from typing import Any, NamedTuple, Protocol
from urllib.parse import parse_qsl, quote, urlsplit

import httpcore  # noqa: F401 - imported by httpx's transport on first use; here, at start
import httpx
import orjson

from dagbatch.defaults import AUTH_KINDS, DEFAULT_TIMEOUT
from dagbatch.errors import (
    TIMEOUT,
    AuthenticationError,
    BatchServiceError,
    ConfigError,
    EndpointUnreachable,
    RequestBodyTooLarge,
    TransientError,
)
from dagbatch.limits import CONTENT_TYPE, DEFAULT_API_VERSION
from dagbatch.redact import redact, register_secret
from dagbatch.submit.auth import Auth, EntraAuth, SharedKeyAuth
from dagbatch.submit.http11 import Http11Pool
from dagbatch.submit.retry import RetryPolicy, RetryState

# Names that lived here before the split, still importable from here for existing callers;
# their home is the module each comes from.
__all__ = [
    "Auth",
    "BatchClient",
    "EntraAuth",
    "RequestBodyTooLarge",
    "RetryPolicy",
    "RetryState",
    "ServiceAnswer",
    "SharedKeyAuth",
    "TaskAddResult",
    "TransientError",
    "redact",
    "register_secret",
]

log = logging.getLogger("dagbatch.submit.client")

#: Longest wait for a connection to be made, seconds: an unreachable endpoint is reported
#: after this, not after the whole request timeout.
CONNECT_TIMEOUT = 10.0
#: Environment variable that turns the lean HTTP/1.1 path for addtaskcollection off when "0"
#: (``BatchClient(lean_http=...)`` overrides it): every request then goes through httpx.
LEAN_HTTP_ENV = "DAGBATCH_LEAN_HTTP"

# --------------------------------------------------------------------------------------
# Results


class TaskAddResult(NamedTuple):
    """One entry of the addtaskcollection answer (a named tuple: built 100 times per answer,
    it costs a fraction of a frozen dataclass)."""

    task_id: str
    status: str  # lower-cased: success | clienterror | servererror
    code: str | None = None
    message: str | None = None


#: ``TaskAddResult`` built from a (task id, status, code, message) tuple without a Python
#: call (``tuple.__new__`` with the class, in C); see ``_all_succeeded``.
_new_result = tuple.__new__
_get_status = itemgetter("status")
_get_task_id = itemgetter("taskId")


def _all_succeeded(entries: Any) -> list[TaskAddResult] | None:
    """The results of an answer whose every entry is a ``success`` with a string task id,
    the common answer, in C-level scans rather than a Python step per task; None for any
    other answer (then each entry is read one by one)."""
    if type(entries) is not list or not entries or set(map(type, entries)) != {dict}:
        return None
    try:
        statuses = set(map(_get_status, entries))
        task_ids = list(map(_get_task_id, entries))
    except KeyError:
        return None
    if statuses != {"success"} or set(map(type, task_ids)) != {str}:
        return None
    success = ("success", None, None)
    return list(map(_new_result, repeat(TaskAddResult), map(add, zip(task_ids), repeat(success))))


#: ``on_answer(status)`` of ``BatchClient.call``: each attempt's HTTP status, None when no
#: answer came.
AnswerHook = Callable[[int | None], None]


@dataclass(frozen=True, slots=True)
class ServiceAnswer:
    """A parsed JSON answer: status code and body (None when absent or not JSON)."""

    status: int
    body: Any


@dataclass(frozen=True, slots=True)
class FileAnswer:
    """A file route's answer: status, raw content, headers (lower-cased names) and the error
    code of an accepted error answer."""

    status: int
    content: bytes
    headers: Mapping[str, str]
    code: str | None = None


def _error_of(body: Any) -> tuple[str | None, str]:
    """(code, message) of a Batch error body ``{"code", "message": {"value"}}``."""
    if not isinstance(body, dict):
        return None, ""
    code = body.get("code")
    message = body.get("message")
    if isinstance(message, dict):
        message = message.get("value")
    return (str(code) if code is not None else None), redact(str(message or ""))


class _Answer(Protocol):
    """What is read of an answer: an ``httpx.Response`` or an ``http11.Answer``."""

    @property
    def status_code(self) -> int: ...
    @property
    def reason_phrase(self) -> str: ...
    @property
    def headers(self) -> Mapping[str, str]: ...
    @property
    def content(self) -> bytes: ...


def _retry_after(response: _Answer) -> float | None:
    value = response.headers.get("retry-after")  # both kinds of headers: lower-case names
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None  # an HTTP date: rare for Batch; fall back to our own backoff


#: URLs without extra query parameters kept parsed (``BatchClient._send``).
_URL_CACHE = 32

#: Statuses retried as transient (``TransientError``).
TRANSIENT_STATUS = frozenset({408, 429, 500, 502, 503, 504})


def _parse_json(response: _Answer) -> Any:
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


class _Released(httpx.AsyncByteStream):
    """A response body that gives its connection back to the free list once closed."""

    def __init__(self, stream: httpx.AsyncByteStream, release: Callable[[], None]):
        self._stream = stream
        self._release: Callable[[], None] | None = release

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._stream:
            yield chunk

    async def aclose(self) -> None:
        try:
            await self._stream.aclose()
        finally:
            if self._release is not None:
                release, self._release = self._release, None
                release()


class FreeListTransport(httpx.AsyncBaseTransport):
    """HTTP/1.1 keep-alive connections kept on a free list, one per request in flight.

    A request takes an idle connection (a one-connection httpx transport) or opens a new one
    when all are busy, and gives it back when its response body is closed: O(1) per request
    however many are in flight. (httpx's pooled transport walks every connection of its pool
    on each request start and end: at 64 in flight that was half the client's CPU; see
    bench/PROFILE.md.) ``ssl_context`` is shared by every connection.
    """

    def __init__(self, ssl_context: ssl.SSLContext):
        self._ssl_context = ssl_context
        self._free: list[httpx.AsyncHTTPTransport] = []
        self._opened: list[httpx.AsyncHTTPTransport] = []
        self._loop: asyncio.AbstractEventLoop | None = None  # the one the connections are on

    @property
    def connections(self) -> int:
        """Connections opened so far (the most requests that were in flight at once)."""
        return len(self._opened)

    def _take(self) -> httpx.AsyncHTTPTransport:
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            # A new event loop (a second asyncio.run, a sync call after an async one): the
            # connections opened on the last one cannot be used from this one ("Event loop
            # is closed"), nor closed: they are dropped, as the lean pool's are
            # (``http11.Http11Pool._adopt_loop``). A client closed before its loop ends
            # (``async with``, ``aclose``) has none to drop.
            self._free.clear()
            self._opened.clear()
            self._loop = loop
        if self._free:
            return self._free.pop()
        one = httpx.AsyncHTTPTransport(
            verify=self._ssl_context,
            limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
            retries=0,
        )
        self._opened.append(one)
        return one

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        one = self._take()
        try:
            response = await one.handle_async_request(request)
        except BaseException:
            self._free.append(one)  # the connection was dropped; the next request reopens
            raise
        stream = response.stream
        assert isinstance(stream, httpx.AsyncByteStream)
        return httpx.Response(
            response.status_code,
            headers=response.headers,
            stream=_Released(stream, lambda: self._free.append(one)),
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        opened, self._opened, self._free = self._opened, [], []
        if self._loop is not asyncio.get_running_loop():
            return  # opened on another event loop, which alone could close them (see _take)
        for one in opened:
            await one.aclose()


def _loopback(host: str | None) -> bool:
    if not host:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def loopback_endpoint(endpoint: str) -> bool:
    """Whether ``endpoint`` is on this machine (localhost, 127.0.0.0/8, ::1): an emulator's,
    not the service's."""
    return _loopback(urlsplit(endpoint).hostname)


def proxy_applies(endpoint: str) -> bool:
    """True when httpx, trusting the environment as it does by default, would send requests
    for ``endpoint`` through a proxy (``HTTP_PROXY``, ``HTTPS_PROXY``, ``ALL_PROXY``,
    ``NO_PROXY``, and the system settings ``urllib.request.getproxies`` reads). A loopback
    endpoint (the local emulator) never goes through a proxy: none could reach it."""
    if _loopback(urlsplit(endpoint).hostname):
        return False
    try:
        from httpx._utils import URLPattern, get_environment_proxies
    except ImportError:  # httpx moved its helpers: any proxy setting at all means httpx
        from urllib.request import getproxies

        found = getproxies()
        return any(found.get(scheme) for scheme in ("http", "https", "all"))
    url = httpx.URL(endpoint)
    mounts = {URLPattern(key): proxy for key, proxy in get_environment_proxies().items()}
    for pattern in sorted(mounts):  # httpx's own order: the most specific pattern first
        if pattern.matches(url):
            return mounts[pattern] is not None
    return False


# --------------------------------------------------------------------------------------
# The client


class BatchClient:
    """Async client for the few Batch data-plane operations dagbatch needs.

    ``transport`` is the one network seam: pass ``httpx.MockTransport`` or any transport in
    tests; every request then goes through it. None (the real network) uses
    ``FreeListTransport``: HTTP/1.1 keep-alive connections, one per request in flight, taken
    and given back in O(1), and, for POST addtaskcollection and the other POSTs and GETs
    without a query, the lean ``http11.Http11Pool``
    (``lean_http``; default on unless ``DAGBATCH_LEAN_HTTP=0``). When a proxy applies to the
    endpoint (``proxy_applies``), httpx's own pooled transport serves every request, through
    the proxy. The TLS context is built once and shared by every connection; an ``http://``
    endpoint (the emulator) gets a bare one that never loads the CA bundle. The httpx client
    and the lean pool are created on first use inside the running event loop and closed by
    ``aclose``. Used under one event loop after another (``asyncio.run`` twice), the client
    opens new connections on the new loop; close it before its loop ends (``async with``,
    or ``await client.aclose()``), as any connection pool: the connections a closed loop
    kept open are only dropped, their sockets left to the garbage collector.
    """

    def __init__(
        self,
        endpoint: str,
        auth: Auth,
        *,
        transport: httpx.BaseTransport | httpx.AsyncBaseTransport | None = None,
        api_version: str = DEFAULT_API_VERSION,
        timeout: float = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
        lean_http: bool | None = None,
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
        self._http: httpx.AsyncClient | None = None
        self._ssl_context: ssl.SSLContext | None = None
        self._proxied: bool | None = None  # decided on first use
        if lean_http is None:
            lean_http = os.environ.get(LEAN_HTTP_ENV, "1").strip() != "0"
        self._lean_wanted = lean_http and transport is None
        self._lean_pool: Http11Pool | None = None
        self._urls: dict[tuple[str, str], httpx.URL] = {}  # (path, api-version) -> URL
        #: True once any answer came back from the endpoint: from then on a failed connection
        #: is a blip to retry, before that it means the endpoint is unreachable.
        self.reached = False

    def _client(self) -> httpx.AsyncClient:
        """The httpx client, created on first use (inside the running event loop)."""
        if self._http is None:
            transport: httpx.AsyncBaseTransport
            if isinstance(self._transport, httpx.AsyncBaseTransport):
                transport = self._transport
            elif isinstance(self._transport, httpx.BaseTransport):
                transport = _SyncTransportAdapter(self._transport)
            elif self._behind_proxy():
                # httpx's pooled transport, built by the client itself so that it mounts
                # the proxies of the environment (a transport passed in would turn them off).
                self._http = httpx.AsyncClient(
                    verify=self._ssl(),
                    limits=httpx.Limits(max_connections=None, max_keepalive_connections=256),
                    timeout=self._timeouts(),
                    headers={"User-Agent": "dagbatch"},
                )
                return self._http
            else:
                transport = FreeListTransport(self._ssl())
            self._http = httpx.AsyncClient(
                transport=transport, timeout=self._timeouts(), headers={"User-Agent": "dagbatch"}
            )
        return self._http

    @property
    def lean_pool(self) -> Http11Pool | None:
        """The lean pool once it served a request (its ``connections`` and ``requests``
        counters say how much), else None."""
        return self._lean_pool

    def _timeouts(self) -> httpx.Timeout:
        return httpx.Timeout(self.timeout, connect=min(self.timeout, CONNECT_TIMEOUT))

    def _ssl(self) -> ssl.SSLContext:
        """The TLS context every connection shares, built once."""
        if self._ssl_context is None:
            # https: the default verification (CA bundle, SSL_CERT_FILE / SSL_CERT_DIR);
            # http: never used to connect, so a bare context without the CA bundle.
            self._ssl_context = httpx.create_ssl_context(
                verify=self.endpoint.startswith("https://")
            )
        return self._ssl_context

    def _behind_proxy(self) -> bool:
        """True when a proxy applies to the endpoint (decided once, at first use)."""
        if self._proxied is None:
            self._proxied = proxy_applies(self.endpoint)
        return self._proxied

    def _lean(self) -> Http11Pool | None:
        """The lean HTTP/1.1 pool for addtaskcollection and body-less POSTs (``call``), or
        None when httpx must serve it
        (a ``transport`` was given, a proxy applies, or ``lean_http`` is off)."""
        if self._lean_pool is None and self._lean_wanted:
            if self._behind_proxy():
                self._lean_wanted = False
                return None
            try:
                self._lean_pool = Http11Pool(
                    self.endpoint,
                    ssl_context=self._ssl() if self.endpoint.startswith("https://") else None,
                    timeout=self.timeout,
                    connect_timeout=min(self.timeout, CONNECT_TIMEOUT),
                    headers={"User-Agent": "dagbatch", "Accept": "application/json"},
                )
            except ValueError:  # an endpoint it cannot take apart: httpx says what is wrong
                self._lean_wanted = False
        return self._lean_pool

    async def aclose(self) -> None:
        """Close every connection (a later call opens new ones)."""
        if self._lean_pool is not None:
            await self._lean_pool.aclose()  # kept: its counters stay readable
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
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """One signed attempt. Transport failures become ``TransientError``.

        ``params`` are query parameters besides ``api-version`` (``$filter``, ``$select``, ...);
        ``headers`` extra request headers (e.g. ``ocp-range``; ``ocp-*`` ones are signed).
        """
        headers = {**(headers or {}), "client-request-id": str(uuid.uuid4())}
        if body is not None:
            headers["Content-Type"] = CONTENT_TYPE
        http = self._client()
        version = api_version or self.api_version
        if params:
            # The query is percent-encoded here (a space as %20, as the Azure SDKs send it):
            # httpx would write a space as '+', which a service that percent-decodes query
            # values for the Shared Key signature reads as a literal '+'.
            query = "&".join(
                f"{quote(k, safe='$')}={quote(v, safe='')}"
                for k, v in {**params, "api-version": version}.items()
            )
            url = httpx.URL(self.endpoint + path + "?" + query)
        else:
            # The same few URLs again and again (one per job and operation): parsed once.
            # (At most _URL_CACHE of them: a GET per task would fill it with one-offs.)
            key = (path, version)
            found = self._urls.get(key)
            if found is None:
                found = httpx.URL(self.endpoint + path, params={"api-version": version})
                if len(self._urls) < _URL_CACHE:
                    self._urls[key] = found
            url = found
        request = http.build_request(
            method,
            url,
            content=body,
            headers=headers,
        )
        request.headers.update(
            await self.auth.headers_for(
                method,
                url.raw_path.split(b"?", 1)[0].decode("ascii"),
                url.params.multi_items(),
                request.headers,
            )
        )
        try:
            response = await http.send(request)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            # No connection was made: the request did not reach the service.
            raise TransientError(
                f"{method} {path}: cannot connect to {self.endpoint} ({type(exc).__name__}: {exc})",
                connect=True,
            ) from exc
        except httpx.TimeoutException as exc:
            raise TransientError(
                f"{method} {path}: timed out ({type(exc).__name__})", code=TIMEOUT
            ) from exc
        except httpx.TransportError as exc:
            raise TransientError(
                f"{method} {path}: connection failed ({type(exc).__name__}: {exc})"
            ) from exc
        self.reached = True
        return response

    async def _send_lean(
        self,
        pool: Http11Pool,
        method: str,
        path: str,
        body: bytes | None,
        api_version: str | None,
    ) -> _Answer:
        """One signed attempt through the lean pool: a POST (``body`` None: without one, as
        terminate and reactivate are) or a GET; failures as ``_send`` maps them
        (``TransientError``, ``connect=True`` when no connection was made)."""
        version = api_version or self.api_version
        target = pool.base_path + path
        headers = {"client-request-id": str(uuid.uuid4())}
        if body is not None:  # as _send: a Content-Type only with a body
            headers["Content-Type"] = CONTENT_TYPE
        if body is not None or method != "GET":  # as the pool writes it (Http11Pool.request)
            headers["Content-Length"] = str(len(body or b""))
        # Signed over exactly what goes on the wire, as the httpx path signs its request.
        signed = await self.auth.headers_for(method, target, (("api-version", version),), headers)
        headers.pop("Content-Length", None)  # the pool writes it
        headers.update(signed)
        answer = await pool.request(
            method,
            f"{target}?api-version={quote(version, safe='')}",
            headers.items(),
            body or b"",
            what=f"{method} {path}",
        )
        self.reached = True
        return answer

    def _unreachable(self, exc: TransientError) -> EndpointUnreachable:
        return EndpointUnreachable(
            f"cannot reach the Batch endpoint {redact(self.endpoint)}: {exc} "
            "(check AZURE_BATCH_ENDPOINT / --endpoint and the network)"
        )

    def _raise_for(self, method: str, path: str, response: _Answer) -> None:
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
        if status in TRANSIENT_STATUS:
            raise TransientError(what, status=status, code=code, retry_after=_retry_after(response))
        if status == 413:
            raise RequestBodyTooLarge(status, code or "RequestBodyTooLarge", what)
        raise BatchServiceError(status, code, what)

    async def warm_up(self, connections: int) -> None:
        """Open the lean pool's connections up to ``connections`` ahead of the requests that
        will use them (``Http11Pool.warm``); nothing when httpx serves addtaskcollection."""
        pool = self._lean()
        if pool is not None:
            await pool.warm(connections)

    def prefetch_auth(self) -> None:
        """Begin now what the first request's authentication will wait for (a Microsoft
        Entra ID token, in a worker thread), so it overlaps the caller's own work, such as
        loading a plan. Nothing for Shared Key, or for an ``Auth`` without ``prefetch``.
        Needs a running event loop."""
        prefetch = getattr(self.auth, "prefetch", None)
        if prefetch is not None:
            prefetch()

    # -- operations --------------------------------------------------------------------

    async def add_task_collection(
        self, job_id: str, body: bytes, *, api_version: str | None = None
    ) -> list[TaskAddResult]:
        """POST /jobs/{job}/addtaskcollection once; per-task results in the order given."""
        path = f"/jobs/{quote(job_id, safe='')}/addtaskcollection"
        pool = self._lean()
        try:
            response: _Answer
            if pool is not None:
                response = await self._send_lean(pool, "POST", path, body, api_version)
            else:
                response = await self._send("POST", path, body=body, api_version=api_version)
        except TransientError as exc:
            if exc.connect and not self.reached:
                raise self._unreachable(exc) from exc
            raise
        self._raise_for("POST", path, response)
        payload = _parse_json(response)
        if not isinstance(payload, dict) or not isinstance(payload.get("value"), list):
            raise TransientError(
                f"POST {path}: answer is not a task collection result", status=response.status_code
            )
        entries = payload["value"]
        succeeded = _all_succeeded(entries)
        if succeeded is not None:
            return succeeded
        results: list[TaskAddResult] = []
        for entry in entries:
            if not isinstance(entry, dict) or not isinstance(entry.get("taskId"), str):
                continue
            error = entry.get("error")
            if error is None:  # the common case: no error to read (nor to redact)
                results.append(TaskAddResult(entry["taskId"], str(entry.get("status", "")).lower()))
                continue
            code, message = _error_of(error)
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
        params: Mapping[str, str] | None = None,
        on_answer: AnswerHook | None = None,
    ) -> ServiceAnswer:
        """A simple call retried on transient failures per ``self.retry``.

        An error answer whose code is in ``ok_codes`` (e.g. ``JobExists``) is returned instead
        of raised. ``on_answer(status)`` hears of each attempt as it ends: its HTTP status, or
        None when no answer came (what an adaptive level learns from, e.g. 429 and 503).
        """
        raw = orjson.dumps(body) if body is not None else None
        state = RetryState(self.retry)
        # A POST or GET without a query goes through the lean pool, as addtaskcollection
        # does. Terminate and reactivate (finish and rerun send one a task) cost a sixth of
        # the client's CPU of httpx's stack. A submission's job creation and its GET go out
        # at once, not after httpx's first-use setup (30 ms, while the plan is parsed and
        # before the first confirmation), on the connections its tasks then take.
        lean = self._lean() if method in ("POST", "GET") and not params else None
        while True:
            heard = False
            try:
                response: _Answer
                if lean is not None:
                    response = await self._send_lean(lean, method, path, raw, api_version)
                else:
                    response = await self._send(
                        method, path, body=raw, api_version=api_version, params=params
                    )
                if on_answer is not None:
                    heard = True
                    on_answer(response.status_code)
                payload = _parse_json(response)
                if response.status_code >= 400:
                    code, _ = _error_of(payload)
                    if code in ok_codes:
                        return ServiceAnswer(response.status_code, payload)
                self._raise_for(method, path, response)
                return ServiceAnswer(response.status_code, payload)
            except TransientError as exc:
                if on_answer is not None and not heard:
                    on_answer(None)
                if exc.connect and not self.reached:
                    raise self._unreachable(exc) from exc
                log.info("retrying %s %s: %s", method, path, exc)
                if not await state.backoff(exc.retry_after):
                    raise _gave_up(exc, state.retries) from exc

    async def read_file(
        self,
        method: str,
        path: str,
        *,
        headers: Mapping[str, str] | None = None,
        ok_codes: frozenset[str] = frozenset(),
        api_version: str | None = None,
    ) -> FileAnswer:
        """GET or HEAD a file route (bytes, not JSON), retried like ``call``. An error answer
        whose code is in ``ok_codes`` (e.g. ``FileNotFound``) is returned with no content."""
        state = RetryState(self.retry)
        while True:
            try:
                response = await self._send(method, path, api_version=api_version, headers=headers)
                if response.status_code >= 400:
                    code, _ = _error_of(_parse_json(response))
                    if code in ok_codes:
                        return FileAnswer(response.status_code, b"", dict(response.headers), code)
                self._raise_for(method, path, response)
                return FileAnswer(response.status_code, response.content, dict(response.headers))
            except TransientError as exc:
                log.info("retrying %s %s: %s", method, path, exc)
                if not await state.backoff(exc.retry_after):
                    raise _gave_up(exc, state.retries) from exc

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

    async def get_task_counts(
        self, job_id: str, *, api_version: str | None = None
    ) -> dict[str, int] | None:
        """GET /jobs/{job}/taskcounts: ``taskCounts`` (active, running, completed, succeeded,
        failed), or None when the job does not exist. One request however many tasks."""
        answer = await self.call(
            "GET",
            f"/jobs/{quote(job_id, safe='')}/taskcounts",
            ok_codes=frozenset({"JobNotFound"}),
            api_version=api_version,
        )
        if answer.status == 404 or not isinstance(answer.body, dict):
            return None
        counts = answer.body.get("taskCounts")
        if not isinstance(counts, dict):
            return None
        return {k: int(v) for k, v in counts.items() if isinstance(v, int)}

    async def iter_task_ids(
        self, job_id: str, *, api_version: str | None = None
    ) -> AsyncIterator[str]:
        """The ids of every task of the job (``list_tasks`` with ``$select=id``)."""
        async for task in self.list_tasks(job_id, select="id", api_version=api_version):
            if isinstance(task.get("id"), str):
                yield task["id"]

    async def list_tasks(
        self,
        job_id: str,
        *,
        select: str | None = None,
        max_results: int = 1000,
        api_version: str | None = None,
    ) -> AsyncIterator[dict[str, Any]]:
        """Every task of a job (GET /jobs/{job}/tasks), page by page through
        ``odata.nextLink``. Only the next link's query is used: every page is asked of this
        client's endpoint, signed as usual."""
        path = f"/jobs/{quote(job_id, safe='')}/tasks"
        params: dict[str, str] = {"maxresults": str(max_results)}
        if select:
            params["$select"] = select
        for _ in range(1_000_000):  # bounded: a page has at least one task
            answer = await self.call("GET", path, api_version=api_version, params=params)
            payload = answer.body if isinstance(answer.body, dict) else {}
            for task in payload.get("value") or ():
                if isinstance(task, dict):
                    yield task
            link = payload.get("odata.nextLink")
            if not isinstance(link, str) or not link:
                return
            params = dict(parse_qsl(urlsplit(link).query, keep_blank_values=True))
            params.pop("api-version", None)


def _gave_up(exc: TransientError, retries: int) -> TransientError:
    """``exc`` once the retries are spent, saying how many were made (the same kind of
    error, so callers tell it apart as before)."""
    return TransientError(
        f"{exc} (gave up after {retries} retries)",
        status=exc.status,
        code=exc.code,
        retry_after=exc.retry_after,
        connect=exc.connect,
    )


def check_client(client: Any) -> None:
    """``ConfigError`` for a ``client`` that is no ``BatchClient`` (None included)."""
    if not isinstance(client, BatchClient):
        raise ConfigError(
            f"client is a dagbatch BatchClient (dagbatch.connect(...)), not {type(client).__name__}"
        )


def connect(
    endpoint: str | None = None,
    account: str | None = None,
    account_key: str | None = None,
    *,
    auth: str = "sharedkey",
    **options: Any,
) -> BatchClient:
    """A ``BatchClient`` from explicit settings or, where not given, the environment variables
    the Azure CLI uses (``AZURE_BATCH_ENDPOINT``, ``AZURE_BATCH_ACCOUNT``,
    ``AZURE_BATCH_ACCESS_KEY``). ``auth`` is ``sharedkey`` or ``entra``; ``options`` go to
    ``BatchClient`` (``timeout``, ``retry``, ``transport``)."""
    import os

    for name, value in (("endpoint", endpoint), ("account", account), ("key", account_key)):
        if not isinstance(value, str | None):
            raise ConfigError(f"the {name} is a str, not {type(value).__name__}")
    if auth not in AUTH_KINDS:
        raise ConfigError(f"auth is one of {', '.join(AUTH_KINDS)}, not {auth!r}")
    endpoint = endpoint or os.environ.get("AZURE_BATCH_ENDPOINT")
    if not endpoint:
        raise ConfigError(
            "no Batch endpoint: set AZURE_BATCH_ENDPOINT, or give one (--endpoint, or "
            "connect(endpoint))"
        )
    credentials: Auth
    if auth == "entra":
        credentials = EntraAuth()
    else:
        account = account or os.environ.get("AZURE_BATCH_ACCOUNT")
        account_key = account_key or os.environ.get("AZURE_BATCH_ACCESS_KEY")
        if not account:
            raise ConfigError("no Batch account: set AZURE_BATCH_ACCOUNT or pass --account")
        if not account_key:
            raise ConfigError("no account key: set AZURE_BATCH_ACCESS_KEY (or use --auth entra)")
        credentials = SharedKeyAuth(account, account_key)
    return BatchClient(endpoint, credentials, **options)
