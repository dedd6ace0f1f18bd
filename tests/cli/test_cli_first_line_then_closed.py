"""`dagbatch run`, `submit` and `validate --format json` whose reader takes the first line and
closes standard output (`| head -1`) end with 141 and a quiet stderr (README, "Exit codes"),
as `compile`, `show` and `status --json` do.

Each command runs as a user runs it, in a subprocess whose standard output is a real pipe.
The pipe is made as small as Linux allows (one page, 4 KiB) and every command here writes
more than that, so the command is still writing when the test closes the pipe: the outcome
does not depend on who is faster."""

from __future__ import annotations

import asyncio
import fcntl
import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from dagbatch.emulator.server import EmulatorServer
from tests.plan_factory import layered_plan
from tests.submit_helpers import create_job, env_for, make_client

ROOT = Path(__file__).resolve().parents[2]
#: One page: the smallest capacity a Linux pipe takes.
PIPE_CAPACITY = 4096

pytestmark = pytest.mark.skipif(
    not hasattr(fcntl, "F_SETPIPE_SZ"), reason="needs Linux's F_SETPIPE_SZ to size the pipe"
)


def first_line_then_close(
    args: list[str], *, env: dict[str, str] | None = None, cwd: Path = ROOT
) -> tuple[int, bytes, str]:
    """Run ``dagbatch ARGS`` with standard output a one-page pipe; read its first line byte by
    byte (nothing more leaves the pipe), close the pipe: the exit code, that line, stderr."""
    read_end, write_end = os.pipe()
    try:
        fcntl.fcntl(write_end, fcntl.F_SETPIPE_SZ, PIPE_CAPACITY)
        proc = subprocess.Popen(
            [sys.executable, "-m", "dagbatch", *args],
            stdout=write_end,
            stderr=subprocess.PIPE,
            env={**os.environ, **(env or {})},
            cwd=cwd,
        )
    finally:
        os.close(write_end)
    line = b""
    try:
        while not line.endswith(b"\n"):
            byte = os.read(read_end, 1)
            if not byte:  # the command ended without a whole line
                break
            line += byte
    finally:
        os.close(read_end)
    assert proc.stderr is not None
    try:
        err = proc.stderr.read().decode()
        code = proc.wait(timeout=120)
    finally:
        proc.stderr.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return code, line, err


def quiet(err: str) -> bool:
    """Nothing on stderr that says the output broke: no traceback, no "Exception ignored"."""
    return "Traceback" not in err and "Exception ignored" not in err and "BrokenPipe" not in err


def stranding_workflow(path: Path, pairs: int) -> list[str]:
    """``pairs`` root tasks, each with a dependent that waits on it, all with long ids: with
    the roots failing (the ``--fail`` options returned), the run's report has a wide row for
    each failed root and for each dependent that never ran (stranded by its own root, so the
    report cannot fold them into one row)."""
    path.write_text(
        "import networkx as nx\n"
        "graph = nx.DiGraph()\n"
        "graph.graph['job'] = {'id': 'strand', 'pool_id': 'p'}\n"
        f"for k in range({pairs}):\n"
        "    root = f'a-root-task-whose-failure-strands-the-task-after-it-number-{k:04d}'\n"
        "    name = f'a-dependent-task-with-a-long-name-that-never-runs-number-{k:04d}'\n"
        "    graph.add_node(root, command_line='x')\n"
        "    graph.add_node(name, command_line='x')\n"
        "    graph.add_edge(root, name)\n",
        encoding="utf-8",
    )
    return [
        arg
        for k in range(pairs)
        for arg in ("--fail", f"a-root-task-whose-failure-strands-the-task-after-it-number-{k:04d}")
    ]


def test_run_ends_with_141_and_still_writes_its_report_file(tmp_path: Path) -> None:
    workflow = tmp_path / "strand.py"
    fail = stranding_workflow(workflow, 30)
    report = tmp_path / "report.json"
    args = [
        "run",
        str(workflow),
        "--simulate",
        *fail,
        "-q",
        "--workdir",
        str(tmp_path / "work"),
        "--report",
        str(report),
    ]
    code, line, err = first_line_then_close(args, cwd=tmp_path)
    assert code == 141, err
    assert line == b"job strand: active\n"  # the report's first line
    assert err == "", err
    # The files the user asked for are written before standard output, so a reader that
    # stops early does not cost them.
    written = orjson.loads(report.read_bytes())
    assert written["verdict"] == "tasks-failed"
    assert written["counts"]["failed"] == 30 and written["counts"]["neverRan"] == 30


def test_run_says_a_file_it_could_not_write_even_when_the_reader_left(tmp_path: Path) -> None:
    """/dev/full takes no byte (ENOSPC): the warning reaches stderr though stdout's reader
    has gone (`| true`: it never reads), so a missing report file never goes without a
    word."""
    workflow = tmp_path / "strand.py"
    fail = stranding_workflow(workflow, 30)
    args = ["run", str(workflow), "--simulate", *fail, "-q"]
    args += ["--workdir", str(tmp_path / "work"), "--report", "/dev/full"]
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the command writes anything
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "dagbatch", *args],
            stdout=write_end,
            stderr=subprocess.PIPE,
            cwd=tmp_path,
            timeout=120,
        )
    finally:
        os.close(write_end)
    err = proc.stderr.decode()
    assert proc.returncode == 141, err
    assert err.strip() == "warning: could not write /dev/full: No space left on device", err


def test_submit_ends_with_141(emulator: EmulatorServer, tmp_path: Path) -> None:
    # Every task of the plan is already in the job with another command line: each is a
    # conflict, and the report lists 50 of them (more than a page).
    plan = layered_plan(tmp_path / "plan", tasks=60, waves=1, pool_id="p")
    create_job(emulator)

    async def add_others() -> None:
        async with make_client(emulator) as client:
            body = {"value": [{"id": f"t1-{i}", "commandLine": "not ours"} for i in range(60)]}
            results = await client.add_task_collection("job", orjson.dumps(body))
            assert all(r.status == "success" for r in results)

    asyncio.run(add_others())
    code, line, err = first_line_then_close(
        ["submit", str(plan), "--job-id", "job", "-q"], env=env_for(emulator)
    )
    assert code == 141, err
    assert line.startswith(b"submission of job 'job' INCOMPLETE: 0/60 tasks confirmed"), line
    assert err == "", err
    report = orjson.loads((plan / "journal-job.report.json").read_bytes())
    assert len(report["failures"]) == 60  # the JSON report is written before stdout


def test_validate_json_ends_with_141(tmp_path: Path) -> None:
    workflow = tmp_path / "bad.py"
    workflow.write_text(
        "import networkx as nx\n"
        "graph = nx.DiGraph()\n"
        "graph.graph['job'] = {'id': 'bad', 'pool_id': 'p'}\n"
        "for k in range(40):\n"
        "    graph.add_node(f't{k}', command_line='x',\n"
        "                   constraints={'max_wall_clock_time': 'soon'})\n",
        encoding="utf-8",
    )
    code, line, err = first_line_then_close(
        ["validate", str(workflow), "--format", "json", "--all"]
    )
    assert code == 141, err
    assert orjson.loads(line)["code"] == "invalid-duration"
    assert quiet(err) and err == "", err
