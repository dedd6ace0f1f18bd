"""Defaults that the command line shows in its help, kept where importing them costs nothing.

``dagbatch --help`` and ``dagbatch <command> --help`` import this module and none of httpx,
pydantic, rich, networkx, starlette or uvicorn (``tests/cli/test_cold_start.py``). The
library modules that use these values import them from here.
"""

from __future__ import annotations

from typing import Final

#: Per-request timeout of the Batch client, seconds (``--timeout``; ``BatchClient``'s default).
DEFAULT_TIMEOUT: Final = 60.0

#: Failed tasks whose stderr.txt tail `dagbatch status` reads (the first ones, by end time).
STDERR_TASKS: Final = 10
#: The most it may be asked to read (``--stderr-tasks``, ``status(stderr_tasks=...)``).
MAX_STDERR_TASKS: Final = 1000

#: How a client authenticates (``--auth``, ``connect(auth=...)``): an account's shared key, or
#: a Microsoft Entra token.
AUTH_KINDS: Final = ("sharedkey", "entra")
