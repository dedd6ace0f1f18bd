"""The Graphviz dot picture: one rank per dependency level, barriers as hexagons."""

from __future__ import annotations

from dagbatch.show.model import Picture
from dagbatch.show.style import (
    BARRIER_FILL,
    CRITICAL,
    EDGE_COLOURS,
    FONT,
    NODE_FILL,
    NODE_STROKE,
    STATE_FILLS,
)

#: Line style by edge kind, as the README's legend and the SVG draw them: success solid,
#: failure route dashed, always dotted. Dot has no finer dash patterns, so ``never`` (dotted
#: in light grey in the SVG) is dotted too and ends in a bar (``_DOT_HEAD``): its child never
#: runs.
_DOT_STYLE = {"success": "solid", "failure": "dashed", "always": "dotted", "never": "dotted"}
_DOT_HEAD = {"never": "tee"}


def dot_string(text: str) -> str:
    """A dot double-quoted string (lines joined by dot's centred line break)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def render_dot(picture: Picture) -> str:
    """The picture as a dot digraph (deterministic)."""
    out = [
        f"digraph {dot_string('dagbatch ' + (picture.job_id or 'plan'))} {{",
        "  rankdir=TB;",
        "  nodesep=0.35; ranksep=0.6;",
        f'  node [shape=box, style="rounded,filled", fontname={dot_string(FONT)}, '
        f"fontsize=11, color={dot_string(NODE_STROKE)}];",
        f"  edge [fontname={dot_string(FONT)}, fontsize=9];",
    ]
    for node in picture.nodes:
        fill = (
            STATE_FILLS[node.state] if node.state else (BARRIER_FILL if node.barrier else NODE_FILL)
        )
        attrs = [
            f"label={dot_string(chr(10).join(node.lines))}",
            f"fillcolor={dot_string(fill)}",
            f"tooltip={dot_string(node.span)}",
        ]
        if node.barrier:
            attrs.append("shape=hexagon")
        if node.critical:
            attrs += [f"color={dot_string(CRITICAL)}", "penwidth=2.5"]
        out.append(f"  {node.key} [{', '.join(attrs)}];")
    levels: dict[int, list[str]] = {}
    for node in picture.nodes:
        levels.setdefault(node.level, []).append(node.key)
    for level in sorted(levels):
        out.append(f"  {{ rank=same; {' '.join(k + ';' for k in levels[level])} }}")
    for link in picture.links:
        words = [link.label] if link.label else []
        colour = CRITICAL if link.critical else EDGE_COLOURS[link.kind]
        attrs = [f"color={dot_string(colour)}", f"style={_DOT_STYLE[link.kind]}"]
        if link.kind in _DOT_HEAD:
            attrs.append(f"arrowhead={_DOT_HEAD[link.kind]}")
        if words:
            attrs.append(f"label={dot_string(', '.join(words))}")
        if link.critical:
            attrs.append("penwidth=2.5")
        source, target = picture.nodes[link.source].key, picture.nodes[link.target].key
        out.append(f"  {source} -> {target} [{', '.join(attrs)}];")
    out.append("}")
    return "\n".join(out) + "\n"
