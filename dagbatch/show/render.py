"""One entry point for every output format of `dagbatch show`."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Final

from dagbatch.errors import ConfigError
from dagbatch.paths import write_whole
from dagbatch.show.fold import DEFAULT_MAX_NODES, fold_plan
from dagbatch.show.model import Picture, PlanView, TaskState
from dagbatch.show.render_dot import render_dot
from dagbatch.show.render_html import render_html
from dagbatch.show.render_mermaid import render_mermaid
from dagbatch.show.render_svg import render_svg
from dagbatch.show.render_text import render_text

RENDERERS: Final[dict[str, Callable[[Picture], str]]] = {
    "text": render_text,
    "mermaid": render_mermaid,
    "dot": render_dot,
    "svg": render_svg,
    "html": render_html,
}
FORMATS: Final = tuple(RENDERERS)


def render(picture: Picture, fmt: str) -> str:
    """The picture in one of ``FORMATS`` (``ConfigError`` for any other)."""
    try:
        renderer = RENDERERS[fmt]
    except (KeyError, TypeError):
        raise ConfigError(
            f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)} (dagbatch draws no images)"
        ) from None
    return renderer(picture)


def format_for_path(path: Path) -> str:
    """The format a file name asks for: ``.html``/``.htm``, ``.svg``, ``.dot``/``.gv``,
    ``.mmd``/``.mermaid``; anything else is text."""
    suffix = path.suffix.lower()
    return {
        ".html": "html",
        ".htm": "html",
        ".svg": "svg",
        ".dot": "dot",
        ".gv": "dot",
        ".mmd": "mermaid",
        ".mermaid": "mermaid",
    }.get(suffix, "text")


#: Suffixes of image files: no format of `show` is one, so such a file would hold text.
IMAGE_SUFFIXES: Final = frozenset(
    {".png", ".jpg", ".jpeg", ".gif", ".webp", ".bmp", ".tif", ".tiff", ".pdf"}
)


def image_refusal(path: Path) -> str | None:
    """Why a picture cannot go to ``path`` under its own name (the suffix asks for an image
    file, which `show` does not make), or None."""
    suffix = path.suffix.lower()
    if suffix not in IMAGE_SUFFIXES:
        return None
    return (
        f"{path} asks for a {suffix[1:].upper()} image, which dagbatch does not draw; write "
        f"{path.with_suffix('.svg').name} (or .html, .dot, .mmd) and convert it if need be, "
        "e.g. `dot -Tpng` on a .dot file"
    )


def write_picture(
    view: PlanView,
    path: Path,
    *,
    fmt: str | None = None,
    states: Mapping[str, TaskState] | None = None,
    max_nodes: int = DEFAULT_MAX_NODES,
) -> Picture:
    """Fold a plan (with live state when given) and write its picture to ``path``, in ``fmt``
    or the format the file name asks for. For commands that end with a picture of their
    outcome (e.g. a run)."""
    picture = fold_plan(view, max_nodes=max_nodes, states=states)
    text = render(picture, fmt or format_for_path(Path(path)))
    write_whole(Path(path), text.encode("utf-8"))
    return picture
