"""`kill` (SIGTERM) as an exception, so cleanup runs: one place for the emulator's server and
the commands that write files (a plan half written is removed, not left beside the real one).

Python's default for SIGTERM ends the process on the spot: no ``finally`` block runs. Inside
``sigterm_as_exit`` it raises ``dagbatch.errors.Killed`` (a ``SystemExit``) with the status
a shell reports for a process SIGTERM ended, as Ctrl-C raises ``KeyboardInterrupt``.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Final

from dagbatch.errors import Killed

#: The exit status of a process ended by SIGTERM (128 + 15), as a shell reports it (the
#: command line's ``ExitCode.KILLED``).
TERMINATED_EXIT: Final = 128 + signal.SIGTERM


def _exit_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise Killed(TERMINATED_EXIT)


@contextmanager
def sigterm_as_exit() -> Iterator[None]:
    """Inside the block, SIGTERM raises ``Killed(TERMINATED_EXIT)``, so the ``finally``
    blocks and context managers run before the process ends. Only in the main thread, where
    signals are handled, and unless SIGTERM is ignored; the previous handler comes back
    after the block."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    if signal.getsignal(signal.SIGTERM) is signal.SIG_IGN:
        yield
        return
    previous = signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
