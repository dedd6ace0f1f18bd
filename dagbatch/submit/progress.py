"""Progress reporting for `dagbatch submit`: a rich bar on a terminal, plain lines otherwise.

``dagbatch.submit.submission`` calls the ``Progress`` hooks; it never prints. ``make_progress``
picks the implementation: nothing (``quiet``), a rich progress bar when the stream is a terminal and
rich (the ``dagbatch[progress]`` extra) is importable, else plain lines on the stream: one line
when a wave starts and ends, and one every ``interval`` seconds in between.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any, Protocol, TextIO

from dagbatch.redact import redact


class Progress(Protocol):
    """Hooks called by the submission, all from the event loop thread."""

    def start(self, total: int, already: int, waves: int) -> None: ...

    def wave(self, wave: int, tasks: int) -> None: ...

    def wave_done(self, wave: int) -> None: ...

    def advance(self, confirmed: int) -> None: ...

    def retry(self, what: str) -> None: ...

    def concurrency(self, level: int, *, adaptive: bool) -> None:
        """Requests in flight now: at the start, and whenever the adaptive level moves."""
        ...

    def note(self, message: str) -> None: ...

    def finish(self) -> None: ...


class NullProgress:
    """Reports nothing (``--quiet``, library use)."""

    def start(self, total: int, already: int, waves: int) -> None:
        pass

    def wave(self, wave: int, tasks: int) -> None:
        pass

    def wave_done(self, wave: int) -> None:
        pass

    def advance(self, confirmed: int) -> None:
        pass

    def retry(self, what: str) -> None:
        pass

    def concurrency(self, level: int, *, adaptive: bool) -> None:
        pass

    def note(self, message: str) -> None:
        pass

    def finish(self) -> None:
        pass


class _Counts:
    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self.clock = clock
        self.total = 0
        self.done = 0
        self.already = 0
        self.retries = 0
        self.waves = 0
        self.level = 0  # requests in flight (0: not told yet)
        self.adaptive = False
        self.started = clock()

    def level_text(self, *, short: bool = False) -> str:
        """Requests in flight: "concurrency 24 (adaptive)" or "concurrency 16"; ``short``
        (the bar has little room): "in flight 24~" or "in flight 16"; "" before it is known."""
        if not self.level:
            return ""
        if short:
            return f"in flight {self.level}" + ("~" if self.adaptive else "")
        return f"concurrency {self.level}" + (" (adaptive)" if self.adaptive else "")

    def rate(self) -> float:
        elapsed = max(self.clock() - self.started, 1e-9)
        return (self.done - self.already) / elapsed


class PlainProgress(NullProgress):
    """Plain lines on a stream (stderr by default): per wave and every ``interval`` seconds."""

    def __init__(self, stream: TextIO | None = None, *, interval: float = 10.0):
        self.stream = stream if stream is not None else sys.stderr
        self.interval = interval
        self.c = _Counts()
        self._last = self.c.clock()

    def _line(self, text: str) -> None:
        print(redact(text), file=self.stream, flush=True)

    def _status(self) -> str:
        level = self.c.level_text()
        return (
            f"{self.c.done:,}/{self.c.total:,} tasks confirmed, {self.c.retries:,} retries, "
            f"{self.c.rate():.0f} tasks/s" + (f", {level}" if level else "")
        )

    def start(self, total: int, already: int, waves: int) -> None:
        self.c.total, self.c.done, self.c.already, self.c.waves = total, already, already, waves
        self.c.started = self._last = self.c.clock()
        resumed = f" ({already:,} already confirmed)" if already else ""
        self._line(f"submitting {total:,} tasks in {waves} wave(s){resumed}")

    def wave(self, wave: int, tasks: int) -> None:
        self._line(f"wave {wave}/{self.c.waves}: {tasks} tasks to send")

    def wave_done(self, wave: int) -> None:
        # The counts are the submission's so far (later waves' requests may have landed
        # too), not the wave's.
        self._line(f"wave {wave}/{self.c.waves} done; so far {self._status()}")
        self._last = self.c.clock()

    def advance(self, confirmed: int) -> None:
        self.c.done += confirmed
        now = self.c.clock()
        if now - self._last >= self.interval:
            self._last = now
            self._line(self._status())

    def retry(self, what: str) -> None:
        self.c.retries += 1

    def concurrency(self, level: int, *, adaptive: bool) -> None:
        self.c.level, self.c.adaptive = level, adaptive

    def note(self, message: str) -> None:
        self._line(message)


class RichProgress(PlainProgress):
    """A rich progress bar: confirmed/total, rate, retries, current wave."""

    def __init__(self, stream: TextIO | None = None):
        super().__init__(stream)
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )
        from rich.progress import Progress as RichBar

        self._bar = RichBar(
            TextColumn("[bold]{task.description}"),
            BarColumn(bar_width=24),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]:>6.0f} tasks/s"),
            TextColumn("retries {task.fields[retries]}"),
            TextColumn("{task.fields[level]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=Console(file=self.stream),
            transient=False,
        )
        self._task: Any = None

    def _refresh(self, description: str | None = None) -> None:
        if self._task is None:
            return
        fields: dict[str, Any] = {
            "rate": self.c.rate(),
            "retries": self.c.retries,
            "level": self.c.level_text(short=True),
        }
        if description is not None:
            fields["description"] = description
        self._bar.update(self._task, completed=self.c.done, **fields)

    def start(self, total: int, already: int, waves: int) -> None:
        self.c.total, self.c.done, self.c.already, self.c.waves = total, already, already, waves
        self.c.started = self.c.clock()
        self._bar.start()
        self._task = self._bar.add_task(
            "submitting", total=total, completed=already, rate=0.0, retries=0, level=""
        )

    def wave(self, wave: int, tasks: int) -> None:
        self._refresh(f"wave {wave}/{self.c.waves}")

    def wave_done(self, wave: int) -> None:
        self._refresh()

    def advance(self, confirmed: int) -> None:
        self.c.done += confirmed
        self._refresh()

    def retry(self, what: str) -> None:
        self.c.retries += 1
        self._refresh()

    def concurrency(self, level: int, *, adaptive: bool) -> None:
        super().concurrency(level, adaptive=adaptive)
        self._refresh()

    def note(self, message: str) -> None:
        self._bar.console.print(redact(message), markup=False, highlight=False)

    def finish(self) -> None:
        self._refresh()
        self._bar.stop()


def make_progress(*, quiet: bool = False, stream: TextIO | None = None) -> Progress:
    """The right reporter for this stream: none, a rich bar on a TTY, or plain lines."""
    if quiet:
        return NullProgress()
    stream = stream if stream is not None else sys.stderr
    if stream.isatty():
        try:
            return RichProgress(stream)
        except ImportError:
            pass
    return PlainProgress(stream)
