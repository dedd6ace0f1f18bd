"""Reading a large job and analysing it take seconds (200,000 tasks: 200 pages, then the
analysis): `status`, `watch`, `rerun`, `finish` and `show --job-id` count both on stderr as
`finish` counts its terminates (a line rewritten in place on a terminal and erased before the
report, nothing for a quick read otherwise), and --json's stdout stays one JSON object."""

from __future__ import annotations

import importlib
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import networkx as nx
import orjson
import pytest
from click.testing import CliRunner

from dagbatch.asyncrun import run_coroutine
from dagbatch.cli.main import main
from dagbatch.compiler.export import write_plan
from dagbatch.compiler.pipeline import compile_graph
from dagbatch.emulator.server import EmulatorServer
from dagbatch.emulator.simulate import SimulatedRunner
from dagbatch.observe import progress, service, stranded
from dagbatch.observe.progress import ANALYSING, LISTING, CountLine
from dagbatch.observe.service import JobService
from dagbatch.observe.status import build_status, plan_view, read_snapshot
from dagbatch.show import live
from tests.submit_helpers import env_for, make_client, submit_stuck_fan

#: Tasks stranded behind the failing root.
CHILDREN = 40
TASKS = CHILDREN + 1
#: Longest a test waits for the job to be stuck.
WAIT_S = 30.0


@pytest.fixture
def stuck(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[EmulatorServer, Path]]:
    """'root' exits 1 and CHILDREN tasks wait on it for ever; the tasks are listed 5 a page
    and the analysis tells its progress every 8 tasks, so a small job shows them."""
    monkeypatch.setattr(service, "PAGE_SIZE", 5)
    monkeypatch.setattr(stranded, "PROGRESS_EVERY", 8)
    # (``dagbatch.observe.status`` is the module; the package's ``status`` is a function.)
    monkeypatch.setattr(importlib.import_module("dagbatch.observe.status"), "PROGRESS_EVERY", 8)
    monkeypatch.setattr(live, "PROGRESS_EVERY", 8)
    server = EmulatorServer(runner=SimulatedRunner({"root": (1, 0.2)})).start()
    try:
        plan = tmp_path / "plan"
        submit_stuck_fan(server, plan, job_id="read", children=CHILDREN, wait_s=WAIT_S)
        yield server, plan
    finally:
        server.stop()


def _counted(heard: list[tuple[int, int]], total: int) -> None:
    """One count of ``total``, never going back, ending complete."""
    assert heard and heard[-1] == (total, total)
    assert all(t == total for _, t in heard)
    dones = [d for d, _ in heard]
    assert dones == sorted(dones)


def test_the_listing_and_the_analysis_tell_how_far_they_are(
    stuck: tuple[EmulatorServer, Path],
) -> None:
    server, plan = stuck
    listed: list[tuple[int, int]] = []
    analysed: list[tuple[int, int]] = []

    async def read() -> Any:
        async with make_client(server) as client:
            return await read_snapshot(
                JobService(client, "read"),
                plan_view(plan, None),
                progress=lambda d, t: listed.append((d, t)),
            )

    view, snap = run_coroutine(read())
    _counted(listed, TASKS)
    assert len(listed) >= 2  # pages of 5: told of before the end
    got, _ = build_status(view, snap, progress=lambda d, t: analysed.append((d, t)))
    _counted(analysed, TASKS)
    assert analysed[0] == (0, TASKS) and len(analysed) > 3
    assert got == build_status(view, snap)[0]  # the same status, told or not


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


COMMANDS = {
    "status": (["status", "--json"], True),
    "rerun": (["rerun", "--failed", "--dry-run", "--json"], True),
    "finish": (["finish", "--json"], True),
    "watch": (["watch", "--plain", "--timeout", "0"], False),
    "show": (["show", "--job-id", "read", "--format", "text"], False),
}


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_commands_count_on_a_terminal_and_keep_stdout_clean(
    stuck: tuple[EmulatorServer, Path], monkeypatch: pytest.MonkeyPatch, command: str
) -> None:
    server, plan = stuck
    args, as_json = COMMANDS[command]
    terminal = _Terminal()

    def on_terminal(what: str, *, quiet: bool = False, stream: Any = None) -> CountLine | None:
        return None if quiet else CountLine(what, terminal)

    monkeypatch.setattr(progress, "count_progress", on_terminal)
    out = CliRunner().invoke(main, [args[0], str(plan), *args[1:]], env=env_for(server))
    assert out.exit_code in (0, 5), out.output
    drawn = terminal.getvalue()
    assert f"\r{LISTING}: " in drawn, drawn
    assert f"\r{ANALYSING}: 0/{TASKS} (0%)" in drawn, drawn
    assert drawn.endswith("\r\x1b[K")  # erased before the report
    assert LISTING not in out.stdout and ANALYSING not in out.stdout
    if as_json:
        assert isinstance(orjson.loads(out.stdout), dict)


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_commands_print_no_count_for_a_quick_read_off_a_terminal(
    stuck: tuple[EmulatorServer, Path], command: str
) -> None:
    server, plan = stuck
    args, _ = COMMANDS[command]
    out = CliRunner().invoke(main, [args[0], str(plan), *args[1:]], env=env_for(server))
    assert out.exit_code in (0, 5), out.output
    assert LISTING not in out.stderr and ANALYSING not in out.stderr
    assert LISTING not in out.stdout and ANALYSING not in out.stdout


def test_dagbatch_run_counts_its_end_of_run_analysis_on_a_terminal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`dagbatch run` finds the tasks that can never run before it terminates them: that
    count too is on stderr, before the terminates' (the first used to be silent for 7 s at
    200,000 tasks)."""
    monkeypatch.setattr(stranded, "PROGRESS_EVERY", 8)
    monkeypatch.setattr(importlib.import_module("dagbatch.observe.status"), "PROGRESS_EVERY", 8)
    g = nx.DiGraph()
    g.graph["job"] = {"id": "fan", "pool_id": "local"}
    g.add_node("prepare", command_line="/bin/true")
    for i in range(1, CHILDREN + 1):
        g.add_node(i, command_line="/bin/true")
        g.add_edge("prepare", i)
    plan = tmp_path / "plan"
    write_plan(compile_graph(g), plan)
    terminal = _Terminal()

    def on_terminal(what: str, *, quiet: bool = False, stream: Any = None) -> CountLine | None:
        return None if quiet else CountLine(what, terminal)

    monkeypatch.setattr(progress, "count_progress", on_terminal)
    out = CliRunner().invoke(
        main,
        ["run", str(plan), "--simulate", "--fail", "prepare", "--workdir", str(tmp_path / "w")],
    )
    assert "terminated the 40 task(s) left waiting" in out.stdout, out.output
    drawn = terminal.getvalue()
    assert f"\r{ANALYSING}: 0/{TASKS} (0%)" in drawn, drawn
    assert drawn.index(ANALYSING) < drawn.index(progress.TERMINATING)
    assert drawn.endswith("\r\x1b[K")
    assert ANALYSING not in out.stdout
