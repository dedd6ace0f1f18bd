"""Colours and shapes shared by the drawn formats (mermaid, dot, svg, html): defined once."""

from __future__ import annotations

from typing import Final

#: Edge colour and dash pattern by kind (success, failure route, always, never).
EDGE_COLOURS: Final = {
    "success": "#4a5568",
    "failure": "#c53030",
    "always": "#2b6cb0",
    "never": "#a0aec0",
}
EDGE_DASH: Final = {"success": "", "failure": "6 4", "always": "2 3", "never": "1 4"}
#: Node fill by live state; plain nodes and barriers without live state. Each state its own
#: hue, none white (a node without live state is white): waiting grey, skipped lavender, and
#: tasks missing from the job orange, the most alarming after a failure.
STATE_FILLS: Final = {
    "completed": "#c6f6d5",
    "failed": "#fed7d7",
    "running": "#bee3f8",
    "waiting": "#edf2f7",
    "never": "#fefcbf",
    "skipped": "#e9d8fd",
    "missing": "#fbd38d",
}
NODE_FILL: Final = "#ffffff"
BARRIER_FILL: Final = "#f7fafc"
NODE_STROKE: Final = "#2d3748"
CRITICAL: Final = "#dd6b20"
FONT: Final = "Helvetica, Arial, sans-serif"
