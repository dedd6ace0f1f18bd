"""A process's resident memory from /proc (Linux): the benchmarks' memory figures.

``VmHWM`` (the high-water mark) belongs to this program's address space only, where
``ru_maxrss`` would carry the parent's peak across fork and exec; writing 5 to
``/proc/self/clear_refs`` resets it to the current level, so a peak can be measured from a
point in the program instead of from its start.
"""

from __future__ import annotations

import resource
from pathlib import Path

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")


def now_and_peak() -> tuple[int, int]:
    """(resident bytes now, peak resident bytes since the start or the last ``reset_peak``)."""
    now = peak = 0
    for line in _STATUS.read_text().splitlines():
        if line.startswith("VmRSS:"):
            now = int(line.split()[1]) * 1024
        elif line.startswith("VmHWM:"):
            peak = int(line.split()[1]) * 1024
    return now, peak


def reset_peak() -> None:
    """Set the high-water mark to the current resident size."""
    _CLEAR_REFS.write_text("5")


def peak_mb() -> float:
    """The high-water resident size in MB (``ru_maxrss`` where /proc cannot be read)."""
    try:
        return now_and_peak()[1] / 1024 / 1024
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
