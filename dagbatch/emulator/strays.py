"""A task's processes that left its process group, found and killed (Linux ``/proc``).

A task runs as the leader of a process group of its own (``RealRunner``), and killing the
group ends every process that stayed in it. A process can leave it: job control in a shell
(``set -m``), ``setsid``, ``subprocess.Popen(process_group=0)``. Two things still tie such a
process to its task:

- its parent, while the chain of parents up to the task's leader lives;
- ``MARKER`` in its environment, which the runner gives every task (the task's directory)
  and which a child inherits, whatever group or session it moves to, and also once its
  parent is gone.

``kill_strays`` kills the processes found either way, in rounds until a scan finds none (a
process may fork while it is being killed). A process that cleared its environment and whose
parent is gone is found by neither; on a system without ``/proc`` only the group is killed.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Final

#: The environment variable each task's processes carry: the task's directory on the node.
MARKER: Final = "DAGBATCH_TASK_PROCESS"
_NEEDLE: Final = b"\0" + MARKER.encode() + b"="
_PROC: Final = Path("/proc")
#: Scans a kill makes at most (each one kills what it found).
MAX_ROUNDS: Final = 5


def _parent_of(pid: str) -> int | None:
    """The parent's pid, from ``/proc/PID/stat`` (the command's name, in parentheses, may
    hold spaces and parentheses: the fields after the last ``)`` are read)."""
    try:
        stat = (_PROC / pid / "stat").read_bytes()
    except OSError:
        return None
    fields = stat[stat.rfind(b")") + 2 :].split()
    return int(fields[1]) if len(fields) > 1 else None


def _marker_of(pid: str) -> str | None:
    """The value of ``MARKER`` in the process's environment as it was started (None when it
    has none, or the environment cannot be read: another user's process, one that ended)."""
    try:
        environ = b"\0" + (_PROC / pid / "environ").read_bytes()
    except OSError:
        return None
    start = environ.find(_NEEDLE)
    if start < 0:
        return None
    start += len(_NEEDLE)
    end = environ.find(b"\0", start)
    return environ[start : end if end >= 0 else len(environ)].decode("utf-8", "surrogateescape")


def find_strays(leaders: Collection[int], belongs: Callable[[str], bool]) -> set[int]:
    """The pids of the processes below any of ``leaders`` (by parent pid) and of those whose
    ``MARKER`` value ``belongs``; never this process. One pass over ``/proc``, however many
    tasks are looked for (a job's terminate kills all its running tasks at once)."""
    try:
        pids = [name for name in os.listdir(_PROC) if name.isdigit()]
    except OSError:
        return set()
    me = os.getpid()
    found: set[int] = set()
    children: dict[int, list[int]] = {}
    for pid in pids:
        number = int(pid)
        if number == me:
            continue
        if leaders and (parent := _parent_of(pid)) is not None:
            children.setdefault(parent, []).append(number)
        marker = _marker_of(pid)
        if marker is not None and belongs(marker):
            found.add(number)
    below = [child for leader in leaders for child in children.get(leader, [])]
    while below:
        child = below.pop()
        if child not in found:
            found.add(child)
            below.extend(children.get(child, []))
    return found


def kill_strays(leaders: Collection[int], belongs: Callable[[str], bool]) -> int:
    """SIGKILL the groups of ``leaders`` and every live process ``find_strays`` finds,
    scanning again until a scan finds none (at most ``MAX_ROUNDS`` scans: a process may fork
    while it is killed); the number of processes killed. Only the first scan looks below the
    leaders: their groups are dead after it, and a pid of theirs may be another's by then."""
    killed: set[int] = set()
    below = leaders
    for _ in range(MAX_ROUNDS):
        # Found before anything is killed: a leader's death would cut its children loose.
        # A process killed in an earlier round may not have died yet: not killed again (a
        # slow machine made every round find the same processes, five scans instead of two).
        found = find_strays(below, belongs) - killed
        found -= _zombies(found)
        for leader in below:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(leader, signal.SIGKILL)
        below = ()
        if not found:
            break
        for pid in found:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        killed |= found
    return len(killed)


def _zombies(pids: set[int]) -> set[int]:
    """Those of ``pids`` that have ended and wait for their parent to read their status."""
    out = set()
    for pid in pids:
        try:
            stat = (_PROC / str(pid) / "stat").read_bytes()
        except OSError:
            continue
        if stat[stat.rfind(b")") + 2 :][:1] in (b"Z", b"X"):
            out.add(pid)
    return out
