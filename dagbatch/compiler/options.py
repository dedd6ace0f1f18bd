"""The compiler's option values that the command line needs before anything compiles.

Kept apart from the passes (no networkx, no pydantic here) so that ``dagbatch --help`` and
the commands' option parsing do not import the compiler.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final, Literal

#: What to do with a task whose ``dependsOn.taskIds`` are over the character budget
#: (dagbatch.compiler.dependencies describes each strategy).
OverLimit = Literal["barrier", "renumber", "error"]
OVER_LIMIT_STRATEGIES: Final[tuple[OverLimit, ...]] = ("barrier", "renumber", "error")
DEFAULT_OVER_LIMIT: Final[OverLimit] = "barrier"

#: The barrier tasks' command line by the pool's node OS: a no-op that exits 0, run without
#: a shell (Batch does not start one).
BARRIER_COMMANDS: Final[Mapping[str, str]] = {"linux": "/bin/true", "windows": "cmd /c exit 0"}
#: Used when the pool's OS is not known.
DEFAULT_BARRIER_COMMAND: Final = BARRIER_COMMANDS["linux"]
