"""The bare client: what this machine and the emulator allow a parent-first submission, measured.

The submit benchmark's "ideal" columns are computed: one latency per request, nothing else.
The machine adds its own share (the emulator reading, checking and storing 100 tasks a
request, two processes on two shared cores, the loopback), which no client can remove. This
client measures it: a submission of the same plan, in the same parent-first order as dagbatch
(``dagbatch.planorder`` segments, each sent once every segment up to its ``after`` is
confirmed), that does as little as a client can:

- before the clock starts: the plan loaded and checked, every request body serialized, and
  ``concurrency`` keep-alive connections opened;
- segments in submit order: the next one waits until its parents' segments are confirmed
  (dagbatch may start a later segment that is ready first; on the bench's plan, where each
  segment waits at most for the ones before it, the two orders are the same);
- on the clock: the job's creation, then each request signed (Shared Key, a fresh
  ``ocp-date``) and written as bytes on an idle connection; each answer read by its
  ``Content-Length`` and counted as all-success by a byte search (no JSON parse); no journal,
  no retry (any other answer stops the run), no progress, no report.

It is no product: a bench yardstick ("bare client" in bench/RESULTS.md), checked against the
emulator after each run like the other clients.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import orjson

from dagbatch.emulator import DEV_ACCOUNT, DEV_KEY
from dagbatch.limits import DEFAULT_API_VERSION
from dagbatch.plan import load_plan
from dagbatch.submit.auth import SharedKeyAuth

Streams = tuple[asyncio.StreamReader, asyncio.StreamWriter]


async def _exchange(conn: Streams, data: bytes) -> tuple[int, bytes]:
    """Write one request, read its answer: (status, body)."""
    reader, writer = conn
    writer.write(data)
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    return int(head[9:12]), await reader.readexactly(length)


class _Requests:
    """Signed request bytes for one endpoint and account."""

    def __init__(self, endpoint: str, auth: SharedKeyAuth) -> None:
        parts = urlsplit(endpoint)
        self.host = parts.netloc
        self.auth = auth

    async def post(self, path: str, body: bytes) -> bytes:
        version = DEFAULT_API_VERSION
        headers = {
            "Content-Type": "application/json; odata=minimalmetadata",
            "Content-Length": str(len(body)),
        }
        query = (("api-version", version),)
        headers.update(await self.auth.headers_for("POST", path, query, headers))
        head = f"POST {path}?api-version={version} HTTP/1.1\r\nHost: {self.host}\r\n" + "".join(
            f"{k}: {v}\r\n" for k, v in headers.items()
        )
        return head.encode("latin-1") + b"\r\n" + body


async def submit(
    endpoint: str, plan_dir: Path, job: dict[str, Any], job_id: str, concurrency: int
) -> tuple[float, float]:
    """Create ``job`` and submit the plan in parent-first order -> (wall s, CPU s) from the
    job's creation to the last answer (module docstring)."""
    plan = load_plan(plan_dir)
    batches = {b.index: b for b in plan.batches}
    segments = plan.segments
    bodies = [
        orjson.dumps({"value": list(batches[s.batch].tasks[s.start : s.stop])}) for s in segments
    ]
    requests = _Requests(endpoint, SharedKeyAuth(DEV_ACCOUNT, DEV_KEY))
    parts = urlsplit(endpoint)
    conns = [
        await asyncio.open_connection(parts.hostname, parts.port)
        for _ in range(min(concurrency, len(segments)))
    ]
    path = f"/jobs/{quote(job_id, safe='')}/addtaskcollection"
    done = [False] * len(segments)
    state = {"next": 0, "prefix": 0}
    progressed = asyncio.Event()

    async def worker(conn: Streams) -> None:
        while state["next"] < len(segments):
            number = state["next"]
            if segments[number].after >= state["prefix"]:  # a parent not confirmed yet
                progressed.clear()
                await progressed.wait()
                continue
            state["next"] += 1
            status, answer = await _exchange(conn, await requests.post(path, bodies[number]))
            if status != 200 or answer.count(b'"success"') != answer.count(b'"status"'):
                raise RuntimeError(f"segment {number}: HTTP {status} {answer[:200]!r}")
            done[number] = True
            while state["prefix"] < len(done) and done[state["prefix"]]:
                state["prefix"] += 1
            progressed.set()

    cpu, wall = time.process_time(), time.perf_counter()
    status, answer = await _exchange(conns[0], await requests.post("/jobs", orjson.dumps(job)))
    if status != 201:
        raise RuntimeError(f"creating the job: HTTP {status} {answer[:200]!r}")
    await asyncio.gather(*(worker(c) for c in conns))
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    for _, writer in conns:
        writer.close()
    return wall, cpu
