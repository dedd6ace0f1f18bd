"""dagbatch.asyncrun: asyncio.run without formatting the result's repr on the way out."""

from __future__ import annotations

import asyncio
import signal
import threading

import pytest

from dagbatch.asyncrun import run_coroutine


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
