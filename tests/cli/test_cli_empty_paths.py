"""An empty path (``--out ""``, most often a shell variable that expanded to nothing) is a usage
error naming the option or argument: ``Path("")`` is ``.``, and the current directory is
never what was meant (a plan, a run directory or a report written there)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from dagbatch.cli.exit_codes import ExitCode
from dagbatch.cli.main import main

GRAPH = (
    "import networkx as nx\ngraph = nx.DiGraph()\ngraph.add_node('a', command_line='/bin/true')\n"
)


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["compile", "WF", "--out", ""], "'--out' / '-o'"),
        (["show", "WF", "--out", ""], "'--out' / '-o'"),
        (["run", "WF", "--simulate", "--workdir", ""], "'--workdir'"),
        (["run", "WF", "--simulate", "--report", ""], "'--report'"),
        (["run", "WF", "--simulate", "--picture", ""], "'--picture'"),
        (["run", "WF", "--simulate", "--exit-codes", ""], "'--exit-codes'"),
        # An invalid --key stops the emulator before it serves, had --workdir passed.
        (["emulator", "--workdir", "", "--key", "not base64!"], "'--workdir'"),
        (["submit", "WF", "--journal", "", "--endpoint", "http://127.0.0.1:9"], "'--journal'"),
        (["status", ""], "'[PLAN_DIR]'"),
        (["compile", ""], "'WORKFLOW.py[:NAME]'"),
        (["validate", ""], "'WORKFLOW.py[:NAME]'"),
        (["run", ""], "'WORKFLOW.py[:NAME]|PLAN_DIR'"),
        (["show", ""], "'WORKFLOW.py[:NAME]|PLAN_DIR'"),
        (["submit", ""], "'PLAN_DIR|WORKFLOW.py[:NAME]'"),
    ],
)
def test_an_empty_path_is_a_usage_error_naming_the_option(
    tmp_path: Path, args: list[str], named: str
) -> None:
    wf = tmp_path / "wf.py"
    wf.write_text(GRAPH)
    cwd = Path.cwd()
    result = CliRunner().invoke(main, [str(wf) if a == "WF" else a for a in args])
    assert result.exit_code == ExitCode.USAGE, result.output
    assert f"Invalid value for {named}: an empty path names no file or directory" in (result.stderr)
    assert list(cwd.iterdir()) == []  # nothing was written where the command ran
