"""While a workflow file loads: what it prints goes to standard error (standard output is the
command's: JSON, JSONL, a picture), a working directory it changes is changed back (--out
keeps its meaning), and Ctrl-C or `kill` are the user's, not the workflow's doing: 130 and
143, never exit 1 with "the workflow called sys.exit"."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner

from dagbatch.cli.main import main
from tests.cli.test_cli_run_stop import LAUNCH, env

GRAPH = (
    "import networkx as nx\ngraph = nx.DiGraph()\ngraph.add_node('a', command_line='/bin/true')\n"
)


def test_what_a_workflow_prints_does_not_reach_standard_output(tmp_path: Path) -> None:
    wf = tmp_path / "wf.py"
    wf.write_text("print('building graph...')\n" + GRAPH)
    for args in (
        ["validate", str(wf), "--format", "json"],
        ["compile", str(wf), "--format", "jsonl"],
        ["show", str(wf), "--format", "dot"],
    ):
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 0, (args, result.output)
        assert "building graph..." not in result.stdout, args
        assert "building graph..." in result.stderr, args
    result = CliRunner().invoke(main, ["show", str(wf), "--format", "dot"])
    assert result.stdout.startswith("digraph")


def _several_workflows(wf: Path) -> str:
    return (
        f"warning several-workflows: {wf} defines more than one workflow: `graph` and "
        "`build()`; using `graph`, the first of graph, workflow, dag, build()\n"
        f"    hint: name the one meant to silence this: {wf}:graph or {wf}:build\n"
    )


@pytest.mark.parametrize("command", ["validate", "compile", "show", "run"])
def test_an_old_graph_beside_a_new_build_is_told(tmp_path: Path, command: str) -> None:
    """As the compile's warnings are, on standard error (`run` and `show` showed none of
    the compile's before, and this one went around them)."""
    wf = tmp_path / "wf.py"
    wf.write_text(GRAPH + "def build():\n    return nx.DiGraph()\n")
    args = [command, str(wf)] + (["--simulate"] if command == "run" else [])
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert _several_workflows(wf) in result.stderr
    assert "several-workflows" not in result.stdout


def test_validate_json_lists_the_several_workflows_warning(tmp_path: Path) -> None:
    """It went straight to standard error, so `validate --format json` left it out."""
    wf = tmp_path / "wf.py"
    wf.write_text(GRAPH + "def build():\n    return nx.DiGraph()\n")
    result = CliRunner().invoke(main, ["validate", str(wf), "--format", "json"])
    assert result.exit_code == 0, result.output
    records = [orjson.loads(line) for line in result.stdout.splitlines()]
    assert [(r["code"], r["severity"]) for r in records] == [("several-workflows", "warning")]
    assert records[0]["hint"] == f"name the one meant to silence this: {wf}:graph or {wf}:build"
    assert result.stderr == ""
    # Beside the errors of a workflow that does not compile, too.
    wf.write_text(GRAPH + "graph.add_edge('a', 'a')\ndef build():\n    return nx.DiGraph()\n")
    result = CliRunner().invoke(main, ["validate", str(wf), "--format", "json"])
    assert result.exit_code != 0
    codes = [orjson.loads(line)["code"] for line in result.stdout.splitlines()]
    assert codes == ["several-workflows", "self-loop"]


@pytest.mark.parametrize("command", ["validate", "compile", "show", "run"])
def test_a_graph_built_by_build_is_one_workflow(tmp_path: Path, command: str) -> None:
    """`graph = build()` is the natural way to have both; it was warned of on every command."""
    wf = tmp_path / "wf.py"
    wf.write_text(
        "import networkx as nx\ndef build():\n    g = nx.DiGraph()\n"
        "    g.add_node('a', command_line='/bin/true')\n    return g\ngraph = build()\n"
    )
    args = [command, str(wf)] + (["--simulate"] if command == "run" else [])
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "more than one workflow" not in result.output
    assert "warning " not in result.stderr  # no warning of any code


def test_run_shows_the_compile_warnings_before_the_run(tmp_path: Path) -> None:
    """`dagbatch run WORKFLOW.py` compiled without a word of the compile's warnings, which
    `dagbatch compile` of the same file shows."""
    wf = tmp_path / "wf.py"
    wf.write_text(
        "import networkx as nx\ngraph = nx.DiGraph()\n"
        "graph.add_node('a', command_line='/bin/true', satisfy_exit_codes=[0, 3])\n"
    )
    result = CliRunner().invoke(main, ["run", str(wf), "--simulate", "-q"])
    assert result.exit_code == 0, result.output
    assert result.stderr.startswith(
        "warning redundant-exit-code (task 'a', field 'satisfy_exit_codes'): "
    ), result.stderr
    assert "redundant-exit-code" not in result.stdout
    compiled = CliRunner().invoke(main, ["validate", str(wf)])
    assert compiled.stderr.splitlines()[:2] == result.stderr.splitlines()[:2]


def test_a_workflow_that_changes_directory_leaves_out_where_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    wf = tmp_path / "wf.py"
    wf.write_text(f"import os\nos.chdir({str(elsewhere)!r})\n" + GRAPH)
    here = tmp_path / "here"
    here.mkdir()
    monkeypatch.chdir(here)
    result = CliRunner().invoke(main, ["compile", str(wf), "--out", "plan", "-q"])
    assert result.exit_code == 0, result.output
    assert (here / "plan" / "plan.json").is_file() and not (elsewhere / "plan").exists()
    assert Path.cwd() == here


def test_a_workflow_that_removes_the_directory_it_moved_to_still_loads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Changing the working directory back first asked for the current one, which fails
    once the workflow has removed it (a temporary directory): a traceback."""
    wf = tmp_path / "wf.py"
    wf.write_text(
        "import os, tempfile\nwith tempfile.TemporaryDirectory() as d:\n    os.chdir(d)\n" + GRAPH
    )
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["validate", str(wf)])
    assert result.exit_code == 0, result.output
    assert Path.cwd() == tmp_path


def test_a_bad_name_is_said_before_the_workflow_runs(tmp_path: Path) -> None:
    wf = tmp_path / "wf.py"
    wf.write_text("print('ran')\n" + GRAPH)
    result = CliRunner().invoke(main, ["validate", f"{wf}:"])
    assert result.exit_code == 1 and "nothing follows the ':'" in result.stderr
    assert "ran" not in result.stderr  # the workflow's code did not run


def _loading(tmp_path: Path, *args: str) -> tuple[subprocess.Popen[str], Path]:
    """A dagbatch command on a workflow that sleeps while it loads, once it has started."""
    started = tmp_path / "started"
    wf = tmp_path / "slow.py"
    wf.write_text(
        f"import pathlib, time\npathlib.Path({str(started)!r}).write_text('x')\n"
        "time.sleep(60)\n" + GRAPH
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", LAUNCH, *args[:1], str(wf), *args[1:]],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env(),
        cwd=tmp_path,
        start_new_session=True,
    )
    deadline = time.monotonic() + 30
    while not started.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.02)
    return proc, wf


@pytest.mark.parametrize("command", ["validate", "compile", "show"])
def test_ctrl_c_while_the_workflow_loads_is_130(tmp_path: Path, command: str) -> None:
    proc, _ = _loading(tmp_path, command)
    os.kill(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, (out, err)
    assert "interrupted" in err and "Aborted" not in err and "Traceback" not in err


def test_kill_while_the_workflow_loads_is_143_not_the_workflows_exit(tmp_path: Path) -> None:
    proc, _ = _loading(tmp_path, "run", "--simulate", "-q")
    os.kill(proc.pid, signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 143, (out, err)
    assert "sys.exit" not in err and "Traceback" not in err, err


def test_json_output_is_whole_after_printing(tmp_path: Path) -> None:
    wf = tmp_path / "bad.py"
    wf.write_text(
        "print('hello')\nimport networkx as nx\ngraph = nx.DiGraph()\n"
        "graph.add_node('a b', command_line='x')\n"
    )
    result = CliRunner().invoke(main, ["validate", str(wf), "--format", "json"])
    assert result.exit_code == 1
    lines = [orjson.loads(line) for line in result.stdout.splitlines()]
    assert lines and all(d["task_id"] == "a b" for d in lines), lines


def test_run_checks_its_workdir_before_loading_the_workflow(tmp_path: Path) -> None:
    """A --workdir that cannot be used was said only once the workflow had loaded (30 s
    for a slow one); `compile --out` checks first. A workflow that must not be loaded at
    all shows the order."""
    wf = tmp_path / "never.py"
    wf.write_text("raise SystemExit('loaded')\n")
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "keep.txt").write_text("mine")
    result = CliRunner().invoke(main, ["run", str(wf), "--simulate", "--workdir", str(busy)])
    assert result.exit_code == 2, result.output
    assert "is not empty and not a previous run's directory" in result.stderr
    assert "loaded" not in result.stderr and (busy / "keep.txt").read_text() == "mine"


def test_kill_while_compile_writes_leaves_no_half_plan(tmp_path: Path) -> None:
    """`kill` during the write of a big plan left its temporary copy (`.plan.xxxx`, MBs)
    beside the plan, never removed. It is removed; the exit is 143."""
    wf = tmp_path / "big.py"
    wf.write_text(
        "import networkx as nx\n"
        "graph = nx.DiGraph()\n"
        "graph.add_nodes_from(((f'task-{k:06d}', {'command_line': 'x ' * 20}) "
        "for k in range(300_000)))\n"
    )
    for _ in range(3):  # until the kill lands while the plan is being written
        for leftover in tmp_path.glob(".plan.*"):
            subprocess.run(["rm", "-rf", str(leftover)], check=True)
        proc = subprocess.Popen(
            [sys.executable, "-c", LAUNCH, "compile", str(wf), "--out", "plan", "-q"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env(),
            cwd=tmp_path,
        )
        deadline = time.monotonic() + 120
        while not list(tmp_path.glob(".plan.*")) and proc.poll() is None:
            assert time.monotonic() < deadline
            time.sleep(0.005)
        if proc.poll() is not None:
            continue  # written before it was seen: again
        os.kill(proc.pid, signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
        if proc.returncode == 0:
            continue  # the write ended first
        assert proc.returncode == 143, (out, err)
        assert not list(tmp_path.glob(".plan.*")) and not (tmp_path / "plan").exists()
        return
    pytest.fail("the kill never landed while the plan was being written")


def test_an_empty_graph_beside_one_with_tasks_is_named_in_the_warning(tmp_path: Path) -> None:
    """`empty-workflow`'s hint asked in general whether the graph found is the one filled;
    the file's graph that has the tasks is now named, with the FILE.py:NAME to pass."""
    wf = tmp_path / "wf.py"
    wf.write_text(
        "import networkx as nx\ngraph = nx.DiGraph()\ng2 = nx.DiGraph()\n"
        "g2.add_node('a', command_line='/bin/true')\n"
    )
    result = CliRunner().invoke(main, ["validate", str(wf), "--format", "json"])
    assert result.exit_code == 0, result.output
    (record,) = [orjson.loads(line) for line in result.stdout.splitlines()]
    assert record["code"] == "empty-workflow"
    assert record["hint"] == f"the file holds a graph with tasks: 'g2'; pass {wf}:g2"
    assert CliRunner().invoke(main, ["validate", f"{wf}:g2", "--format", "json"]).stdout == ""
