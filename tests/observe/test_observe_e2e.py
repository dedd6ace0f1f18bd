"""status, rerun, finish and watch end to end: workflows compiled, submitted to the emulator,
their tasks run as real processes by its scheduler."""

from __future__ import annotations

import asyncio
import importlib.util
import shlex
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import networkx as nx
import orjson
import pytest
from click.testing import CliRunner

from dagbatch.cli.main import main
from dagbatch.compiler.export import write_plan
from dagbatch.compiler.pipeline import compile_graph
from dagbatch.emulator import DEV_ACCOUNT, DEV_KEY
from dagbatch.emulator.server import EmulatorServer
from dagbatch.observe import JobStatus, finish, rerun, status
from dagbatch.submit.client import BatchClient, SharedKeyAuth
from dagbatch.submit.submission import submit_plan
from tests.submit_helpers import add_task_directly

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("dagbatch.emulator.runner") is None
    or importlib.util.find_spec("dagbatch.emulator.scheduler") is None,
    reason="needs the emulator's scheduler",
)

#: Longest a test waits for the job to reach a verdict.
WAIT_S = 60.0


@pytest.fixture
def running_emulator(tmp_path: Path) -> Iterator[EmulatorServer]:
    """An emulator whose scheduler runs the tasks as processes (two slots)."""
    from dagbatch.emulator.runner import RealRunner

    server = EmulatorServer(runner=RealRunner(tmp_path / "node"), slots=2).start()
    try:
        yield server
    finally:
        server.stop()


def _client(server: EmulatorServer) -> BatchClient:
    return BatchClient(server.endpoint, SharedKeyAuth(DEV_ACCOUNT, DEV_KEY))


def _env(server: EmulatorServer) -> dict[str, str]:
    return {
        "AZURE_BATCH_ENDPOINT": server.endpoint,
        "AZURE_BATCH_ACCOUNT": DEV_ACCOUNT,
        "AZURE_BATCH_ACCESS_KEY": DEV_KEY,
    }


def _sh(script: str) -> str:
    """A command line running ``script`` under /bin/sh (Batch runs no shell itself)."""
    return f"/bin/sh -c {shlex.quote(script)}"


def _submit(server: EmulatorServer, graph: nx.DiGraph, plan_dir: Path) -> Path:
    write_plan(compile_graph(graph), plan_dir)
    report = submit_plan(plan_dir, client=_client(server), create_job=True, pool_id="local")
    assert report.ok, report.failures
    return plan_dir


def _until(plan_dir: Path, server: EmulatorServer, done: Callable[[JobStatus], bool]) -> JobStatus:
    deadline = time.monotonic() + WAIT_S
    while True:
        s = status(plan_dir, client=_client(server))
        if done(s):
            return s
        assert time.monotonic() < deadline, f"no such status in {WAIT_S}s: {s.to_dict()}"
        time.sleep(0.2)


def _pipeline(flag: Path) -> nx.DiGraph:
    """prepare -> transform (exits 2 until FLAG exists) -> load -> report; 'side' fails
    with exit 3 and nothing depends on it."""
    g = nx.DiGraph()
    g.graph["job"] = {"id": "pipeline", "on_all_tasks_complete": "terminatejob"}
    g.add_node("prepare", command_line=_sh("echo prepared"))
    g.add_node(
        "transform",
        command_line=_sh(
            f"test -f {shlex.quote(str(flag))} || {{ echo 'input not ready' >&2; exit 2; }}"
        ),
    )
    g.add_node("load", command_line=_sh("echo loaded"))
    g.add_node("report", command_line=_sh("echo reported"))
    g.add_node("side", command_line=_sh("seq 1 3000 >&2; echo side-done >&2; exit 3"))
    g.add_edges_from([("prepare", "transform"), ("transform", "load"), ("load", "report")])
    return g


def test_failed_task_strands_its_chain_then_rerun_completes_the_job(
    running_emulator: EmulatorServer, tmp_path: Path
) -> None:
    server = running_emulator
    flag = tmp_path / "input-ready"
    plan = _submit(server, _pipeline(flag), tmp_path / "plan")

    stuck = _until(plan, server, lambda s: s.verdict != "running")
    assert stuck.verdict == "stuck"
    failed = {f.name: f for f in stuck.failed}
    assert {n: f.exit_code for n, f in failed.items()} == {"transform": 2, "side": 3}
    assert "input not ready" in (failed["transform"].stderr_tail or "")
    assert failed["transform"].failure is not None
    side_tail = failed["side"].stderr_tail or ""  # ~14 KB written: only its tail is read
    assert side_tail.endswith("2999\n3000\nside-done\n") and len(side_tail) <= 2048
    assert {s.name: s.chain for s in stuck.stranded} == {
        "load": ("load", "transform"),
        "report": ("report", "load", "transform"),
    }
    assert stuck.stranded[0].explain() == (
        "load waits on transform, which exited 2 → dependencyAction: block "
        "(Batch's default for that ending)"
    )
    assert stuck.outcomes["succeeded"] == 1 and stuck.outcomes["stranded"] == 2

    # The CLI: the same, and the verdict as the exit code.
    cli = CliRunner().invoke(main, ["status", str(plan), "--json"], env=_env(server))
    assert cli.exit_code == 5, cli.output
    assert orjson.loads(cli.output)["verdict"] == "stuck"
    text = CliRunner().invoke(main, ["status", str(plan)], env=_env(server))
    assert "load waits on transform, which exited 2" in text.output
    assert "stderr | input not ready" in text.output
    # A job named with --job-id: the commands the output suggests name it too, or they would
    # act on plan.json's job.
    named = CliRunner().invoke(
        main, ["status", str(plan), "--job-id", "pipeline"], env=_env(server)
    )
    assert f"`dagbatch finish {plan} --job-id pipeline`" in named.output
    assert f"`dagbatch rerun {plan} --job-id pipeline --failed`" in named.output

    # Without the plan: the tasks' own definitions, read from the service.
    bare = status(job_id="pipeline", client=_client(server))
    assert bare.verdict == "stuck" and {s.name for s in bare.stranded} == {"load", "report"}

    # A dry run says what would happen and changes nothing.
    dry = CliRunner().invoke(
        main, ["rerun", str(plan), "--failed", "--dry-run", "--json"], env=_env(server)
    )
    assert dry.exit_code == 0, dry.output
    preview = orjson.loads(dry.output)
    assert set(preview["reactivate"]) == {"transform", "side"} and preview["reactivated"] == []
    assert set(preview["resumes"]) == {"load", "report"}
    assert status(plan, client=_client(server)).verdict == "stuck"
    said = CliRunner().invoke(main, ["rerun", str(plan), "--failed", "--dry-run"], env=_env(server))
    assert said.exit_code == 0 and "dry run: nothing was reactivated" in said.output
    assert "reactivated 2" not in said.output

    # The user fixes the cause, then reruns the failed part.
    flag.write_text("ok")
    report = rerun(plan, tasks=["transform"], client=_client(server))
    assert report.ok and report.reactivated == ("transform",)
    assert set(report.plan.resumes) == {"load", "report"} and not report.plan.still_stuck

    # status reads the job and its tasks at once: the read of the job may come before the
    # last task's end (and on Batch the job's own end follows its tasks' a while later), so
    # a complete verdict waits for the job's end too.
    done = _until(
        plan,
        server,
        lambda s: s.verdict not in ("running", "complete") or s.job_state == "completed",
    )
    assert done.verdict == "complete", done.to_dict()
    assert done.outcomes["succeeded"] == 4 and not done.stranded
    assert [f.name for f in done.failed] == ["side"]
    assert done.job_state == "completed" and done.terminate_reason == "AllTasksComplete"
    cli = CliRunner().invoke(main, ["status", str(plan)], env=_env(server))
    assert cli.exit_code == 4, cli.output  # complete, with a failed task

    # The job has completed: Batch cannot reactivate its tasks; rerun says so and the fix.
    again = CliRunner().invoke(main, ["rerun", str(plan), "--failed"], env=_env(server))
    assert again.exit_code == 8, again.output
    assert "submit the plan again into a new job" in again.output
    assert f"`dagbatch submit {plan} --job-id " in again.output.replace("\n", " ")  # its path
    # --json still gives one JSON object on stdout, for the script that asked.
    as_json = CliRunner().invoke(main, ["rerun", str(plan), "--failed", "--json"], env=_env(server))
    assert as_json.exit_code == 8
    refused = orjson.loads(as_json.stdout)
    assert "submit the plan again into a new job" in refused["refused"]
    # Read from the job alone, the fix does not take a plan for granted.
    bare = CliRunner().invoke(main, ["rerun", "--job-id", "pipeline", "--failed"], env=_env(server))
    assert bare.exit_code == 8, bare.output
    assert "add the failed tasks and the tasks that never ran to a new job" in bare.output
    assert "submit the plan again" not in bare.output
    succeeded = CliRunner().invoke(main, ["rerun", str(plan), "--task", "load"], env=_env(server))
    assert succeeded.exit_code == 8 and "Batch reactivates only failed tasks" in succeeded.output


def _guarded(tmp_path: Path) -> nx.DiGraph:
    """work (succeeds) -> alert, which runs only if work fails; slow runs beside them."""
    hold = tmp_path / "release-slow"
    g = nx.DiGraph()
    g.graph["job"] = {"id": "guarded", "on_all_tasks_complete": "terminatejob"}
    g.add_node("work", command_line=_sh("echo working"))
    g.add_node("alert", command_line=_sh("echo alert >&2; exit 1"))
    g.add_node(
        "slow",
        command_line=_sh(
            f"i=0; while [ ! -f {shlex.quote(str(hold))} ] && [ $i -lt 300 ]; "
            "do sleep 0.1; i=$((i+1)); done"
        ),
    )
    g.add_edge("work", "alert", when="failure")
    return g


def test_failure_handler_not_needed_is_skipped_by_finish_and_the_job_completes(
    running_emulator: EmulatorServer, tmp_path: Path
) -> None:
    server = running_emulator
    plan = _submit(server, _guarded(tmp_path), tmp_path / "plan")

    # While 'slow' runs, alert can never run, but finish touches nothing: the job still runs.
    early = _until(plan, server, lambda s: any(x.name == "alert" for x in s.stranded))
    assert early.verdict == "running" and early.stranded[0].kind == "skipped"
    report = finish(plan, client=_client(server))
    assert report.verdict_before == "running" and report.terminated == ()
    assert status(plan, client=_client(server)).states["active"] == 1

    (tmp_path / "release-slow").write_text("go")
    stuck = _until(plan, server, lambda s: s.verdict != "running")
    assert stuck.verdict == "stuck" and stuck.finishable
    assert [(s.name, s.kind) for s in stuck.stranded] == [("alert", "skipped")]

    cli = CliRunner().invoke(main, ["finish", str(plan)], env=_env(server))
    assert cli.exit_code == 0, cli.output
    assert "skipped: alert: alert waits on work, which exited 0" in cli.output

    done = _until(plan, server, lambda s: s.verdict != "stuck")
    assert done.verdict == "complete" and done.job_state == "completed"
    assert done.outcomes["skipped"] == 1 and done.outcomes["failed"] == 0
    assert done.outcomes["succeeded"] == 2 and not done.failed
    final = CliRunner().invoke(main, ["status", str(plan)], env=_env(server))
    assert final.exit_code == 0, final.output


def test_watch_finish_ends_a_stuck_job(running_emulator: EmulatorServer, tmp_path: Path) -> None:
    server = running_emulator
    g = nx.DiGraph()
    g.graph["job"] = {"id": "watched", "on_all_tasks_complete": "terminatejob"}
    g.add_node("work", command_line=_sh("echo working"))
    g.add_node("alert", command_line=_sh("echo alert"))
    g.add_edge("work", "alert", when="failure")
    plan = _submit(server, g, tmp_path / "plan")
    out = CliRunner().invoke(
        main,
        ["watch", str(plan), "--finish", "--plain", "--interval", "0.2", "--timeout", str(WAIT_S)],
        env=_env(server),
    )
    assert out.exit_code == 0, out.output
    assert "terminated 1 task(s)" in out.output and "skipped: alert" in out.output
    assert "completions/s" in out.output
    assert "COMPLETE" in out.output


def test_watch_finish_counts_its_terminates(
    running_emulator: EmulatorServer, tmp_path: Path
) -> None:
    """`watch --finish` tells its terminate requests to the progress it is given (the live
    display's line, or stderr's), as `finish` does: a finish of thousands showed nothing."""
    import asyncio

    from dagbatch.observe.service import JobService
    from dagbatch.observe.status import plan_view
    from dagbatch.observe.watch import watch

    server = running_emulator
    g = nx.DiGraph()
    g.graph["job"] = {"id": "watched-finish", "on_all_tasks_complete": "terminatejob"}
    g.add_node("work", command_line=_sh("echo working"))
    for i in range(3):
        g.add_node(f"alert-{i}", command_line=_sh("echo alert"))
        g.add_edge("work", f"alert-{i}", when="failure")
    plan = _submit(server, g, tmp_path / "plan")
    counts: list[tuple[int, int]] = []

    async def run() -> list[str]:
        async with _client(server) as client:
            service = JobService(client, "watched-finish")
            verdicts = []
            async for tick in watch(
                service,
                plan_view(plan, None),
                interval=0.1,
                timeout=WAIT_S,
                finish_when_stuck=True,
                finish_progress=lambda done, total: counts.append((done, total)),
            ):
                verdicts.append(tick.status.verdict)
            return verdicts

    verdicts = asyncio.run(run())
    assert verdicts[-1] == "complete", verdicts
    # Told once the tasks to terminate are known, then as each request ends.
    assert counts[0] == (0, 3) and counts[-1] == (3, 3), counts
    assert [done for done, _ in counts] == sorted(done for done, _ in counts)


def test_watch_timeout_ends_at_the_timeout_not_an_interval_later(
    running_emulator: EmulatorServer, tmp_path: Path
) -> None:
    """`watch --timeout 1 --interval 5` slept a whole interval past the timeout: the last
    refresh now comes at the timeout."""
    import asyncio

    from dagbatch.observe.service import JobService
    from dagbatch.observe.status import plan_view
    from dagbatch.observe.watch import watch

    server = running_emulator
    hold = tmp_path / "go"
    g = nx.DiGraph()
    g.graph["job"] = {"id": "watched-briefly"}
    wait = f"i=0; while [ ! -f {shlex.quote(str(hold))} ] && [ $i -lt 300 ]; do sleep 0.1; "
    g.add_node("slow", command_line=_sh(wait + "i=$((i+1)); done"))
    plan = _submit(server, g, tmp_path / "plan")

    async def run() -> list[float]:
        async with _client(server) as client:
            service = JobService(client, "watched-briefly")
            return [
                tick.elapsed
                async for tick in watch(service, plan_view(plan, None), interval=5.0, timeout=1.0)
            ]

    started = time.monotonic()
    try:
        ticks = asyncio.run(run())
    finally:
        hold.write_text("go")
    assert time.monotonic() - started < 4.5  # not the 5 s interval after the first refresh
    assert len(ticks) == 2 and ticks[-1] >= 1.0, ticks


@pytest.mark.parametrize("over_limit", ["barrier", "renumber"])
def test_barriers_fold_and_renumbered_ids_show_the_users_names(
    running_emulator: EmulatorServer, tmp_path: Path, over_limit: str
) -> None:
    """A tiny dependsOn budget forces barriers (or renumbering into ranges): status still
    speaks of the user's tasks; finish ends the job, terminating the barriers too."""
    from dagbatch.compiler.pipeline import CompileOptions

    server = running_emulator
    g = nx.DiGraph()
    g.graph["job"] = {"id": f"fold-{over_limit}", "on_all_tasks_complete": "terminatejob"}
    shards = [f"shard-{i:02d}" for i in range(12)]
    for s in shards:
        code = 2 if s == "shard-03" else 0
        g.add_node(s, command_line=_sh(f"echo {s} >&2; exit {code}"))
        g.add_edge(s, "reduce")
    g.add_node("reduce", command_line=_sh("echo reduced"))
    budget = 70  # 12 ids of 8 characters are over it; two barrier ids are not
    options = CompileOptions(over_limit=over_limit, taskids_margin=64_000 - budget)  # type: ignore[arg-type]
    compiled = compile_graph(g, options)
    assert compiled.barriers if over_limit == "barrier" else compiled.id_map
    plan = tmp_path / "plan"
    write_plan(compiled, plan)
    assert submit_plan(plan, client=_client(server), create_job=True, pool_id="local").ok

    stuck = _until(plan, server, lambda s: s.verdict != "running")
    assert stuck.verdict == "stuck" and stuck.total == 13
    assert stuck.barriers == len(compiled.barriers)
    assert [(s.name, s.chain) for s in stuck.stranded] == [("reduce", ("reduce", "shard-03"))]
    assert [f.name for f in stuck.failed] == ["shard-03"]
    if over_limit == "barrier":
        assert len(stuck.stranded[0].barriers) == 1  # the barrier over shard-03's slice

    report = finish(plan, client=_client(server))
    assert [s.name for s in report.terminated] == ["reduce"] and not report.errors
    done = _until(plan, server, lambda s: s.verdict != "stuck")
    assert done.verdict == "complete" and done.job_state == "completed"
    assert done.outcomes["cancelled"] == 1 and done.outcomes["failed"] == 1
    assert done.outcomes["succeeded"] == 11


def test_finish_never_starts_a_handler_by_terminating_its_parent(
    running_emulator: EmulatorServer, tmp_path: Path
) -> None:
    """load is stranded behind a failure and alert runs on load's failure: terminating load
    first would complete it with a failure and start alert. finish terminates alert first;
    a later rerun brings both back, parents first, and the handler ends skipped."""
    server = running_emulator
    flag = tmp_path / "fixed"
    g = nx.DiGraph()
    g.graph["job"] = {"id": "handlers"}  # noaction: the job stays open for the rerun
    g.add_node("transform", command_line=_sh(f"test -f {shlex.quote(str(flag))}"))
    g.add_node("load", command_line=_sh("echo loaded"))
    g.add_node("alert", command_line=_sh("echo alert ran >&2"))
    g.add_edge("transform", "load")
    g.add_edge("load", "alert", when="failure")
    plan = _submit(server, g, tmp_path / "plan")
    stuck = _until(plan, server, lambda s: s.verdict != "running")
    assert {s.name for s in stuck.stranded} == {"load", "alert"}

    report = finish(plan, client=_client(server))
    assert {s.name for s in report.terminated} == {"load", "alert"}
    done = _until(plan, server, lambda s: s.verdict != "stuck")
    assert done.verdict == "complete" and done.job_state == "active"
    assert [f.name for f in done.failed] == ["transform"]  # alert never ran
    assert done.outcomes["cancelled"] == 2 and done.outcomes["succeeded"] == 0

    flag.write_text("ok")
    again = rerun(plan, failed=True, client=_client(server))
    assert again.reactivated == ("transform", "load", "alert") and again.ok
    handled = _until(plan, server, lambda s: s.verdict != "running")
    assert handled.verdict == "stuck" and [(s.name, s.kind) for s in handled.stranded] == [
        ("alert", "skipped")
    ]
    finish(plan, client=_client(server))
    end = _until(plan, server, lambda s: s.verdict != "stuck")
    assert end.verdict == "complete" and not end.failed
    assert end.outcomes["succeeded"] == 2 and end.outcomes["skipped"] == 1


def test_watch_reads_the_tasks_again_only_when_the_job_changes(
    running_emulator: EmulatorServer, tmp_path: Path
) -> None:
    """While a task runs and nothing else moves, watch refreshes from the job and its task
    counts and keeps the last listing; the listing is read again once the counts change."""
    import asyncio

    from dagbatch.observe.service import JobService
    from dagbatch.observe.status import plan_view
    from dagbatch.observe.watch import watch

    server = running_emulator
    hold = tmp_path / "go"
    g = nx.DiGraph()
    g.graph["job"] = {"id": "watched-slowly"}
    g.add_node(
        "slow",
        command_line=_sh(
            f"i=0; while [ ! -f {shlex.quote(str(hold))} ] && [ $i -lt 300 ]; "
            "do sleep 0.1; i=$((i+1)); done"
        ),
    )
    plan = _submit(server, g, tmp_path / "plan")
    _until(plan, server, lambda s: s.outcomes["running"] == 1)

    async def run() -> tuple[list[str], int]:
        listings = 0
        async with _client(server) as client:
            service = JobService(client, "watched-slowly")
            pages = service.pages

            def counted(**kw: object):  # type: ignore[no-untyped-def]
                nonlocal listings
                listings += 1
                return pages(**kw)  # type: ignore[arg-type]

            service.pages = counted  # type: ignore[method-assign]
            verdicts: list[str] = []
            async for tick in watch(service, plan_view(plan, None), interval=0.05, timeout=30):
                verdicts.append(tick.status.verdict)
                if len(verdicts) == 4:
                    hold.write_text("go")
            return verdicts, listings

    verdicts, listings = asyncio.run(run())
    assert verdicts[:4] == ["running"] * 4 and verdicts[-1] == "complete"
    assert listings < len(verdicts)  # some refreshes reused the last listing


def test_rerun_by_job_id_brings_back_a_whole_chain_listed_children_first(
    running_emulator: EmulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A job built by another client (the SDK's create_tasks adds its tasks from the end of
    the list) lists a chain's tasks children first. After `finish`, `rerun --job-id` walked
    them in that order and brought back only the failed root and its direct child: the
    grandchild stayed cancelled for good. Every task terminated behind the root comes back,
    parents first."""
    monkeypatch.chdir(tmp_path)  # where a rerun without a plan keeps its record
    server = running_emulator
    flag = tmp_path / "fixed"

    async def build() -> None:
        async with _client(server) as client:
            await client.create_job(
                {"id": "sdk", "poolInfo": {"poolId": "p"}, "usesTaskDependencies": True}
            )
            tasks = [
                {"id": "z", "commandLine": _sh("echo z"), "dependsOn": {"taskIds": ["y"]}},
                {"id": "y", "commandLine": _sh("echo y"), "dependsOn": {"taskIds": ["x"]}},
                {"id": "x", "commandLine": _sh(f"test -f {shlex.quote(str(flag))}")},
            ]
            await client.add_task_collection("sdk", orjson.dumps({"value": tasks}))

    asyncio.run(build())
    stuck = _until_job("sdk", server, lambda s: s.verdict != "running")
    assert {s.name for s in stuck.stranded} == {"y", "z"}
    report = finish(job_id="sdk", client=_client(server))
    assert {s.name for s in report.terminated} == {"y", "z"}
    _until_job("sdk", server, lambda s: s.verdict != "stuck")

    preview = rerun(job_id="sdk", failed=True, client=_client(server), dry_run=True)
    assert preview.plan.reactivate == ("x", "y", "z")
    flag.write_text("ok")
    again = rerun(job_id="sdk", failed=True, client=_client(server))
    assert again.reactivated == ("x", "y", "z") and again.ok
    end = _until_job("sdk", server, lambda s: s.verdict != "running")
    assert end.verdict == "complete" and end.outcomes["succeeded"] == 3, end.to_dict()
    assert not (tmp_path / ".dagbatch").exists()  # the rerun's record went with its folders


def _until_job(job_id: str, server: EmulatorServer, done: Callable[[JobStatus], bool]) -> JobStatus:
    deadline = time.monotonic() + WAIT_S
    while True:
        s = status(job_id=job_id, client=_client(server))
        if done(s):
            return s
        assert time.monotonic() < deadline, f"no such status in {WAIT_S}s: {s.to_dict()}"
        time.sleep(0.2)


def _chain(flag: Path, job: str, length: int) -> nx.DiGraph:
    """root (fails until ``flag`` exists) -> t1 -> ... : a chain that strands behind root."""
    g = nx.DiGraph()
    g.graph["job"] = {"id": job}  # noaction: the job stays open for the reruns
    g.add_node("root", command_line=_sh(f"test -f {shlex.quote(str(flag))}"))
    prev = "root"
    for k in range(1, length):
        g.add_node(f"t{k}", command_line=_sh(f"echo {k}"))
        g.add_edge(prev, f"t{k}")
        prev = f"t{k}"
    return g


def _act(server: EmulatorServer, job: str, verb: str, *tasks: str) -> None:
    """Reactivate or terminate ``tasks`` one by one, as a command cut short would have."""
    from dagbatch.observe.service import JobService

    async def go() -> None:
        async with _client(server) as client:
            service = JobService(client, job)
            for t in tasks:
                await getattr(service, verb)(t)

    asyncio.run(go())


def test_a_rerun_cut_short_is_finished_by_the_next_one(
    running_emulator: EmulatorServer, tmp_path: Path
) -> None:
    """Ctrl-C during `rerun --failed` left the root and the first link reactivated (the root
    then failed again) and the rest terminated; the next `rerun --failed` brought back the
    root alone (the rest were terminated before the root's new end, so read as the user's
    doing), and 97,887 of 122,151 tasks stayed cancelled in a review. What a rerun is
    bringing back is written down first; the next one brings back what is still
    terminated, and the record goes once a rerun ends."""
    from dagbatch.observe import steer
    from dagbatch.observe.status import WorkflowView
    from dagbatch.plan import load_plan

    server = running_emulator
    flag = tmp_path / "fixed"
    plan = _submit(server, _chain(flag, "cut", 5), tmp_path / "plan")
    _until(plan, server, lambda s: s.verdict != "running")
    finish(plan, client=_client(server))
    _until(plan, server, lambda s: s.verdict == "complete")
    # What the cut-short rerun had written down, and done before Ctrl-C.
    view = WorkflowView.from_plan(load_plan(plan))
    view = WorkflowView(**{**view.__dict__, "plan_dir": str(plan)})
    steer.write_pending(view, ["root", "t1", "t2", "t3", "t4"], _job(server, "cut"))
    _act(server, "cut", "reactivate", "root", "t1")
    _until(plan, server, lambda s: s.verdict != "running")  # root failed again
    assert steer.pending_path(view).is_file()
    # A rerun of the root alone in between (it fails again) keeps the rest on the record:
    # it overwrote the record with its own, then removed it.
    assert rerun(plan, tasks=["root"], client=_client(server)).reactivated == ("root",)
    _until(plan, server, lambda s: s.verdict != "running")
    assert {"t2", "t3", "t4"} <= steer.read_pending(view, _job(server, "cut"))
    preview = rerun(plan, failed=True, client=_client(server), dry_run=True)
    assert preview.plan.reactivate == ("root", "t2", "t3", "t4")
    flag.write_text("ok")
    counted: list[tuple[int, int]] = []
    again = rerun(plan, failed=True, client=_client(server), progress=lambda *c: counted.append(c))
    assert again.ok and not steer.pending_path(view).exists()
    # One reactivate a task, counted (a rerun of 122,151 tasks said nothing for 44 s).
    assert counted[0] == (0, 4) and counted[-1] == (4, 4) and len(counted) == 5
    end = _until(plan, server, lambda s: s.verdict != "running")
    assert end.verdict == "complete" and end.outcomes["succeeded"] == 5, end.to_dict()


def _job(server: EmulatorServer, job_id: str) -> dict[str, Any]:
    async def get() -> dict[str, Any]:
        async with _client(server) as client:
            answer = await client.get_job(job_id)
            assert answer.status == 200, answer.body
            return dict(answer.body)

    return asyncio.run(get())


def test_a_rerun_record_of_a_deleted_job_is_not_read_for_a_new_one_of_its_id(
    running_emulator: EmulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The record of a rerun cut short named only the job id: a job deleted and made again
    under that id had the old job's tasks brought back, whatever its own times said. Here
    the new job's "child" was terminated by its user while "root" still ran, which a rerun
    leaves as the user left it; the old record named it."""
    from dagbatch.observe import steer
    from dagbatch.observe.status import WorkflowView

    monkeypatch.chdir(tmp_path)  # where a rerun without a plan keeps its record
    server = running_emulator
    gate = tmp_path / "gate"

    async def make(tasks: list[dict[str, Any]], *, delete: bool = False) -> None:
        async with _client(server) as client:
            if delete:
                await client.call("DELETE", "/jobs/again")
                while (await client.get_job("again")).status == 200:
                    await asyncio.sleep(0.05)
            await client.create_job(
                {"id": "again", "poolInfo": {"poolId": "p"}, "usesTaskDependencies": True}
            )
            await client.add_task_collection("again", orjson.dumps({"value": tasks}))

    root = {"id": "root", "commandLine": _sh("exit 1")}
    child = {"id": "child", "commandLine": _sh("echo c"), "dependsOn": {"taskIds": ["root"]}}
    asyncio.run(make([root, child]))
    _until_job("again", server, lambda s: s.verdict != "running")
    view = WorkflowView.from_service("again", {})  # pending_path reads only the job id
    # the old job's rerun, cut short, had written down both tasks
    steer.write_pending(view, ["root", "child"], _job(server, "again"))
    time.sleep(0.01)  # the new job's creationTime differs from the old one's

    wait = f"while [ ! -f {shlex.quote(str(gate))} ]; do sleep 0.05; done; exit 1"
    waiting_root = {"id": "root", "commandLine": _sh(wait)}
    asyncio.run(make([waiting_root, child], delete=True))
    _act(server, "again", "terminate", "child")  # the user's doing, while root runs
    gate.write_text("go")
    _until_job("again", server, lambda s: s.verdict != "running")
    assert steer.read_pending(view, _job(server, "again")) == frozenset()
    preview = rerun(job_id="again", failed=True, client=_client(server), dry_run=True)
    assert preview.plan.reactivate == ("root",)


def test_a_finish_cut_short_leaves_nothing_behind_a_rerun(
    running_emulator: EmulatorServer, tmp_path: Path
) -> None:
    """Ctrl-C during `finish` left part of a chain terminated and part still waiting; a
    rerun walked only through terminated tasks, so what was terminated behind a waiting one
    stayed cancelled. It comes back through the waiting ones too."""
    server = running_emulator
    flag = tmp_path / "fixed"
    plan = _submit(server, _chain(flag, "half", 4), tmp_path / "plan")
    _until(plan, server, lambda s: s.verdict != "running")
    _act(server, "half", "terminate", "t3", "t2")  # t1 still waits on root
    flag.write_text("ok")
    preview = rerun(plan, failed=True, client=_client(server), dry_run=True)
    assert preview.plan.reactivate == ("root", "t2", "t3")
    rerun(plan, failed=True, client=_client(server))
    end = _until(plan, server, lambda s: s.verdict != "running")
    assert end.verdict == "complete" and end.outcomes["succeeded"] == 4, end.to_dict()


def test_tasks_added_by_hand_beside_the_plans_are_analysed_as_its_own(
    running_emulator: EmulatorServer, tmp_path: Path
) -> None:
    """A task added to the job by hand behind a failed task, read with the plan, had no
    definition: it read as waiting, the stuck job as running (exit 6), and `finish` refused
    to end it, while `status --job-id` (no plan) said stuck. Their own dependsOn is read."""
    server = running_emulator
    g = nx.DiGraph()
    g.graph["job"] = {"id": "byhand"}
    g.add_node("b", command_line=_sh("exit 2"))
    g.add_node("c", command_line=_sh("echo c"))
    g.add_edge("b", "c")
    plan = _submit(server, g, tmp_path / "plan")
    _until(plan, server, lambda s: s.outcomes.get("failed") == 1)

    by_hand = {"commandLine": "/bin/true"}
    add_task_directly(server, "byhand", {"id": "extra", **by_hand, "dependsOn": {"taskIds": ["b"]}})
    add_task_directly(server, "byhand", {"id": "free", **by_hand})
    s = _until(plan, server, lambda s: s.outcomes.get("succeeded") == 1)  # free ran
    assert s.verdict == "stuck", s.to_dict()
    assert s.not_in_plan == ("extra", "free")
    assert sorted(x.name for x in s.stranded) == ["c", "extra"]
    with_plan = CliRunner().invoke(main, ["status", str(plan)], env=_env(server))
    by_id = CliRunner().invoke(main, ["status", "--job-id", "byhand"], env=_env(server))
    assert with_plan.exit_code == by_id.exit_code == 5, with_plan.output + by_id.output
    report = finish(plan, client=_client(server))
    assert sorted(strand.task_id for strand in report.terminated) == ["c", "extra"]


def test_a_resume_into_a_job_missing_a_task_beside_others_added_says_so(
    running_emulator: EmulatorServer, tmp_path: Path
) -> None:
    """A task deleted by hand, and others added beside the plan's: the job held as many
    tasks as the plan or more, so `submit --resume` (nothing left to send) reported the
    submission whole; its ids are now listed, and the deleted task is named."""
    server = running_emulator
    g = nx.DiGraph()
    g.graph["job"] = {"id": "deleted"}
    for name in ("a", "b", "c"):
        g.add_node(name, command_line="/bin/true")
    plan = _submit(server, g, tmp_path / "plan")

    async def delete_c() -> None:
        async with _client(server) as client:
            await client.call("DELETE", "/jobs/deleted/tasks/c")

    asyncio.run(delete_c())
    for name in ("x", "y"):  # added by hand beside the plan's
        add_task_directly(server, "deleted", {"id": name, "commandLine": "/bin/true"})
    report = submit_plan(plan, client=_client(server), resume=True)
    assert not report.ok
    assert [(f.task_id, f.code) for f in report.failures] == [("c", "TaskMissing")]
    assert report.job_task_count == 4
