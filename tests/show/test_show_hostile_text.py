"""Pictures of plans whose text is hostile to the output formats: markup in a command line,
control characters in a group name, entity codes in a label, secrets in a command line."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import html5lib
import networkx as nx
import orjson
import pytest
from show_helpers import picture_of, view_of
from test_show_render import dump_dom, parse_mermaid

from dagbatch.show.render import FORMATS, render, write_picture
from dagbatch.show.render_html import node_details

XHTML = "{http://www.w3.org/1999/xhtml}"
SVG = "{http://www.w3.org/2000/svg}"


def markup_graph() -> nx.DiGraph:
    """Two tasks whose command lines would open a comment and a script inside a script."""
    graph = nx.DiGraph()
    graph.add_node("a", command_line="echo <!--<script>")
    graph.add_node("b", command_line="echo '</script><b>&amp;</b>' \u2028")
    graph.add_edge("a", "b")
    return graph


def test_markup_in_a_command_line_stays_inside_the_json_for_an_html5_parser() -> None:
    picture = picture_of(markup_graph())
    page = render(picture, "html")
    document = html5lib.parse(page)
    scripts = document.findall(f".//{XHTML}script")
    # Both script elements survive as the page has them: the data, then the page's code.
    assert [s.get("id") for s in scripts] == ["node-data", None]
    assert orjson.loads(scripts[0].text or "") == node_details(picture)
    assert "document.getElementById('node-data')" in (scripts[1].text or "")
    assert document.find(f".//{XHTML}aside").text == "Click a node."


def test_markup_in_a_command_line_leaves_the_page_script_working(tmp_path: Path) -> None:
    page = tmp_path / "markup.html"
    page.write_text(render(picture_of(markup_graph()), "html"), encoding="utf-8")
    dom = dump_dom(page, tmp_path / "profile", "#n1")
    panel = dom.split('<aside id="details">', 1)[1].split("</aside>", 1)[0]
    # The script ran (the panel shows n1), and the command line is text in it, not markup.
    assert "<h2>a</h2>" in panel
    assert "echo &lt;!--&lt;script&gt;" in panel
    assert 'class="node tasks selected" id="n1"' in dom
    assert len(re.findall(r'<g class="node ', dom)) == 2


SAS = "https://acct.blob.core.windows.net/in/x.csv?sv=2024-01-01&sp=r&sig=TOPSECRET%2Bsig"


def secret_graph() -> nx.DiGraph:
    """Tasks whose command line, display name and group name carry a SAS URL or an account
    key (two tasks alike, so one node shows the first of them as its sample)."""
    graph = nx.DiGraph()
    for k in (1, 2):
        graph.add_node(
            f"fetch-{k}",
            command_line=f"azcopy copy '{SAS}' . && echo DefaultEndpointsProtocol=https;"
            "AccountName=acct;AccountKey=KEYSECRET==;",
            display_name=f"fetch {SAS}",
            _group=f"fetch {SAS}",
        )
    graph.add_node("merge", command_line=f"curl '{SAS}'", display_name=SAS)
    graph.add_edge("fetch-1", "merge")
    graph.add_edge("fetch-2", "merge")
    return graph


@pytest.mark.parametrize("fmt", FORMATS)
def test_secrets_in_task_text_never_reach_a_picture(fmt: str) -> None:
    text = render(picture_of(secret_graph()), fmt)
    assert "TOPSECRET" not in text and "KEYSECRET" not in text
    assert "sig=REDACTED" in text  # the group name: drawn, masked
    if fmt == "html":
        details = orjson.loads(text.split('id="node-data">', 1)[1].split("</script>", 1)[0])
        sample = details["n1"]["details"]["first task"]
        assert sample["commandLine"].startswith("azcopy copy 'https://acct.blob.core")
        assert (
            "sig=REDACTED" in sample["commandLine"]
            and "AccountKey=REDACTED" in sample["commandLine"]
        )
        assert sample["displayName"].endswith("sig=REDACTED")


def test_secrets_never_reach_a_picture_file(tmp_path: Path) -> None:
    # The path `dagbatch run --picture` takes.
    for suffix in ("html", "svg", "txt", "dot", "mmd"):
        out = tmp_path / f"picture.{suffix}"
        write_picture(view_of(secret_graph()), out)
        text = out.read_text(encoding="utf-8")
        assert "TOPSECRET" not in text and "KEYSECRET" not in text


def control_graph() -> nx.DiGraph:
    """Groups whose names hold characters XML cannot hold, even as character references."""
    graph = nx.DiGraph()
    graph.add_node("a", command_line="x", _group="x\x01y")
    graph.add_node("b", command_line="x", _group="tab\there\x1b[0m\ufffe")
    graph.add_edge("a", "b")
    return graph


def test_control_characters_in_a_group_name_keep_the_svg_well_formed() -> None:
    svg = render(picture_of(control_graph()), "svg")
    root = ET.fromstring(svg.encode("utf-8"))
    texts = ["".join(t.itertext()) for t in root.iter(f"{SVG}text")]
    # Still readable as the name it is, with the character written as an escape.
    assert "x\\x01y" in texts and "tab\there\\x1b[0m\\ufffe" in texts


def test_control_characters_in_a_group_name_keep_the_html_parseable() -> None:
    page = render(picture_of(control_graph()), "html")
    document = html5lib.parse(page)
    assert "x\\x01y" in "".join(document.itertext())
    # The inline SVG alone is well-formed XML too.
    svg = page.split('<div id="picture">\n', 1)[1].split("</div>", 1)[0]
    ET.fromstring(svg.encode("utf-8"))


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_terminal_escape_in_a_group_name_is_shown_not_sent(fmt: str) -> None:
    """Printed as it was, '\x1b[2J' in a group name cleared the terminal of whoever read
    the text picture."""
    text = render(picture_of(control_graph()), fmt)
    assert "\x1b" not in text and "\x01" not in text
    if fmt == "text":
        assert "tab\there\\x1b[0m" in text and "x\\x01y" in text


def mermaid_decode(label: str) -> str:
    """What mermaid shows for a label: its entity codes read back."""
    named = {"quot": '"', "lt": "<", "gt": ">", "amp": "&"}
    return re.sub(
        r"#(\d+|[a-z]+);", lambda m: chr(int(m[1])) if m[1].isdigit() else named[m[1]], label
    )


def test_mermaid_labels_read_back_as_written() -> None:
    names = ["say #quot;hi#quot; & &amp; #35;", "two\nlines `code`"]
    graph = nx.DiGraph()
    for k, name in enumerate(names):
        graph.add_node(f"t{k}", command_line="x", _group=name)
    graph.add_edge("t0", "t1")
    text = render(picture_of(graph), "mermaid")
    nodes, _edges = parse_mermaid(text)  # every line one statement: no raw line break
    shown = [mermaid_decode(label) for label in nodes.values()]
    assert shown == ["say #quot;hi#quot; & &amp; #35;", "two\\nlines `code`"]
    assert "`" not in text and "&" not in text


def test_a_span_of_long_ids_keeps_both_ends_of_both_ids() -> None:
    stem = "sample-" + "x" * 40  # ids of 54 characters: Batch allows 64
    graph = nx.DiGraph()
    for k in (1, 2, 3):
        graph.add_node(f"{stem}-first{k}", command_line="x")
    picture = picture_of(graph)
    (node,) = picture.nodes
    assert node.span == f"{stem}-first1 … {stem}-first3"
    root = ET.fromstring(render(picture, "svg").encode("utf-8"))
    group = next(g for g in root.iter(f"{SVG}g") if g.get("id") == node.key)
    texts = ["".join(t.itertext()) for t in group.iter(f"{SVG}text")]
    span = next(t for t in texts if " … " in t and t != texts[0])
    first, last = span.split(" … ")
    # Each id keeps its start and its end; the line fits the node like any other.
    assert first.startswith("sample-x") and first.endswith("-first1")
    assert last.startswith("sample-x") and last.endswith("-first3")
    assert len(span) <= 56
    # The hover title keeps the whole span.
    assert node.span in "".join(group.find(f"{SVG}title").itertext())
