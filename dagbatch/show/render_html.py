"""The HTML picture: one file that opens offline. The SVG is inline; the style and the small
script that shows a node's details on click are inline too; nothing is fetched."""

from __future__ import annotations

import re
from typing import Any

import orjson

from dagbatch.show.model import Picture
from dagbatch.show.render_svg import escape, render_svg
from dagbatch.show.render_text import describe_intent, header_lines, summary_lines

_STYLE = """
body { font-family: Helvetica, Arial, sans-serif; margin: 0; color: #1a202c; }
header { padding: 12px 20px; border-bottom: 1px solid #e2e8f0; }
header h1 { font-size: 16px; margin: 0 0 4px 0; }
header p { font-size: 12px; margin: 2px 0; }
main { display: flex; align-items: flex-start; }
#picture { flex: 1; overflow: auto; padding: 8px; }
#details { width: 340px; min-height: 200px; border-left: 1px solid #e2e8f0; padding: 12px;
  font-size: 12px; position: sticky; top: 0; }
#details pre { white-space: pre-wrap; word-break: break-all; background: #f7fafc;
  padding: 6px; }
g.node { cursor: pointer; }
g.node.selected rect, g.node.selected polygon { stroke: #3182ce; stroke-width: 3; }
"""

_SCRIPT = """
(function () {
  var data = JSON.parse(document.getElementById('node-data').textContent);
  var panel = document.getElementById('details');
  function show(key) {
    // Own keys only: '#constructor' names what every object inherits, not a node.
    if (!Object.prototype.hasOwnProperty.call(data, key)) { return; }
    var node = data[key];
    var drawn = document.getElementById(key);
    if (!node || !drawn) { return; }
    document.querySelectorAll('g.node.selected').forEach(function (g) {
      g.classList.remove('selected');
    });
    drawn.classList.add('selected');
    panel.textContent = '';
    var h = document.createElement('h2');
    h.textContent = node.label;
    panel.appendChild(h);
    var pre = document.createElement('pre');
    pre.textContent = JSON.stringify(node.details, null, 2);
    panel.appendChild(pre);
  }
  document.querySelectorAll('g.node').forEach(function (g) {
    g.addEventListener('click', function () {
      history.replaceState(null, '', '#' + g.id);
      show(g.id);
    });
  });
  if (location.hash) { show(location.hash.slice(1)); }
})();
"""


def node_details(picture: Picture) -> dict[str, dict[str, Any]]:
    """What the details panel shows for each node (by node key)."""
    out: dict[str, dict[str, Any]] = {}
    for node in picture.nodes:
        details: dict[str, Any] = {
            "tasks": node.count,
            "ids": node.span,
            **({"Batch ids": node.batch_ids} if node.batch_ids else {}),
            "level": node.level if node.levels == (node.level,) * 2 else list(node.levels),
            "submit waves": list(node.submit_waves),
            "ends": f"{node.intent}: {describe_intent(node.intent)}",
            "on the critical path": node.critical,
        }
        if node.barrier:
            details["barrier for"] = node.serves
        if node.states:
            details["state"] = node.states
        details["first task"] = dict(node.sample)
        out[node.key] = {"label": node.label, "details": details}
    return out


#: What the JSON inside the page's <script> element spells as a \u escape: "<" and ">" (an
#: HTML parser reads "</script", "<!--" and "-->" inside a script element as markup, whatever
#: the JSON around them), "&", and the line separators that JavaScript before ES2019 reads as
#: line ends. Each is still the same character to JSON.parse.
_SCRIPT_ESCAPES = {
    "<": "\\u003c",
    ">": "\\u003e",
    "&": "\\u0026",
    "\u2028": "\\u2028",
    "\u2029": "\\u2029",
}
_SCRIPT_UNSAFE = re.compile("[<>&\u2028\u2029]")


def script_json(value: Any) -> str:
    """``value`` as JSON that can sit inside a ``<script>`` element: no character in it can
    end the element or open a comment there (``_SCRIPT_ESCAPES``)."""
    text = orjson.dumps(value).decode()  # insertion order: deterministic
    return _SCRIPT_UNSAFE.sub(lambda m: _SCRIPT_ESCAPES[m.group()], text)


def render_html(picture: Picture) -> str:
    """The picture as one self-contained HTML document (deterministic)."""
    title = f"dagbatch show: job {picture.job_id or '(no id)'}"
    data = script_json(node_details(picture))
    head = header_lines(picture) + summary_lines(picture)
    paragraphs = "\n".join(f"<p>{escape(line)}</p>" for line in head[1:])
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{escape(title)}</title>\n"
        f"<style>{_STYLE}</style>\n</head>\n<body>\n"
        f"<header><h1>{escape(head[0])}</h1>\n{paragraphs}\n"
        "<p>Click a node for its details (or open the file with #n2 and so on); hover for its "
        "ids.</p></header>\n"
        '<main>\n<div id="picture">\n'
        + render_svg(picture, standalone=False)
        + '</div>\n<aside id="details">Click a node.</aside>\n</main>\n'
        f'<script type="application/json" id="node-data">{data}</script>\n'
        f"<script>{_SCRIPT}</script>\n</body>\n</html>\n"
    )
