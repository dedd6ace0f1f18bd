"""The drawn formats: golden files for the examples, mermaid and dot that parse, SVG that is
well-formed, HTML that loads offline in a headless browser with the expected nodes."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import warnings
import xml.etree.ElementTree as ET
from pathlib import Path

import networkx as nx
import pydot
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from show_helpers import EXAMPLES, example_picture, picture_of, view_of

from bench import workloads
from dagbatch import load_workflow
from dagbatch.observe.model import TaskRecord
from dagbatch.show.fold import fold_plan
from dagbatch.show.live import live_states
from dagbatch.show.model import Picture
from dagbatch.show.render import FORMATS, render
from dagbatch.show.render_svg import Placed

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "show"
SUFFIX = {"text": "txt", "mermaid": "mmd", "dot": "dot", "svg": "svg", "html": "html"}
SHOWN = ("mapreduce", "pipeline", "wide_fanin")
SVG = "{http://www.w3.org/2000/svg}"


@pytest.mark.parametrize("name", SHOWN)
@pytest.mark.parametrize("fmt", FORMATS)
def test_examples_match_golden_files(name: str, fmt: str) -> None:
    """Regenerate after an intended change with DAGBATCH_UPDATE_GOLDEN=1 and review the diff."""
    text = render(example_picture(name), fmt)
    golden = GOLDEN / f"{name}.{SUFFIX[fmt]}"
    if os.environ.get("DAGBATCH_UPDATE_GOLDEN"):
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(text, encoding="utf-8")
    assert text == golden.read_text(encoding="utf-8"), f"{golden.name} differs"


def test_output_is_deterministic() -> None:
    graph = workloads.layered(8, 200)
    for fmt in FORMATS:
        assert render(picture_of(graph), fmt) == render(picture_of(graph), fmt)


# --------------------------------------------------------------------------- mermaid

_M_NODE = re.compile(r'  (n\d+)(?:\["([^"]*)"\]|\{\{"([^"]*)"\}\})')
_M_EDGE = re.compile(r'  (n\d+) (-->|-\.->|==>)(?:\|"([^"]*)"\|)? (n\d+)')
_M_CLASSDEF = re.compile(r"  classDef [a-z]+ [a-z-]+:[#\w.]+(,[a-z-]+:[#\w.]+)*")
_M_CLASS = re.compile(r"  class (n\d+) [a-z]+(,[a-z]+)*")
_M_LINKSTYLE = re.compile(
    r"  linkStyle (\d+) stroke:#[0-9a-f]{6},stroke-width:[\d.]+px(,stroke-dasharray:\d+ \d+)?"
)


def parse_mermaid(text: str) -> tuple[dict[str, str], list[tuple[str, str, str, str]]]:
    """A strict reader of the flowchart subset `show` writes: every line must be one of the
    statements below, every edge must join defined nodes, every linkStyle name an edge."""
    lines = text.splitlines()
    assert lines[0].startswith("%% ") and lines[1] == "flowchart TB"
    nodes: dict[str, str] = {}
    edges: list[tuple[str, str, str, str]] = []
    styled: list[int] = []
    for line in lines[2:]:
        if m := _M_NODE.fullmatch(line):
            assert m.group(1) not in nodes
            nodes[m.group(1)] = m.group(2) if m.group(2) is not None else m.group(3)
        elif m := _M_EDGE.fullmatch(line):
            assert m.group(1) in nodes and m.group(4) in nodes, line
            edges.append((m.group(1), m.group(4), m.group(2), m.group(3) or ""))
        elif m := _M_LINKSTYLE.fullmatch(line):
            styled.append(int(m.group(1)))
        elif m := _M_CLASS.fullmatch(line):
            assert m.group(1) in nodes
        else:
            assert _M_CLASSDEF.fullmatch(line), f"not a statement of the subset: {line!r}"
    assert styled == list(range(len(edges)))
    for label in [*nodes.values(), *(e[3] for e in edges)]:
        assert '"' not in label and "<" not in label.replace("<br/>", "")
    return nodes, edges


def test_mermaid_parses_with_the_expected_nodes_and_arrows() -> None:
    nodes, edges = parse_mermaid(render(example_picture("pipeline"), "mermaid"))
    assert len(nodes) == 6
    assert nodes["n2"] == "clean-* ×3<br/>clean-amer … clean-emea"
    assert [e[2] for e in edges] == ["-->", "-->", "-->", "-->", "-.->"]
    assert edges[-1] == ("n5", "n6", "-.->", "failure route")
    nodes, edges = parse_mermaid(render(example_picture("wide_fanin"), "mermaid"))
    assert "barrier ×2" in nodes["n2"]
    text = render(example_picture("wide_fanin"), "mermaid")
    assert '  n2{{"barrier ×2' in text


# --------------------------------------------------------------------------- dot


def read_dot(text: str) -> pydot.Dot:
    # pydot 4 still calls pyparsing's camelCase names, which pyparsing 3.3 deprecates: not
    # ours to fix, so only that warning is let through, only here.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        (graph,) = pydot.graph_from_dot_data(text)
    return graph


def dot_nodes(graph: pydot.Dot) -> dict[str, pydot.Node]:
    found = {n.get_name(): n for n in graph.get_nodes() if n.get_name() not in ("node", "edge")}
    for sub in graph.get_subgraphs():
        for n in sub.get_nodes():
            found.setdefault(n.get_name(), n)
    return found


def test_dot_reads_back_with_pydot() -> None:
    graph = read_dot(render(example_picture("mapreduce"), "dot"))
    nodes = dot_nodes(graph)
    labelled = {k: v for k, v in nodes.items() if v.get_label()}
    assert sorted(labelled) == ["n1", "n2", "n3"]
    assert labelled["n2"].get_label() == '"1..10000 ×10,000"'
    edges = graph.get_edges()
    assert [(e.get_source(), e.get_destination()) for e in edges] == [("n1", "n2"), ("n2", "n3")]
    assert edges[1].get_label() == '"taskIdRange 1..10000"'
    # Barriers are hexagons; the failure route is a dashed red edge.
    fanin = dot_nodes(read_dot(render(example_picture("wide_fanin"), "dot")))
    assert fanin["n2"].get_shape() == "hexagon"
    pipe = read_dot(render(example_picture("pipeline"), "dot"))
    last = pipe.get_edges()[-1]
    assert (last.get_style(), last.get_color()) == ("dashed", '"#c53030"')


# --------------------------------------------------------------------------- svg


def svg_parts(text: str) -> tuple[list[ET.Element], list[ET.Element]]:
    root = ET.fromstring(text.encode())
    groups = list(root.iter(f"{SVG}g"))
    nodes = [g for g in groups if g.get("class", "").startswith("node ")]
    edges = [g for g in groups if g.get("class", "").startswith("edge ")]
    return nodes, edges


def test_svg_is_well_formed_with_every_node_and_edge() -> None:
    picture = example_picture("wide_fanin")
    nodes, edges = svg_parts(render(picture, "svg"))
    assert [n.get("id") for n in nodes] == ["n1", "n2", "n3"]
    assert [n.get("class") for n in nodes] == ["node tasks", "node barrier", "node tasks"]
    assert nodes[1].find(f"{SVG}polygon") is not None  # the barrier's own shape
    assert [(e.get("data-source"), e.get("data-target")) for e in edges] == [
        ("n1", "n2"),
        ("n2", "n3"),
    ]


def _numbers(text: str) -> list[float]:
    return [float(x) for x in re.findall(r"-?\d+(?:\.\d+)?", text)]


def test_svg_edges_that_skip_levels_go_around_the_nodes_between() -> None:
    """a -> b -> c -> d with a -> c and a -> d: drawn straight down, a -> c ran through b and
    a -> d through b and c, so the picture read as a plain chain (found by a review). Such
    an edge now runs down a lane clear of every node between its ends, in SVG and HTML."""
    g = nx.DiGraph()
    for name in "abcd":
        g.add_node(name, command_line="x")
    g.add_edges_from([("a", "b"), ("b", "c"), ("c", "d"), ("a", "c"), ("a", "d")])
    nodes, edges = svg_parts(render(picture_of(g), "svg"))
    box = {}
    for node in nodes:
        rect = node.find(f"{SVG}rect")
        assert rect is not None
        x, y, w, h = (float(rect.get(k, "0")) for k in ("x", "y", "width", "height"))
        box[node.get("id")] = (x, y, w, h)
    key = {n.findtext(f"{SVG}title", "").split("\n")[0].split(":")[0]: n.get("id") for n in nodes}
    paths = {
        (e.get("data-source"), e.get("data-target")): e.find(f"{SVG}path").get("d", "")  # type: ignore[union-attr]
        for e in edges
    }

    def clear_of(src: str, dst: str, *between: str) -> None:
        d = paths[(key[src], key[dst])]
        assert " L" in d, d  # the lane
        lane = _numbers(d.split(" L", 1)[1])[0]
        for name in between:
            x, _, w, _ = box[key[name]]
            assert lane < x or lane > x + w, (src, dst, name, lane, x, w)

    clear_of("a", "c", "b")
    clear_of("a", "d", "b", "c")
    assert " L" not in paths[(key["a"], key["b"])]  # neighbours: the plain curve


def test_each_edge_into_a_merge_over_several_ranges_names_its_own_range() -> None:
    """merge depends on 1..500, 1001..1500 and 2001..2500 (three taskIdRanges): each of its
    three edges was labelled "3 taskIdRanges", which read as nine."""
    g = nx.DiGraph()
    g.add_node("merge", command_line="x")
    for i in [*range(1, 501), *range(1001, 1501), *range(2001, 2501)]:
        g.add_node(i, command_line="x", _group=f"part-{i // 1000}")
        g.add_edge(i, "merge")
    picture = picture_of(g)
    labels = sorted(e.label for e in picture.links)
    assert labels == [
        "taskIdRange 1..500",
        "taskIdRange 1001..1500",
        "taskIdRange 2001..2500",
    ]


def test_svg_of_200_groups_stays_readable_under_the_cap() -> None:
    picture = picture_of(workloads.layered(20, 1_000))
    nodes, _ = svg_parts(render(picture, "svg"))
    assert len(nodes) == len(picture.nodes) <= 60


def live_picture() -> Picture:
    view = view_of(load_workflow(EXAMPLES / "mapreduce.py").graph)
    records = {"prepare": TaskRecord("prepare", "completed", 0, "success")}
    for i in range(1, 10_001):
        tid = str(i)
        if i <= 9_000:
            records[tid] = TaskRecord(tid, "completed", 0, "success")
        elif i <= 9_900:
            records[tid] = TaskRecord(tid, "running")
        else:
            # (It ran: Batch records when it started.)
            records[tid] = TaskRecord(tid, "completed", 1, "failure", started=1.0)
    records["reduce"] = TaskRecord("reduce", "active")
    return fold_plan(view, states=live_states(view, records))


def test_live_state_colours_nodes_and_counts_states() -> None:
    picture = live_picture()
    prepare, shards, reduce = picture.nodes
    assert prepare.states == {"completed": 1} and prepare.state == "completed"
    assert shards.states == {"completed": 9_000, "running": 900, "failed": 100}
    assert shards.state == "failed"
    assert "9,000 done · 100 failed · 900 running" in shards.lines
    # Which of the folded tasks failed: the first few by name (a node's counts alone did
    # not say, found by a review); the rest are in `dagbatch status`.
    assert "failed: 9901, 9902, 9903, …" in shards.lines
    assert not any(line.startswith("failed:") for line in prepare.lines)
    # A failed shard blocks reduce: it can never run.
    assert reduce.states == {"never": 1}
    text = render(picture, "text")
    assert "state: 9,001 done · 100 failed · 900 running · 1 never runs" in text
    svg = render(picture, "svg")
    assert 'fill="#fed7d7"' in svg and 'fill="#fefcbf"' in svg


# --------------------------------------------------------------------------- html


def chromium() -> str:
    """The headless browser, or skip (CI installs it and must not skip)."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    if os.environ.get("CI"):
        pytest.fail("chromium is missing on CI; .ci/run installs it with apt-get")
    pytest.skip("no chromium on this machine: apt-get install -y chromium to run this test")


def dump_dom(page: Path, profile: Path, fragment: str = "") -> str:
    """The DOM of a local page after its scripts ran, with every network feature off; the
    page's console goes to stderr, and a script error there fails the test."""
    result = subprocess.run(
        [
            chromium(),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            f"--user-data-dir={profile}",
            "--enable-logging=stderr",
            "--v=0",
            "--dump-dom",
            page.as_uri() + fragment,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    errors = [line for line in result.stderr.splitlines() if "Uncaught" in line]
    assert not errors, errors
    return result.stdout


def test_html_is_self_contained() -> None:
    html = render(example_picture("mapreduce"), "html")
    assert "<script src" not in html and "<link" not in html and "@import" not in html
    # The only URL in the file is the SVG namespace (a name, never fetched).
    assert set(re.findall(r"https?://[^\s\"'<>]+", html)) == {"http://www.w3.org/2000/svg"}


@pytest.mark.parametrize(("name", "count"), [("mapreduce", 3), ("wide_fanin", 3)])
def test_html_loads_in_a_headless_browser(name: str, count: int, tmp_path: Path) -> None:
    page = tmp_path / f"{name}.html"
    page.write_text(render(example_picture(name), "html"), encoding="utf-8")
    dom = dump_dom(page, tmp_path / "profile")
    assert len(re.findall(r'<g class="node ', dom)) == count
    assert "taskIdRange 1..10000" in dom or name != "mapreduce"
    assert "Click a node." in dom  # the details panel, before any click
    assert 'id="node-data"' in dom


def test_the_readme_picture_is_current() -> None:
    docs = Path(__file__).resolve().parents[2] / "docs" / "mapreduce.svg"
    assert docs.read_text(encoding="utf-8") == render(example_picture("mapreduce"), "svg")
    assert "docs/mapreduce.svg" in (docs.parents[1] / "README.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("fragment", ["#constructor", "#toString", "#n999", "#"])
def test_an_address_naming_no_node_leaves_the_panel_as_it_is(fragment: str, tmp_path: Path) -> None:
    """'#constructor' names what every object has: the script took it for a node and
    failed (a TypeError on the page)."""
    page = tmp_path / "mapreduce.html"
    page.write_text(render(example_picture("mapreduce"), "html"), encoding="utf-8")
    dom = dump_dom(page, tmp_path / "profile", fragment)
    assert "Click a node." in dom
    assert re.search(r'class="node [^"]*selected', dom) is None


def test_html_details_panel_shows_a_node(tmp_path: Path) -> None:
    page = tmp_path / "mapreduce.html"
    page.write_text(render(example_picture("mapreduce"), "html"), encoding="utf-8")
    # The same code path as a click: the page shows the node named in its address.
    dom = dump_dom(page, tmp_path / "profile", "#n2")
    panel = dom.split('<aside id="details">', 1)[1].split("</aside>", 1)[0]
    assert "<h2>1..10000 ×10,000</h2>" in panel
    assert '"tasks": 10000' in panel and "python3 map.py --shard 1" in panel
    assert 'class="node tasks selected" id="n2"' in dom


_RECT = st.tuples(st.floats(-500, 500), st.floats(-500, 500), st.floats(0, 300), st.floats(0, 300))


@settings(max_examples=200, deadline=None)
@given(st.lists(_RECT, max_size=30), st.lists(_RECT, min_size=1, max_size=10))
def test_a_label_s_place_is_taken_exactly_when_it_overlaps_one_placed(
    rects: list[tuple[float, float, float, float]],
    asked: list[tuple[float, float, float, float]],
) -> None:
    """The grid that finds what lies near a label answers as a look at every rectangle does
    (the pictures stay byte for byte what they were)."""
    placed = Placed(rects)
    for cx, cy, w, h in asked:
        brute = any(
            abs(cx - px) < (w + pw) / 2 and abs(cy - py) < (h + ph) / 2 for px, py, pw, ph in rects
        )
        assert placed.taken(cx, cy, w, h) == brute
