"""A lean HTTP/1.1 client for the hot request, POST addtaskcollection (JSON in, JSON out), and
the other simple ones (``BatchClient.call``: a POST or GET without a query).

Why: profiling ``dagbatch submit`` of 50,000 tasks (500 requests of 100 tasks, emulator over
loopback) put about a third of the client's CPU in the generic HTTP stack: httpx's client
layer (request/response models, header normalisation), httpcore, h11 and anyio, for a request
whose shape never changes. Here a request is one ``bytes`` written to an asyncio transport and
the answer is parsed from the bytes ``data_received`` hands over. Measured on 2 shared cores:
400 requests of 100 tasks, 16 in flight, took 1.1-1.6 ms of client CPU per request through
httpx and 0.35-0.45 ms through this module (most of which is reading the 100 per-task
results); in the submit benchmark (50,000 tasks; latency 0 ms at 1 to 128 in flight, 50 ms
at 16 and 64; medians of 3, run side by side with the httpx-only client) the client CPU per
10,000 tasks went from 0.21-0.30 s to 0.15-0.18 s.

What it does:

- ``Http11Pool``: keep-alive connections (``loop.create_connection`` with an
  ``asyncio.Protocol``) on a free list, one per request in flight, taken and given back in
  O(1); a connection the server closed while idle is dropped when next taken.
- The request: request line, ``Host``, the caller's headers (the signed ones), ``Content-Length``
  (none on a GET without a body, as httpx sends it) and the body, built as bytes directly.
- ``warm``: connections opened ahead of the requests that will take them.
- The answer: status line (HTTP/1.1 or HTTP/1.0), headers, a body framed by ``Content-Length``,
  ``Transfer-Encoding: chunked`` or, without either, the end of the connection; interim 1xx
  answers are skipped; a gzip or deflate ``Content-Encoding`` is decoded. ``Connection: close``,
  HTTP/1.0 and a body read to EOF close the connection after the answer.
- TLS for ``https`` endpoints with the caller's ``ssl.SSLContext`` (``BatchClient`` builds it
  once: default CA bundle, ``SSL_CERT_FILE`` / ``SSL_CERT_DIR``) and the endpoint's host name
  as ``server_hostname``; plain TCP for ``http``.
- Timeouts: ``connect_timeout`` for the connection (TLS handshake included), ``timeout`` for
  the whole answer after the request is written.
- Failures are ``TransientError`` exactly as ``BatchClient._send`` maps httpx's: no connection
  made -> ``connect=True``; a timeout, a connection lost, reset or closed mid-answer, or a
  garbled answer -> a plain ``TransientError``. A connection that failed is closed, never
  reused.

What it does not do: proxies (``BatchClient`` uses httpx whenever a proxy applies to the
endpoint), redirects, ``Expect: 100-continue``, HTTP/2, pipelining, request streaming or
write back-pressure (a request body is at most a few MB and is written in one go), cookies,
or a query besides ``api-version``: those requests go through httpx.
"""

from __future__ import annotations

import asyncio
import ssl
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from dagbatch.errors import TIMEOUT, TransientError
from dagbatch.redact import redact

#: Why an exchange failed when no answer came in time (``TransientError.code`` TIMEOUT).
_TIMED_OUT = "timed out (ReadTimeout)"
#: Longest status line plus headers accepted, bytes; a longer head is a garbled answer.
MAX_HEAD = 64 * 1024
#: Longest chunk-size or trailer line accepted, bytes.
MAX_LINE = 4096
#: Longest wait for the connections to close at ``aclose``, seconds.
CLOSE_WAIT = 1.0

# Parser states.
_HEAD = 0
_LENGTH = 1
_CHUNK_SIZE = 2
_CHUNK_DATA = 3
_TRAILER = 4
_TO_EOF = 5
_IDLE = 6

_HEX = frozenset(b"0123456789abcdefABCDEF")


@dataclass(frozen=True, slots=True)
class Answer:
    """One answer: status, reason, headers (lower-cased names; repeated ones joined with
    ``, ``) and the decoded body."""

    status_code: int
    reason_phrase: str
    headers: Mapping[str, str]
    content: bytes


class _Connection(asyncio.Protocol):
    """One HTTP/1.1 connection: writes a request, parses its answer as bytes arrive.

    ``exchange`` returns a future resolved with None when a whole answer is in, or with the
    reason the exchange failed (the connection is then closed and must not be reused).
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self.transport: asyncio.Transport | None = None
        #: Done once the transport is closed for good (``aclose`` waits for it).
        self.lost: asyncio.Future[None] = loop.create_future()
        #: Set once the connection cannot carry another request.
        self.closed = False
        self._waiter: asyncio.Future[str | None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._buf = bytearray()
        self._state = _IDLE
        self._head_request = False
        self._remaining = 0
        self._body = bytearray()
        # The answer being read.
        self.status = 0
        self.reason = ""
        self.headers: dict[str, str] = {}
        #: True when the connection may carry the next request after this answer.
        self.keep_alive = False

    # -- asyncio.Protocol --------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        if self._state == _IDLE:
            # Bytes nobody asked for: the connection's framing can no longer be trusted.
            self.abort()
            return
        self._buf += data
        try:
            self._advance()
        except ValueError as exc:
            self._fail(f"connection failed (garbled answer: {exc})")

    def eof_received(self) -> bool | None:
        self.closed = True
        if self._state == _TO_EOF:
            self._body += self._buf
            self._buf.clear()
            self._finish()
        elif self._state != _IDLE:
            self._fail(self._cut_short())
        return False  # close the transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if not self.lost.done():
            self.lost.set_result(None)
        if self._state == _TO_EOF and exc is None:
            self._body += self._buf
            self._buf.clear()
            self._finish()
        elif self._state != _IDLE:
            if exc is not None:
                self._fail(f"connection failed ({type(exc).__name__}: {exc})")
            else:
                self._fail(self._cut_short())

    # -- one exchange --------------------------------------------------------------------

    def exchange(self, data: bytes, timeout: float, *, head: bool) -> asyncio.Future[str | None]:
        """Write one request (``data``: head and body); the future is the outcome."""
        assert self.transport is not None and self._state == _IDLE
        self._buf.clear()
        self._body = bytearray()
        self.headers = {}
        self._head_request = head
        self._state = _HEAD
        waiter: asyncio.Future[str | None] = self._loop.create_future()
        self._waiter = waiter
        self._timer = self._loop.call_later(timeout, self._timed_out)
        self.transport.write(data)
        return waiter

    def body(self) -> bytes:
        """The answer's body as received (before any content decoding)."""
        return bytes(self._body)

    def abort(self) -> None:
        """Close at once, discarding anything buffered (the connection is never reused)."""
        self.closed = True
        self._state = _IDLE
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self.transport is not None:
            self.transport.abort()

    def close(self) -> None:
        """Close politely (an idle connection, or at ``aclose``)."""
        self.closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self.transport is not None:
            self.transport.close()

    def _cut_short(self) -> str:
        if self._state == _HEAD and not self._buf:
            what = "server closed the connection without answering"
        else:
            what = "connection closed in the middle of the answer"
        return f"connection failed (RemoteProtocolError: {what})"

    def _timed_out(self) -> None:
        self._timer = None
        self._fail(_TIMED_OUT)

    def _fail(self, reason: str) -> None:
        waiter, self._waiter = self._waiter, None
        self.abort()
        if waiter is not None and not waiter.done():
            waiter.set_result(reason)

    def _finish(self) -> None:
        self._state = _IDLE
        if self._buf:
            self.keep_alive = False  # bytes after the answer: framing not to be trusted
        if not self.keep_alive:
            self.closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # -- parsing -------------------------------------------------------------------------

    def _advance(self) -> None:
        """Consume as much of the buffer as the current state allows."""
        buf = self._buf
        while True:
            state = self._state
            if state == _HEAD:
                end = buf.find(b"\r\n\r\n")
                if end < 0:
                    if len(buf) > MAX_HEAD:
                        raise ValueError("header section too long")
                    return
                head = bytes(buf[:end])
                del buf[: end + 4]
                self._start_body(head)
            elif state == _LENGTH:
                if len(buf) < self._remaining:
                    return
                self._body += buf[: self._remaining]
                del buf[: self._remaining]
                self._finish()
                return
            elif state == _CHUNK_SIZE:
                end = buf.find(b"\r\n")
                if end < 0:
                    if len(buf) > MAX_LINE:
                        raise ValueError("chunk size line too long")
                    return
                line = bytes(buf[:end]).split(b";", 1)[0].strip()
                del buf[: end + 2]
                if not line or not _HEX.issuperset(line):
                    raise ValueError(f"bad chunk size {line[:20]!r}")
                size = int(line, 16)
                if size == 0:
                    self._state = _TRAILER
                else:
                    self._remaining = size
                    self._state = _CHUNK_DATA
            elif state == _CHUNK_DATA:
                size = self._remaining
                if len(buf) < size + 2:
                    return
                if buf[size : size + 2] != b"\r\n":
                    raise ValueError("chunk not followed by CRLF")
                self._body += buf[:size]
                del buf[: size + 2]
                self._state = _CHUNK_SIZE
            elif state == _TRAILER:
                end = buf.find(b"\r\n")
                if end < 0:
                    if len(buf) > MAX_LINE:
                        raise ValueError("trailer line too long")
                    return
                del buf[: end + 2]
                if end == 0:
                    self._finish()
                    return
            elif state == _TO_EOF:
                self._body += buf
                buf.clear()
                return
            else:
                return

    def _start_body(self, head: bytes) -> None:
        """Parse the status line and headers; choose how the body is framed (RFC 9112 6.3)."""
        lines = head.split(b"\r\n")
        version, _, rest = lines[0].partition(b" ")
        code, _, reason = rest.partition(b" ")
        if version not in (b"HTTP/1.1", b"HTTP/1.0") or len(code) != 3 or not code.isdigit():
            raise ValueError(f"bad status line {redact(lines[0][:80].decode('latin-1'))!r}")
        status = int(code)
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, colon, value = line.partition(b":")
            if not colon or not name or name != name.strip() or line[:1] in (b" ", b"\t"):
                raise ValueError("bad header line")
            key = name.decode("latin-1").lower()
            text = value.strip(b" \t").decode("latin-1")
            headers[key] = f"{headers[key]}, {text}" if key in headers else text
        if 100 <= status < 200:
            if status == 101:
                raise ValueError("unexpected 101 Switching Protocols")
            return  # an interim answer: the final one follows (state stays _HEAD)
        self.status = status
        self.reason = reason.decode("latin-1")
        self.headers = headers
        tokens = {t.strip() for t in headers.get("connection", "").lower().split(",")}
        self.keep_alive = version == b"HTTP/1.1" and "close" not in tokens
        if self._head_request or status in (204, 304):
            self._finish()
            return
        coding = headers.get("transfer-encoding")
        if coding is not None:
            if coding.rsplit(",", 1)[-1].strip().lower() == "chunked":
                self._state = _CHUNK_SIZE
                if "content-length" in headers:
                    self.keep_alive = False  # both given: chunked wins, then close
            else:
                self._state = _TO_EOF
                self.keep_alive = False
            return
        length = headers.get("content-length")
        if length is None:
            self._state = _TO_EOF
            self.keep_alive = False
            return
        values = {v.strip() for v in length.split(",")}
        if len(values) != 1 or not next(iter(values)).isdigit():
            raise ValueError("bad Content-Length")
        self._remaining = int(next(iter(values)))
        self._state = _LENGTH
        if self._remaining == 0:
            self._finish()


def _decode(body: bytes, coding: str | None) -> bytes:
    """The body without its ``Content-Encoding`` (gzip, deflate or none)."""
    if not coding or not body:
        return body
    coding = coding.strip().lower()
    if coding == "identity":
        return body
    try:
        if coding in ("gzip", "x-gzip"):
            return zlib.decompress(body, 16 + zlib.MAX_WBITS)
        if coding == "deflate":
            try:
                return zlib.decompress(body)
            except zlib.error:
                return zlib.decompress(body, -zlib.MAX_WBITS)
    except zlib.error as exc:
        raise ValueError(f"bad {coding} body: {exc}") from exc
    raise ValueError(f"unsupported Content-Encoding {coding!r}")


class Http11Pool:
    """Keep-alive HTTP/1.1 connections to one endpoint, on a free list.

    ``request`` takes an idle connection (or opens one when all are busy), sends one request
    and gives the connection back once its whole answer is read and the connection may be
    reused. ``connections`` counts the connections opened, ``requests`` the requests sent
    (tests read them to see which path served and that connections were reused).
    """

    def __init__(
        self,
        endpoint: str,
        *,
        ssl_context: ssl.SSLContext | None,
        timeout: float,
        connect_timeout: float,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        parts = urlsplit(endpoint)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) endpoint: {redact(endpoint)!r}")
        self.endpoint = endpoint
        self.host = parts.hostname
        self.tls = parts.scheme == "https"
        default_port = 443 if self.tls else 80
        self.port = parts.port or default_port
        host = f"[{self.host}]" if ":" in self.host else self.host
        #: ``Host`` as httpx sends it: the port only when it is not the scheme's default.
        self.host_header = host if self.port == default_port else f"{host}:{self.port}"
        #: Path prefix of the endpoint (usually empty), prepended to every request path.
        self.base_path = parts.path.rstrip("/")
        self._ssl = ssl_context if self.tls else None
        if self.tls and self._ssl is None:
            raise ValueError("an https endpoint needs an SSL context")
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self._fixed = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        self._free: list[_Connection] = []
        self._opened: set[_Connection] = set()
        #: connections being opened right now (by requests or ``warm``)
        self._connecting = 0
        #: ``warm``'s connections still opening that no request has claimed yet
        self._warming: list[asyncio.Task[_Connection]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self.connections = 0
        self.requests = 0

    async def request(
        self,
        method: str,
        target: str,
        headers: Iterable[tuple[str, str]],
        body: bytes,
        *,
        what: str,
    ) -> Answer:
        """Send ``method target`` (``target``: path and query as on the wire, the endpoint's
        path prefix included) with ``headers`` and ``body``; the answer, or ``TransientError``
        whose message starts with ``what``."""
        # No Content-Length on a GET without a body, as httpx sends it (and signs it).
        length = f"Content-Length: {len(body)}\r\n" if body or method != "GET" else ""
        head = (
            f"{method} {target} HTTP/1.1\r\nHost: {self.host_header}\r\n{self._fixed}"
            + "".join(f"{k}: {v}\r\n" for k, v in headers)
            + length
            + "\r\n"
        )
        data = head.encode("latin-1") + body
        conn = self._take() or await self._claim_warming() or await self._connect(what)
        self.requests += 1
        try:
            failure = await conn.exchange(data, self.timeout, head=method == "HEAD")
        except BaseException:  # cancelled: the answer's state is unknown
            self._discard(conn)
            raise
        if failure is not None:
            self._discard(conn)
            raise TransientError(
                f"{what}: {failure}", code=TIMEOUT if failure == _TIMED_OUT else None
            )
        try:
            content = _decode(conn.body(), conn.headers.get("content-encoding"))
        except ValueError as exc:
            self._discard(conn)
            raise TransientError(f"{what}: connection failed (DecodingError: {exc})") from None
        answer = Answer(conn.status, conn.reason, conn.headers, content)
        if conn.closed:
            self._discard(conn, polite=True)
        else:
            self._free.append(conn)
        return answer

    async def warm(self, count: int) -> None:
        """Open connections, all at once, until ``count`` are open, and leave them idle for the
        requests to come. A submission calls it as its first requests leave: the rest of its
        connections open while those are in flight (on a small first wave, the service's
        round trip), not when the next wave needs them all at once (for Batch, a TLS
        handshake each). A connection that cannot be opened is left to the request that
        needs it, which reports why."""
        self._adopt_loop()
        missing = count - len(self._opened) - self._connecting
        if missing <= 0:
            return
        opening = [asyncio.ensure_future(self._connect("warm-up")) for _ in range(missing)]
        self._warming += opening
        try:
            await asyncio.wait(opening)
        finally:
            for task in opening:
                if task not in self._warming:
                    continue  # a request took it (_claim_warming)
                self._warming.remove(task)
                if not task.done():
                    task.cancel()
                elif not task.cancelled() and task.exception() is None:
                    self._free.append(task.result())

    async def _claim_warming(self) -> _Connection | None:
        """For a request that found no idle connection: one that ``warm`` is opening, rather
        than a connection more (the level's worth are on their way already); None when none
        is opening, or it could not be opened (the request then opens its own, and reports
        why it cannot)."""
        while self._warming:
            task = self._warming.pop(0)
            try:
                return await task
            except TransientError:
                continue
        return None

    def _discard(self, conn: _Connection, *, polite: bool = False) -> None:
        """Close a connection for good (it failed, or the server ends it after an answer)."""
        if polite:
            conn.close()
        else:
            conn.abort()
        self._opened.discard(conn)

    def _adopt_loop(self) -> None:
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            # A new event loop (e.g. a second asyncio.run): the old connections are unusable.
            self._free.clear()
            self._opened.clear()
            self._warming.clear()
            self._loop = loop

    def _take(self) -> _Connection | None:
        self._adopt_loop()
        while self._free:
            conn = self._free.pop()
            if not conn.closed and conn.transport is not None and not conn.transport.is_closing():
                return conn
            self._discard(conn, polite=True)
        return None

    async def _connect(self, what: str) -> _Connection:
        loop = asyncio.get_running_loop()
        self._connecting += 1
        try:
            async with asyncio.timeout(self.connect_timeout):
                _, conn = await loop.create_connection(
                    lambda: _Connection(loop),
                    self.host,
                    self.port,
                    ssl=self._ssl,
                    server_hostname=self.host if self._ssl is not None else None,
                )
        except TimeoutError as exc:
            raise TransientError(
                f"{what}: cannot connect to {self.endpoint} (ConnectTimeout: no connection"
                f" within {self.connect_timeout:g} s)",
                connect=True,
            ) from exc
        except (OSError, ValueError) as exc:  # refused, unreachable, DNS, TLS verification
            raise TransientError(
                f"{what}: cannot connect to {self.endpoint} (ConnectError: {exc})",
                connect=True,
            ) from exc
        finally:
            self._connecting -= 1
        self.connections += 1
        self._opened.add(conn)
        return conn

    async def aclose(self) -> None:
        """Close every connection (a later request opens new ones): politely, waiting at
        most ``CLOSE_WAIT`` seconds for the closes (a TLS close takes a round trip), then
        at once."""
        opened, self._opened, self._free = self._opened, set(), []
        if self._loop is not asyncio.get_running_loop():
            return  # opened in another event loop: nothing here can close them
        for conn in opened:
            conn.close()
        pending = [conn.lost for conn in opened if not conn.lost.done()]
        if pending:
            await asyncio.wait(pending, timeout=CLOSE_WAIT)
        for conn in opened:
            if not conn.lost.done():
                conn.abort()
