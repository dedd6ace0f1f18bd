"""A path to write under something that is not a directory (``--out /dev/full/plan``,
``--report notes.txt/run.json``): the command says which part is not a directory, as a usage
error before any work, not errno 17 ("File exists") naming that part, nor a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from dagbatch.cli.exit_codes import ExitCode
from dagbatch.cli.main import main
from dagbatch.compiler.export import write_plan
from dagbatch.compiler.pipeline import compile_graph
from dagbatch.errors import ConfigError
from dagbatch.paths import file_in_the_way

GRAPH = (
    "import networkx as nx\ngraph = nx.DiGraph()\ngraph.graph['job'] = {'id': 'j'}\n"
    "graph.add_node('a', command_line='/bin/true')\n"
)


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["compile", "WF", "--out", "IN_THE_WAY/plan"], "cannot write IN_THE_WAY/plan: "),
        (["compile", "WF", "--out", "IN_THE_WAY/deeper/plan"], "cannot write IN_THE_WAY/deeper"),
        (["run", "WF", "--simulate", "--report", "IN_THE_WAY/r.json"], "--report"),
        (["run", "WF", "--simulate", "--picture", "IN_THE_WAY/r.svg"], "--picture"),
        (["run", "WF", "--simulate", "--workdir", "IN_THE_WAY/run"], "--workdir IN_THE_WAY/run"),
        (["show", "WF", "--out", "IN_THE_WAY/wf.svg"], "--out"),
        (["emulator", "--workdir", "IN_THE_WAY/w"], "--workdir"),
        (
            [
                "submit",
                "WF",
                "--journal",
                "IN_THE_WAY/j.jsonl",
                "--endpoint",
                "http://127.0.0.1:9",
                "--account",
                "a",
                "--account-key",
                "YWJj",
            ],
            "cannot write the journal IN_THE_WAY/j.jsonl",
        ),
    ],
)
def test_a_file_in_the_way_is_named_as_not_a_directory(
    tmp_path: Path, args: list[str], said: str
) -> None:
    wf = tmp_path / "wf.py"
    wf.write_text(GRAPH)
    blocker = tmp_path / "notes.txt"
    blocker.write_text("mine")

    def given(arg: str) -> str:
        return str(wf) if arg == "WF" else arg.replace("IN_THE_WAY", str(blocker))

    result = CliRunner().invoke(main, [given(a) for a in args])
    assert result.exit_code == ExitCode.USAGE, result.output
    assert "Traceback" not in result.output and "Errno" not in result.output
    assert given(said) in result.stderr, result.stderr
    assert f"{blocker} is not a directory" in result.stderr, result.stderr
    assert blocker.read_text() == "mine"


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="no /dev/full here")
def test_compile_out_under_dev_full() -> None:
    wf = Path.cwd() / "wf.py"
    wf.write_text(GRAPH)
    result = CliRunner().invoke(main, ["compile", str(wf), "--out", "/dev/full/plan"])
    assert result.exit_code == ExitCode.USAGE, result.output
    assert result.stderr == (
        "error: cannot write /dev/full/plan: /dev/full is not a directory; choose another --out\n"
    )


def test_write_plan_from_python_says_the_same(tmp_path: Path) -> None:
    import networkx as nx

    graph = nx.DiGraph()
    graph.add_node("a", command_line="/bin/true")
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match=r"notes\.txt is not a directory"):
        write_plan(compile_graph(graph), tmp_path / "notes.txt" / "plan")


def test_file_in_the_way(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("")
    assert file_in_the_way(tmp_path / "f" / "a" / "b") == tmp_path / "f"
    assert file_in_the_way(tmp_path / "new" / "a") is None
    assert file_in_the_way(tmp_path / "f") is None  # the path itself is not in its own way
    assert file_in_the_way(Path("relative")) is None
