"""`dagbatch run --picture` as the README tells it: every state a run's picture draws is one
the README's `--picture` row names, a task the `--timeout` cut off included (drawn as the
timeout found it: running, see ``dagbatch.local.run``)."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

from click.testing import CliRunner

from dagbatch.cli.main import main
from dagbatch.show.model import STATE_MARKS

ROOT = Path(__file__).resolve().parents[2]


def picture_row() -> str:
    """The `--picture` row of the README's `dagbatch run` options."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("### `dagbatch run ", 1)[1].split("\n### ", 1)[0]
    return next(line for line in section.splitlines() if line.startswith("| `--picture"))


def drawn_states(picture: Path) -> set[str]:
    """The state words of a text picture's ``state:`` line (``1 running · 2 never runs``)."""
    line = next(ln for ln in picture.read_text().splitlines() if ln.startswith("state: "))
    words = [re.sub(r"^[\d,]+ ", "", part) for part in line[len("state: ") :].split(" · ")]
    assert set(words) <= set(STATE_MARKS.values()), words
    return set(words)


def test_the_readme_names_every_state_a_runs_picture_draws(tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    workflow = tmp_path / "wf.py"
    workflow.write_text(
        "import networkx as nx\n"
        "graph = nx.DiGraph()\n"
        "graph.graph['job'] = {'id': 'cut', 'pool_id': 'p'}\n"
        "graph.add_node('quick', command_line='/bin/true')\n"
        "graph.add_node('broken', command_line='/bin/false')\n"
        "graph.add_node('after-broken', command_line='/bin/true')\n"
        "graph.add_edge('broken', 'after-broken')\n"
        "graph.add_node('slow', command_line=\"/bin/sh -c 'echo $$ > "
        f"{pidfile}; exec sleep 30'\")\n"
        "graph.add_node('after-slow', command_line='/bin/true')\n"
        "graph.add_edge('slow', 'after-slow')\n",
        encoding="utf-8",
    )
    picture = tmp_path / "picture.txt"
    args = ["run", str(workflow), "--timeout", "2", "--workdir", str(tmp_path / "w")]
    try:
        result = CliRunner().invoke(main, [*args, "--picture", str(picture), "-q"])
    finally:
        if pidfile.exists():  # the run kills it at its timeout; never leave it behind
            pid = int(pidfile.read_text())
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and os.path.exists(f"/proc/{pid}"):
                time.sleep(0.05)
            if os.path.exists(f"/proc/{pid}"):
                os.kill(pid, 9)
    assert result.exit_code == 6, result.stdout + result.stderr  # the --timeout was reached
    states = drawn_states(picture)
    # done, failed, never runs (after-broken, after-slow), and the task the --timeout cut
    # off, drawn running.
    assert states == {"done", "failed", "never runs", "running"}, picture.read_text()
    row = picture_row()
    for word in states:
        assert word in row, word
    assert "--timeout" in row and "cut off" in row
