"""Progress of a long operation on many tasks (`dagbatch finish` terminating thousands of
tasks, one request each; reading a job of 100,000s of tasks, a page of 1,000 at a time, and
analysing them): a count on stderr, in the conventions of `submit` and `watch`.

``count_progress(what)`` gives a ``progress(done, total)`` callable (what
``dagbatch.observe.finish`` and ``steer.finish`` take), or None when ``quiet``: on a terminal
one line that is rewritten in place (at most ten times a second) and erased when the count is
complete, so the report that follows stands alone; on anything else a plain line every
``PLAIN_INTERVAL`` seconds (as `submit` prints), so a quick operation prints nothing. It never
prints on stdout, which carries the report (or ``--json``).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO

from dagbatch.redact import redact

#: What a finish's count is of (`finish`, `watch --finish`, the end of `dagbatch run`).
TERMINATING = "terminating the tasks that can never run"
#: What a rerun's count is of.
REACTIVATING = "reactivating"
#: What the count of a job's listing is of (pages of 1,000 tasks; `status`, `watch`,
#: `rerun`, `finish`, `show --job-id`, the end of `dagbatch run`).
LISTING = "reading the job's tasks"
#: What the count of the analysis of a job's tasks is of (which can never run, and why).
ANALYSING = "finding the tasks that can never run"
#: Seconds between plain lines when the stream is not a terminal (`submit`'s interval).
PLAIN_INTERVAL = 10.0
#: Seconds between rewrites of the terminal line.
TTY_INTERVAL = 0.1


def count_text(what: str, done: int, total: int, elapsed: float) -> str:
    """``WHAT: 5,000/10,001 (49%), 1,520/s`` (the rate once something is done)."""
    rate = f", {done / elapsed:,.0f}/s" if elapsed > 0 and done else ""
    share = f" ({100 * done // total}%)" if total else ""
    return f"{what}: {done:,}/{total:,}{share}{rate}"


class CountLine:
    """``progress(done, total)`` drawn as ``WHAT: 5,000/10,001 (49%), 1,520/s``."""

    def __init__(
        self,
        what: str,
        stream: TextIO,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.what = what
        self.stream = stream
        self.tty = stream.isatty()
        self.clock = clock
        self.interval = TTY_INTERVAL if self.tty else PLAIN_INTERVAL
        self.started: float | None = None
        self._last = 0.0
        self._shown = False  # a terminal line is on screen

    def text(self, done: int, total: int) -> str:
        now = self.clock()
        started = self.started if self.started is not None else now  # a clock may start at 0
        return count_text(self.what, done, total, now - started)

    def __call__(self, done: int, total: int) -> None:
        now = self.clock()
        if self.started is None:
            self.started = self._last = now
            if not self.tty:
                return
        elif done < total and now - self._last < self.interval:
            return
        self._last = now
        if self.tty:
            if done >= total:
                self.close()
                return
            self.stream.write("\r" + redact(self.text(done, total)) + "\x1b[K")
            self.stream.flush()
            self._shown = True
        elif done < total:
            print(redact(self.text(done, total)), file=self.stream, flush=True)

    def close(self) -> None:
        """Erase the terminal line, if one is shown (also when the operation was cut short)."""
        if self._shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self._shown = False


def count_progress(
    what: str, *, quiet: bool = False, stream: TextIO | None = None
) -> CountLine | None:
    """The progress callable for ``what`` (e.g. "terminating"), on ``stream`` (stderr by
    default); None when ``quiet``."""
    if quiet:
        return None
    return CountLine(what, stream if stream is not None else sys.stderr)


def halves(
    count: Callable[[int, int], None] | None,
) -> tuple[Callable[[int, int], None] | None, Callable[[int, int], None] | None]:
    """One count told by two passes over the same tasks (two analyses): the first pass's
    ``(done, total)`` counts for the first half of each task, the second's for the other, so
    the count goes from 0 to ``total`` once."""
    if count is None:
        return None, None
    told = count

    def first(done: int, total: int) -> None:
        told(done // 2, total)

    def second(done: int, total: int) -> None:
        told((total + done) // 2, total)

    return first, second
