"""The workflow file contract: what the loader finds, and that loading leaves no trace."""

from __future__ import annotations

import gc
import os
import re
import subprocess
import sys
from pathlib import Path

import networkx as nx
import pytest

from dagbatch.compiler.loader import load_workflow, split_target
from dagbatch.errors import WorkflowLoadError

FIX = Path(__file__).parents[1] / "fixtures" / "loader"
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_module_level_graph_is_found() -> None:
    loaded = load_workflow(EXAMPLES / "wide_fanin.py")
    assert loaded.attribute == "graph"
    assert loaded.graph.number_of_nodes() == 3001


def test_build_function_is_called_and_sibling_modules_import() -> None:
    loaded = load_workflow(FIX / "with_build.py")
    assert loaded.attribute == "build"
    assert loaded.graph.nodes["a"]["command_line"] == "echo from helper"


def test_named_attribute_graph_and_callable() -> None:
    assert load_workflow(f"{FIX / 'named.py'}:small").graph.number_of_nodes() == 1
    pair = load_workflow(f"{FIX / 'named.py'}:make_pair").graph
    assert list(pair.edges) == [(1, 2)]


def test_missing_named_attribute() -> None:
    with pytest.raises(WorkflowLoadError, match="defines no 'nope'") as info:
        load_workflow(f"{FIX / 'named.py'}:nope")
    # Nothing close to 'nope': what it does define is listed.
    assert str(info.value).endswith("it defines these graphs and functions: small, make_pair")


def test_no_graph_found_explains_the_contract() -> None:
    with pytest.raises(WorkflowLoadError, match="build"):
        load_workflow(FIX / "no_graph.py")


def test_a_graph_under_another_name_is_named_in_the_error(tmp_path: Path) -> None:
    one = tmp_path / "one.py"
    one.write_text("import networkx as nx\ng = nx.DiGraph()\ng.add_node('a', command_line='x')\n")
    with pytest.raises(WorkflowLoadError) as info:
        load_workflow(one)
    assert f"pass {one}:g" in str(info.value)
    assert list(load_workflow(f"{one}:g").graph) == ["a"]  # the advice works
    two = tmp_path / "two.py"
    two.write_text(
        "import networkx as nx\nb = nx.DiGraph()\na = nx.DiGraph()\n_c = nx.DiGraph()\n"
        "u = nx.Graph()\nm = nx.MultiDiGraph()\n"
    )
    with pytest.raises(WorkflowLoadError) as info:
        load_workflow(two)
    # Only graphs that can be a workflow are offered (not _private ones, no Graph or multigraph).
    assert "graphs named 'a', 'b':" in str(info.value)
    assert not any(f"'{name}'" in str(info.value) for name in ("_c", "u", "m"))


def test_more_than_one_of_the_names_looked_for_is_told_with_the_fix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An old `graph` left beside a new `build()` was taken without a word. The first of the
    names is still taken (build() is not even called), and a warning names the others and
    how to pick one: on the loaded workflow, where the commands show it with the compile's
    warnings (it was written to standard error, around them)."""
    wf = tmp_path / "wf.py"
    wf.write_text(
        "import networkx as nx\ngraph = nx.DiGraph()\ngraph.add_node('old', command_line='x')\n"
        "def build():\n    raise SystemExit('build() was called')\n"
    )
    loaded = load_workflow(wf)
    assert loaded.attribute == "graph" and list(loaded.graph) == ["old"]
    assert capsys.readouterr() == ("", "")
    (warning,) = loaded.warnings
    assert (warning.code, warning.severity) == ("several-workflows", "warning")
    assert warning.message == (
        f"{wf} defines more than one workflow: `graph` and `build()`; using `graph`, the "
        "first of graph, workflow, dag, build()"
    )
    assert warning.hint == f"name the one meant to silence this: {wf}:graph or {wf}:build"
    assert load_workflow(f"{wf}:graph").warnings == ()  # the advice works
    three = tmp_path / "three.py"
    three.write_text(
        "import networkx as nx\ngraph = nx.DiGraph()\nworkflow = nx.DiGraph()\ndag = nx.DiGraph()\n"
    )
    (warning,) = load_workflow(three).warnings
    assert "`graph`, `workflow` and `dag`; using `graph`" in warning.message


@pytest.mark.parametrize(
    "assignment",
    [
        "graph = build()",
        "graph: nx.DiGraph = build()",
        "workflow = graph = build()",
        "if True:\n    graph = build()",
        "try:\n    graph = build()\nexcept OSError:\n    raise",
    ],
)
def test_a_graph_that_build_returned_is_one_workflow(tmp_path: Path, assignment: str) -> None:
    """`graph = build()` (told from the file's code: build() is not called again) is no
    second workflow."""
    wf = tmp_path / "wf.py"
    wf.write_text(
        "import networkx as nx\ncalls = []\ndef build():\n    calls.append(1)\n"
        "    g = nx.DiGraph()\n    g.add_node('a', command_line='x')\n    return g\n"
        + assignment
        + "\n"
    )
    loaded = load_workflow(wf)
    assert loaded.attribute in ("graph", "workflow") and list(loaded.graph) == ["a"]
    assert loaded.warnings == ()


def test_build_called_elsewhere_is_still_a_second_workflow(tmp_path: Path) -> None:
    """Only an assignment of build()'s result to the graph taken counts: a call inside a
    function, or into another name, leaves the two apart."""
    wf = tmp_path / "wf.py"
    wf.write_text(
        "import networkx as nx\ndef build():\n    return nx.DiGraph()\n"
        "def later():\n    graph = build()\n    return graph\n"
        "other = build()\ngraph = nx.DiGraph()\n"
    )
    (warning,) = load_workflow(wf).warnings
    assert "`graph` and `build()`" in warning.message
    # A second graph name from build() beside another graph: those two are told.
    wf.write_text(
        "import networkx as nx\ndef build():\n    return nx.DiGraph()\n"
        "graph = nx.DiGraph()\nworkflow = build()\n"
    )
    (warning,) = load_workflow(wf).warnings
    assert "`graph` and `workflow`; using `graph`" in warning.message


def test_one_graph_under_two_of_the_names_is_one_workflow(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    wf = tmp_path / "wf.py"
    wf.write_text(
        "import networkx as nx\ngraph = nx.DiGraph()\ngraph.add_node('a', command_line='x')\n"
        "workflow = dag = graph\n"
    )
    loaded = load_workflow(wf)
    assert loaded.attribute == "graph" and list(loaded.graph) == ["a"]
    assert capsys.readouterr().err == ""


def test_exception_in_user_code_names_file_and_line() -> None:
    with pytest.raises(WorkflowLoadError) as info:
        load_workflow(FIX / "raises.py")
    assert info.value.path is not None and info.value.path.endswith("raises.py")
    assert info.value.line == 7  # the line inside boom() that raised
    assert "KeyError" in str(info.value)


def test_exception_in_build_names_line() -> None:
    with pytest.raises(WorkflowLoadError) as info:
        load_workflow(FIX / "build_raises.py")
    assert info.value.line == 2
    assert "cannot reach the inventory" in str(info.value)


def test_loading_leaves_no_lasting_change() -> None:
    path_before = list(sys.path)
    modules_before = set(sys.modules)
    cwd_before = os.getcwd()
    load_workflow(FIX / "with_build.py")
    assert sys.path == path_before
    assert os.getcwd() == cwd_before
    added = set(sys.modules) - modules_before
    assert "helper_mod" not in added
    assert not any(m.startswith("_dagbatch_workflow_") for m in added)


def test_not_a_digraph(tmp_path: Path) -> None:
    f = tmp_path / "wf.py"
    f.write_text("import networkx as nx\ngraph = nx.MultiDiGraph()\n")
    with pytest.raises(WorkflowLoadError, match="multigraph"):
        load_workflow(f)
    f.write_text("graph = [1, 2]\nworkflow = 3\n")
    with pytest.raises(WorkflowLoadError) as info:
        load_workflow(f)
    # What the name holds is said: it read "found no graph: define a module-level `graph`".
    assert str(info.value) == f"{f}: 'graph' is a list, not a networkx.DiGraph"
    f.write_text("graph = 3\n")
    with pytest.raises(WorkflowLoadError) as info:
        load_workflow(f)
    assert str(info.value) == f"{f}: 'graph' is an int, not a networkx.DiGraph"  # not "a int"
    f.write_text("import networkx as nx\ngraph = nx.DiGraph\n")
    with pytest.raises(WorkflowLoadError) as info:
        load_workflow(f)
    assert str(info.value) == f"{f}: " + (
        "'graph' is the class networkx.DiGraph itself, not a graph: call it "
        "(`graph = nx.DiGraph()`)"
    )
    f.write_text("dag = {'a': ['b']}\n")
    with pytest.raises(WorkflowLoadError, match=r"'dag' is a dict, not a networkx\.DiGraph"):
        load_workflow(f)
    # Beside a graph under another name, that graph is the fix the error names.
    f.write_text("import networkx as nx\nworkflow = 'etl'\ng = nx.DiGraph()\n")
    with pytest.raises(WorkflowLoadError, match=r"it holds one named 'g': pass .*wf\.py:g"):
        load_workflow(f)
    # Beside a build(), such a name is not what is taken: build() is.
    f.write_text("import networkx as nx\ngraph = 'notes'\ndef build():\n    return nx.DiGraph()\n")
    assert load_workflow(f).attribute == "build"
    f.write_text("import networkx as nx\ndag = nx.Graph()\n")
    with pytest.raises(WorkflowLoadError, match=r"not a networkx\.DiGraph"):
        load_workflow(f)


def test_a_build_that_returns_nothing_is_told_so(tmp_path: Path) -> None:
    """It read "'build' is a NoneType": the function, not what it returned, was named."""
    f = tmp_path / "wf.py"
    f.write_text("import networkx as nx\ndef build():\n    g = nx.DiGraph()\n")
    with pytest.raises(WorkflowLoadError, match=r"build\(\) returned None \(a missing return\?\)"):
        load_workflow(f)
    f.write_text("def build():\n    return {'a': 1}\n")
    with pytest.raises(WorkflowLoadError, match=r"build\(\) returned a dict, not a networkx"):
        load_workflow(f)


def test_missing_file_and_wrong_suffix(tmp_path: Path) -> None:
    with pytest.raises(WorkflowLoadError, match="no such workflow file"):
        load_workflow(tmp_path / "absent.py")
    with pytest.raises(WorkflowLoadError, match="is a directory, not a workflow file"):
        load_workflow(tmp_path)
    txt = tmp_path / "wf.txt"
    txt.write_text("")
    with pytest.raises(WorkflowLoadError, match=r"\.py"):
        load_workflow(txt)


def test_split_target() -> None:
    assert split_target("wf.py:graph2") == (Path("wf.py"), "graph2")
    assert split_target("wf.py") == (Path("wf.py"), None)
    assert split_target("C:wf.py") == (Path("C:wf.py"), None)
    # After a .py file the rest is the name, even one that is none (said by the loader).
    assert split_target("wf.py:") == (Path("wf.py"), "")
    assert split_target("wf.py:my graph") == (Path("wf.py"), "my graph")
    assert split_target("a:b.py") == (Path("a:b.py"), None)


def test_a_mistyped_name_gets_the_one_meant(tmp_path: Path) -> None:
    """`wf.py:` and `wf.py:my graph` said there was no such file; a close miss of a name
    said only that the file defines no such name; a function named like a graph was not
    pointed at."""
    wf = tmp_path / "wf.py"
    wf.write_text("import networkx as nx\nmy_graph = nx.DiGraph()\n")
    with pytest.raises(WorkflowLoadError, match="nothing follows the ':'"):
        load_workflow(f"{wf}:")
    with pytest.raises(WorkflowLoadError, match="'my graph' after the ':' is not a Python"):
        load_workflow(f"{wf}:my graph")
    with pytest.raises(WorkflowLoadError, match=rf"did you mean {re.escape(str(wf))}:my_graph\?"):
        load_workflow(f"{wf}:my_grap")
    fn = tmp_path / "fn.py"
    fn.write_text("import networkx as nx\ndef graph():\n    return nx.DiGraph()\n")
    with pytest.raises(
        WorkflowLoadError, match=rf"a function 'graph': pass {re.escape(str(fn))}:graph"
    ):
        load_workflow(fn)
    assert isinstance(load_workflow(f"{fn}:graph").graph, nx.DiGraph)


def test_graph_is_a_digraph_instance() -> None:
    assert isinstance(load_workflow(FIX / "with_build.py").graph, nx.DiGraph)


# --- the collector while the workflow's code runs (dagbatch.gcpause.gc_fewer_full) ---

_RECORDS_THRESHOLDS = """\
import gc
import networkx as nx

seen = [gc.get_threshold()]


def build():
    seen.append(gc.get_threshold())
    {body}
    graph = nx.DiGraph()
    graph.add_node("a", command_line="echo a")
    graph.graph["seen"] = seen
    return graph
"""


def test_the_workflow_runs_with_full_collections_rarer_and_the_setting_comes_back(
    tmp_path: Path,
) -> None:
    from dagbatch.gcpause import FULL_COLLECTION_EVERY

    before = gc.get_threshold()
    f = tmp_path / "wf.py"
    f.write_text(_RECORDS_THRESHOLDS.format(body="pass"))
    seen = load_workflow(f).graph.graph["seen"]
    # Both the module's code and build() ran with the full generation's threshold raised,
    # the young generations' thresholds as they were.
    assert seen == [(before[0], before[1], FULL_COLLECTION_EVERY)] * 2
    assert gc.get_threshold() == before
    f.write_text(_RECORDS_THRESHOLDS.format(body="raise RuntimeError('no inventory')"))
    with pytest.raises(WorkflowLoadError, match="no inventory"):
        load_workflow(f)
    assert gc.get_threshold() == before


_COUNT_FULL_COLLECTIONS = """\
import gc, runpy, sys
full = []
gc.callbacks.append(
    lambda phase, info: full.append(1) if phase == "start" and info["generation"] == 2 else None
)
if sys.argv[1] == "plain":
    runpy.run_path(sys.argv[2])
else:
    from dagbatch.compiler.loader import load_workflow
    load_workflow(sys.argv[2])
print(len(full))
"""

_BIG_GRAPH = """\
import networkx as nx

graph = nx.DiGraph()
for i in range(60_000):
    graph.add_node(f"t{i}", command_line=f"echo {i}")
    if i:
        graph.add_edge(f"t{i - 1}", f"t{i}")
        graph.add_edge(f"t{i // 2}", f"t{i}")
"""


def test_a_big_graph_is_built_with_fewer_full_collections_than_python_makes(
    tmp_path: Path,
) -> None:
    """Each full collection walks the whole graph built so far. Counted in fresh interpreters:
    the workflow run as a plain script, and loaded by dagbatch."""
    (tmp_path / "wf.py").write_text(_BIG_GRAPH)
    (tmp_path / "count.py").write_text(_COUNT_FULL_COLLECTIONS)

    def full_collections(how: str) -> int:
        out = subprocess.run(
            [sys.executable, str(tmp_path / "count.py"), how, str(tmp_path / "wf.py")],
            capture_output=True,
            text=True,
            check=True,
        )
        return int(out.stdout)

    plain = full_collections("plain")
    assert plain >= 2  # the build does make Python walk the graph, repeatedly
    assert full_collections("load") < plain


def test_a_dataclass_under_postponed_annotations_works_in_a_workflow(tmp_path: Path) -> None:
    """dataclasses looks the class's module up in sys.modules, where the workflow's module
    was not: 'NoneType' object has no attribute '__dict__'."""
    wf = tmp_path / "wf.py"
    wf.write_text(
        "from __future__ import annotations\n"
        "from dataclasses import dataclass\n"
        "import networkx as nx\n\n"
        "@dataclass\nclass Step:\n    name: str\n\n"
        "def build() -> nx.DiGraph:\n"
        "    @dataclass\n    class Inner:\n        n: int\n"
        "    g = nx.DiGraph()\n"
        "    for s in (Step('a'), Step('b')):\n"
        "        g.add_node(s.name, command_line=f'echo {Inner(1).n}')\n"
        "    return g\n"
    )
    modules = set(sys.modules)
    assert sorted(load_workflow(wf).graph) == ["a", "b"]
    assert set(sys.modules) == modules  # the workflow's module is gone again


def test_loads_from_two_threads_leave_the_process_as_it_was(tmp_path: Path) -> None:
    """Each load saves and restores sys.stdout and the collector's thresholds: two at once
    interleaved, and sys.stdout stayed standard error for good."""
    import threading

    wf = tmp_path / "slow.py"
    wf.write_text(
        "import time\nimport networkx as nx\ntime.sleep(0.3)\n"
        "graph = nx.DiGraph()\ngraph.add_node('a', command_line='x')\n"
    )
    stdout, thresholds = sys.stdout, gc.get_threshold()
    loaded: list[object] = []
    threads = [threading.Thread(target=lambda: loaded.append(load_workflow(wf))) for _ in "ab"]
    threads[0].start()
    threads[1].start()
    for t in threads:
        t.join(timeout=30)
    assert len(loaded) == 2
    assert sys.stdout is stdout and gc.get_threshold() == thresholds
