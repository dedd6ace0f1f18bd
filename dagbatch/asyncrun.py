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
import contextlib
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


#: Seconds an interrupted ``run_sync`` waits for its coroutine to end once cancelled (its
#: ``finally`` blocks close connections, write journals).
CANCEL_WAIT = 10.0


def run_sync(coro: Coroutine[Any, Any, T], *, thread_name: str = "dagbatch") -> T:
    """``run_coroutine(coro)``, also from inside a running event loop (a Jupyter notebook, an
    async application), where ``asyncio.run`` refuses: there it runs in a worker thread (named
    ``thread_name``) and this call blocks until it is done.

    Ctrl-C there (a ``KeyboardInterrupt`` in the waiting thread) cancels the coroutine in
    its thread, waits up to ``CANCEL_WAIT`` seconds for it to end, and is raised: the call
    stops as it does outside an event loop, not when the coroutine would have ended."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return run_coroutine(coro)
    running: list[tuple[asyncio.AbstractEventLoop, asyncio.Task[Any]]] = []

    async def tracked() -> T:
        task = asyncio.current_task()
        assert task is not None  # (a coroutine run by asyncio.run is in a task)
        running.append((asyncio.get_running_loop(), task))
        return await coro

    pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix=thread_name)
    try:
        future = pool.submit(run_coroutine, tracked())
        try:
            return future.result()
        except KeyboardInterrupt:
            for loop, task in running:
                with contextlib.suppress(RuntimeError):  # the loop already closed
                    loop.call_soon_threadsafe(task.cancel)
            with contextlib.suppress(BaseException):
                future.result(timeout=CANCEL_WAIT)
            raise
    finally:
        pool.shutdown(wait=False)
