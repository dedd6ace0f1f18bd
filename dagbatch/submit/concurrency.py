"""How many addtaskcollection requests a submission keeps in flight: fixed or adaptive.

``ConcurrencyGate`` is a semaphore whose number of slots can change while requests wait on it.
``AdaptiveConcurrency`` is the controller behind the default ``--concurrency`` (adaptive): it
starts at ``DEFAULT_CONCURRENCY`` and moves the gate's level between ``MIN_CONCURRENCY`` and
``MAX_CONCURRENCY`` in the AIMD style, one decision per *window* of answers:

- **grow while throughput rises**: at the end of a window in which the level was the limit
  (requests waited for a slot), the level grows by half (a quarter once it has settled); the
  next window must then confirm at least ``RISE`` times the tasks per second of the window
  before the growth, or the level goes back and stays there for ``HOLD_WINDOWS`` windows
  before it probes again;
- **back off on throttling**: a 429 or 503 answer halves the level at once (once per window:
  the answers to one burst do not halve it again and again) and holds it [docs/BATCH_FACTS.md:
  whole-request errors 429 ``TooManyRequests`` and 503 ``ServerBusy``, both may carry
  ``Retry-After``, which the retry policy honours besides].

Why: the round trip of the real service is hundreds of milliseconds, so more requests in
flight give more tasks per second (Little's law) until the client's CPU, the network or the
service's throttling is the limit; where that is depends on the account and the machine, so
the level is found by measuring rather than fixed. ``--concurrency N`` fixes it instead.
Every decision is a pure function of the observations and the injected clock, so the
controller is tested with a fake clock.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from types import TracebackType

#: Requests in flight when fixed by default, and where the adaptive level starts. Measured
#: with the emulator in its own process on 2 cores: from about 8-16 in flight on, a loopback
#: submission is CPU-bound; the real service's longer round trips need more (the adaptive
#: level grows to them).
DEFAULT_CONCURRENCY = 16
#: Bounds of the level, fixed (``--concurrency``) or adaptive.
MIN_CONCURRENCY = 1
MAX_CONCURRENCY = 256
#: A grown level is kept only if the window after the growth confirmed at least this many
#: times the tasks per second of the window before it.
RISE = 1.10
#: Windows the level is held after a growth that did not pay off or after throttling, before
#: it probes upward again.
HOLD_WINDOWS = 8
#: Fewest answers in a window (a window is also at least two rounds of the current level).
MIN_WINDOW = 16


class ConcurrencyGate:
    """A semaphore of ``level`` slots; ``level`` may change at any time (waiters are woken
    when it grows, and no new request starts while more than ``level`` are in flight).

    ``waiting`` (requests waiting for a slot) is the sign that the level, not the work at
    hand, is what limits the requests in flight.
    """

    def __init__(self, level: int):
        self._level = level
        self.in_flight = 0
        self._waiters: deque[asyncio.Future[None]] = deque()

    @property
    def level(self) -> int:
        return self._level

    @level.setter
    def level(self, value: int) -> None:
        self._level = value
        self._wake()

    @property
    def waiting(self) -> int:
        """Requests waiting for a slot."""
        return len(self._waiters)

    def _wake(self) -> None:
        while self._waiters and self.in_flight < self._level:
            waiter = self._waiters.popleft()
            if not waiter.done():
                self.in_flight += 1  # the slot goes to the waiter
                waiter.set_result(None)

    async def acquire(self) -> None:
        if self.in_flight < self._level and not self._waiters:
            self.in_flight += 1
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled():
                self.release()  # granted, then cancelled before it could run: give it back
            else:
                waiter.cancel()
            raise

    def release(self) -> None:
        self.in_flight -= 1
        self._wake()

    async def __aenter__(self) -> None:
        await self.acquire()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


class AdaptiveConcurrency:
    """The AIMD controller (module docstring). Call ``observe`` once per answered request;
    read ``level``. ``on_change(level)`` is called whenever the level changes."""

    def __init__(
        self,
        gate: ConcurrencyGate,
        *,
        lowest: int = MIN_CONCURRENCY,
        highest: int = MAX_CONCURRENCY,
        clock: Callable[[], float] = time.monotonic,
        on_change: Callable[[int], None] | None = None,
    ):
        self.gate = gate
        self.lowest = lowest
        self.highest = highest
        self.clock = clock
        self.on_change = on_change
        self.settled = False  # after the first plateau or throttling: grow by a quarter
        self._hold = 0  # windows left before probing upward again
        self._before: tuple[int, float] | None = None  # (level, rate) before a growth
        self.decisions: list[tuple[str, int]] = []  # (why, new level): for tests and logs
        self._new_window()

    @property
    def level(self) -> int:
        return self.gate.level

    def _new_window(self) -> None:
        self._started = self.clock()
        self._answers = 0
        self._tasks = 0
        self._throttled = False
        self._limited = 0  # answers that came while requests were waiting for a slot

    def _set(self, level: int, why: str) -> None:
        level = max(self.lowest, min(self.highest, level))
        self.decisions.append((why, level))
        if level != self.gate.level:
            self.gate.level = level
            if self.on_change is not None:
                self.on_change(level)

    def observe(self, tasks: int, *, throttled: bool = False, waiting: bool = True) -> None:
        """One request was answered: ``tasks`` tasks added by it; ``throttled`` when the
        answer was 429 or 503; ``waiting`` when other requests were waiting for a slot as it
        came (``ConcurrencyGate.waiting``, read before its slot is released)."""
        if throttled and not self._throttled:  # halve once per window
            self.settled = True
            self._before = None
            self._hold = HOLD_WINDOWS
            self._set(self.level // 2, "throttled")
            self._new_window()
            self._throttled = True  # the new window is the one of this throttling
        self._answers += 1
        self._tasks += tasks
        if waiting:
            self._limited += 1
        if self._answers < max(MIN_WINDOW, 2 * self.level):
            return
        elapsed = self.clock() - self._started
        rate = self._tasks / elapsed if elapsed > 0 else 0.0
        # Learn only from a window without throttling in which requests were waiting for a
        # slot most of the time: one where the level, not the work at hand, was the limit.
        useful = not self._throttled and elapsed > 0 and self._limited * 2 >= self._answers
        self._new_window()
        if useful:
            self._decide(rate)

    def _decide(self, rate: float) -> None:
        if self._before is not None:
            level_before, rate_before = self._before
            self._before = None
            if rate < rate_before * RISE:
                # The growth bought nothing measurable: go back and hold.
                self.settled = True
                self._hold = HOLD_WINDOWS
                self._set(level_before, "no gain")
                return
        if self._hold > 0:
            self._hold -= 1
            return
        if self.level >= self.highest:
            return
        step = max(1, self.level // (4 if self.settled else 2))
        self._before = (self.level, rate)
        self._set(self.level + step, "grow")
