"""A reader that stops early (`| head -c 10`) ends every command that writes one large block
on standard output with 141, as `compile --format jsonl | head` does (README, "Exit codes"):
`show` and `status --json`. Each runs as a user runs it, in a subprocess whose standard output
is a pipe the test closes after a few bytes."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

from dagbatch.emulator import DEV_ACCOUNT, DEV_KEY
from dagbatch.emulator.server import EmulatorServer
from dagbatch.submit.client import BatchClient, SharedKeyAuth
from tests.submit_helpers import env_for

ROOT = Path(__file__).resolve().parents[2]
WIDE = str(ROOT / "examples" / "wide_fanin.py")
#: Twice a pipe's capacity (64 KiB on Linux): the command is still writing when the reader
#: goes.
LARGE = 2 * 65_536


def chain_workflow(path: Path, tasks: int) -> Path:
    """A workflow of one chain of ``tasks`` tasks (its unfolded picture is large)."""
    path.write_text(
        "import networkx as nx\n"
        "graph = nx.DiGraph()\n"
        "graph.graph['job'] = {'id': 'big', 'pool_id': 'p'}\n"
        f"for k in range({tasks}):\n"
        "    graph.add_node(f'task-{k:04d}', command_line='x')\n"
        "    if k:\n"
        "        graph.add_edge(f'task-{k - 1:04d}', f'task-{k:04d}')\n",
        encoding="utf-8",
    )
    return path


def read_a_little(args: list[str], env: dict[str, str] | None = None) -> tuple[int, bytes, str]:
    """Run ``dagbatch ARGS``, read 10 bytes of its standard output and close it: the exit
    code, those bytes and standard error."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "dagbatch", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, **(env or {})},
        cwd=ROOT,
    )
    assert proc.stdout is not None and proc.stderr is not None
    first = proc.stdout.read(10)
    proc.stdout.close()
    err = proc.stderr.read().decode()
    proc.stderr.close()
    return proc.wait(timeout=120), first, err


def read_all(args: list[str], env: dict[str, str] | None = None) -> tuple[int, bytes]:
    """Run ``dagbatch ARGS`` with its whole standard output read: the exit code and it."""
    done = subprocess.run(
        [sys.executable, "-m", "dagbatch", *args],
        capture_output=True,
        env={**os.environ, **(env or {})},
        cwd=ROOT,
        timeout=120,
    )
    return done.returncode, done.stdout


def test_show_ends_with_141_when_its_reader_stops_early(tmp_path: Path) -> None:
    big = str(chain_workflow(tmp_path / "big.py", 400))
    for fmt in ("svg", "html"):
        args = ["show", big, "--no-fold", "--format", fmt]
        code, whole = read_all(args)
        assert code == 0 and len(whole) > LARGE, fmt  # all of it is written when it is read
        code, first, err = read_a_little(args)
        assert code == 141, (fmt, err)
        assert len(first) == 10
        assert "Traceback" not in err and "BrokenPipe" not in err


def test_status_json_ends_with_141_when_its_reader_stops_early(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    plan = tmp_path / "plan"
    subprocess.run(
        [sys.executable, "-m", "dagbatch", "compile", WIDE, "--out", str(plan), "-q"],
        check=True,
        timeout=120,
        capture_output=True,
    )

    async def empty_job() -> None:
        async with BatchClient(emulator.endpoint, SharedKeyAuth(DEV_ACCOUNT, DEV_KEY)) as client:
            await client.create_job({"id": "render-film", "poolInfo": {"poolId": "p"}})

    asyncio.run(empty_job())
    env = env_for(emulator)
    # The job holds none of the 3,001 tasks yet: the report lists every one not in the job.
    args = ["status", str(plan), "--json"]
    code, whole = read_all(args, env)
    assert code not in (0, 141) and len(whole) > LARGE and whole.endswith(b"}\n")
    code, first, err = read_a_little(args, env)
    assert code == 141, err
    assert first == whole[:10]
    assert "Traceback" not in err and "BrokenPipe" not in err
