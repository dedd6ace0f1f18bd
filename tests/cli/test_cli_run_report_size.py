"""`dagbatch run --report` on chains of tasks that never ran: the file grows with the number of
tasks, not with the square of the chain's depth, and says for a short chain what it always
said."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from dagbatch.cli.main import main

CHAIN = """
import networkx as nx
graph = nx.DiGraph()
graph.graph["job"] = {{"id": "chain"}}
for i in range({n}):
    graph.add_node(f"t{{i}}", command_line="/bin/true")
    if i:
        graph.add_edge(f"t{{i - 1}}", f"t{{i}}")
"""


def _report(tmp_path: Path, n: int) -> Path:
    here = tmp_path / str(n)
    here.mkdir()
    wf = here / "wf.py"
    wf.write_text(CHAIN.format(n=n))
    out = here / "report.json"
    args = ["run", str(wf), "--simulate", "--fail", "t0", "--no-finish", "-q"]
    result = CliRunner().invoke(main, [*args, "--workdir", str(here / "w"), "--report", str(out)])
    assert result.exit_code == 4, result.output
    return out


def test_the_report_of_a_deep_chain_grows_linearly(tmp_path: Path) -> None:
    small = _report(tmp_path, 200).stat().st_size
    big = _report(tmp_path, 400).stat().st_size
    # Twice the tasks: about twice the bytes (each task's reason nested in full made it 8x).
    assert big / small < 2.5, (small, big)


def test_the_report_of_a_short_chain(tmp_path: Path) -> None:
    out = _report(tmp_path, 4)
    text = out.read_text()
    assert text.startswith('{\n  "jobId": "chain",\n')  # indented for people to read
    report = json.loads(text)
    tasks = {t["id"]: t for t in report["tasks"]}
    assert report["verdict"] == "tasks-failed"
    assert report["counts"]["neverRan"] == 3 and report["counts"]["failed"] == 1
    assert tasks["t0"]["exitCode"] == 1 and "neverRan" not in tasks["t0"]
    blocked = {"kind": "blocked", "parent": "t0", "parentEnd": "failed with exit code 1"}
    why = "blocked: parent t0 failed with exit code 1, and its dependencyAction for that is block"
    assert tasks["t1"]["neverRan"] == {"text": why, **blocked}
    assert tasks["t3"]["neverRan"] == {
        "kind": "waiting",
        "text": f"waits for parent t2, which never ran (waits for parent t1, which never ran "
        f"({why}))",
        "parent": "t2",
        "cause": {"kind": "waiting", "parent": "t1", "cause": blocked},
    }


FAN = """
import networkx as nx
graph = nx.DiGraph()
graph.graph["job"] = {{"id": "fan"}}
graph.add_node("root", command_line="/bin/true")
for i in range({n}):
    graph.add_node(f"f{{i}}", command_line="/bin/true")
    graph.add_edge("root", f"f{{i}}")
"""


def test_a_fan_that_never_ran_says_each_chain_once(tmp_path: Path) -> None:
    """2,000 tasks behind a failed root, terminated at the end: each says why it never ran in
    its own entry, once. The strand's chain and explanation, and the finish's copy of every
    strand, were repeated beside it (1,500 bytes a task; now under 700)."""
    n = 2_000
    wf = tmp_path / "wf.py"
    wf.write_text(FAN.format(n=n))
    out = tmp_path / "report.json"
    args = ["run", str(wf), "--simulate", "--fail", "root", "-q", "--report", str(out)]
    result = CliRunner().invoke(main, [*args, "--workdir", str(tmp_path / "w")])
    assert result.exit_code == 4, result.output
    size = out.stat().st_size
    assert size / n < 800, size
    report = json.loads(out.read_bytes())
    assert report["counts"]["neverRan"] == n
    assert report["finish"]["terminated"] == [f"f{i}" for i in range(n)]
    blocked = {
        "kind": "blocked",
        "text": "blocked: parent root failed with exit code 1, and its dependencyAction for "
        "that is block",
        "parent": "root",
        "parentEnd": "failed with exit code 1",
    }
    for task in report["tasks"][1:]:
        assert task["neverRan"] == blocked, task
        assert task["terminatedAtEnd"] == {
            "kind": "stranded",
            "root": "root",
            "condition": "batch-default",
        }
    root = report["tasks"][0]
    assert root["id"] == "root" and root["exitCode"] == 1  # the root's ending, once
