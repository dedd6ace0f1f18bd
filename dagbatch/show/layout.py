"""A pure-Python layered layout: one rank per dependency level, nodes ordered in each rank by
the barycentre of their neighbours (a few sweeps down and up), ranks centred.

No system binary is needed and the result is the same on every machine (deterministic: ties
keep drawing order).
"""

from __future__ import annotations

from dataclasses import dataclass

from dagbatch.show.model import SPAN_SEP, GroupNode, Picture

#: Longest line drawn in a node; longer ones are shortened in the middle.
MAX_LINE = 56
#: Estimated glyph widths (px) of the first line (12 px, bold) and the others (11 px).
TITLE_CHAR = 6.9
LINE_CHAR = 5.8
LINE_HEIGHT = 16
PAD_X = 14
PAD_Y = 9
GAP_X = 36
GAP_Y = 74
MARGIN = 24
SWEEPS = 4


def shorten(text: str, limit: int = MAX_LINE) -> str:
    """``text`` cut in the middle with an ellipsis when longer than ``limit``."""
    if len(text) <= limit:
        return text
    head = (limit - 1) // 2
    return text[:head] + "…" + text[len(text) - (limit - 1 - head) :]


@dataclass(frozen=True)
class Box:
    """A node's place: top-left corner and size, in px."""

    x: float
    y: float
    w: float
    h: float

    @property
    def cx(self) -> float:
        """Horizontal centre."""
        return self.x + self.w / 2


@dataclass(frozen=True)
class Layout:
    """Where every node goes (by ``GroupNode.index``), its rank, and the canvas size."""

    boxes: dict[int, Box]
    ranks: list[list[int]]
    width: float
    height: float


def shorten_span(span: str, limit: int = MAX_LINE) -> str:
    """An id span ``first … last`` within ``limit``: each id shortened in its own middle, so
    the start and the end of both stay visible (shortening the whole line in the middle
    would drop the end of the first id and all of the last)."""
    first, sep, last = span.partition(SPAN_SEP)
    if not sep or len(span) <= limit:
        return shorten(span, limit)
    room = limit - len(SPAN_SEP)
    if len(first) <= room // 2:
        return first + sep + shorten(last, room - len(first))
    if len(last) <= room // 2:
        return shorten(first, room - len(last)) + sep + last
    return shorten(first, room // 2) + sep + shorten(last, room - room // 2)


def drawn_lines(node: GroupNode) -> list[str]:
    """The lines a node draws, each shortened to ``MAX_LINE`` (its id span by ``shorten_span``);
    its hover title keeps them whole."""
    return [shorten_span(t) if t == node.span else shorten(t) for t in node.lines]


def node_size(lines: list[str]) -> tuple[float, float]:
    """Width and height of a node drawing these lines (``drawn_lines``)."""
    widths = [len(lines[0]) * TITLE_CHAR] + [len(t) * LINE_CHAR for t in lines[1:]]
    return max(widths) + 2 * PAD_X, len(lines) * LINE_HEIGHT + 2 * PAD_Y


def _order_ranks(picture: Picture, ranks: list[list[int]]) -> list[list[int]]:
    """Barycentre ordering: each node moves to the mean position of its neighbours in the
    rank above (down sweeps) or below (up sweeps)."""
    up: dict[int, list[int]] = {}
    down: dict[int, list[int]] = {}
    for link in picture.links:
        up.setdefault(link.target, []).append(link.source)
        down.setdefault(link.source, []).append(link.target)
    pos = {n: float(k) for rank in ranks for k, n in enumerate(rank)}
    size = {node.index: node.count for node in picture.nodes}

    def sweep(rank: list[int], neighbours: dict[int, list[int]]) -> list[int]:
        """The rank reordered by the mean position of each node's neighbours."""

        def centre(n: int) -> tuple[float, int, int]:
            """Sort key: mean neighbour position, then larger groups first, then index."""
            # Ties go to the larger group, so the main line of a graph stays in one column.
            near = [pos[m] for m in neighbours.get(n, ()) if m in pos]
            return (sum(near) / len(near) if near else pos[n], -size[n], n)

        ordered = sorted(rank, key=centre)
        for k, n in enumerate(ordered):
            pos[n] = float(k)
        return ordered

    for _ in range(SWEEPS):
        ranks = [ranks[0], *(sweep(r, up) for r in ranks[1:])] if ranks else ranks
        ranks = [*(sweep(r, down) for r in ranks[:-1]), ranks[-1]] if ranks else ranks
    return ranks


def layered_layout(picture: Picture, *, top: float = MARGIN) -> Layout:
    """Place the picture's nodes: rank by level, order by barycentre, centre each rank."""
    levels = sorted({node.level for node in picture.nodes})
    rank_of = {level: r for r, level in enumerate(levels)}
    ranks: list[list[int]] = [[] for _ in levels]
    for node in picture.nodes:
        ranks[rank_of[node.level]].append(node.index)
    ranks = _order_ranks(picture, ranks)
    sizes = {node.index: node_size(drawn_lines(node)) for node in picture.nodes}
    widths = [sum(sizes[n][0] for n in rank) + GAP_X * (len(rank) - 1) for rank in ranks]
    canvas = max(widths, default=0.0) + 2 * MARGIN
    boxes: dict[int, Box] = {}
    y = top
    for rank, width in zip(ranks, widths, strict=True):
        x = (canvas - width) / 2
        height = max((sizes[n][1] for n in rank), default=0.0)
        for n in rank:
            w, h = sizes[n]
            boxes[n] = Box(round(x, 1), round(y + (height - h) / 2, 1), round(w, 1), h)
            x += w + GAP_X
        y += height + GAP_Y
    return Layout(boxes=boxes, ranks=ranks, width=round(canvas, 1), height=round(y - GAP_Y, 1))
