"""`dagbatch finish` tells how far it is: the library's ``progress(done, total)`` hears of
every terminate request against the emulator over loopback, and the command draws it on
stderr as the other long commands do (a line rewritten in place on a terminal, nothing
for a quick run otherwise, nothing with -q)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from dagbatch.cli.main import main
from dagbatch.emulator.server import EmulatorServer
from dagbatch.emulator.simulate import SimulatedRunner
from dagbatch.observe import finish
from dagbatch.observe.progress import CountLine, count_progress
from tests.submit_helpers import env_for, make_client, submit_stuck_fan

#: Longest a test waits for the job to be stuck.
WAIT_S = 30.0
#: Tasks stranded behind the failing root.
CHILDREN = 40


@pytest.fixture
def simulated() -> Iterator[EmulatorServer]:
    """Simulated tasks; 'root' exits 1 (after the tasks are all in)."""
    server = EmulatorServer(runner=SimulatedRunner({"root": (1, 0.2)})).start()
    try:
        yield server
    finally:
        server.stop()


def _stuck_plan(server: EmulatorServer, tmp_path: Path) -> Path:
    """root fails; CHILDREN tasks wait on it for ever (the job stays open: noaction)."""
    plan = tmp_path / "plan"
    s = submit_stuck_fan(server, plan, job_id="many", children=CHILDREN, wait_s=WAIT_S)
    assert s.outcomes["stranded"] == CHILDREN
    return plan


def test_finish_reports_each_terminate_request(simulated: EmulatorServer, tmp_path: Path) -> None:
    plan = _stuck_plan(simulated, tmp_path)
    heard: list[tuple[int, int]] = []
    report = finish(plan, client=make_client(simulated), progress=lambda d, t: heard.append((d, t)))
    assert len(report.terminated) == CHILDREN and not report.errors
    assert heard == [(n, CHILDREN) for n in range(CHILDREN + 1)]
    # Nothing left to terminate: never called.
    again: list[tuple[int, int]] = []
    finish(plan, client=make_client(simulated), progress=lambda d, t: again.append((d, t)))
    assert again == []


def test_finish_command_is_quiet_off_a_terminal_and_with_q(
    simulated: EmulatorServer, tmp_path: Path
) -> None:
    plan = _stuck_plan(simulated, tmp_path)
    out = CliRunner().invoke(main, ["finish", str(plan), "-q"], env=env_for(simulated))
    assert out.exit_code == 0, out.output
    assert out.stdout.startswith(f"terminated {CHILDREN} task(s) that could never run")
    assert out.stderr == ""


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_line_is_rewritten_on_a_terminal_and_erased_at_the_end() -> None:
    stream, clock = _Terminal(), _Clock()
    line = CountLine("terminating", stream, clock=clock)
    line(0, 1000)
    line(10, 1000)  # within a tenth of a second: not drawn again
    clock.now += 1.0
    line(500, 1000)
    drawn = stream.getvalue()
    assert drawn.count("\r") == 2 and drawn.endswith("terminating: 500/1,000 (50%), 500/s\x1b[K")
    clock.now += 0.01
    line(1000, 1000)  # the last one is never skipped: the line is erased for the report
    assert stream.getvalue().endswith("\r\x1b[K")


def test_plain_lines_only_every_ten_seconds_and_none_when_quiet() -> None:
    stream, clock = io.StringIO(), _Clock()
    line = CountLine("terminating", stream, clock=clock)
    for done in range(0, 101):
        clock.now += 0.05
        line(done, 100)
    assert stream.getvalue() == ""  # a quick run prints nothing
    slow = CountLine("terminating", stream, clock=clock)
    slow(0, 100)
    clock.now += 10.0
    slow(30, 100)
    slow(100, 100)
    assert stream.getvalue() == "terminating: 30/100 (30%), 3/s\n"
    assert count_progress("terminating", quiet=True) is None
