"""Submit benchmark: `dagbatch submit --concurrency N` against the official azure-batch SDK's
``create_tasks(max_concurrency=N)``, both against the emulator with a fixed latency per request
and no faults, over the matrix of issue 14: latency 0/50/200 ms x concurrency 1/16/64/128,
three repetitions each, medians. Ratios are the claim, not absolute times.

Layout of one benchmark:

- the emulator runs in its own process (``python -m dagbatch emulator``), so its CPU is never
  counted as the client's;
- the workload (prepare -> N-2 integer-id shards -> reduce, so exactly N tasks) is compiled once,
  untimed, into a plan directory; the SDK gets the same task bodies, built untimed from the
  plan's batch files as ``BatchTaskCreateOptions``;
- each measured run is its own child process with a fresh job id. The child times only the
  submission (wall clock, and its own user+sys CPU over all its threads), after imports and after
  building its input. The whole child's CPU (startup and imports included) is recorded too;
- after each run the emulator's tasks of that job are listed and checked: the count, the ids,
  every body equal to the plan's, and whether every task arrived after its parents (wave order).

Run it through ``python -m bench`` (see bench/run.py); ``python -m bench.submit_bench --child``
is the child's entry point.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import heapq
import math
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson

from dagbatch.compiler.export import write_plan
from dagbatch.compiler.pipeline import compile_graph
from dagbatch.emulator import DEV_ACCOUNT, DEV_KEY
from dagbatch.limits import DEFAULT_API_VERSION
from dagbatch.plan import load_plan
from dagbatch.planorder import Segment
from dagbatch.submit.auth import SharedKeyAuth
from dagbatch.submit.compare import task_differences

from .workloads import sweep_reduce

REPO = Path(__file__).resolve().parent.parent
DAGBATCH = "dagbatch"
SDK = "azure-batch SDK"
#: bench/bare_client.py: the same parent-first submission at as little cost as a client can
#: have; what the machine and the emulator allow (cells with a latency only).
BARE = "bare client"
#: The ``--child`` name of each client.
CHILD_NAMES = {DAGBATCH: "dagbatch", SDK: "sdk", BARE: "bare"}
POOL_ID = "bench-pool"
#: Operations the emulator delays by the latency: everything a submission calls. Listing
#: (used only by the checks here, after a run) is left undelayed.
DELAYED_OPS = "createjob,getjob,updatejob,replacejob,addtaskcollection,addtask,gettask"
#: Read-only fields the emulator adds to a listed task; the rest is the body as received.
READ_ONLY = frozenset(
    {"url", "eTag", "lastModified", "creationTime", "state", "stateTransitionTime"}
)
#: The matrix of issue 14: latency per request (ms) x requests in flight, both clients.
LATENCIES_MS = (0.0, 50.0, 200.0)
CONCURRENCIES = (1, 16, 64, 128)
REPEAT = 3
#: Quick (smoke) run: a corner of the matrix, one repetition, a small workload.
QUICK_LATENCIES_MS = (0.0, 50.0)
QUICK_CONCURRENCIES = (1, 64)
QUICK_TASKS = 2_000
#: Workload sizes a cell may use (one plan is compiled per size used): at least 100 requests,
#: the regime of the large jobs this is for, where the fixed round trips (the job's creation,
#: one per level of the graph) are a small part of a run, as the issue's 100,000 tasks.
SIZES = (10_000, 20_000, 30_000, 50_000, 100_000)
#: Rough throughput the faster client reaches on 2 shared cores, and the per-request overhead
#: besides the latency: they only choose a cell's size so that a run takes several seconds.
CPU_BOUND_TASKS_PER_S = 25_000
OVERHEAD_S = 0.01
SECONDS_PER_RUN = 6.0

#: Targets of issue 14.
LIMIT_SHARE = 0.8
LIMIT_CELLS = ((50.0, 16), (200.0, 64))
VS_SDK = 1.0
CPU_PER_10K = 0.25


def limit_tasks_per_s(latency_ms: float, concurrency: int) -> float:
    """The latency limit: ``concurrency`` requests of 100 tasks per latency (inf at 0 ms)."""
    return math.inf if latency_ms <= 0 else concurrency * 100 * 1000 / latency_ms


def cell_tasks(latency_ms: float, concurrency: int) -> int:
    """Tasks for one cell: the smallest size that keeps the faster client busy for
    SECONDS_PER_RUN at the rate it can reach there (capped by the largest size)."""
    rate = min(concurrency * 100 / (latency_ms / 1000 + OVERHEAD_S), CPU_BOUND_TASKS_PER_S)
    want = rate * SECONDS_PER_RUN
    return next((n for n in SIZES if n >= want), SIZES[-1])


# --------------------------------------------------------------------------------------
# Results


@dataclass(frozen=True)
class SubmitRun:
    """One measured submission."""

    client: str
    #: requests in flight (dagbatch --concurrency, SDK max_concurrency); None: adaptive
    concurrency: int | None
    tasks: int
    wall_s: float
    cpu_s: float  # user+sys of the child over the submission only (all threads)
    process_cpu_s: float  # user+sys of the whole child: startup, imports, input building
    requests: int  # addtaskcollection requests the emulator answered during the run
    emulator_cpu_s: float  # the emulator process's CPU during the run
    landed: int  # tasks of the job the emulator holds
    ids_match: bool  # exactly the plan's ids
    bodies_match: bool  # every stored body equal to the plan's
    wave_order: bool  # every task arrived after all its parents

    @property
    def tasks_per_s(self) -> float:
        return self.tasks / self.wall_s

    @property
    def cpu_per_10k(self) -> float:
        return self.cpu_s / self.tasks * 10_000

    @property
    def complete(self) -> bool:
        return self.landed == self.tasks and self.ids_match and self.bodies_match


def _median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else math.nan


@dataclass(frozen=True)
class Cell:
    """Every run of both clients at one latency and concurrency."""

    latency_ms: float
    concurrency: int
    tasks: int
    requests: int  # the plan's
    runs: tuple[SubmitRun, ...]
    ideal_s: float = 0.0  # ``ideal_s``: a parent-first submission with no CPU cost
    sdk_ideal_s: float = 0.0  # ``sdk_ideal_s``: the same in any order

    @property
    def limit(self) -> float:
        return limit_tasks_per_s(self.latency_ms, self.concurrency)

    def ideal(self, client: str) -> float:
        """Tasks per second of ``client``'s ideal schedule (inf at 0 ms)."""
        wall = self.ideal_s if client == DAGBATCH else self.sdk_ideal_s
        return self.tasks / wall if wall > 0 else math.inf

    def of(self, client: str) -> list[SubmitRun]:
        return [r for r in self.runs if r.client == client]

    def tasks_per_s(self, client: str) -> float:
        return _median([r.tasks_per_s for r in self.of(client)])

    def cpu_per_10k(self, client: str) -> float:
        return _median([r.cpu_per_10k for r in self.of(client)])

    def share_of_limit(self, client: str) -> float:
        return self.tasks_per_s(client) / self.limit

    def spread(self, client: str) -> str:
        rates = [r.tasks_per_s for r in self.of(client)]
        return f"{min(rates):,.0f}-{max(rates):,.0f}" if len(rates) > 1 else ""

    def complete(self, client: str) -> bool:
        return all(r.complete for r in self.of(client))

    def wave_order(self, client: str) -> bool:
        return all(r.wave_order for r in self.of(client))


@dataclass(frozen=True)
class SubmitResult:
    cells: tuple[Cell, ...]
    repeat: int
    sdk_version: str

    def cell(self, latency_ms: float, concurrency: int) -> Cell:
        for c in self.cells:
            if c.latency_ms == latency_ms and c.concurrency == concurrency:
                return c
        raise LookupError(f"no cell at {latency_ms:g} ms x {concurrency}")


@dataclass(frozen=True)
class Target:
    name: str
    met: bool
    detail: str


# --------------------------------------------------------------------------------------
# The emulator process


class Emulator:
    """``python -m dagbatch emulator`` on a free loopback port, in its own process."""

    def __init__(
        self,
        latency_ms: float,
        workdir: Path,
        faults: Sequence[str] = (),
        *,
        mode: Sequence[str] = ("--store-only",),
        delayed: str = DELAYED_OPS,
    ) -> None:
        """``faults``: more ``dagbatch emulator`` options (``--fault-busy 0.2``, ...);
        ``mode``: how tasks run (default: they never do); ``delayed``: the operations the
        latency and faults apply to."""
        self.log = workdir / "emulator.log"
        self._log_fh = self.log.open("wb")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "dagbatch",
                "emulator",
                *mode,  # by default --store-only: measure submission only, no task runs
                "--port",
                "0",
                "--latency-ms",
                str(latency_ms),
                "--fault-ops",
                delayed,
                *faults,
            ],
            stdout=self._log_fh,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self.endpoint = self._wait_listening()

    def _wait_listening(self) -> str:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            found = re.search(rb"listening on (http://\S+)", self.log.read_bytes())
            if found:
                endpoint = found.group(1).decode()
                with contextlib.suppress(httpx.HTTPError):
                    httpx.get(
                        endpoint + "/_emulator/stats", timeout=5, trust_env=False
                    ).raise_for_status()
                    return endpoint
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"the emulator did not start:\n{self.log.read_text(errors='replace')}")

    def stats(self) -> dict[str, Any]:
        response = httpx.get(self.endpoint + "/_emulator/stats", timeout=30, trust_env=False)
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    def cpu_s(self) -> float:
        """user+sys seconds of the emulator process so far (Linux /proc; 0 elsewhere)."""
        try:
            fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log_fh.close()


# --------------------------------------------------------------------------------------
# Checking what landed


async def _list_tasks(endpoint: str, job_id: str) -> list[dict[str, Any]]:
    """Every task of the job, in the order the emulator stored them (following nextLink)."""
    auth = SharedKeyAuth(DEV_ACCOUNT, DEV_KEY)
    tasks: list[dict[str, Any]] = []
    url: str | None = f"{endpoint}/jobs/{job_id}/tasks"
    params: dict[str, str] | None = {"api-version": DEFAULT_API_VERSION, "maxresults": "1000"}
    async with httpx.AsyncClient(timeout=120, trust_env=False) as http:
        while url is not None:
            request = http.build_request("GET", url, params=params)
            await auth.apply(request)
            response = await http.send(request)
            response.raise_for_status()
            page = orjson.loads(response.content)
            tasks.extend(page["value"])
            url, params = page.get("odata.nextLink"), None
    return tasks


def _parents(task: dict[str, Any]) -> Iterator[str]:
    depends = task.get("dependsOn") or {}
    yield from depends.get("taskIds", ())
    for r in depends.get("taskIdRanges", ()):
        for i in range(r["start"], r["end"] + 1):
            yield str(i)


def check_landed(
    endpoint: str, job_id: str, plan_tasks: dict[str, dict[str, Any]]
) -> tuple[int, bool, bool, bool]:
    """(tasks held, ids == plan's, bodies == plan's, wave order kept) for one job."""
    listed = asyncio.run(_list_tasks(endpoint, job_id))
    bodies = {t["id"]: {k: v for k, v in t.items() if k not in READ_ONLY} for t in listed}
    ids_match = len(bodies) == len(listed) and bodies.keys() == plan_tasks.keys()
    # Every property sent is there unchanged; the service adds its defaults (constraints,
    # userIdentity, requiredSlots) and executionInfo, which are not compared.
    bodies_match = ids_match and all(
        not task_differences(plan_tasks[i], bodies[i]) for i in plan_tasks
    )
    seen: set[str] = set()
    in_order = True
    for task in listed:
        if in_order and not all(p in seen for p in _parents(task)):
            in_order = False
        seen.add(task["id"])
    return len(listed), ids_match, bodies_match, in_order


# --------------------------------------------------------------------------------------
# The workload


def prepare_plan(tasks: int, out: Path) -> tuple[Path, dict[str, dict[str, Any]], int]:
    """Compile prepare -> (tasks - 2) shards -> reduce into ``out``; (plan dir, the tasks by id
    in submit order, the number of requests)."""
    plan = compile_graph(sweep_reduce(tasks - 2))
    write_plan(plan, out)
    return out, plan_tasks(out), len(plan.batches)


def ideal_s(segments: Sequence[Segment], latency_ms: float, concurrency: int) -> float:
    """The wall time of a parent-first submission with no CPU cost at all: the job created
    (one latency), then every segment one latency long, started in submit order as soon as
    a slot is free and every segment up to its ``after`` is done (``dagbatch.planorder``).
    What the rule "never a child before its parent" costs by itself on this plan."""
    latency = latency_ms / 1000
    done = [False] * len(segments)
    waiting = [(s.after, s.number) for s in segments]
    heapq.heapify(waiting)
    flying: list[tuple[float, int]] = []
    now, prefix = latency, 0
    while waiting or flying:
        while prefix < len(done) and done[prefix]:
            prefix += 1
        ready: list[int] = []
        while waiting and waiting[0][0] < prefix and len(flying) + len(ready) < concurrency:
            ready.append(heapq.heappop(waiting)[1])
        for number in sorted(ready):
            heapq.heappush(flying, (now + latency, number))
        now, number = heapq.heappop(flying)
        done[number] = True
    return now


def sdk_ideal_s(requests: int, latency_ms: float, concurrency: int) -> float:
    """The same for a client that sends the requests in any order: the job, then the
    requests ``concurrency`` at a time."""
    return latency_ms / 1000 * (1 + math.ceil(requests / concurrency))


def plan_tasks(plan_dir: Path) -> dict[str, dict[str, Any]]:
    """The plan's task bodies by id, in submit order."""
    manifest = orjson.loads((plan_dir / "plan.json").read_bytes())
    tasks: dict[str, dict[str, Any]] = {}
    for batch in manifest["batches"]:
        for task in orjson.loads((plan_dir / batch["file"]).read_bytes())["value"]:
            tasks[task["id"]] = task
    return tasks


# --------------------------------------------------------------------------------------
# One measured run (parent side)


def _run_child(
    client: str, plan_dir: Path, emulator: Emulator, concurrency: int | None, workdir: Path
) -> tuple[dict[str, Any], float, str]:
    """Run one child; (its result, its whole-process CPU, the job id)."""
    job_id = f"bench-{CHILD_NAMES[client]}-{uuid.uuid4().hex[:12]}"
    out = workdir / f"{job_id}.json"
    log = workdir / f"{job_id}.log"
    args = [
        sys.executable,
        "-m",
        "bench.submit_bench",
        "--child",
        CHILD_NAMES[client],
        "--plan",
        str(plan_dir),
        "--endpoint",
        emulator.endpoint,
        "--job-id",
        job_id,
        "--out",
        str(out),
    ]
    if concurrency is not None:
        args += ["--concurrency", str(concurrency)]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
        "AZURE_BATCH_ENDPOINT": emulator.endpoint,
        "AZURE_BATCH_ACCOUNT": DEV_ACCOUNT,
        "AZURE_BATCH_ACCESS_KEY": DEV_KEY,
    }
    with log.open("wb") as fh:
        proc = subprocess.Popen(args, stdout=fh, stderr=subprocess.STDOUT, env=env, cwd=REPO)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0 or not out.exists():
        raise RuntimeError(
            f"{client} run failed (exit {proc.returncode}):\n{log.read_text(errors='replace')}"
        )
    return orjson.loads(out.read_bytes()), usage.ru_utime + usage.ru_stime, job_id


def measure(
    client: str,
    concurrency: int | None,
    *,
    plan_dir: Path,
    tasks: dict[str, dict[str, Any]],
    emulator: Emulator,
    workdir: Path,
) -> SubmitRun:
    """One run of ``client`` with ``concurrency`` requests in flight."""
    before = emulator.stats()["requests"].get("addtaskcollection", 0)
    emu_before = emulator.cpu_s()
    child, process_cpu, job_id = _run_child(client, plan_dir, emulator, concurrency, workdir)
    emu_cpu = emulator.cpu_s() - emu_before
    stats = emulator.stats()
    requests = stats["requests"].get("addtaskcollection", 0) - before
    landed, ids_match, bodies_match, in_order = check_landed(emulator.endpoint, job_id, tasks)
    if stats["jobs"].get(job_id) != landed:
        raise RuntimeError(f"emulator stats and listing disagree for {job_id}")
    return SubmitRun(
        client=client,
        concurrency=concurrency,
        tasks=len(tasks),
        wall_s=child["wall_s"],
        cpu_s=child["cpu_s"],
        process_cpu_s=process_cpu,
        requests=requests,
        emulator_cpu_s=emu_cpu,
        landed=landed,
        ids_match=ids_match,
        bodies_match=bodies_match,
        wave_order=in_order,
    )


def _sdk_version() -> str:
    try:
        from importlib.metadata import version

        return version("azure-batch")
    except Exception:  # informative only
        return "unknown"


def run(
    quick: bool = False,
    *,
    latencies: Sequence[float] | None = None,
    concurrencies: Sequence[int] | None = None,
    repeat: int | None = None,
    tasks: int | None = None,
    workdir: Path | None = None,
) -> SubmitResult:
    """The matrix: for each latency one emulator; for each concurrency ``repeat`` rounds of
    one dagbatch run, one SDK run and, with a latency, one bare client run (interleaved, so
    drifting load hits them alike).
    ``tasks`` fixes every cell's size (default: ``cell_tasks``; quick: QUICK_TASKS)."""
    lats = tuple(latencies or (QUICK_LATENCIES_MS if quick else LATENCIES_MS))
    concs = tuple(concurrencies or (QUICK_CONCURRENCIES if quick else CONCURRENCIES))
    times = repeat or (1 if quick else REPEAT)
    owned = workdir is None
    work = Path(tempfile.mkdtemp(prefix="dagbatch-bench-")) if workdir is None else workdir
    cells: list[Cell] = []
    plans: dict[int, tuple[Path, dict[str, dict[str, Any]], int]] = {}
    segments: dict[int, tuple[Segment, ...]] = {}
    try:
        for latency in lats:
            emulator = Emulator(latency, work)
            try:
                for conc in concs:
                    n = tasks or (QUICK_TASKS if quick else cell_tasks(latency, conc))
                    if n not in plans:
                        plans[n] = prepare_plan(n, work / f"plan-{n}")
                        segments[n] = load_plan(plans[n][0]).segments
                    plan_dir, plan, n_requests = plans[n]
                    runs: list[SubmitRun] = []
                    clients = (DAGBATCH, SDK, BARE) if latency > 0 else (DAGBATCH, SDK)
                    for _ in range(times):
                        for client in clients:
                            runs.append(
                                measure(
                                    client,
                                    conc,
                                    plan_dir=plan_dir,
                                    tasks=plan,
                                    emulator=emulator,
                                    workdir=work,
                                )
                            )
                    cell = Cell(
                        latency,
                        conc,
                        n,
                        n_requests,
                        tuple(runs),
                        ideal_s(segments[n], latency, conc),
                        sdk_ideal_s(n_requests, latency, conc),
                    )
                    cells.append(cell)
                    bare = f", bare {cell.tasks_per_s(BARE):,.0f}" if cell.of(BARE) else ""
                    print(
                        f"  submit {latency:g} ms x {conc}, {n:,} tasks: dagbatch "
                        f"{cell.tasks_per_s(DAGBATCH):,.0f} tasks/s, SDK "
                        f"{cell.tasks_per_s(SDK):,.0f} tasks/s{bare}",
                        flush=True,
                    )
            finally:
                emulator.stop()
    finally:
        if owned:
            shutil.rmtree(work, ignore_errors=True)
    return SubmitResult(cells=tuple(cells), repeat=times, sdk_version=_sdk_version())


# --------------------------------------------------------------------------------------
# Report


def _point(c: Cell) -> str:
    return f"{c.latency_ms:g} ms x {c.concurrency}"


def targets(result: SubmitResult) -> list[Target]:
    out: list[Target] = []
    for c in result.cells:
        for client in (DAGBATCH, SDK, BARE):
            if not c.complete(client):
                bad = next(r for r in c.of(client) if not r.complete)
                out.append(
                    Target(
                        f"submit {_point(c)}: {client} landed every task exactly",
                        False,
                        f"{bad.landed:,} of {bad.tasks:,} tasks; ids match {bad.ids_match}, "
                        f"bodies match {bad.bodies_match}",
                    )
                )
    out.append(
        Target(
            "submit: dagbatch keeps wave order in every run",
            all(c.wave_order(DAGBATCH) for c in result.cells),
            ", ".join(_point(c) for c in result.cells if not c.wave_order(DAGBATCH)) or "every run",
        )
    )
    for latency, conc in LIMIT_CELLS:
        try:
            c = result.cell(latency, conc)
        except LookupError:
            continue
        share = c.share_of_limit(DAGBATCH)
        out.append(
            Target(
                f"submit {_point(c)}: dagbatch >= {LIMIT_SHARE:.0%} of the latency limit",
                share >= LIMIT_SHARE,
                f"{c.tasks_per_s(DAGBATCH):,.0f} of {c.limit:,.0f} tasks/s = {share:.0%}",
            )
        )
    for c in result.cells:
        dag, sdk = c.tasks_per_s(DAGBATCH), c.tasks_per_s(SDK)
        out.append(
            Target(
                f"submit {_point(c)}: dagbatch throughput >= {VS_SDK:g}x the SDK's",
                dag >= VS_SDK * sdk,
                f"{dag:,.0f} vs {sdk:,.0f} tasks/s = {dag / sdk:.2f}x",
            )
        )
    for c in result.cells:
        cpu = c.cpu_per_10k(DAGBATCH)
        out.append(
            Target(
                f"submit {_point(c)}: dagbatch client CPU <= {CPU_PER_10K:g} s per 10k tasks",
                cpu <= CPU_PER_10K,
                f"{cpu:.3f} s (SDK {c.cpu_per_10k(SDK):.3f} s)",
            )
        )
    return out


def _ideal(c: Cell, client: str, *, share: bool = True) -> str:
    rate = c.ideal(client)
    if math.isinf(rate):
        return "-"
    if share and not math.isinf(c.limit):
        return f"{rate:,.0f} ({_pct(rate / c.limit)})"
    return f"{rate:,.0f}"


def _bare(c: Cell) -> str:
    """The bare client's columns: its rate (% of the limit), and dagbatch's share of it."""
    if not c.of(BARE):
        return "- | "
    bare = c.tasks_per_s(BARE)
    return f"{bare:,.0f} ({_pct(c.share_of_limit(BARE))}) | {_pct(c.tasks_per_s(DAGBATCH) / bare)}"


def _pct(share: float) -> str:
    return "" if math.isnan(share) or share == 0 else f"{share:.0%}"


def table(result: SubmitResult) -> str:
    head = (
        "| latency ms | concurrency | tasks | limit tasks/s | dagbatch tasks/s | % of limit "
        "| SDK tasks/s | % of limit | dagbatch / SDK | dagbatch CPU s / 10k | SDK CPU s / 10k "
        "| dagbatch runs (min-max tasks/s) | SDK runs | landed exactly | dagbatch wave order "
        "| ideal parent-first tasks/s (% of limit) | dagbatch % of it | ideal any-order "
        "tasks/s | SDK % of it | bare client tasks/s (% of limit) | dagbatch % of it |\n"
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|---:|---:|---:"
        "|---:|---:|---:|\n"
    )
    lines = []
    for c in result.cells:
        dag, sdk = c.tasks_per_s(DAGBATCH), c.tasks_per_s(SDK)
        limit = "-" if math.isinf(c.limit) else f"{c.limit:,.0f}"
        lines.append(
            f"| {c.latency_ms:g} | {c.concurrency} | {c.tasks:,} | {limit} | {dag:,.0f} | "
            f"{_pct(c.share_of_limit(DAGBATCH))} | {sdk:,.0f} | {_pct(c.share_of_limit(SDK))} | "
            f"{dag / sdk:.2f}x | {c.cpu_per_10k(DAGBATCH):.3f} | {c.cpu_per_10k(SDK):.3f} | "
            f"{c.spread(DAGBATCH)} | {c.spread(SDK)} | "
            f"{'yes' if all(c.complete(x) for x in (DAGBATCH, SDK, BARE)) else 'NO'} | "
            f"{'yes' if c.wave_order(DAGBATCH) else 'NO'} | {_ideal(c, DAGBATCH)} | "
            f"{_pct(dag / c.ideal(DAGBATCH))} | {_ideal(c, SDK, share=False)} | "
            f"{_pct(sdk / c.ideal(SDK))} | {_bare(c)} |"
        )
    sizes = sorted({c.tasks for c in result.cells})
    notes = (
        f"\n\nMedians of {result.repeat} run(s) per client and cell, dagbatch, the SDK and "
        "the bare client interleaved. Emulator in its own process (one per latency), that "
        "latency on every "
        "submission request, no faults. Workload: prepare -> N-2 integer-id shards -> reduce "
        f"(N = {', '.join(f'{n:,}' for n in sizes)} tasks; a cell's N keeps a run several "
        "seconds long, with at least 100 requests), in requests of 100. Limit: concurrency x "
        "100 tasks per latency (none at 0 ms). "
        f"azure-batch {result.sdk_version}: `create_tasks(job, tasks, max_concurrency=N)`; it "
        "takes tasks from the end of the list, so it does not keep wave order. dagbatch: "
        "`dagbatch submit --concurrency N` from plan directory to report, journal included. "
        "Client CPU: user+sys of the client process over the submission only (all threads; "
        "the SDK's task objects built beforehand). Every run is checked against the emulator: "
        "task count, ids, every body equal to the plan's, and the order they arrived in. "
        "Ideal: the wall time of a client with no CPU cost at all on this plan, one latency "
        "per request and the job's creation: parent-first (dagbatch's rule: a request only once "
        "the requests holding its parents are confirmed, so prepare, then the shards, then "
        "reduce: two round trips more than the requests need, plus the split of the batches "
        "that hold a parent and its child) and in any order (the SDK's). The latency limit "
        "leaves out both the job's creation and the levels of the graph. Bare client "
        "(bench/bare_client.py, cells with a latency): the same parent-first submission, "
        "measured, by a client that does as little as one can (plan loaded, bodies serialized "
        "and connections opened before the clock; then signed bytes out, answers counted by "
        "a byte search; no journal, no retry): what this machine and the emulator allow, "
        "the emulator's own time per request included."
    )
    return head + "\n".join(lines) + notes


# --------------------------------------------------------------------------------------
# The child


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _child_dagbatch(args: argparse.Namespace) -> dict[str, Any]:
    # Imported before the clock starts, as the SDK child imports azure.batch: module imports
    # are start-up, counted in the process CPU but not in the submission's.
    import dagbatch.cli.submit
    import dagbatch.submit.submission  # noqa: F401
    from dagbatch.cli.main import main

    argv = ["submit", str(args.plan), "--job-id", args.job_id, "--create-job"]
    argv += ["--pool-id", POOL_ID, "-q"]
    if args.concurrency is not None:
        argv += ["--concurrency", str(args.concurrency)]
    cpu, wall = _cpu(), time.perf_counter()
    code: Any = 0
    try:
        main.main(argv, prog_name="dagbatch", standalone_mode=False)
    except SystemExit as exc:
        code = exc.code
    wall, cpu = time.perf_counter() - wall, _cpu() - cpu
    if code not in (0, None):
        raise SystemExit(f"dagbatch submit exited with {code}")
    return {"wall_s": wall, "cpu_s": cpu}


def _child_sdk(args: argparse.Namespace) -> dict[str, Any]:
    from azure.batch import BatchClient, models
    from azure.core.credentials import AzureNamedKeyCredential

    job = orjson.loads((args.plan / "job.json").read_bytes())
    tasks = [models.BatchTaskCreateOptions(t) for t in plan_tasks(args.plan).values()]
    client = BatchClient(args.endpoint, AzureNamedKeyCredential(DEV_ACCOUNT, DEV_KEY))
    # The same Add Job body dagbatch sends (job.json plus the pool), as the SDK's model.
    options = models.BatchJobCreateOptions(
        {**job, "id": args.job_id, "poolInfo": {"poolId": POOL_ID}}
    )
    cpu, wall = _cpu(), time.perf_counter()
    client.create_job(options)
    result = client.create_tasks(args.job_id, tasks, max_concurrency=args.concurrency)
    wall, cpu = time.perf_counter() - wall, _cpu() - cpu
    client.close()
    ok = len([r for r in result.result_values or [] if r.status == "success"])
    if ok != len(tasks):
        raise SystemExit(f"the SDK reported {ok} of {len(tasks)} tasks added")
    return {"wall_s": wall, "cpu_s": cpu}


def _child_bare(args: argparse.Namespace) -> dict[str, Any]:
    from .bare_client import submit

    job = orjson.loads((args.plan / "job.json").read_bytes())
    job = {**job, "id": args.job_id, "poolInfo": {"poolId": POOL_ID}}
    wall, cpu = asyncio.run(
        submit(args.endpoint, args.plan, job, args.job_id, args.concurrency or 16)
    )
    return {"wall_s": wall, "cpu_s": cpu}


def child_main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="One measured submission (internal).")
    parser.add_argument("--child", choices=sorted(CHILD_NAMES.values()), required=True)
    parser.add_argument("--plan", type=Path, required=True)
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--job-id", required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--concurrency", type=int)
    args = parser.parse_args(argv)
    children = {"dagbatch": _child_dagbatch, "sdk": _child_sdk, "bare": _child_bare}
    result = children[args.child](args)
    args.out.write_bytes(orjson.dumps(result))


if __name__ == "__main__":
    child_main()
