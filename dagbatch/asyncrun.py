"""``run_coroutine``: ``asyncio.run`` for the synchronous entry points (the CLI's commands,
``submit_plan``, ``dagbatch.observe``'s functions), with the result handed back outside the
event loop's main task; ``run_sync``: the same from wherever the library is called, a running
event loop included (a notebook cell), for every synchronous call of the public API.

Why not ``asyncio.run`` itself: when it ends, Python 3.11's ``asyncio.Runner`` puts the SIGINT
handler back only if it is still its own, and asks ``signal.getsignal``, which looks the
handler (a ``functools.partial`` holding the main task) up in ``signal.Handlers``. The failed
lookup formats ``repr`` of the partial, so of the task, so of the task's result: for the
status of a 144,000-task job that repr took about half a second, for nothing. Here the main
task's result is ``None``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
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


def run_sync(coro: Coroutine[Any, Any, T], *, thread_name: str = "dagbatch") -> T:
    """``run_coroutine(coro)``, also from inside a running event loop (a Jupyter notebook, an
    async application), where ``asyncio.run`` refuses: there it runs in a worker thread (named
    ``thread_name``) and this call blocks until it is done."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return run_coroutine(coro)
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix=thread_name) as pool:
        return pool.submit(run_coroutine, coro).result()
