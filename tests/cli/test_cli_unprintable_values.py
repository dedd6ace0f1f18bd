"""A value of the workflow whose own ``__repr__`` (or ``__str__``) raises: the command still
says what is wrong with it in a diagnostic (the value shown as ``<unprintable TYPE>``, or as
the plain string or int it subclasses), never with a traceback of the value's own error."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner

from dagbatch.cli.exit_codes import ExitCode
from dagbatch.cli.main import main

BROKEN = """\
import networkx as nx
from dagbatch import Task

class Broken:
    def __repr__(self):
        raise RuntimeError("repr of Broken")

class BrokenInt(int):
    def __repr__(self):
        raise RuntimeError("repr of BrokenInt")

class BrokenStr(str):
    def __repr__(self):
        raise RuntimeError("repr of BrokenStr")

graph = nx.DiGraph()
"""

#: Each: the node (and edge) the workflow adds, and what the diagnostics must say.
CASES = {
    "int-out-of-range": (
        "graph.add_node('a', command_line='echo', required_slots=BrokenInt(0))",
        "not 0",
    ),
    "enum": (
        "graph.add_node('a', command_line='echo', on_failure=BrokenStr('sometimes'))",
        "not 'sometimes'",
    ),
    "duration": (
        "graph.add_node('a', command_line='echo', "
        "constraints={'max_wall_clock_time': BrokenStr('1h')})",
        "'1h' is not an ISO 8601 duration",
    ),
    "exit-code": (
        "graph.add_node('a', command_line='echo', satisfy_exit_codes=[Broken()])",
        "<unprintable Broken> is not an int32 exit code",
    ),
    "node-key": (
        "graph.add_node(Broken(), command_line='echo')",
        "node key <unprintable Broken> is a Broken",
    ),
    "int-node-key": (
        "graph.add_node(BrokenInt(7), command_line='echo', required_slots=0)\n"
        "graph.add_node(BrokenStr('x.y'), command_line='echo')",
        "task id has characters Batch does not allow",
    ),
    "edge": (
        "graph.add_node('a', command_line='echo')\n"
        "graph.add_node('b', command_line='echo')\n"
        "graph.add_edge('a', 'b', when=BrokenStr('later'), **{BrokenStr('whenn'): 1})",
        "when='later' is not one of",
    ),
    "env-key": (
        "graph.add_node('a', command_line='echo', environment_settings={BrokenStr('A=B'): 1})",
        "environment_settings['A=B']",
    ),
    "job-key": (
        "graph.graph[BrokenStr('Job')] = {'id': 'j'}\ngraph.add_node('a', command_line='echo')",
        "graph.graph['Job'] holds job settings",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("command", ["validate", "compile"])
def test_a_value_whose_repr_raises_is_a_diagnostic(tmp_path: Path, command: str, case: str) -> None:
    body, said = CASES[case]
    wf = tmp_path / "wf.py"
    wf.write_text(BROKEN + body + "\n")
    result = CliRunner().invoke(main, [command, str(wf)])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert "Traceback" not in result.output and "repr of Broken" not in result.output
    assert said in result.stderr, result.stderr
    if case == "job-key":  # a warning only: the workflow compiles
        assert result.exit_code == ExitCode.OK, result.output
    else:
        assert result.exit_code == ExitCode.INVALID, result.output


def test_validate_json_with_an_unprintable_value(tmp_path: Path) -> None:
    wf = tmp_path / "wf.py"
    wf.write_text(BROKEN + CASES["exit-code"][0] + "\n")
    result = CliRunner().invoke(main, ["validate", str(wf), "--format", "json"])
    assert result.exit_code == ExitCode.INVALID, result.output
    first = orjson.loads(result.stdout.splitlines()[0])
    assert first["message"].startswith("<unprintable Broken> is not an int32 exit code")


def test_task_built_in_the_workflow_with_an_unprintable_value(tmp_path: Path) -> None:
    wf = tmp_path / "wf.py"
    wf.write_text(BROKEN + "graph.add_node('a', task=Task(Broken()))\n")
    result = CliRunner().invoke(main, ["validate", str(wf)])
    assert result.exit_code == ExitCode.INVALID, result.output
    assert "takes its properties by name" in result.stderr
    assert "e.g. Task(command_line=<unprintable Broken>)" in result.stderr


@pytest.mark.parametrize(
    ("raised", "said"),
    [
        ("raise Failure()", "error while running the workflow: Failure: Failure()"),
        ("import sys\nsys.exit(Broken())", "sys.exit(<unprintable Broken>)"),
    ],
)
def test_a_workflow_raising_what_cannot_be_printed(tmp_path: Path, raised: str, said: str) -> None:
    wf = tmp_path / "wf.py"
    wf.write_text(
        BROKEN + "class Failure(Exception):\n    def __str__(self):\n"
        "        raise RuntimeError('str of Failure')\n" + raised + "\n"
    )
    result = CliRunner().invoke(main, ["validate", str(wf)])
    assert result.exit_code == ExitCode.INVALID, result.output
    assert said in result.stderr and "str of Failure" not in result.output
