"""Every format draws an edge kind the way the README's legend says: success solid, failure
route dashed, always dotted (blue), never dotted apart from always."""

from __future__ import annotations

import re
from typing import Any

from test_show_render import parse_mermaid, read_dot

from dagbatch.show.fold import fold_plan
from dagbatch.show.model import Picture
from dagbatch.show.render import render
from dagbatch.show.source import build_view
from dagbatch.show.style import EDGE_COLOURS

#: exitConditions giving each edge kind (docs/BATCH_FACTS.md "Exit conditions").
EXITS: dict[str, dict[str, Any] | None] = {
    "success": None,
    "failure": {
        "exitCodes": [{"code": 0, "exitOptions": {"dependencyAction": "block"}}],
        "default": {"dependencyAction": "satisfy"},
    },
    "always": {"default": {"dependencyAction": "satisfy"}},
    "never": {"exitCodes": [{"code": 0, "exitOptions": {"dependencyAction": "block"}}]},
}


def four_kinds() -> Picture:
    """One parent of each kind, each with one child, in this order."""
    tasks: list[tuple[int, dict[str, Any]]] = []
    for kind, ec in EXITS.items():
        parent: dict[str, Any] = {"id": f"{kind}-p", "commandLine": "x"}
        if ec:
            parent["exitConditions"] = ec
        tasks.append((1, parent))
    for kind in EXITS:
        tasks.append(
            (1, {"id": f"{kind}-c", "commandLine": "x", "dependsOn": {"taskIds": [f"{kind}-p"]}})
        )
    view = build_view(
        tasks,
        job_id="j",
        api_version="2025-06-01.20.0",
        on_task_failure="noaction",
        requests=1,
        submit_waves=1,
        barriers=(),
    )
    picture = fold_plan(view, fold=False)
    assert [link.kind for link in picture.links] == list(EXITS)
    return picture


def test_dot_draws_the_legend_styles() -> None:
    edges = read_dot(render(four_kinds(), "dot")).get_edges()
    styles = {kind: e.get_style() for kind, e in zip(EXITS, edges, strict=True)}
    assert styles == {
        "success": "solid",
        "failure": "dashed",
        "always": "dotted",
        "never": "dotted",
    }
    assert edges[2].get_color() == f'"{EDGE_COLOURS["always"]}"'
    # never and always differ in more than their colour: never ends in a bar.
    heads = [e.get_attributes().get("arrowhead") for e in edges]
    assert heads == [None, None, None, "tee"]


def test_mermaid_draws_the_legend_styles() -> None:
    text = render(four_kinds(), "mermaid")
    _nodes, edges = parse_mermaid(text)
    assert [e[2] for e in edges] == ["-->", "-.->", "-.->", "-.->"]  # always: dotted, not thick
    styles = dict(re.findall(r"  linkStyle (\d+) (.*)", text))
    dashes = [re.search(r"stroke-dasharray:([\d ]+)", styles[str(k)]) for k in range(4)]
    assert dashes[0] is None
    # failure dashed, always dotted, never sparser dots: all three different.
    assert [d.group(1) for d in dashes[1:] if d] == ["6 4", "2 3", "1 4"]
    assert f"stroke:{EDGE_COLOURS['always']}" in styles["2"]
