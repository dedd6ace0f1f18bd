"""The retry policy of every request: exponential backoff with full jitter, honouring a
server's ``Retry-After``, bounded by a number of retries and by a total wait.

The defaults are defined here once; the CLI's ``--max-retries``, ``--backoff``,
``--max-backoff`` and ``--max-wait`` read them.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

#: Retries per request before its tasks are reported as failed.
DEFAULT_MAX_RETRIES = 8
#: Base of the exponential backoff, seconds.
DEFAULT_BASE_DELAY = 0.5
#: Longest single backoff, seconds (a server's Retry-After is honoured as given).
DEFAULT_MAX_DELAY = 30.0
#: Most total seconds slept for one request's retries.
DEFAULT_MAX_TOTAL_WAIT = 600.0


def _new_rng() -> random.Random:
    return random.Random()


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter, honouring ``Retry-After``, bounded two ways.

    The delay before retry ``n`` (0-based) is uniform in ``[0, min(max_delay, base_delay *
    2**n)]`` ("full jitter"), or exactly the server's ``Retry-After`` when it sent one. A
    request gives up after ``max_retries`` retries, or when the next wait would take the total
    time slept for it past ``max_total_wait``. ``sleep`` and ``rng`` are injectable for tests.
    """

    max_retries: int = DEFAULT_MAX_RETRIES
    base_delay: float = DEFAULT_BASE_DELAY
    max_delay: float = DEFAULT_MAX_DELAY
    max_total_wait: float = DEFAULT_MAX_TOTAL_WAIT
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    rng: random.Random = field(default_factory=_new_rng)

    def delay(self, retry: int, retry_after: float | None = None) -> float:
        """Seconds to wait before retry number ``retry`` (0-based)."""
        if retry_after is not None:
            return max(0.0, retry_after)
        ceiling = min(self.max_delay, self.base_delay * (2.0**retry))
        return self.rng.uniform(0.0, ceiling)


class RetryState:
    """Counts the retries of one unit of work against a ``RetryPolicy``."""

    def __init__(self, policy: RetryPolicy):
        self.policy = policy
        self.retries = 0
        self.waited = 0.0

    def next_wait(self, retry_after: float | None = None) -> float | None:
        """The seconds to wait before the next attempt, counted as a retry; None when the
        budget is spent (give up), and then nothing is counted."""
        if self.retries >= self.policy.max_retries:
            return None
        wait = self.policy.delay(self.retries, retry_after)
        if self.waited + wait > self.policy.max_total_wait:
            return None
        self.retries += 1
        self.waited += wait
        return wait

    async def backoff(self, retry_after: float | None = None) -> bool:
        """Sleep before the next attempt; False when the budget is spent (give up)."""
        wait = self.next_wait(retry_after)
        if wait is None:
            return False
        await self.policy.sleep(wait)
        return True
