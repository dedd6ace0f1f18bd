"""Times as the Batch service writes them on the wire: ISO 8601 in UTC, e.g.
``2025-06-01T12:00:00.1234567Z`` (the service writes seven fractional digits; dagbatch writes
six). The one place that writes and reads that format: the emulator's documents and what
`dagbatch status` reads go through it.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any, Final

__all__ = ["parse_service_time", "service_time"]

#: Whole seconds already formatted, at most this many (then the cache starts over).
_CACHED_SECONDS: Final = 4096
_seconds: dict[int, str] = {}


def service_time(epoch: float) -> str:
    """``epoch`` (seconds) as the service writes a time, to the microsecond.

    The date and time of each whole second are formatted once: the tasks of a job are
    created and end within seconds of each other, and a full listing of 100,000 tasks
    writes half a million times (``datetime`` formatting per time was a quarter of the
    emulator's work for it).
    """
    whole = math.floor(epoch)
    micro = int((epoch - whole) * 1_000_000 + 0.5)  # to the nearest (round() is slower)
    if micro >= 1_000_000:
        whole, micro = whole + 1, micro - 1_000_000
    head = _seconds.get(whole)
    if head is None:
        if len(_seconds) >= _CACHED_SECONDS:
            _seconds.clear()
        head = datetime.fromtimestamp(whole, UTC).strftime("%Y-%m-%dT%H:%M:%S")
        _seconds[whole] = head
    return f"{head}.{micro:06d}Z"


def parse_service_time(value: Any) -> datetime | None:
    """A time the service wrote (any number of fractional digits, ``Z`` or an offset; none
    is UTC) as an aware ``datetime``; None for anything else."""
    if not isinstance(value, str) or not value:
        return None
    text = value.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    # The service writes 7 fractional digits; fromisoformat takes at most 6.
    if "." in text:
        head, _, rest = text.partition(".")
        n = 0
        while n < len(rest) and rest[n].isdigit():
            n += 1
        digits, tz = rest[:n], rest[n:]
        text = f"{head}.{digits[:6].ljust(6, '0')}{tz}"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
