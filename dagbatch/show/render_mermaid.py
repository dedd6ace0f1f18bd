"""The mermaid picture (``flowchart TB``): text for docs and tools that draw mermaid."""

from __future__ import annotations

import re

from dagbatch.show.model import GroupNode, Picture
from dagbatch.show.style import (
    BARRIER_FILL,
    CRITICAL,
    EDGE_COLOURS,
    EDGE_DASH,
    NODE_FILL,
    NODE_STROKE,
    STATE_FILLS,
)

#: Arrow by edge kind: plain for success, dotted for the others; each edge's ``linkStyle``
#: then gives the dash pattern of the README's legend and the SVG (``EDGE_DASH``: failure route
#: dashed, always dotted, never sparse dots).
_ARROWS = {"success": "-->", "failure": "-.->", "always": "-.->", "never": "-.->"}


#: Characters of a label written as mermaid entity codes (``#35;`` is ``#`` by its decimal
#: code): ``#`` itself, so that a label holding ``#quot;`` reads as written; ``&``, so that
#: ``&amp;`` is not read as HTML; the quote that would end the label; angle brackets (HTML);
#: the backtick that opens a markdown string; and line ends, written visibly as ``\n``
#: (a raw one would break the label's line). Nodes' lines are joined by ``<br/>`` apart.
_MERMAID_CODES = {
    "#": "#35;",
    "&": "#38;",
    '"': "#quot;",
    "<": "#lt;",
    ">": "#gt;",
    "`": "#96;",
    "\n": "#92;n",
    "\r": "#92;r",
}
_MERMAID_SPECIAL = re.compile('[#&"<>`\n\r]')


def mermaid_text(text: str) -> str:
    """A label inside ``"..."``, every character mermaid would read as markup written as an
    entity code (``_MERMAID_CODES``), in one pass so no code is escaped twice."""
    return _MERMAID_SPECIAL.sub(lambda m: _MERMAID_CODES[m.group()], text)


def _node(node: GroupNode) -> str:
    """A node statement: a box, or a hexagon for barriers."""
    label = "<br/>".join(mermaid_text(line) for line in node.lines)
    if node.barrier:
        return f'  {node.key}{{{{"{label}"}}}}'
    return f'  {node.key}["{label}"]'


def render_mermaid(picture: Picture) -> str:
    """The picture as a mermaid flowchart (deterministic)."""
    out = [f"%% dagbatch show: job {picture.job_id or '(no id)'}", "flowchart TB"]
    out += [_node(node) for node in picture.nodes]
    for link in picture.links:
        words = [link.label] if link.label else []
        arrow = _ARROWS[link.kind]
        source, target = picture.nodes[link.source].key, picture.nodes[link.target].key
        text = f'|"{mermaid_text(", ".join(words))}"|' if words else ""
        out.append(f"  {source} {arrow}{text} {target}")
    out.append(f"  classDef plain fill:{NODE_FILL},stroke:{NODE_STROKE}")
    out.append(f"  classDef barrier fill:{BARRIER_FILL},stroke:{NODE_STROKE}")
    out.append(f"  classDef critical stroke:{CRITICAL},stroke-width:3px")
    for state, fill in STATE_FILLS.items():
        out.append(f"  classDef {state} fill:{fill}")
    for node in picture.nodes:
        classes = ["barrier" if node.barrier else "plain"]
        if node.state:
            classes.append(node.state)
        if node.critical:
            classes.append("critical")
        out.append(f"  class {node.key} {','.join(classes)}")
    for k, link in enumerate(picture.links):
        width = "3px" if link.critical else "1.5px"
        colour = CRITICAL if link.critical else EDGE_COLOURS[link.kind]
        dash = EDGE_DASH[link.kind]
        out.append(
            f"  linkStyle {k} stroke:{colour},stroke-width:{width}"
            + (f",stroke-dasharray:{dash}" if dash else "")
        )
    return "\n".join(out) + "\n"
