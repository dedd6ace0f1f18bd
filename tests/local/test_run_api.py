"""``run_local`` from Python: its options are checked and normalised as the command line's
are, and a wrong one is a ``ConfigError`` naming it, not a hang or a raw Python error."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Any

import networkx as nx
import pytest
from click.testing import CliRunner

from dagbatch.cli.main import main
from dagbatch.compiler.export import write_plan
from dagbatch.compiler.pipeline import compile_graph
from dagbatch.errors import ConfigError, EmulatorError
from dagbatch.local.run import RunOptions, RunReport, run_local


def _plan(tmp_path: Path) -> Path:
    g = nx.DiGraph()
    g.graph["job"] = {"id": "api"}
    g.add_node("a", command_line="/bin/true")
    g.add_node("b", command_line="/bin/true")
    g.add_edge("a", "b")
    return write_plan(compile_graph(g), tmp_path / "plan")


def test_an_exit_code_alone_is_taken_as_the_command_lines_exit_codes_file_takes_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``{"b": 1}`` is what ``--exit-codes FILE`` holds: taken, not a scheduler crash and a
    run waiting for ever."""
    monkeypatch.chdir(tmp_path)
    report = run_local(
        str(_plan(tmp_path)),
        RunOptions(simulate=True, exit_codes={"b": 1, "a": {"exitCode": 0}}, timeout=30),
    )
    assert report.verdict == "tasks-failed"
    assert [o.task_id for o in report.failed] == ["b"]


def test_a_bad_exit_code_entry_is_refused_naming_its_task(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match="exit_codes: task 'b': the exit code must be an integer"):
        run_local(
            str(_plan(tmp_path)),
            RunOptions(simulate=True, exit_codes={"b": "1"}, timeout=30),  # type: ignore[dict-item]
        )
    assert not Path(".dagbatch").exists()  # refused before the run directory is made


def test_a_scheduler_that_stops_on_an_error_ends_the_run_with_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An unexpected error in the emulator's scheduler thread ends the run at once with an
    ``EmulatorError`` naming it: never a run waiting for tasks nothing will start."""
    from dagbatch.emulator.simulate import SimulatedRunner

    def broken(*args: object) -> None:
        raise TypeError("a defect in a runner")

    monkeypatch.setattr(SimulatedRunner, "start", broken)
    # The thread's own traceback still goes to stderr (threading.excepthook): the standalone
    # emulator's user sees why nothing is scheduled any more.
    told: list[BaseException | None] = []
    monkeypatch.setattr(threading, "excepthook", lambda args: told.append(args.exc_value))
    started = time.monotonic()
    with pytest.raises(EmulatorError, match="TypeError: a defect in a runner"):
        run_local(
            str(_plan(tmp_path)), RunOptions(simulate=True, workdir=tmp_path / "run", timeout=20)
        )
    assert time.monotonic() - started < 10  # told, not left to the timeout
    assert [type(e) for e in told] == [TypeError]
    # The command: exit code 3 (the run could not go on), not 2 (a usage error).
    result = CliRunner().invoke(
        main,
        ["run", str(_plan(tmp_path / "again")), "--simulate", "--workdir", str(tmp_path / "w")],
    )
    assert result.exit_code == 3, result.output
    assert "scheduler stopped on an unexpected error" in result.stderr


def test_a_run_works_inside_a_running_event_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A notebook cell runs in an event loop: the run, its end-of-run finish included (the
    pipeline example leaves its failure handler to terminate), works there as from a script."""
    monkeypatch.chdir(tmp_path)
    example = Path(__file__).resolve().parents[2] / "examples" / "pipeline.py"

    async def cell() -> RunReport:
        return run_local(str(example), RunOptions(simulate=True, timeout=60))

    report = asyncio.run(cell())
    assert report.verdict == "ok"
    assert report.finished is not None and [o.task_id for o in report.skipped] == ["rollback"]


def test_the_source_and_the_workdir_may_each_be_a_str_or_a_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("wf.py").write_text(
        "import networkx as nx\n"
        "graph = nx.DiGraph()\n"
        "graph.graph['job'] = {'id': 'wf'}\n"
        "graph.add_node('a', command_line='/bin/true')\n"
    )
    by_path = run_local(Path("wf.py"), RunOptions(simulate=True, workdir="wdx", timeout=30))
    assert by_path.verdict == "ok" and by_path.workdir == Path("wdx")
    assert (Path("wdx") / "journal.jsonl").is_file()
    plan = _plan(tmp_path)
    by_str = run_local(plan, RunOptions(simulate=True, workdir=str(tmp_path / "w2"), timeout=30))
    assert by_str.verdict == "ok" and by_str.workdir == tmp_path / "w2"
    with pytest.raises(ConfigError, match="a workflow file or a plan directory"):
        run_local(5, RunOptions(simulate=True))  # type: ignore[arg-type]


def test_a_workflows_compile_warnings_are_told_once_before_it_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``on_warnings`` hears of them (the file's own first), before any task runs; a plan
    directory was compiled before, its warnings told then: nothing is heard."""
    monkeypatch.chdir(tmp_path)
    wf = tmp_path / "wf.py"
    wf.write_text(
        "import networkx as nx\ngraph = nx.DiGraph()\n"
        "graph.add_node('a', command_line='/bin/true', satisfy_exit_codes=[0, 3])\n"
        "def build():\n    return nx.DiGraph()\n"
    )
    heard: list[Any] = []
    report = run_local(
        wf,
        RunOptions(simulate=True, timeout=30),
        on_warnings=lambda found: heard.append([d.code for d in found]),
        on_progress=lambda snapshot: heard.append("progress"),
        progress_every=0.0,
    )
    assert report.verdict == "ok"
    assert heard[0] == ["several-workflows", "redundant-exit-code"]
    assert heard[1:] and set(heard[1:]) == {"progress"}  # told once, before the run
    heard.clear()
    run_local(_plan(tmp_path), RunOptions(simulate=True, timeout=30), on_warnings=heard.append)
    assert heard == []
