"""Paths the user named for dagbatch to write: what stands in their way, and writing a file
whole.

``--out /dev/full/plan`` (or ``--report notes.txt/run.json``) names a path under a file:
creating it fails with errno 17 ("File exists") or 20 ("Not a directory") and the name of a
path the user may not recognise. The commands say instead which part of the path is not a
directory, before any work is done (``file_in_the_way``). A report or a picture is written
whole or not at all (``write_whole``): a process ended while writing it (a hangup, a kill)
leaves the previous file, never half of the new one."""

from __future__ import annotations

import os
from pathlib import Path


def file_in_the_way(path: Path) -> Path | None:
    """The nearest existing folder of ``path`` (its parent, or one above) that is not a
    directory, or None: nothing is in the way, or what is cannot be seen (no permission),
    which the write itself then reports."""
    for folder in path.parents:
        try:
            if not os.path.lexists(folder):
                continue
            return None if folder.is_dir() else folder
        except OSError:
            return None
    return None


def write_whole(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` as one step: into a file beside it, then renamed over it
    (``os.replace``). What fails is raised (``OSError``), the file beside removed."""
    path = Path(path)
    if not path.parent.is_dir() or path.is_symlink() or (path.exists() and not path.is_file()):
        # A device (/dev/stdout), a link (written through, not replaced), or no folder (the
        # write says why): written as it is.
        path.write_bytes(data)
        return
    beside = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        beside.write_bytes(data)
        os.replace(beside, path)
    except BaseException:
        beside.unlink(missing_ok=True)
        raise
