"""What stands in the way of a path the user named for dagbatch to write.

``--out /dev/full/plan`` (or ``--report notes.txt/run.json``) names a path under a file:
creating it fails with errno 17 ("File exists") or 20 ("Not a directory") and the name of a
path the user may not recognise. The commands say instead which part of the path is not a
directory, before any work is done."""

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
