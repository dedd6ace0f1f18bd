"""``run_coroutine``: ``asyncio.run`` for the synchronous entry points (the CLI's commands,
``submit_plan``, ``dagbatch.observe``'s functions), with the result handed back outside the
event loop's main task.

Why not ``asyncio.run`` itself: when it ends, Python 3.11's ``asyncio.Runner`` puts the SIGINT
handler back only if it is still its own, and asks ``signal.getsignal``, which looks the
handler (a ``functools.partial`` holding the main task) up in ``signal.Handlers``. The failed
lookup formats ``repr`` of the partial, so of the task, so of the task's result: for the
status of a 144,000-task job that repr took about half a second, for nothing. Here the main
task's result is ``None``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def run_coroutine(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` in a new event loop (``asyncio.run``) and return its result."""
    box: list[T] = []

    async def main() -> None:
        box.append(await coro)

    asyncio.run(main())
    return box[0]
