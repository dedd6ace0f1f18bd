"""The SVG picture, laid out in pure Python (``layout.layered_layout``): one self-contained
document, no fonts, scripts or styles fetched from anywhere."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Iterator
from typing import Final
from xml.sax import saxutils

from dagbatch.show.layout import LINE_HEIGHT, MARGIN, PAD_Y, Box, drawn_lines, layered_layout
from dagbatch.show.model import KIND_WORDS, STATE_MARKS, GroupEdge, GroupNode, Picture
from dagbatch.show.render_text import header_lines, summary_lines
from dagbatch.show.style import (
    BARRIER_FILL,
    CRITICAL,
    EDGE_COLOURS,
    EDGE_DASH,
    FONT,
    NODE_FILL,
    NODE_STROKE,
    STATE_FILLS,
)

HEADER_LINE = 16
LABEL_CHAR = 5.6
LEGEND_HEIGHT = 58
#: Room an edge that goes around nodes keeps from them, px.
EDGE_CLEARANCE = 10.0


#: Characters XML 1.0 does not allow in a document, escaped or not ("Char", section 2.2 of
#: the XML 1.0 specification): C0 controls but tab, line feed and carriage return, lone
#: surrogates, U+FFFE and U+FFFF.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_chars(text: str) -> str:
    """``text`` with every character XML cannot hold written as a visible escape (``\\x01``,
    ``\\ufffe``), so that a group name like ``"x\\x01y"`` still reads as what it is."""
    return _NOT_XML.sub(
        lambda m: (
            f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100 else f"\\u{ord(m.group()):04x}"
        ),
        text,
    )


def escape(text: str) -> str:
    """Text for an XML element: markup characters as entities, XML-invalid ones escaped."""
    return saxutils.escape(xml_chars(text))


def attr(text: str) -> str:
    """A value for an XML attribute in double quotes."""
    return saxutils.escape(xml_chars(text), {'"': "&quot;"})


def _fmt(value: float) -> str:
    """A coordinate with at most one decimal and no trailing zeros."""
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _node_svg(node: GroupNode, box: Box) -> str:
    """One node: its shape (rounded box or barrier hexagon), lines and hover title."""
    fill = STATE_FILLS[node.state] if node.state else (BARRIER_FILL if node.barrier else NODE_FILL)
    stroke, width = (CRITICAL, 2.5) if node.critical else (NODE_STROKE, 1.2)
    x, y, w, h = box.x, box.y, box.w, box.h
    if node.barrier:
        d = 10.0
        points = [
            (x + d, y),
            (x + w - d, y),
            (x + w, y + h / 2),
            (x + w - d, y + h),
            (x + d, y + h),
            (x, y + h / 2),
        ]
        shape = (
            f'<polygon points="{" ".join(f"{_fmt(a)},{_fmt(b)}" for a, b in points)}" '
            f'fill="{fill}" stroke="{stroke}" stroke-width="{width}"/>'
        )
    else:
        shape = (
            f'<rect x="{_fmt(x)}" y="{_fmt(y)}" width="{_fmt(w)}" height="{_fmt(h)}" rx="6" '
            f'fill="{fill}" stroke="{stroke}" stroke-width="{width}"/>'
        )
    texts = []
    for k, line in enumerate(drawn_lines(node)):
        ty = y + PAD_Y + LINE_HEIGHT * k + 12
        weight = ' font-weight="bold" font-size="12"' if k == 0 else ' font-size="11"'
        texts.append(
            f'<text x="{_fmt(box.cx)}" y="{_fmt(ty)}" text-anchor="middle"{weight}>'
            f"{escape(line)}</text>"
        )
    tip = "\n".join([*node.lines, node.span] if node.span not in node.lines else node.lines)
    kind = "barrier" if node.barrier else "tasks"
    return (
        f'<g class="node {kind}" id="{node.key}" data-count="{node.count}">'
        f"<title>{escape(tip)}</title>{shape}{''.join(texts)}</g>"
    )


def _ports(
    picture: Picture, boxes: dict[int, Box]
) -> tuple[dict[int, tuple[float, float]], dict[int, tuple[float, float]]]:
    """Start and end points of each edge (by position in ``picture.links``), spread along the
    bottom of the source and the top of the target in the order of the other end."""
    outs: dict[int, list[int]] = {}
    ins: dict[int, list[int]] = {}
    for k, link in enumerate(picture.links):
        outs.setdefault(link.source, []).append(k)
        ins.setdefault(link.target, []).append(k)
    start: dict[int, tuple[float, float]] = {}
    end: dict[int, tuple[float, float]] = {}
    for n, ks in outs.items():
        b = boxes[n]
        ks.sort(key=lambda k: (boxes[picture.links[k].target].cx, k))
        for j, k in enumerate(ks):
            start[k] = (b.x + b.w * (0.2 + 0.6 * (j + 1) / (len(ks) + 1)), b.y + b.h)
    for n, ks in ins.items():
        b = boxes[n]
        ks.sort(key=lambda k: (boxes[picture.links[k].source].cx, k))
        for j, k in enumerate(ks):
            end[k] = (b.x + b.w * (0.2 + 0.6 * (j + 1) / (len(ks) + 1)), b.y)
    return start, end


def _lane(a: tuple[float, float], b: tuple[float, float], between: list[Box]) -> float | None:
    """Where an edge from ``a`` down to ``b`` runs when a curve straight down would cross
    one of the nodes drawn on the ranks between them (``between``: an edge that skips
    levels): the x of a free vertical lane among them, the one nearest its own course; None
    when nothing is in the way."""
    if not between:
        return None
    low, high = min(a[0], b[0]) - EDGE_CLEARANCE, max(a[0], b[0]) + EDGE_CLEARANCE
    if not any(box.x < high and box.x + box.w > low for box in between):
        return None
    merged: list[list[float]] = []
    for start, stop in sorted(
        (box.x - EDGE_CLEARANCE, box.x + box.w + EDGE_CLEARANCE) for box in between
    ):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], stop)
        else:
            merged.append([start, stop])
    gaps = [(-math.inf, merged[0][0])]
    gaps += [(merged[i][1], merged[i + 1][0]) for i in range(len(merged) - 1)]
    gaps.append((merged[-1][1], math.inf))
    mid = (a[0] + b[0]) / 2
    lanes = [min(max(mid, g0), g1) for g0, g1 in gaps if g1 >= g0 and g1 > EDGE_CLEARANCE]
    return min(lanes, key=lambda x: (abs(x - mid), x))


class Placed:
    """The rectangles already drawn (centre x and y, width, height), kept in the cells of a
    grid they cover: whether a label's place is taken is asked of what lies near it, not of
    every node and label (a picture of 10,000 nodes took half a minute the other way)."""

    CELL: Final = 64.0

    def __init__(self, rects: Iterable[tuple[float, float, float, float]] = ()) -> None:
        self._cells: dict[tuple[int, int], list[tuple[float, float, float, float]]] = {}
        for rect in rects:
            self.add(rect)

    def _cells_of(self, cx: float, cy: float, w: float, h: float) -> Iterator[tuple[int, int]]:
        cell = self.CELL
        xs = range(math.floor((cx - w / 2) / cell), math.floor((cx + w / 2) / cell) + 1)
        ys = range(math.floor((cy - h / 2) / cell), math.floor((cy + h / 2) / cell) + 1)
        return ((x, y) for x in xs for y in ys)

    def add(self, rect: tuple[float, float, float, float]) -> None:
        for key in self._cells_of(*rect):
            self._cells.setdefault(key, []).append(rect)

    def taken(self, cx: float, cy: float, w: float, h: float) -> bool:
        """Whether a rectangle of these overlaps one placed (touching is not overlapping):
        two that overlap share a point, and so a cell."""
        return any(
            abs(cx - px) < (w + pw) / 2 and abs(cy - py) < (h + ph) / 2
            for key in self._cells_of(cx, cy, w, h)
            for px, py, pw, ph in self._cells.get(key, ())
        )


def _edge_svg(
    link: GroupEdge,
    a: tuple[float, float],
    b: tuple[float, float],
    placed: Placed,
    source: str,
    target: str,
    lane: float | None = None,
) -> str:
    """One edge: a curve from ``a`` to ``b`` in its kind's colour and dash (around the nodes
    between them by ``lane``, when given), an arrowhead, a hover title, and its label moved
    down past the labels and nodes already ``placed`` (centre x and y, width, height)."""
    colour = CRITICAL if link.critical else EDGE_COLOURS[link.kind]
    width = 2.5 if link.critical else 1.4
    dash = EDGE_DASH[link.kind]
    if lane is None:
        bend = max(24.0, (b[1] - a[1]) / 2)
        path = (
            f"M{_fmt(a[0])},{_fmt(a[1])} C{_fmt(a[0])},{_fmt(a[1] + bend)} "
            f"{_fmt(b[0])},{_fmt(b[1] - bend)} {_fmt(b[0])},{_fmt(b[1] - 1)}"
        )
    else:
        # Out of the source, across to the lane, down it, and across into the target.
        r = min(18.0, (b[1] - a[1]) / 4)
        path = (
            f"M{_fmt(a[0])},{_fmt(a[1])} C{_fmt(a[0])},{_fmt(a[1] + r)} "
            f"{_fmt(lane)},{_fmt(a[1] + r)} {_fmt(lane)},{_fmt(a[1] + 2 * r)} "
            f"L{_fmt(lane)},{_fmt(b[1] - 2 * r)} C{_fmt(lane)},{_fmt(b[1] - r)} "
            f"{_fmt(b[0])},{_fmt(b[1] - r)} {_fmt(b[0])},{_fmt(b[1] - 1)}"
        )
    parts = [
        f'<g class="edge {link.kind}" data-source="{source}" data-target="{target}">',
        f"<title>{escape(source)} → {escape(target)}: {link.count:,} "
        f"{'dependency' if link.count == 1 else 'dependencies'}"
        f"{', ' + escape(link.label) if link.label else ''}</title>",
        f'<path d="{path}" fill="none" stroke="{colour}" stroke-width="{width}"'
        + (f' stroke-dasharray="{dash}"' if dash else "")
        + f' marker-end="url(#arrow-{"critical" if link.critical else link.kind})"/>',
    ]
    if link.label:
        w = len(link.label) * LABEL_CHAR + 8
        cx, cy = (a[0] + b[0]) / 2, (a[1] + b[1]) / 2
        if lane is not None:  # beside its lane, on the side away from the target
            cx = lane - w / 2 - 2 if lane < b[0] else lane + w / 2 + 2
        for _ in range(12):  # move down past labels already placed, and the nodes
            if not placed.taken(cx, cy, w, 14):
                break
            cy += 14
        placed.add((cx, cy, w, 14))
        parts.append(
            f'<rect x="{_fmt(cx - w / 2)}" y="{_fmt(cy - 9)}" width="{_fmt(w)}" height="13" '
            f'rx="3" fill="#ffffff" fill-opacity="0.9"/>'
            f'<text x="{_fmt(cx)}" y="{_fmt(cy + 1)}" text-anchor="middle" font-size="10" '
            f'fill="{colour}">{escape(link.label)}</text>'
        )
    parts.append("</g>")
    return "".join(parts)


def _markers() -> str:
    """Arrowheads, one per edge colour."""
    colours = {**EDGE_COLOURS, "critical": CRITICAL}
    return "".join(
        f'<marker id="arrow-{name}" viewBox="0 0 10 10" refX="9" refY="5" '
        'markerUnits="userSpaceOnUse" markerWidth="9" '
        f'markerHeight="9" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" '
        f'fill="{colour}"/></marker>'
        for name, colour in colours.items()
    )


def legend_width(picture: Picture) -> float:
    """How wide the legend is drawn (the canvas is at least this wide)."""
    edges = sum(44 + len(KIND_WORDS[k] or "success") * 6.3 for k in EDGE_COLOURS) + 130
    states = sum(30 + len(STATE_MARKS[k]) * 6.3 for k in STATE_FILLS) if picture.live else 0
    return MARGIN * 2 + max(edges, 270 + states)


def _legend(picture: Picture, y: float) -> str:
    """Edge kinds, the critical path, the barrier shape and (live) the state colours."""
    items: list[str] = []
    x = float(MARGIN)
    for kind, colour in EDGE_COLOURS.items():
        dash = EDGE_DASH[kind]
        name = KIND_WORDS[kind] or "success"
        items.append(
            f'<line x1="{_fmt(x)}" y1="{_fmt(y)}" x2="{_fmt(x + 28)}" y2="{_fmt(y)}" '
            f'stroke="{colour}" stroke-width="1.6"'
            + (f' stroke-dasharray="{dash}"' if dash else "")
            + f'/><text x="{_fmt(x + 34)}" y="{_fmt(y + 4)}" font-size="11">{name}</text>'
        )
        x += 44 + len(name) * 6.3
    items.append(
        f'<line x1="{_fmt(x)}" y1="{_fmt(y)}" x2="{_fmt(x + 28)}" y2="{_fmt(y)}" '
        f'stroke="{CRITICAL}" stroke-width="2.5"/><text x="{_fmt(x + 34)}" y="{_fmt(y + 4)}" '
        'font-size="11">critical path</text>'
    )
    y2 = y + 22
    x = float(MARGIN)
    items.append(
        f'<polygon points="{_fmt(x + 5)},{_fmt(y2 - 7)} {_fmt(x + 23)},{_fmt(y2 - 7)} '
        f"{_fmt(x + 28)},{_fmt(y2)} {_fmt(x + 23)},{_fmt(y2 + 7)} {_fmt(x + 5)},{_fmt(y2 + 7)} "
        f'{_fmt(x)},{_fmt(y2)}" fill="{BARRIER_FILL}" stroke="{NODE_STROKE}"/>'
        f'<text x="{_fmt(x + 34)}" y="{_fmt(y2 + 4)}" font-size="11">barrier (no-op task '
        "that gates its child)</text>"
    )
    x += 270
    if picture.live:
        for state, fill in STATE_FILLS.items():
            items.append(
                f'<rect x="{_fmt(x)}" y="{_fmt(y2 - 7)}" width="14" height="14" fill="{fill}" '
                f'stroke="{NODE_STROKE}"/><text x="{_fmt(x + 19)}" y="{_fmt(y2 + 4)}" '
                f'font-size="11">{STATE_MARKS[state]}</text>'
            )
            x += 30 + len(STATE_MARKS[state]) * 6.3
    return f'<g class="legend">{"".join(items)}</g>'


def render_svg(picture: Picture, *, standalone: bool = True) -> str:
    """The picture as an SVG document with its summary on top (``standalone=False``: the
    ``<svg>`` element alone without the summary, for inlining in HTML that shows it)."""
    head = header_lines(picture) + summary_lines(picture) if standalone else []
    top = MARGIN + (HEADER_LINE * len(head) + 16 if head else 0)
    layout = layered_layout(picture, top=top)
    # Edges that would cross a node between their ends go around it, by a lane that may lie
    # right of every node: the canvas takes it in.
    start, end = _ports(picture, layout.boxes)
    rank_of = {n: r for r, rank in enumerate(layout.ranks) for n in rank}
    lanes = [
        _lane(
            start[k],
            end[k],
            [
                layout.boxes[n]
                for rank in layout.ranks[rank_of[link.source] + 1 : rank_of[link.target]]
                for n in rank
            ],
        )
        for k, link in enumerate(picture.links)
    ]
    right = max((x + EDGE_CLEARANCE + MARGIN for x in lanes if x is not None), default=0.0)
    width = max(
        layout.width,
        right,
        legend_width(picture),
        max((len(t) for t in head), default=0) * 6.8 + 2 * MARGIN,
    )
    shift = (width - max(layout.width, right)) / 2
    boxes = {n: Box(b.x + shift, b.y, b.w, b.h) for n, b in layout.boxes.items()}
    height = layout.height + 30 + LEGEND_HEIGHT
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_fmt(width)}" height="{_fmt(height)}" '
        f'viewBox="0 0 {_fmt(width)} {_fmt(height)}" font-family="{attr(FONT)}" '
        f'fill="#1a202c" class="dagbatch-show">',
        f"<defs>{_markers()}</defs>",
        f'<rect width="{_fmt(width)}" height="{_fmt(height)}" fill="#ffffff"/>',
    ]
    for k, line in enumerate(head):
        weight = ' font-weight="bold" font-size="13"' if k == 0 else ' font-size="11"'
        out.append(
            f'<text x="{MARGIN}" y="{_fmt(MARGIN + HEADER_LINE * k)}"{weight}>{escape(line)}</text>'
        )
    start, end = _ports(picture, boxes)
    # Labels go where no node is (a node is drawn over them) and no other label.
    placed = Placed((b.cx, b.y + b.h / 2, b.w, b.h) for b in boxes.values())
    out.append('<g class="edges">')
    for k, link in enumerate(picture.links):
        lane = lanes[k]
        out.append(
            _edge_svg(
                link,
                start[k],
                end[k],
                placed,
                picture.nodes[link.source].key,
                picture.nodes[link.target].key,
                None if lane is None else lane + shift,
            )
        )
    out.append('</g><g class="nodes">')
    out += [_node_svg(node, boxes[node.index]) for node in picture.nodes]
    out.append("</g>")
    out.append(_legend(picture, layout.height + 30))
    out.append("</svg>")
    text = "\n".join(out) + "\n"
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + text if standalone else text
