"""What the commands that run tasks on this machine (`run`, `emulator`) share besides their
options (``dagbatch.cli.options.local_node_options``): the extra they need, and how they
stop on Ctrl-C, `kill` or a hangup."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Final

import click

from dagbatch.cli.exit_codes import ExitCode
from dagbatch.errors import Killed

#: How to install what `run` and `emulator` need beyond the core (pyproject.toml's extra).
EMULATOR_EXTRA = "pip install 'dagbatch[emulator]'"


def require_emulator_extra(command: str) -> None:
    """Exit with ``ExitCode.USAGE`` and the command that installs it when the ``emulator``
    extra (starlette, uvicorn) is missing, rather than a traceback later on."""
    try:
        import dagbatch.emulator.server  # noqa: F401  (starlette and uvicorn)
    except ImportError as exc:
        click.echo(
            f"dagbatch {command} needs starlette and uvicorn ({exc}); install them with: "
            f"{EMULATOR_EXTRA}",
            err=True,
        )
        raise SystemExit(ExitCode.USAGE) from exc


#: The signals ``stop_once`` stops on (SIGHUP where the system has it).
STOP_SIGNALS: Final = tuple(
    getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name)
)


@contextmanager
def stop_once() -> Iterator[None]:
    """Inside the block, the first Ctrl-C (SIGINT) raises ``KeyboardInterrupt``, the first
    `kill` (SIGTERM) ``SystemExit(ExitCode.KILLED)`` (143) and the first hangup (SIGHUP: the
    terminal or the ssh session closed) ``SystemExit(ExitCode.HANGUP)`` (129), so the
    ``finally`` blocks and context managers around the engine run: they kill the tasks'
    processes (which, each in a session of its own, hear no hangup themselves) and remove a
    temporary work directory. Any later one of these signals in the block is ignored, so an
    impatient second Ctrl-C cannot cut that cleanup short and leave processes behind.

    Only in the main thread, where signals are handled; a signal ignored when the block
    starts (SIGINT in a background job of a non-interactive shell) stays ignored; the
    previous handlers come back after the block, unless it ended by a signal (then the
    process is ending, and any later SIGINT or SIGTERM is ignored too). Within it,
    ``serve_forever`` and uvicorn install their own for a while, and hand a signal back here
    when they are done."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    fired = False

    def stop(signum: int, frame: FrameType | None) -> None:
        nonlocal fired
        if fired:
            return  # the first one's cleanup is under way
        fired = True
        if signum == signal.SIGINT:
            raise KeyboardInterrupt
        raise Killed(ExitCode.HANGUP if signum == signal.SIGHUP else ExitCode.KILLED)

    previous = {}
    for signum in STOP_SIGNALS:
        if signal.getsignal(signum) is not signal.SIG_IGN:
            previous[signum] = signal.signal(signum, stop)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            # Once stopping, the process ends: a signal after the block (while the
            # interpreter joins its threads and finalizes) would print a traceback or end
            # it by the signal; it is ignored too (SIG_IGN, which finalizing keeps).
            signal.signal(signum, signal.SIG_IGN if fired else handler)
