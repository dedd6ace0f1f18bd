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
- **back off on throttling**: a window in which the service answered 429 or 503 more often
  than ``MIN_THROTTLED_SHARE`` and than ``ABOVE_BACKGROUND`` times its *background* share
  (below) halves the level and holds it [docs/BATCH_FACTS.md:
  whole-request errors 429 ``TooManyRequests`` and 503 ``ServerBusy``, both may carry
  ``Retry-After``, which the retry policy honours besides]. The answers to the requests
  already in flight when it halved are not judged again (one burst halves once).
- **but only for throttling the level causes**: a halving must bring relief, as a growth must
  bring throughput. If the window after the halving is throttled about as often (at least
  ``RELIEF`` times the share that caused it) *and* its throughput fell (under ``FELL`` times
  the window before), the level was doing useful work and the service throttles a share of
  every level's requests (a busy service, not this client): the level goes back, and that
  share becomes the *background*, which only a window throttled ``ABOVE_BACKGROUND`` times as
  often halves again. Without this, 20 % of answers ``ServerBusy`` halved the level every window
  down to 1, at a fifth of the default's throughput. A rate limit the level exceeds keeps the
  throughput where it was when the level halves (the limit, not the level, was serving
  requests), so the halving is kept. The background never exceeds ``MAX_BACKGROUND``, and a
  window throttled more often than that always halves: a service that throttles most
  requests is backed off from whatever the cause.

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

from dagbatch.errors import ConfigError

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
#: Fewest answers in a window (a window is also at least two rounds of the current level,
#: unless this many of its answers were throttled: then it ends at once).
MIN_WINDOW = 16
#: A halving relieved the service if the next window's throttled share is below this
#: fraction of the share that caused it.
RELIEF = 0.5
#: A halving cost throughput if the window after it confirmed under this many times the
#: tasks per second of the window before it.
FELL = 0.75
#: The highest throttled share learned as background (module docstring).
MAX_BACKGROUND = 0.5
#: A window with no more than this share of its answers throttled does not halve the level
#: (a stray 503 is noise, not a limit), though it does not grow it either.
MIN_THROTTLED_SHARE = 0.05
#: A window throttled more than this many times as often as the background halves the level
#: (fewer would, by chance, in small windows: 16 answers of a 10 % background hold 4 or more
#: throttled ones 7 % of the time, 5 or more 2 %).
ABOVE_BACKGROUND = 3.0
#: How much of each window's throttled share the background takes on (a moving average).
FOLLOW = 0.25
#: The answers that mean the service throttles: 429 ``TooManyRequests`` and 503
#: ``ServerBusy`` [docs/BATCH_FACTS.md: whole-request errors].
THROTTLE_STATUS = frozenset({429, 503})


def check_concurrency(concurrency: int | None) -> None:
    """A fixed level (``--concurrency``) must be within ``MIN_CONCURRENCY`` to
    ``MAX_CONCURRENCY``; None is adaptive (``ConfigError`` names the option)."""
    if concurrency is not None and (
        # True is an int to Python: taken for 1, it would quietly pace everything one by one.
        isinstance(concurrency, bool)
        or not isinstance(concurrency, int)
        or not MIN_CONCURRENCY <= concurrency <= MAX_CONCURRENCY
    ):
        raise ConfigError(
            f"--concurrency must be from {MIN_CONCURRENCY} to {MAX_CONCURRENCY} (or left out: "
            "adaptive)"
        )


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
        #: the share of answers throttled whatever the level (module docstring)
        self.background = 0.0
        self._drain = 0  # answers still due to requests sent before a halving
        self._halved_from = 0  # the level before the halvings in a row, while they last
        #: (level, throttled share, rate, whether the level was the limit) before a halving
        self._check: tuple[int, float, float, bool] | None = None
        self.decisions: list[tuple[str, int]] = []  # (why, new level): for tests and logs
        self._new_window()

    @property
    def level(self) -> int:
        return self.gate.level

    def _new_window(self) -> None:
        self._started = self.clock()
        self._answers = 0
        self._tasks = 0
        self._throttled = 0  # answers 429 or 503
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
        if self._drain:
            # An answer to a request sent before the last halving: it says nothing of the
            # new level.
            self._drain -= 1
            if not self._drain:
                self._new_window()
            return
        self._answers += 1
        self._tasks += tasks
        if throttled:
            self._throttled += 1
        if waiting:
            self._limited += 1
        if self._answers < max(MIN_WINDOW, 2 * self.level) and self._throttled < MIN_WINDOW:
            return
        elapsed = self.clock() - self._started
        rate = self._tasks / elapsed if elapsed > 0 else 0.0
        share = self._throttled / self._answers
        # Learn throughput only from a window in which requests were waiting for a slot most
        # of the time: one where the level, not the work at hand, was the limit.
        limited = elapsed > 0 and self._limited * 2 >= self._answers
        self._new_window()
        self._end_window(rate, share, limited)

    def _end_window(self, rate: float, share: float, limited: bool) -> None:
        """The decision at the end of a window: ``share`` of its answers were throttled."""
        checked = self._check
        self._check = None
        if checked is not None:
            _, share_before, rate_before, limited_before = checked
            if (
                0 < share <= MAX_BACKGROUND
                and share >= share_before * RELIEF
                and limited
                and limited_before
                and rate < rate_before * FELL
            ):
                # The halving brought no relief and cost throughput: this share is throttled
                # whatever the level.
                # Back to the level before the first of the halvings in a row (a halving
                # judged on a window with the submission's start in it may have stood).
                self.background = share
                self._hold = 0
                self._set(self._halved_from or self.level, "not ours")
                self._halved_from = 0
                return
            if share <= MAX_BACKGROUND:
                return  # the halving stands; the next window is judged afresh
        if share > MIN_THROTTLED_SHARE and (
            share > ABOVE_BACKGROUND * self.background or share > MAX_BACKGROUND
        ):
            self.settled = True
            self._before = None
            self._hold = HOLD_WINDOWS
            self._check = (self.level, share, rate, limited)
            self._halved_from = self._halved_from or self.level
            # The requests in flight now were sent at the old level (at most that many):
            # their answers are not judged, so one burst halves once.
            self._drain = self.level
            self._set(self.level // 2, "throttled")
            return
        self._halved_from = 0
        if self.background:
            # Follows the share; when a busy spell ends, it fades away.
            share_now = (1 - FOLLOW) * self.background + FOLLOW * share
            self.background = min(MAX_BACKGROUND, share_now)
            if self.background < MIN_THROTTLED_SHARE / 10:
                self.background = 0.0
        if limited and share <= self.background:
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
