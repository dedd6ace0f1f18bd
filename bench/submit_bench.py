"""Submit benchmark: `dagbatch submit` against the official azure-batch SDK's
``create_tasks(max_concurrency=N)``, both against the emulator with a fixed latency per request
and no faults. Ratios are the claim, not absolute times.

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
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
import orjson

from dagbatch.compiler.export import write_plan
from dagbatch.compiler.pipeline import compile_graph
from dagbatch.emulator import DEV_ACCOUNT, DEV_KEY
from dagbatch.limits import DEFAULT_API_VERSION
from dagbatch.submit.client import SharedKeyAuth
from dagbatch.submit.submission import DEFAULT_CONCURRENCY, task_differences

from .workloads import sweep_reduce

REPO = Path(__file__).resolve().parent.parent
DAGBATCH = "dagbatch"
SDK = "azure-batch SDK"
POOL_ID = "bench-pool"
#: Operations the emulator delays by the latency: everything a submission calls. Listing
#: (used only by the checks here, after a run) is left undelayed.
DELAYED_OPS = "createjob,getjob,updatejob,replacejob,addtaskcollection,addtask,gettask"
#: Read-only fields the emulator adds to a listed task; the rest is the body as received.
READ_ONLY = frozenset(
    {"url", "eTag", "lastModified", "creationTime", "state", "stateTransitionTime"}
)
#: Targets of the issue.
EQUAL_N_THROUGHPUT = 1.0
DEFAULTS_THROUGHPUT = 3.0
CPU_PER_TASK = 0.5

FULL_TASKS = 100_000
QUICK_TASKS = 10_000


# --------------------------------------------------------------------------------------
# Results


@dataclass(frozen=True)
class SubmitRun:
    """One measured submission."""

    client: str
    concurrency: int  # requests in flight; the SDK's default (None) sends one at a time
    default: bool  # the tool's default concurrency
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

    @property
    def label(self) -> str:
        if self.client == SDK and self.default:
            return "default (None: one at a time)"
        return f"{self.concurrency} (default)" if self.default else str(self.concurrency)


@dataclass(frozen=True)
class SubmitResult:
    tasks: int
    requests: int  # the plan's
    latency_ms: float
    equal_n: tuple[int, ...]
    runs: tuple[SubmitRun, ...]
    sdk_version: str

    def find(self, client: str, *, n: int | None = None, default: bool = False) -> SubmitRun:
        for r in self.runs:
            if r.client == client and (r.default if default else r.concurrency == n):
                return r
        raise LookupError(f"no run of {client} at {'default' if default else n}")


@dataclass(frozen=True)
class Target:
    name: str
    met: bool
    detail: str


# --------------------------------------------------------------------------------------
# The emulator process


class Emulator:
    """``python -m dagbatch emulator`` on a free loopback port, in its own process."""

    def __init__(self, latency_ms: float, workdir: Path) -> None:
        self.log = workdir / "emulator.log"
        self._log_fh = self.log.open("wb")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "dagbatch",
                "emulator",
                "--store-only",  # measure submission only: no task runs
                "--port",
                "0",
                "--latency-ms",
                str(latency_ms),
                "--fault-ops",
                DELAYED_OPS,
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
    job_id = f"bench-{'dagbatch' if client == DAGBATCH else 'sdk'}-{uuid.uuid4().hex[:12]}"
    out = workdir / f"{job_id}.json"
    log = workdir / f"{job_id}.log"
    args = [
        sys.executable,
        "-m",
        "bench.submit_bench",
        "--child",
        "dagbatch" if client == DAGBATCH else "sdk",
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
    """One run of ``client``; ``concurrency=None`` is the tool's default."""
    before = emulator.stats()["requests"].get("addtaskcollection", 0)
    emu_before = emulator.cpu_s()
    child, process_cpu, job_id = _run_child(client, plan_dir, emulator, concurrency, workdir)
    emu_cpu = emulator.cpu_s() - emu_before
    stats = emulator.stats()
    requests = stats["requests"].get("addtaskcollection", 0) - before
    landed, ids_match, bodies_match, in_order = check_landed(emulator.endpoint, job_id, tasks)
    if stats["jobs"].get(job_id) != landed:
        raise RuntimeError(f"emulator stats and listing disagree for {job_id}")
    if client == DAGBATCH:
        effective, default = concurrency or DEFAULT_CONCURRENCY, concurrency is None
    else:
        effective, default = concurrency or 1, concurrency is None
    return SubmitRun(
        client=client,
        concurrency=effective,
        default=default,
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


def _best(runs: list[SubmitRun]) -> SubmitRun:
    """The fastest complete run, with the lowest CPU figures of the complete runs (each metric
    best of n, the same rule for both clients: on a shared machine noise only adds)."""
    complete = [r for r in runs if r.complete] or runs
    fastest = min(complete, key=lambda r: r.wall_s)
    return replace(
        fastest,
        cpu_s=min(r.cpu_s for r in complete),
        process_cpu_s=min(r.process_cpu_s for r in complete),
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
    tasks: int | None = None,
    latency_ms: float = 50.0,
    equal_n: Sequence[int] = (DEFAULT_CONCURRENCY,),
    repeat: int | None = None,
    workdir: Path | None = None,
) -> SubmitResult:
    """Every run of the benchmark. Concurrent runs are repeated ``repeat`` times (default 2,
    quick 1) and the fastest complete one is kept; the SDK's one-at-a-time default runs once."""
    n_tasks = tasks or (QUICK_TASKS if quick else FULL_TASKS)
    times_each = repeat or (1 if quick else 2)
    owned = workdir is None
    work = Path(tempfile.mkdtemp(prefix="dagbatch-bench-")) if workdir is None else workdir
    try:
        plan_dir, plan, n_requests = prepare_plan(n_tasks, work / "plan")
        emulator = Emulator(latency_ms, work)
        try:
            kw: dict[str, Any] = {
                "plan_dir": plan_dir,
                "tasks": plan,
                "emulator": emulator,
                "workdir": work,
            }
            runs: list[SubmitRun] = []
            configs: list[tuple[str, int | None]] = [(SDK, None)]
            for n in equal_n:
                configs.append((DAGBATCH, None if n == DEFAULT_CONCURRENCY else n))
                configs.append((SDK, n))
            if DEFAULT_CONCURRENCY not in equal_n:
                configs.append((DAGBATCH, None))
            for client, conc in configs:
                times = 1 if (client == SDK and conc is None) else times_each
                runs.append(_best([measure(client, conc, **kw) for _ in range(times)]))
        finally:
            emulator.stop()
    finally:
        if owned:
            shutil.rmtree(work, ignore_errors=True)
    order = {DAGBATCH: 0, SDK: 1}
    runs.sort(key=lambda r: (not r.default, r.concurrency, order[r.client]))
    return SubmitResult(
        tasks=n_tasks,
        requests=n_requests,
        latency_ms=latency_ms,
        equal_n=tuple(equal_n),
        runs=tuple(runs),
        sdk_version=_sdk_version(),
    )


# --------------------------------------------------------------------------------------
# Report


def targets(result: SubmitResult) -> list[Target]:
    out: list[Target] = []
    for r in result.runs:
        if not r.complete:
            out.append(
                Target(
                    f"{r.client} at {r.label} landed every task exactly",
                    False,
                    f"{r.landed:,} of {r.tasks:,} tasks; ids match {r.ids_match}, "
                    f"bodies match {r.bodies_match}",
                )
            )
    for n in result.equal_n:
        dag, sdk = result.find(DAGBATCH, n=n), result.find(SDK, n=n)
        ratio = dag.tasks_per_s / sdk.tasks_per_s
        out.append(
            Target(
                f"equal concurrency {n}: dagbatch throughput >= SDK's, in wave order",
                ratio >= EQUAL_N_THROUGHPUT and dag.wave_order and dag.complete,
                f"{dag.tasks_per_s:,.0f} vs {sdk.tasks_per_s:,.0f} tasks/s = {ratio:.2f}x; "
                f"dagbatch wave order {'kept' if dag.wave_order else 'NOT kept'}, "
                f"SDK {'kept' if sdk.wave_order else 'not kept'}",
            )
        )
    dag, sdk = result.find(DAGBATCH, default=True), result.find(SDK, default=True)
    ratio = dag.tasks_per_s / sdk.tasks_per_s
    out.append(
        Target(
            f"defaults: dagbatch throughput >= {DEFAULTS_THROUGHPUT:g}x SDK's",
            ratio >= DEFAULTS_THROUGHPUT and dag.complete,
            f"{dag.tasks_per_s:,.0f} vs {sdk.tasks_per_s:,.0f} tasks/s = {ratio:.1f}x",
        )
    )
    # Against the SDK's lowest CPU per task over all its runs: the stricter comparison.
    sdk_best = min((r for r in result.runs if r.client == SDK), key=lambda r: r.cpu_per_10k)
    for dag in (r for r in result.runs if r.client == DAGBATCH):
        ratio = dag.cpu_per_10k / sdk_best.cpu_per_10k
        out.append(
            Target(
                f"client CPU per task, dagbatch at {dag.label} <= {CPU_PER_TASK:g}x the SDK's "
                "lowest",
                ratio <= CPU_PER_TASK,
                f"{dag.cpu_per_10k:.2f} vs {sdk_best.cpu_per_10k:.2f} s per 10k tasks (SDK at "
                f"{sdk_best.label}) = {ratio:.2f}x",
            )
        )
    return out


def _vs(run: SubmitRun, result: SubmitResult) -> tuple[str, str]:
    if run.client != DAGBATCH:
        return "", ""
    same = next(
        (r for r in result.runs if r.client == SDK and r.concurrency == run.concurrency), None
    )
    at_n = f"{run.tasks_per_s / same.tasks_per_s:.2f}x" if same else ""
    at_default = ""
    if run.default:
        at_default = f"{run.tasks_per_s / result.find(SDK, default=True).tasks_per_s:.2f}x"
    return at_n, at_default


def table(result: SubmitResult) -> str:
    head = (
        "| client | concurrency | tasks | requests | wall s | tasks/s | client CPU s / 10k tasks "
        "| whole-process CPU s | emulator CPU s | wave order | landed exactly "
        "| throughput vs SDK at same N | vs SDK at defaults |\n"
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---|---|---:|---:|\n"
    )
    lines = []
    for r in result.runs:
        at_n, at_default = _vs(r, result)
        lines.append(
            f"| {r.client} | {r.label} | {r.tasks:,} | {r.requests:,} | {r.wall_s:.2f} | "
            f"{r.tasks_per_s:,.0f} | {r.cpu_per_10k:.3f} | {r.process_cpu_s:.2f} | "
            f"{r.emulator_cpu_s:.2f} | {'yes' if r.wave_order else 'no'} | "
            f"{'yes' if r.complete else 'NO'} | {at_n} | {at_default} |"
        )
    notes = (
        f"\n\nEmulator in its own process, {result.latency_ms:g} ms latency on every submission "
        f"request, no faults; {result.tasks:,} tasks (prepare -> {result.tasks - 2:,} shards -> "
        f"reduce) in {result.requests:,} requests. azure-batch {result.sdk_version}: "
        "`create_tasks(job, tasks, max_concurrency=N)`; its default (None) sends one request "
        "at a time, and it takes tasks from the end of the list, so it does not keep wave "
        "order. Client CPU: user+sys of the client process over the submission only (all "
        "threads; dagbatch: the `dagbatch submit` command from plan directory to report, "
        "journal included; SDK: `create_job` + `create_tasks`, the task objects built "
        "beforehand). Runs at a concurrency above one are repeated and the table keeps the "
        "best wall time and the lowest CPU figures of the repetitions (one-at-a-time runs once). "
        "Whole-process CPU adds interpreter start, imports and, for the SDK, "
        "building the task objects. Every run is checked against the emulator: task count, "
        "ids, every body equal to the plan's, and the order they arrived in."
    )
    return head + "\n".join(lines) + notes


# --------------------------------------------------------------------------------------
# The child


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _child_dagbatch(args: argparse.Namespace) -> dict[str, Any]:
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


def child_main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="One measured submission (internal).")
    parser.add_argument("--child", choices=["dagbatch", "sdk"], required=True)
    parser.add_argument("--plan", type=Path, required=True)
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--job-id", required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--concurrency", type=int)
    args = parser.parse_args(argv)
    result = _child_dagbatch(args) if args.child == "dagbatch" else _child_sdk(args)
    args.out.write_bytes(orjson.dumps(result))


if __name__ == "__main__":
    child_main()
