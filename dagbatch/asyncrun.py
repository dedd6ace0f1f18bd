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
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def run_coroutine(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` in a new event loop (``asyncio.run``) and return its result."""
    box: list[T] = []

    async def main() -> None:
        box.append(await coro)

    asyncio.run(main())
    return box[0]


def close_with_loop(aclose: Callable[[], Awaitable[object]]) -> None:
    """Have ``aclose`` run on the running event loop before it ends: a task that waits for
    ever is cancelled by ``asyncio.run`` at its end, while the loop still runs, and then
    awaits ``aclose``. A connection pool opens its connections on one loop, which alone can
    close them; one used again under a later ``asyncio.run`` (a sync call after an async
    one, with one client) would otherwise find them on a closed loop ("Event loop is
    closed"), and could close them from nowhere: their sockets would leak. Called once per
    loop a pool adopts; a pool closed earlier finds nothing to close then."""

    async def wait_then_close() -> None:
        try:
            await asyncio.get_running_loop().create_future()
        finally:
            await aclose()

    task = asyncio.get_running_loop().create_task(wait_then_close(), name="close-with-loop")
    _KEEPERS.add(task)  # a task the loop holds only weakly: kept until it ends
    task.add_done_callback(_KEEPERS.discard)


_KEEPERS: set[asyncio.Task[None]] = set()


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
