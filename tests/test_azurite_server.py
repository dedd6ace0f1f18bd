"""The tests' own Azurite does not outlive them: killed with its test process, however that
process ends (tests/azurite_server.py)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.azurite_server import REPO, ensure_azurite

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="prctl is Linux's")

#: Starts Azurite as the tests do, prints its pid, then dies without any cleanup (SIGKILL).
_START_THEN_DIE = """
import os, signal, sys
from pathlib import Path
from tests.azurite_server import start_azurite
server = start_azurite(Path(sys.argv[1]))
print(server.process.pid, flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (ended, not yet reaped by init) counts as gone.
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().split(") ", 1)[1][0] != "Z"


def test_azurite_ends_with_a_test_process_killed_by_a_signal(tmp_path: Path) -> None:
    """A test run cut short by a signal left its Azurite running, orphaned (stop() runs
    only at a normal end); the parent-death signal ends it with the process that started
    it."""
    ensure_azurite()
    done = subprocess.run(
        [sys.executable, "-c", _START_THEN_DIE, str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        timeout=120,
    )
    assert done.returncode == -9, done.stderr
    pid = int(done.stdout.split()[0])
    deadline = time.monotonic() + 15
    while _alive(pid):
        assert time.monotonic() < deadline, f"Azurite (pid {pid}) outlived its test process"
        time.sleep(0.05)
