"""One wording for a job the service does not hold, whichever command reads it (status,
watch, rerun, finish, show --job-id), with where to look; and a --task name no task has,
worded from the job's side. Against the emulator over loopback."""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path

import networkx as nx
import orjson
from click.testing import CliRunner

from dagbatch.cli.main import main
from dagbatch.compiler.export import write_plan
from dagbatch.compiler.pipeline import compile_graph
from dagbatch.emulator.server import EmulatorServer
from dagbatch.submit.submission import submit_plan
from tests.submit_helpers import env_for, make_client


def _plan(tmp_path: Path) -> Path:
    g = nx.DiGraph()
    g.graph["job"] = {"id": "flaky"}
    for name in ("extract", "transform", "load"):
        g.add_node(name, command_line="/bin/true")
    g.add_edge("extract", "transform")
    g.add_edge("transform", "load")
    plan = tmp_path / "plan"
    write_plan(compile_graph(g), plan)
    return plan


def test_a_missing_job_is_said_one_way_by_every_command(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    plan = str(_plan(tmp_path))
    commands = [
        ["status", "--job-id", "nosuch"],
        ["watch", "--job-id", "nosuch", "--timeout", "5"],
        ["rerun", "--job-id", "nosuch", "--failed"],
        ["finish", "--job-id", "nosuch"],
        ["status", plan, "--job-id", "nosuch"],
        ["show", plan, "--job-id", "nosuch"],
    ]
    expected = (
        "error: the service refused the request: HTTP 404 JobNotFound: job 'nosuch' does not "
        f"exist at {emulator.endpoint}: is the endpoint right (AZURE_BATCH_ENDPOINT / "
        "--endpoint), and the job id, and was the job created there? (the emulator keeps "
        "its jobs in memory: after a restart, submit the plan again with `dagbatch submit "
        "PLAN_DIR --create-job`)\n"
    )
    for args in commands:
        out = CliRunner().invoke(main, args, env=env_for(emulator))
        assert (out.exit_code, out.stderr, out.stdout) == (3, expected, ""), args
    # The emulator's note is for an endpoint on this machine only: it read the same for
    # the service's.
    from dagbatch.observe.service import job_not_found

    remote = str(job_not_found("nosuch", "https://acct.westeurope.batch.azure.com"))
    assert remote.endswith("and was the job created there?"), remote
    assert "emulator" not in remote
    assert "emulator keeps its jobs" in str(job_not_found("x", "http://localhost:8470"))


def test_rerun_of_a_task_the_job_does_not_hold_reads_well(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    plan = _plan(tmp_path)

    assert submit_plan(plan, client=make_client(emulator), create_job=True, pool_id="p").ok
    out = CliRunner().invoke(
        main, ["rerun", str(plan), "--task", "transfrom"], env=env_for(emulator)
    )
    assert out.exit_code == 2
    assert out.stderr == (
        "error: --task: job flaky holds no task 'transfrom' (did you mean 'transform'?)\n"
    )
    out = CliRunner().invoke(
        main, ["rerun", str(plan), "--task", "transfrom", "--task", "lod"], env=env_for(emulator)
    )
    assert out.exit_code == 2
    assert out.stderr == (
        "error: --task: job flaky holds none of these 2 tasks: 'transfrom' (did you mean "
        "'transform'?), 'lod' (did you mean 'load'?)\n"
    )


def test_a_job_completed_before_its_tasks_were_added_is_said_so(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    """onAllTasksComplete terminatejob set on a job before its tasks are added completes it
    at once (AllTasksComplete), and no task can be added then. status and watch called it
    RUNNING for ever (exit 6); it is ended, with why and what to do."""
    plan = _plan(tmp_path)

    async def make() -> None:
        async with make_client(emulator) as client:
            for job in ("early", "flaky"):
                await client.create_job(
                    {"id": job, "poolInfo": {"poolId": "p"}, "onAllTasksComplete": "terminatejob"}
                )

    asyncio.run(make())
    time.sleep(1.2)
    env = env_for(emulator)
    out = CliRunner().invoke(main, ["status", "--job-id", "early"], env=env)
    # The time it ran, not its age now: it ended the moment it was created.
    took = re.search(r"; the job took ([\d.]+)s\n", out.stdout)
    assert took is not None and float(took.group(1)) < 1.0, out.stdout
    for args in (
        ["status", "--job-id", "early"],
        ["watch", "--job-id", "early", "--timeout", "5"],
        ["status", str(plan)],
    ):
        out = CliRunner().invoke(main, args, env=env)
        assert out.exit_code == 7, (args, out.output)
        assert "TERMINATED (AllTasksComplete)" in out.stdout, (args, out.stdout)
        assert "set it after the last task is added" in out.stdout, (args, out.stdout)
        before = "3 task(s) of the plan were" if str(plan) in args else "any task was"
        assert f"before {before} added" in out.stdout, (args, out.stdout)
        assert "--resume" not in out.stdout, out.stdout  # a completed job takes no task


def test_tasks_waiting_on_each_other_are_stuck_and_finish_ends_them() -> None:
    """A job built by another client can hold a dependency cycle (a merge task whose range
    holds its own id; two tasks naming each other): none of its tasks ever starts, and
    status and watch said RUNNING for ever while finish would not touch them. They are
    said to wait on each other, the job is stuck, and finish ends them."""
    from dagbatch.emulator.simulate import SimulatedRunner

    server = EmulatorServer(runner=SimulatedRunner({})).start()
    try:

        async def make() -> None:
            async with make_client(server) as client:
                await client.create_job(
                    {"id": "cyc", "poolInfo": {"poolId": "p"}, "usesTaskDependencies": True}
                )
                tasks = [{"id": str(i), "commandLine": "echo"} for i in (1, 2, 3)] + [
                    {
                        "id": "4",
                        "commandLine": "merge",
                        "dependsOn": {"taskIdRanges": [{"start": 1, "end": 4}]},
                    },
                    {"id": "a", "commandLine": "x", "dependsOn": {"taskIds": ["b"]}},
                    {"id": "b", "commandLine": "x", "dependsOn": {"taskIds": ["a"]}},
                ]
                await client.add_task_collection("cyc", orjson.dumps({"value": tasks}))

        asyncio.run(make())
        env = env_for(server)
        deadline = time.monotonic() + 30
        while True:
            out = CliRunner().invoke(main, ["status", "--job-id", "cyc"], env=env)
            if out.exit_code != 6 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert out.exit_code == 5, out.stdout
        assert "STUCK" in out.stdout and "a dependency cycle" in out.stdout, out.stdout
        assert "[cycle] 4 waits on 4: tasks that wait on each other never start" in out.stdout
        assert "[cycle] a waits on b, which waits on a" in out.stdout
        watched = CliRunner().invoke(main, ["watch", "--job-id", "cyc", "--plain"], env=env)
        assert watched.exit_code == 5, watched.stdout
        ended = CliRunner().invoke(main, ["finish", "--job-id", "cyc"], env=env)
        assert ended.exit_code == 0, ended.stdout
        assert "3 in or behind a dependency cycle" in ended.stdout, ended.stdout
        after = CliRunner().invoke(main, ["status", "--job-id", "cyc", "--json"], env=env)
        assert orjson.loads(after.stdout)["outcomes"]["cancelled"] == 3, after.stdout
    finally:
        server.stop()


def test_a_submission_cut_short_is_told_how_to_finish_while_tasks_run(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    """A job holding part of the plan, its tasks still waiting (a submit cut short): the
    status said the rest was 'not submitted?' and never named `submit --resume`."""
    plan = _plan(tmp_path)

    async def make() -> None:
        async with make_client(emulator) as client:
            await client.create_job(
                {"id": "flaky", "poolInfo": {"poolId": "p"}, "usesTaskDependencies": True}
            )
            first = {"id": "extract", "commandLine": "/bin/true"}
            await client.add_task_collection("flaky", orjson.dumps({"value": [first]}))

    asyncio.run(make())
    out = CliRunner().invoke(main, ["status", str(plan)], env=env_for(emulator))
    assert out.exit_code == 6, out.output
    assert (
        "2 task(s) of the plan are not in the job (was its submission cut short? "
        f"`dagbatch submit {plan} --resume` finishes it; if they were deleted after they "
        "landed, it refuses: submit the plan to a new job (--job-id NEW --create-job))"
    ) in out.stdout
