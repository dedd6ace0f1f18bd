"""Advisory locks on open files: what keeps two dagbatch processes from one journal, or one
run directory.

POSIX ``flock``: held until the file is closed (or the process ends, however it ends), so a
crashed holder never leaves a stale lock behind. Where the platform has none (Windows), every
lock is granted: the check is a safeguard, not a promise.
"""

from __future__ import annotations

from typing import IO, Any

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]


def try_lock(fh: IO[Any]) -> bool:
    """Take an exclusive lock on the open file ``fh`` without waiting: False when another
    process (or another open file of this one) holds it. On a file system that keeps no
    such locks (some network ones answer ENOLCK or EOPNOTSUPP) it is granted, as on Windows:
    a refusal there would stop every run, not a second one."""
    if fcntl is None:  # pragma: no cover - Windows
        return True
    try:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    except OSError:
        return True
    return True
