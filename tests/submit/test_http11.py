"""The lean HTTP/1.1 path of POST addtaskcollection (``dagbatch.submit.http11``), over
127.0.0.1: against the emulator (same results as httpx, keep-alive reuse, dropped
connections, 503, timeouts, 413), against a small scripted asyncio server (chunked answers,
``Connection: close``, idle connections the server closes, garbled answers, TLS) and behind a
proxy (httpx serves then)."""

from __future__ import annotations

import asyncio
import re
import ssl
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import trustme

from dagbatch import signing
from dagbatch.emulator import DEV_ACCOUNT, DEV_KEY, FaultConfig
from dagbatch.errors import EndpointUnreachable, RequestBodyTooLarge, TransientError
from dagbatch.limits import DEFAULT_API_VERSION
from dagbatch.submit.auth import EntraAuth, SharedKeyAuth
from dagbatch.submit.client import BatchClient, TaskAddResult, proxy_applies
from dagbatch.submit.retry import RetryPolicy
from dagbatch.submit.submission import submit_plan
from tests.conftest import EmulatorFactory
from tests.plan_factory import layered_plan, plan_tasks, write_plan
from tests.submit_helpers import create_job

PROXY_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")
#: Bound on every exchange of these tests, seconds.
BOUND = 20.0


@pytest.fixture(autouse=True)
def _no_proxy_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever the machine's proxy settings, these tests choose their own."""
    for name in PROXY_VARS:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    monkeypatch.delenv("DAGBATCH_LEAN_HTTP", raising=False)


async def _no_sleep(seconds: float) -> None:
    await asyncio.sleep(0)


def client_for(endpoint: str, **options: Any) -> BatchClient:
    retry = RetryPolicy(max_retries=20, base_delay=0.0, sleep=_no_sleep)
    return BatchClient(endpoint, SharedKeyAuth(DEV_ACCOUNT, DEV_KEY), retry=retry, **options)


def collection(ids: list[str], command: str = "echo hi") -> bytes:
    return orjson.dumps({"value": [{"id": i, "commandLine": command} for i in ids]})


def run(coro: Awaitable[Any]) -> Any:
    async def bounded() -> Any:
        return await asyncio.wait_for(coro, 60)

    return asyncio.run(bounded())


# --------------------------------------------------------------------------------------
# Against the emulator


def test_submission_lands_the_same_through_both_paths(
    emulator_factory: EmulatorFactory, tmp_path: Path
) -> None:
    server = emulator_factory()
    plan = layered_plan(tmp_path / "plan", tasks=1500, waves=3, parents=2, pool_id="p", seed=3)
    lean = client_for(server.endpoint)
    plain = client_for(server.endpoint, lean_http=False)

    lean_report = submit_plan(plan, job_id="lean", client=lean, create_job=True, concurrency=8)
    plain_report = submit_plan(plan, job_id="plain", client=plain, create_job=True, concurrency=8)

    assert lean_report.ok and plain_report.ok
    assert lean_report.confirmed == plain_report.confirmed == 1500
    pool = lean.lean_pool
    # Every request went through the lean pool (httpx's client was never made): the
    # addtaskcollections, the job's creation and its GET, the task count at the end.
    assert pool is not None and pool.requests == lean_report.requests + 3
    assert lean_report.requests >= 15 and lean._http is None
    assert plain.lean_pool is None
    expected = [task for _, task in plan_tasks(plan)]
    for job in ("lean", "plain"):
        stored = {t["id"]: t for t in server.store.tasks(job)}
        assert len(server.store.task_ids(job)) == 1500
        assert all(stored[t["id"]] == t for t in expected)


def test_per_task_results_equal_the_httpx_paths(emulator_factory: EmulatorFactory) -> None:
    server = emulator_factory()
    create_job(server, "a")
    create_job(server, "b")
    body = collection([f"t{i}" for i in range(50)])
    bad = orjson.dumps({"value": [{"id": "ok1", "commandLine": "x"}, {"id": "bad id!"}]})

    async def go(client: BatchClient, job: str) -> list[list[TaskAddResult]]:
        async with client:
            first = await client.add_task_collection(job, body)
            again = await client.add_task_collection(job, body)  # every task exists now
            mixed = await client.add_task_collection(job, bad)
            return [sorted(r) for r in (first, again, mixed)]  # answers come in any order

    lean_client = client_for(server.endpoint)
    lean = run(go(lean_client, "a"))
    plain = run(go(client_for(server.endpoint, lean_http=False), "b"))

    assert lean == plain
    assert {r.status for r in lean[0]} == {"success"}
    assert {r.code for r in lean[1]} == {"TaskExists"}
    assert [(r.task_id, r.status) for r in lean[2]] == [
        ("bad id!", "clienterror"),
        ("ok1", "success"),
    ]
    assert lean_client.lean_pool is not None and lean_client.lean_pool.requests == 3


def test_a_bodyless_post_goes_through_the_lean_pool_as_through_httpx(
    emulator_factory: EmulatorFactory,
) -> None:
    """Terminate and reactivate (a POST without a body, one a task for finish and rerun)
    and a GET take the lean pool, signed as the emulator checks, with the same outcome and
    errors as httpx's path; a call with a query still goes through httpx."""
    server = emulator_factory()  # no runner: tasks stay active until terminated

    async def go(client: BatchClient, job: str) -> list[Any]:
        async with client:
            await client.add_task_collection(job, collection(["t1", "t2"]))
            done = await client.call("POST", f"/jobs/{job}/tasks/t1/terminate")
            missing = await client.call(
                "POST", f"/jobs/{job}/tasks/nosuch/terminate", ok_codes=frozenset({"TaskNotFound"})
            )
            task = await client.call("GET", f"/jobs/{job}/tasks/t1")
            assert isinstance(task.body, dict)
            listed = await client.call("GET", f"/jobs/{job}/tasks", params={"$select": "id"})
            assert isinstance(listed.body, dict)
            return [done.status, missing.status, task.body["state"], len(listed.body["value"])]

    create_job(server, "a")
    lean_client = client_for(server.endpoint)
    assert run(go(lean_client, "a")) == [204, 404, "completed", 2]
    # addtaskcollection, the two terminates and the GET; the listing went through httpx
    assert lean_client.lean_pool is not None and lean_client.lean_pool.requests == 4
    create_job(server, "b")
    plain = client_for(server.endpoint, lean_http=False)
    assert run(go(plain, "b")) == [204, 404, "completed", 2]


def test_keep_alive_connections_are_reused(emulator_factory: EmulatorFactory) -> None:
    server = emulator_factory()
    create_job(server, "job")
    concurrency = 6

    async def go() -> BatchClient:
        client = client_for(server.endpoint)
        slots = asyncio.Semaphore(concurrency)

        async def one(n: int) -> None:
            async with slots:
                results = await client.add_task_collection("job", collection([f"t{n}"]))
                assert results == [TaskAddResult(f"t{n}", "success")]

        async with client:
            await asyncio.gather(*(one(n) for n in range(120)))
        return client

    client = run(go())
    pool = client.lean_pool
    assert pool is not None and pool.requests == 120
    assert 1 <= pool.connections <= concurrency
    assert len(server.store.task_ids("job")) == 120


def test_warm_up_opens_the_connections_the_requests_then_take(
    emulator_factory: EmulatorFactory,
) -> None:
    """``warm_up(n)`` opens n connections ahead; n requests at once then open none, and a
    second warm-up opens none either. A warm-up that cannot connect leaves the error to the
    request that needs the connection."""
    server = emulator_factory()
    create_job(server, "job")

    async def go() -> tuple[int, int, int]:
        async with client_for(server.endpoint) as client:
            await client.warm_up(5)
            pool = client.lean_pool
            assert pool is not None
            warmed = pool.connections
            await asyncio.gather(
                *(client.add_task_collection("job", collection([f"t{n}"])) for n in range(5))
            )
            await client.warm_up(5)
            return warmed, pool.connections, pool.requests

    assert run(go()) == (5, 5, 5)
    assert len(server.store.task_ids("job")) == 5

    async def unreachable() -> None:
        async with client_for("http://127.0.0.1:9") as client:
            await client.warm_up(3)  # no error here
            with pytest.raises(EndpointUnreachable):
                await client.add_task_collection("job", collection(["t"]))

    run(unreachable())


def test_requests_take_the_warm_up_connections_still_opening(
    emulator_factory: EmulatorFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Requests that find no idle connection while the warm-up is still opening its own (a
    slow TLS handshake, here a slow connect) wait for those rather than open more: never
    more connections than the level."""
    from dagbatch.submit import http11

    server = emulator_factory()
    create_job(server, "job")
    real_connect = http11.Http11Pool._connect

    async def slow_warm_up(self: http11.Http11Pool, what: str) -> Any:
        if what == "warm-up":
            await asyncio.sleep(0.2)
        return await real_connect(self, what)

    monkeypatch.setattr(http11.Http11Pool, "_connect", slow_warm_up)

    async def go() -> tuple[int, int]:
        async with client_for(server.endpoint) as client:
            warming = asyncio.ensure_future(client.warm_up(4))
            await asyncio.sleep(0)  # the warm-up has started its connects
            await asyncio.gather(
                *(client.add_task_collection("job", collection([f"t{n}"])) for n in range(4))
            )
            await warming
            pool = client.lean_pool
            assert pool is not None
            return pool.connections, pool.requests

    assert run(go()) == (4, 4)
    assert len(server.store.task_ids("job")) == 4


def test_a_submission_opens_its_connections_while_the_first_wave_flies(
    emulator_factory: EmulatorFactory, tmp_path: Path
) -> None:
    """One task, then 40 children in 8 requests at a fixed 8 in flight: the 8 connections
    the children need are open before the first task's answer (a slow one here), and no
    more than 8 are ever opened."""
    server = emulator_factory(latency_ms=300)  # on addtaskcollection
    root: dict[str, Any] = {"id": "root", "commandLine": "echo root"}
    children = [
        {"id": f"c{n}", "commandLine": "echo child", "dependsOn": {"taskIds": ["root"]}}
        for n in range(40)
    ]
    batches = [(1, [root])] + [(2, children[n : n + 5]) for n in range(0, 40, 5)]
    plan = write_plan(tmp_path / "plan", batches, pool_id="p")
    client = client_for(server.endpoint)
    opened_before_answer: list[int] = []
    real = client.add_task_collection

    async def add(job_id: str, body: bytes, **kw: Any) -> list[TaskAddResult]:
        results = await real(job_id, body, **kw)
        if not opened_before_answer and client.lean_pool is not None:
            opened_before_answer.append(client.lean_pool.connections)
        return results

    client.add_task_collection = add  # type: ignore[method-assign]
    report = submit_plan(plan, job_id="job", client=client, create_job=True, concurrency=8)
    assert report.ok
    assert opened_before_answer == [8]
    assert client.lean_pool is not None and client.lean_pool.connections == 8


def test_dropped_connections_are_retried_and_every_task_lands_once(
    emulator_factory: EmulatorFactory, tmp_path: Path
) -> None:
    server = emulator_factory(drop=0.25, seed=4)
    plan = layered_plan(tmp_path / "plan", tasks=2000, waves=4, parents=2, pool_id="p", seed=9)
    client = client_for(server.endpoint)

    report = submit_plan(plan, job_id="job", client=client, create_job=True, concurrency=8)

    assert report.ok, report.failures[:3]
    assert server.store.stats()["faults"]["drop"] > 0
    pool = client.lean_pool
    # Each addtaskcollection attempt, and the GETs that checked the TaskExists answers.
    assert pool is not None and pool.requests >= report.requests + report.verified_existing
    assert client._http is None  # nothing went through httpx
    order = server.store.task_ids("job")
    assert len(order) == len(set(order)) == 2000
    expected = {t["id"]: t for _, t in plan_tasks(plan)}
    assert all(expected[t["id"]] == t for t in server.store.tasks("job"))


def test_503_with_retry_after_is_transient(emulator_factory: EmulatorFactory) -> None:
    server = emulator_factory(busy=1.0, retry_after=7)
    create_job(server, "job")

    async def go(client: BatchClient) -> TransientError:
        async with client:
            with pytest.raises(TransientError) as caught:
                await client.add_task_collection("job", collection(["t1"]))
            return caught.value

    lean = run(go(client_for(server.endpoint)))
    plain = run(go(client_for(server.endpoint, lean_http=False)))
    assert (lean.status, lean.code, lean.retry_after) == (503, "ServerBusy", 7.0)
    assert (plain.status, plain.code, plain.retry_after) == (503, "ServerBusy", 7.0)
    assert str(lean) == str(plain)


def test_a_slow_answer_times_out_and_its_connection_is_not_reused(
    emulator_factory: EmulatorFactory,
) -> None:
    server = emulator_factory(latency_ms=3000)
    create_job(server, "job")

    async def go() -> tuple[TransientError, list[TaskAddResult], int]:
        async with client_for(server.endpoint, timeout=0.3) as client:
            with pytest.raises(TransientError) as caught:
                await client.add_task_collection("job", collection(["t1"]))
            server.set_faults(FaultConfig())
            results = await client.add_task_collection("job", collection(["t2"]))
            assert client.lean_pool is not None
            return caught.value, results, client.lean_pool.connections

    error, results, connections = run(go())
    assert "timed out" in str(error) and error.status is None and not error.connect
    assert error.code == "Timeout"  # not a connection error: the answer did not come in time
    assert results == [TaskAddResult("t2", "success")]
    assert connections == 2


def test_413_is_request_body_too_large(emulator_factory: EmulatorFactory) -> None:
    server = emulator_factory()
    create_job(server, "job")
    body = collection([f"t{i}" for i in range(100)], command="x" * 11_000)
    assert len(body) > 1024 * 1024

    async def go() -> None:
        async with client_for(server.endpoint) as client:
            with pytest.raises(RequestBodyTooLarge):
                await client.add_task_collection("job", body)
            # The connection still carries the next request.
            assert await client.add_task_collection("job", collection(["t1"])) == [
                TaskAddResult("t1", "success")
            ]

    run(go())
    assert server.store.task_ids("job") == ["t1"]


# --------------------------------------------------------------------------------------
# Against a scripted server

#: A script answers request n (0-based) with (bytes to write, close afterwards?).
Script = Callable[[int, bytes, bytes], tuple[bytes, bool]]


class ScriptedServer:
    """HTTP/1.1 on 127.0.0.1 in the test's event loop; each request is answered by the
    script. Records every request (head, body) and counts connections."""

    def __init__(
        self, script: Script, *, tls: ssl.SSLContext | None = None, trickle: bool = False
    ) -> None:
        self.script = script
        self.tls = tls
        self.trickle = trickle  # write answers a few bytes at a time
        self.requests: list[tuple[bytes, bytes]] = []
        self.connections = 0
        self.closed_by_client = 0  # connections the client closed (EOF between requests)
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> ScriptedServer:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0, ssl=self.tls)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    @property
    def endpoint(self) -> str:
        assert self._server is not None
        port = self._server.sockets[0].getsockname()[1]
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{port}"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                    found = re.search(rb"(?im)^content-length:\s*(\d+)", head)
                    body = await reader.readexactly(int(found.group(1)) if found else 0)
                except asyncio.IncompleteReadError as exc:
                    self.closed_by_client += not exc.partial
                    return
                except (ConnectionError, ssl.SSLError):
                    return
                self.requests.append((head, body))
                data, close = self.script(len(self.requests) - 1, head, body)
                step = 7 if self.trickle else len(data) or 1
                for start in range(0, len(data), step):
                    writer.write(data[start : start + step])
                    await writer.drain()
                    if self.trickle:
                        await asyncio.sleep(0.001)
                if close:
                    return
        finally:
            writer.close()


def ok_payload(body: bytes) -> bytes:
    if not body:  # a GET
        return b'{"id": "job"}'
    ids = [t["id"] for t in orjson.loads(body)["value"]]
    return orjson.dumps({"value": [{"status": "Success", "taskId": i} for i in ids]})


def fixed(payload: bytes, *, version: str = "1.1", extra: str = "") -> bytes:
    return (
        f"HTTP/{version} 200 OK\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(payload)}\r\n{extra}\r\n"
    ).encode() + payload


def served(pool_requests: int, client: BatchClient) -> None:
    assert client.lean_pool is not None and client.lean_pool.requests == pool_requests


def test_chunked_answer_with_extensions_and_trailer() -> None:
    def chunked(n: int, head: bytes, body: bytes) -> tuple[bytes, bool]:
        payload = ok_payload(body)
        parts = [payload[:5], payload[5:17], payload[17:]]
        data = b"".join(b"%x;ext=1\r\n%s\r\n" % (len(p), p) for p in parts)
        head_out = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        return head_out + data + b"0\r\nX-Trailer: yes\r\n\r\n", False

    async def go() -> None:
        async with ScriptedServer(chunked) as server, client_for(server.endpoint) as client:
            for n in range(3):
                results = await client.add_task_collection("job", collection([f"a{n}", "b"]))
                assert results == [TaskAddResult(f"a{n}", "success"), TaskAddResult("b", "success")]
            assert server.connections == 1  # kept alive across chunked answers
            served(3, client)
            head, _ = server.requests[0]
            # The request as written: the signed headers, Host and Content-Length.
            assert head.startswith(b"POST /jobs/job/addtaskcollection?api-version=")
            assert re.search(rb"(?m)^Host: 127\.0\.0\.1:\d+\r$", head)

    run(go())


def test_the_lean_request_is_signed_as_the_service_checks_it() -> None:
    checked: list[bool] = []

    def verify(n: int, head: bytes, body: bytes) -> tuple[bytes, bool]:
        lines = head.decode("latin-1").split("\r\n")
        method, target, _ = lines[0].split(" ")
        headers = dict(line.split(": ", 1) for line in lines[1:] if line)
        path, _, query = target.partition("?")
        params = [tuple(p.split("=", 1)) for p in query.split("&")]
        checked.append(
            signing.verify(
                headers.get("Authorization"),
                {DEV_ACCOUNT: DEV_KEY},
                method,
                path,
                params,  # type: ignore[arg-type]
                headers,
            )
        )
        if method == "GET":  # as httpx sends a GET: no Content-Length, none signed
            assert "Content-Length" not in headers and not body
        else:
            assert headers["Content-Length"] == str(len(body))
        if body and b'"value"' not in body:  # the job's creation
            return b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n", False
        return fixed(ok_payload(body)), False

    async def go() -> None:
        async with ScriptedServer(verify) as server:
            # An endpoint with a path prefix: signed and sent with it.
            async with client_for(server.endpoint + "/base") as client:
                await client.add_task_collection("job one", collection(["t"]))
                created = await client.create_job({"id": "job one", "poolInfo": {"poolId": "p"}})
                job = await client.get_job("job one")
            assert created.status == 201 and job.body == {"id": "job"}
            heads = [head for head, _ in server.requests]
            assert heads[0].startswith(b"POST /base/jobs/job%20one/addtaskcollection?api-version=")
            assert heads[1].startswith(b"POST /base/jobs?api-version=")
            assert heads[2].startswith(b"GET /base/jobs/job%20one?api-version=")
            assert server.connections == 1  # all three on one keep-alive connection

    run(go())
    assert checked == [True, True, True]


@pytest.mark.parametrize(
    "framing", ["interim-100", "gzip", "deflate", "trickled-chunked", "trickled-length"]
)
def test_unusual_but_valid_answers_are_read(framing: str) -> None:
    import gzip
    import zlib

    def answer(n: int, head: bytes, body: bytes) -> tuple[bytes, bool]:
        payload = ok_payload(body)
        if framing == "interim-100":
            return b"HTTP/1.1 100 Continue\r\n\r\n" + fixed(payload), False
        if framing == "gzip":
            return fixed(gzip.compress(payload), extra="Content-Encoding: gzip\r\n"), False
        if framing == "deflate":
            return fixed(zlib.compress(payload), extra="Content-Encoding: deflate\r\n"), False
        if framing == "trickled-chunked":
            chunks = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in (payload[:9], payload[9:]))
            return (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunks + b"0\r\n\r\n",
                False,
            )
        return fixed(payload), False

    async def go() -> None:
        trickle = framing.startswith("trickled")
        async with (
            ScriptedServer(answer, trickle=trickle) as server,
            client_for(server.endpoint) as client,
        ):
            for n in range(2):
                results = await asyncio.wait_for(
                    client.add_task_collection("job", collection([f"t{n}", "u"])), BOUND
                )
                assert results == [TaskAddResult(f"t{n}", "success"), TaskAddResult("u", "success")]
            assert server.connections == 1

    run(go())


def test_entra_tokens_go_out_on_the_lean_path() -> None:
    class Token:
        token = "tok-123"
        expires_on = 4_000_000_000

    class Credential:
        def get_token(self, scope: str) -> Token:
            return Token()

    def check(n: int, head: bytes, body: bytes) -> tuple[bytes, bool]:
        assert b"\r\nAuthorization: Bearer tok-123\r\n" in head
        assert b"\r\nocp-date: " in head
        return fixed(ok_payload(body)), False

    async def go() -> None:
        async with ScriptedServer(check) as server:
            client = BatchClient(server.endpoint, EntraAuth(Credential()))
            async with client:
                assert await client.add_task_collection("job", collection(["t"])) == [
                    TaskAddResult("t", "success")
                ]
            served(1, client)
            assert len(server.requests) == 1

    run(go())


def test_aclose_closes_the_lean_connections() -> None:
    async def go() -> None:
        script: Script = lambda n, head, body: (fixed(ok_payload(body)), False)  # noqa: E731
        async with ScriptedServer(script) as server:
            client = client_for(server.endpoint)
            await asyncio.gather(
                *(client.add_task_collection("job", collection([f"t{n}"])) for n in range(3))
            )
            pool = client.lean_pool
            assert pool is not None and pool.connections == server.connections == 3
            await client.aclose()
            for _ in range(200):  # bounded: the server sees the three closes
                if server.closed_by_client == 3:
                    break
                await asyncio.sleep(0.01)
            assert server.closed_by_client == 3
            # A later request opens a new connection.
            await client.add_task_collection("job", collection(["again"]))
            assert server.connections == 4
            await client.aclose()

    run(go())


def test_connection_close_and_http10_answers_open_a_new_connection() -> None:
    def closing(n: int, head: bytes, body: bytes) -> tuple[bytes, bool]:
        if n == 0:
            return fixed(ok_payload(body), extra="Connection: close\r\n"), True
        if n == 1:  # HTTP/1.0, no length: the body runs to the end of the connection
            return b"HTTP/1.0 200 OK\r\n\r\n" + ok_payload(body), True
        return fixed(ok_payload(body)), False

    async def go() -> None:
        async with ScriptedServer(closing) as server, client_for(server.endpoint) as client:
            for n in range(4):
                results = await client.add_task_collection("job", collection([f"t{n}"]))
                assert results == [TaskAddResult(f"t{n}", "success")]
            assert server.connections == 3  # one per closing answer, then one kept alive
            assert client.lean_pool is not None and client.lean_pool.connections == 3

    run(go())


def test_an_idle_connection_the_server_closed_is_not_reused() -> None:
    def close_after_answer(n: int, head: bytes, body: bytes) -> tuple[bytes, bool]:
        return fixed(ok_payload(body)), True  # keep-alive promised, then closed when idle

    async def go() -> None:
        async with (
            ScriptedServer(close_after_answer) as server,
            client_for(server.endpoint) as client,
        ):
            for n in range(3):
                await asyncio.wait_for(
                    client.add_task_collection("job", collection([f"t{n}"])), BOUND
                )
                await asyncio.sleep(0.05)  # the close reaches the client while idle
            assert server.connections == 3

    run(go())


def test_a_connection_closed_as_the_request_arrives_is_transient_and_the_retry_lands() -> None:
    def race(n: int, head: bytes, body: bytes) -> tuple[bytes, bool]:
        if n == 1:
            return b"", True  # closed without answering, as an idle timeout racing the request
        return fixed(ok_payload(body)), False

    async def go() -> None:
        async with ScriptedServer(race) as server, client_for(server.endpoint) as client:
            await client.add_task_collection("job", collection(["t0"]))
            with pytest.raises(TransientError) as caught:
                await asyncio.wait_for(client.add_task_collection("job", collection(["t1"])), BOUND)
            assert not caught.value.connect and caught.value.status is None
            assert "without answering" in str(caught.value)
            retried = await asyncio.wait_for(
                client.add_task_collection("job", collection(["t1"])), BOUND
            )
            assert retried == [TaskAddResult("t1", "success")]
            assert server.connections == 2

    run(go())


@pytest.mark.parametrize(
    "answer",
    [
        b"HTTX/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}",
        b"HTTP/1.1 2x0 OK\r\nContent-Length: 2\r\n\r\n{}",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}",
        b"HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\n{}",  # cut short by the close
        b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 2\r\n\r\n{}",
    ],
    ids=["version", "status", "chunk-size", "two-lengths", "short-body", "bad-gzip"],
)
def test_a_garbled_answer_is_transient_and_the_connection_is_dropped(answer: bytes) -> None:
    def garbled(n: int, head: bytes, body: bytes) -> tuple[bytes, bool]:
        if n == 0:
            return answer, True
        return fixed(ok_payload(body)), False

    async def go() -> None:
        async with ScriptedServer(garbled) as server, client_for(server.endpoint) as client:
            with pytest.raises(TransientError) as caught:
                await asyncio.wait_for(client.add_task_collection("job", collection(["t"])), BOUND)
            assert caught.value.status is None and not caught.value.connect
            assert "connection failed" in str(caught.value)
            results = await client.add_task_collection("job", collection(["t"]))
            assert results == [TaskAddResult("t", "success")]
            assert server.connections == 2

    run(go())


def test_an_unreachable_endpoint_fails_fast_on_the_lean_path() -> None:
    async def go() -> None:
        async with ScriptedServer(lambda n, h, b: (b"", True)) as server:
            endpoint = server.endpoint
        client = client_for(endpoint)  # the port is closed now: nothing listens
        async with client:
            with pytest.raises(EndpointUnreachable, match="cannot connect"):
                await asyncio.wait_for(client.add_task_collection("job", collection(["t"])), BOUND)

    run(go())


# --------------------------------------------------------------------------------------
# TLS


@pytest.fixture(scope="module")
def tls_server_context(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[ssl.SSLContext, Path]]:
    """A server context with a certificate for 127.0.0.1 from a test CA, and the CA file."""
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)
    ca_file = tmp_path_factory.mktemp("tls") / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    yield context, ca_file


def test_tls_with_the_test_ca_verifies_and_answers(
    tls_server_context: tuple[ssl.SSLContext, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    context, ca_file = tls_server_context
    monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))

    async def go() -> None:
        script: Script = lambda n, head, body: (fixed(ok_payload(body)), False)  # noqa: E731
        async with ScriptedServer(script, tls=context) as server:
            assert server.endpoint.startswith("https://")
            async with client_for(server.endpoint) as client:
                for n in range(3):
                    results = await asyncio.wait_for(
                        client.add_task_collection("job", collection([f"t{n}"])), BOUND
                    )
                    assert results == [TaskAddResult(f"t{n}", "success")]
                served(3, client)
                assert client.lean_pool is not None and client.lean_pool.connections == 1
                # The other requests (httpx) verify with the same context.
                answer = await client.call("GET", "/jobs/job")
                assert answer.status == 200

    run(go())


def test_tls_without_the_test_ca_fails_cleanly(
    tls_server_context: tuple[ssl.SSLContext, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    context, _ = tls_server_context
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)

    async def go() -> None:
        script: Script = lambda n, head, body: (fixed(ok_payload(body)), False)  # noqa: E731
        async with ScriptedServer(script, tls=context) as server:
            async with client_for(server.endpoint) as client:
                with pytest.raises(EndpointUnreachable) as caught:
                    await asyncio.wait_for(
                        client.add_task_collection("job", collection(["t"])), BOUND
                    )
                assert "CERTIFICATE_VERIFY_FAILED" in str(caught.value)
            assert server.requests == []

    run(go())


# --------------------------------------------------------------------------------------
# Proxies


def test_behind_a_proxy_httpx_serves_through_it(monkeypatch: pytest.MonkeyPatch) -> None:
    def proxy(n: int, head: bytes, body: bytes) -> tuple[bytes, bool]:
        return fixed(ok_payload(body)), False

    async def go() -> None:
        async with ScriptedServer(proxy) as server:
            monkeypatch.setenv("HTTP_PROXY", server.endpoint)
            # The target is never resolved nor connected to: only the proxy is spoken to.
            target = "http://account.region.batch.invalid"
            query = f"api-version={DEFAULT_API_VERSION}"
            client = client_for(target)
            async with client:
                results = await client.add_task_collection("job", collection(["t"]))
                assert results == [TaskAddResult("t", "success")]
                assert (await client.call("GET", "/jobs/job")).status == 200
            assert client.lean_pool is None  # httpx served
            assert [head.split(b" ", 2)[:2] for head, _ in server.requests] == [
                [b"POST", f"{target}/jobs/job/addtaskcollection?{query}".encode()],
                [b"GET", f"{target}/jobs/job?{query}".encode()],
            ]

    run(go())


@pytest.mark.parametrize("no_proxy", ["127.0.0.1", ""])
def test_no_proxy_or_a_loopback_endpoint_keeps_the_lean_path(
    monkeypatch: pytest.MonkeyPatch, no_proxy: str
) -> None:
    """NO_PROXY naming the endpoint, or none at all: a loopback endpoint is never proxied."""
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # would fail if used
    monkeypatch.setenv("NO_PROXY", no_proxy)

    async def go() -> None:
        script: Script = lambda n, head, body: (fixed(ok_payload(body)), False)  # noqa: E731
        async with ScriptedServer(script) as server:
            async with client_for(server.endpoint) as client:
                await client.add_task_collection("job", collection(["t"]))
                served(1, client)
                assert (await client.call("GET", "/jobs/job")).status == 200
            assert len(server.requests) == 2

    run(go())


def test_which_endpoints_a_proxy_applies_to(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("NO_PROXY", ".internal.example")
    assert proxy_applies("https://acct.westeurope.batch.azure.com")
    assert not proxy_applies("https://batch.internal.example")  # NO_PROXY
    assert not proxy_applies("http://acct.westeurope.batch.azure.com")  # no HTTP_PROXY
    for loopback in ("https://localhost:8443", "https://127.0.0.5", "https://[::1]:1"):
        assert not proxy_applies(loopback)
    monkeypatch.setenv("ALL_PROXY", "http://127.0.0.1:9")
    assert proxy_applies("http://acct.westeurope.batch.azure.com")


def test_a_transport_or_the_switch_keeps_httpx(monkeypatch: pytest.MonkeyPatch) -> None:
    import httpx

    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        return httpx.Response(200, json={"value": [{"status": "success", "taskId": "t"}]})

    async def go() -> None:
        mocked = client_for("http://127.0.0.1:9", transport=httpx.MockTransport(handler))
        async with mocked:
            assert await mocked.add_task_collection("job", collection(["t"])) == [
                TaskAddResult("t", "success")
            ]
        assert mocked.lean_pool is None and seen == ["/jobs/job/addtaskcollection"]
        monkeypatch.setenv("DAGBATCH_LEAN_HTTP", "0")
        script: Script = lambda n, head, body: (fixed(ok_payload(body)), False)  # noqa: E731
        async with ScriptedServer(script) as server, client_for(server.endpoint) as client:
            await client.add_task_collection("job", collection(["t"]))
            assert client.lean_pool is None and len(server.requests) == 1

    run(go())


def test_a_tls_handshake_never_answered_is_a_connect_timeout() -> None:
    """The connect timeout covers the TLS handshake: a server that accepts the connection
    and never answers is reported as unreachable after it, not after the request timeout."""

    async def go() -> None:
        script: Script = lambda n, head, body: (b"", True)  # noqa: E731
        async with ScriptedServer(script) as server:  # plain TCP: the ClientHello goes unanswered
            endpoint = server.endpoint.replace("http://", "https://")
            client = client_for(endpoint, timeout=0.5)
            async with client:
                started = asyncio.get_running_loop().time()
                with pytest.raises(EndpointUnreachable, match="ConnectTimeout"):
                    await asyncio.wait_for(
                        client.add_task_collection("job", collection(["t"])), BOUND
                    )
                assert asyncio.get_running_loop().time() - started < BOUND / 2
            assert server.requests == []

    run(go())
