"""The emulator stands up to clients that misbehave: huge or slow bodies, too many
connections, strange signatures, unknown api-versions, exposure beyond loopback."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
import tracemalloc
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from dagbatch import signing
from dagbatch.emulator import DEV_ACCOUNT, DEV_KEY, app
from dagbatch.emulator.server import EmulatorServer, OneSendTransport, exposure_warning

V2025 = "2025-06-01"


def signed_headers(
    method: str, path: str, query: list[tuple[str, str]], **extra: str
) -> dict[str, str]:
    headers = {"ocp-date": signing.rfc1123_now(), **extra}
    headers["authorization"] = signing.authorization_header(
        DEV_ACCOUNT, DEV_KEY, method, path, query, headers
    )
    return headers


def create_job(server: EmulatorServer, job_id: str) -> None:
    body = json.dumps({"id": job_id, "poolInfo": {"poolId": "p"}}).encode()
    query = [("api-version", V2025)]
    headers = signed_headers(
        "POST",
        "/jobs",
        query,
        **{"content-type": "application/json", "content-length": str(len(body))},
    )
    response = httpx.post(
        f"{server.endpoint}/jobs?api-version={V2025}", content=body, headers=headers
    )
    assert response.status_code == 201, response.text


def test_an_oversized_body_is_refused_without_being_kept(emulator: EmulatorServer) -> None:
    create_job(emulator, "big")
    size = 24 * 1024 * 1024  # 24 MB against the 1 MB limit

    def chunks() -> Iterator[bytes]:
        block = b"x" * (256 * 1024)
        for _ in range(size // len(block)):
            yield block

    path = "/jobs/big/addtaskcollection"
    query = [("api-version", V2025)]
    headers = signed_headers(
        "POST", path, query, **{"content-type": "application/json", "content-length": str(size)}
    )
    tracemalloc.start()
    try:
        response = httpx.post(
            f"{emulator.endpoint}{path}?api-version={V2025}",
            content=chunks(),
            headers=headers,
            timeout=60,
        )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert response.status_code == 413
    assert response.json()["code"] == "RequestBodyTooLarge"
    # Neither the body nor a copy of it was held (the client's own blocks are 256 KB).
    assert peak < 8 * 1024 * 1024, peak


def test_a_body_past_the_drain_limit_closes_the_connection(
    emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(app, "DRAIN_LIMIT", 2 * 1024 * 1024)
    path = "/jobs/x/addtaskcollection"
    size = 200 * 1024 * 1024
    headers = signed_headers(
        "POST", path, [("api-version", V2025)], **{"content-length": str(size)}
    )
    sent = 0
    with socket.create_connection(("127.0.0.1", emulator.port), timeout=10) as sock:
        head = f"POST {path}?api-version={V2025} HTTP/1.1\r\nhost: 127.0.0.1\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
        sock.sendall(head.encode())
        block = b"x" * 65536
        try:
            while sent < size:
                sock.sendall(block)
                sent += len(block)
        except OSError:
            pass  # the server stopped reading and closed: what it should do
        answer = b""
        try:
            while chunk := sock.recv(65536):
                answer += chunk
        except OSError:
            pass
    assert sent < size  # it did not read the 200 MB
    if answer:
        assert b" 413 " in answer.split(b"\r\n", 1)[0]


def test_a_slow_body_times_out(emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(app, "READ_TIMEOUT", 0.5)
    path = "/jobs"
    headers = signed_headers("POST", path, [("api-version", V2025)], **{"content-length": "100"})
    with socket.create_connection(("127.0.0.1", emulator.port), timeout=10) as sock:
        head = f"POST {path}?api-version={V2025} HTTP/1.1\r\nhost: 127.0.0.1\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
        sock.sendall(head.encode() + b'{"id": ')
        started = time.monotonic()
        answer = sock.recv(65536)
        waited = time.monotonic() - started
        while chunk := sock.recv(65536):  # the answer closes the connection
            answer += chunk
    assert waited < 5
    assert b" 408 " in answer.split(b"\r\n", 1)[0]
    assert b"RequestTimeout" in answer


def test_connections_beyond_the_limit_are_turned_away(emulator_factory: Any) -> None:
    server = emulator_factory(max_connections=4)
    idle = [socket.create_connection(("127.0.0.1", server.port), timeout=10) for _ in range(4)]
    try:
        time.sleep(0.3)
        response = httpx.get(f"{server.endpoint}/jobs?api-version={V2025}", timeout=10)
        assert response.status_code == 503
    finally:
        for sock in idle:
            sock.close()
    time.sleep(0.3)
    response = httpx.get(f"{server.endpoint}/jobs?api-version={V2025}", timeout=10)
    assert response.status_code == 403  # served again (unsigned: refused by auth)


def test_a_non_ascii_signature_is_a_batch_authentication_error(emulator: EmulatorServer) -> None:
    headers = {
        "ocp-date": signing.rfc1123_now(),
        "authorization": f"SharedKey {DEV_ACCOUNT}:sig\u00e9",
    }
    response = httpx.get(
        f"{emulator.endpoint}/jobs?api-version={V2025}",
        headers={k: v.encode("latin-1") for k, v in headers.items()},
    )
    assert response.status_code == 403
    assert response.json()["code"] == "AuthenticationFailed"


def test_an_unknown_api_version_is_refused(emulator: EmulatorServer) -> None:
    query = [("api-version", "2099-01-01")]
    headers = signed_headers("GET", "/jobs", query)
    response = httpx.get(f"{emulator.endpoint}/jobs?api-version=2099-01-01", headers=headers)
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "InvalidQueryParameterValue"
    values = {v["key"]: v["value"] for v in body["values"]}
    assert values["QueryParameterName"] == "api-version"
    assert values["QueryParameterValue"] == "2099-01-01"


def test_exposure_warning() -> None:
    assert exposure_warning("127.0.0.1", DEV_KEY) is None
    assert exposure_warning("::1", DEV_KEY) is None
    warning = exposure_warning("0.0.0.0", DEV_KEY)
    assert warning is not None and "public development key" in warning
    assert exposure_warning("0.0.0.0", "bXkgb3duIGtleQ==") is None


def test_threads_are_not_left_behind(emulator_factory: Any) -> None:
    before = threading.active_count()
    server = emulator_factory()
    server.stop()
    assert threading.active_count() <= before + 1


def test_the_endpoint_accepts_connections_as_soon_as_it_is_known() -> None:
    """`dagbatch emulator` prints the endpoint before its server loop runs: a client that
    connects at once waits in the backlog instead of being refused."""
    server = EmulatorServer(port=0)  # not started
    try:
        with socket.create_connection(("127.0.0.1", server.port), timeout=5):
            pass
    finally:
        server._sock.close()


def _add_one(server: EmulatorServer, job_id: str, task_id: str) -> tuple[int, float]:
    """POST one task to addtaskcollection; (status, seconds until the answer)."""
    body = json.dumps({"value": [{"id": task_id, "commandLine": "echo"}]}).encode()
    path = f"/jobs/{job_id}/addtaskcollection"
    query = [("api-version", V2025)]
    headers = signed_headers(
        "POST",
        path,
        query,
        **{"content-type": "application/json", "content-length": str(len(body))},
    )
    started = time.monotonic()
    response = httpx.post(
        f"{server.endpoint}{path}?api-version={V2025}", content=body, headers=headers, timeout=30
    )
    return response.status_code, time.monotonic() - started


def test_latency_runs_while_the_request_is_processed(emulator_factory: Any) -> None:
    """--latency-ms holds each answer until that long after the request was read: the
    request is processed meanwhile (its tasks are stored before the answer leaves), and the
    wait holds neither the event loop nor other requests."""
    latency = 1.0
    server = emulator_factory(latency_ms=latency * 1000)
    create_job(server, "slow")
    with ThreadPoolExecutor(1) as pool:
        started = time.monotonic()
        answer = pool.submit(_add_one, server, "slow", "first")
        while not server.store.task_ids("slow") and time.monotonic() < started + 10:
            time.sleep(0.01)
        stored_after = time.monotonic() - started
        status, waited = answer.result(timeout=30)
    assert server.store.task_ids("slow") == ["first"]
    assert stored_after < latency / 2, stored_after  # stored at once, not after the wait
    assert status == 200 and waited >= latency
    # Eight requests at once: each waits the latency, together (one after the other would
    # take eight latencies).
    started = time.monotonic()
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda i: _add_one(server, "slow", f"t{i}"), range(8)))
    elapsed = time.monotonic() - started
    assert all(status == 200 and waited >= latency for status, waited in results), results
    assert elapsed < 4 * latency, elapsed
    assert sorted(server.store.task_ids("slow")) == sorted(["first", *(f"t{i}" for i in range(8))])


class _Recorder(asyncio.Transport):
    """The transport under OneSendTransport: records each write (one socket send each)."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: Any) -> None:
        self.writes.append(bytes(data))

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def get_write_buffer_size(self) -> int:
        return 0


def test_an_answer_leaves_in_one_send() -> None:
    """What is written in one turn of the event loop (uvicorn's status line and headers, then
    the body) reaches the socket in one write, in order; close sends what is held first."""

    async def scenario() -> tuple[list[bytes], list[bytes], bool]:
        inner = _Recorder()
        outer = OneSendTransport(inner, asyncio.get_running_loop())
        outer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n")
        outer.write(b"")
        outer.write(b"{}")
        assert inner.writes == [] and outer.get_write_buffer_size() == 40
        await asyncio.sleep(0)  # the end of the turn
        first = list(inner.writes)
        outer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\n")
        outer.write(b"ha")  # a dropped answer: half its body, then the connection closes
        outer.close()
        return first, inner.writes[1:], inner.closed

    first, then, closed = asyncio.run(scenario())
    assert first == [b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}"]
    assert then == [b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\nha"] and closed
