"""`kill` (SIGTERM) as an exception, so cleanup runs: one place for the emulator's server and
the commands that write files (a plan half written is removed, not left beside the real one).
And ``alarm_at``: `dagbatch run`'s ``--timeout`` stopping the workflow's loading and compiling.

Python's default for SIGTERM ends the process on the spot: no ``finally`` block runs. Inside
``sigterm_as_exit`` it raises ``dagbatch.errors.Killed`` (a ``SystemExit``) with the status
a shell reports for a process SIGTERM ended, as Ctrl-C raises ``KeyboardInterrupt``.
"""

from __future__ import annotations

import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Final

from dagbatch.errors import Killed, TimedOut

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


#: After its deadline, how often the alarm comes again: when it came in cleanup code (below),
#: or the workflow's code caught it and went on.
AGAIN_S: Final = 0.1
#: Modules whose code the alarm does not interrupt: the context managers and ``finally``
#: blocks that put the process back as it was (sys.path, sys.modules, standard output, the
#: working directory, the collector, the signal handlers) around the workflow's code.
_CLEANUP_MODULES: Final = frozenset(
    {"contextlib", "dagbatch.compiler.loader", "dagbatch.gcpause", "dagbatch.signals"}
)


def _in_cleanup(frame: FrameType | None) -> bool:
    """Whether the code the alarm interrupted is cleanup, cut short by no exception."""
    if frame is None:
        return False
    return frame.f_code.co_name == "__exit__" or frame.f_globals.get("__name__") in _CLEANUP_MODULES


@contextmanager
def alarm_at(deadline: float | None) -> Iterator[None]:
    """Inside the block, ``TimedOut`` is raised in the main thread where it is once
    ``time.monotonic()`` reaches ``deadline`` (None: no deadline), also in the middle of a
    workflow's own code (a ``time.sleep``): a SIGALRM timer (``signal.setitimer``), one shot.

    It leaves alone what it must not cut short: while an exception that stops the process
    (Ctrl-C, `kill`, its own ``TimedOut``) is on its way out, it does nothing, and in cleanup
    code (``_CLEANUP_MODULES``, any ``__exit__``) it waits; it comes again every ``AGAIN_S``
    until the block ends, so a workflow that catches it (a bare ``except``) gets it again, and
    gets it at the end of the block if nothing else.

    The previous SIGALRM handler and timer come back after the block (a timer someone else
    had armed, with the time it had left), and the block leaves no alarm of its own pending:
    an alarm the workflow's code set for itself goes with it. Nothing is done (no deadline)
    outside the main thread, where signals cannot be handled, on a system without
    ``setitimer``, when the SIGALRM handler was not set from Python, or when a timer armed
    before the block fires first (its owner's alarm is not delayed)."""
    if (
        deadline is None
        or not hasattr(signal, "setitimer")
        or threading.current_thread() is not threading.main_thread()
    ):
        yield
        return
    previous = signal.getsignal(signal.SIGALRM)
    left = deadline - time.monotonic()
    earlier, interval = signal.getitimer(signal.ITIMER_REAL)
    if previous is None or (earlier and earlier <= left):
        yield
        return
    if left <= 0:
        raise TimedOut
    fired = False

    def on_alarm(signum: int, frame: FrameType | None) -> None:
        nonlocal fired
        if isinstance(sys.exc_info()[1], KeyboardInterrupt | SystemExit | TimedOut):
            return  # on its way out already
        if _in_cleanup(frame):
            return  # again in AGAIN_S
        fired = True
        raise TimedOut

    armed = time.monotonic()
    signal.signal(signal.SIGALRM, on_alarm)
    try:
        signal.setitimer(signal.ITIMER_REAL, left, AGAIN_S)
        yield
        if fired:
            raise TimedOut  # the workflow's code caught it and went on
    finally:
        # The timer first: an alarm after the handler goes back could reach SIG_DFL, which
        # ends the process.
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if earlier:
            remaining = earlier - (time.monotonic() - armed)
            signal.setitimer(signal.ITIMER_REAL, max(remaining, 0.001), interval)
