"""Text from a workflow or a task, made safe to print to a terminal: ``visible``."""

from __future__ import annotations

import re
from typing import Final

#: Control characters (C0 but tab and line feed, DEL, C1), which in a terminal move the
#: cursor, erase or change colours, and the bidirectional overrides and isolates, which make
#: what follows them read in another order than it is written.
_HIDDEN: Final = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def visible(text: str) -> str:
    """``text`` with each control character but tab and line feed, and each bidirectional
    override, written as a visible escape (``\\x1b``, ``\\u202e``): printed as it is,
    ``"\\x1b[2J"`` would clear the reader's terminal."""
    return _HIDDEN.sub(_escape, text)


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"
