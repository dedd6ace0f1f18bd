"""dagbatch.asyncrun: asyncio.run without formatting the result's repr on the way out."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time

import pytest

from dagbatch.asyncrun import run_coroutine, run_sync


class Costly:
    """A result whose repr is expensive (a status of 100,000 tasks): counts its reprs."""

    reprs = 0

    def __repr__(self) -> str:
        Costly.reprs += 1
        return "Costly(...)"


async def answer() -> Costly:
    await asyncio.sleep(0)
    return Costly()


@pytest.fixture
def default_sigint() -> None:
    """asyncio.run installs its own SIGINT handler only over the default one."""
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("signals are set from the main thread only")
    if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        pytest.skip("another SIGINT handler is installed")


@pytest.mark.usefixtures("default_sigint")
def test_the_result_comes_back_without_its_repr_being_made() -> None:
    Costly.reprs = 0
    result = run_coroutine(answer())
    assert isinstance(result, Costly)
    assert Costly.reprs == 0
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


@pytest.mark.usefixtures("default_sigint")
def test_asyncio_run_itself_makes_the_repr_this_module_avoids() -> None:
    """Why the module exists: on this interpreter, asyncio.run formats the result's repr as
    it ends (a later Python that does not would make ``run_coroutine`` unneeded)."""
    Costly.reprs = 0
    asyncio.run(answer())
    assert Costly.reprs >= 1


def test_an_exception_comes_through() -> None:
    async def fails() -> None:
        raise ValueError("no")

    with pytest.raises(ValueError, match="no"):
        run_coroutine(fails())


@pytest.mark.usefixtures("default_sigint")
def test_ctrl_c_stops_a_call_made_inside_a_running_loop() -> None:
    """In a running event loop (a notebook) the call runs in a worker thread; Ctrl-C there
    was held back until the call ended on its own (minutes, for a request retried against
    a silent endpoint). It now cancels the coroutine, which ends at once, and comes through."""
    ended: list[bool] = []

    async def slow() -> None:
        try:
            await asyncio.sleep(60)
        finally:
            ended.append(True)

    async def notebook_cell() -> None:
        run_sync(slow())

    loop = asyncio.new_event_loop()  # run_until_complete installs no SIGINT handler of its own
    timer = threading.Timer(0.3, lambda: os.kill(os.getpid(), signal.SIGINT))
    started = time.monotonic()
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            loop.run_until_complete(notebook_cell())
    finally:
        timer.cancel()
        loop.close()
    assert time.monotonic() - started < 10
    assert ended == [True]  # cancelled in its thread: its finally ran before the interrupt


def test_run_sync_in_a_running_loop_returns_the_result() -> None:
    async def cell() -> int:
        return run_sync(asyncio.sleep(0.01, result=7))

    assert asyncio.run(cell()) == 7
