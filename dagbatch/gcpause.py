"""Keeping Python's cyclic garbage collector out of the passes that build millions of objects.

A plan of 100,000 tasks is about a million small dicts, lists and strings, none of them in a
reference cycle. The collector's full sweeps would walk every one of them again and again while
they are built (a third of a compile, a quarter of loading a plan) and, once they live for the
length of a submission, on every full collection after. Reference counting frees them all as
usual either way; only the search for cycles is put off.

Where a large store lives while short-lived objects come and go (the emulator serving
requests), or where code that is not dagbatch's builds the objects (a workflow file building
its graph), full collections are made rarer instead (``gc_fewer_full``).
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

__all__ = ["FULL_COLLECTION_EVERY", "gc_fewer_full", "gc_frozen", "gc_paused"]

T = TypeVar("T")

#: Middle-generation collections between two full ones inside ``gc_fewer_full`` blocks
#: (Python's default is 10).
FULL_COLLECTION_EVERY = 100


@contextmanager
def gc_paused(*, settle: bool = True) -> Iterator[None]:
    """No cyclic collection inside the block (as it was after it).

    ``settle``: what the block made and kept joins the oldest generation as the collector
    comes back, without being walked. Left in the youngest, the first young collection after
    the block would walk all of it, and the middle one after that again: 96 ms at the start
    of a 100,000-task submission, for nothing (none of it is in a cycle). ``gc.freeze`` then
    ``gc.unfreeze`` move every tracked object to the oldest generation in two list splices
    (CPython's gcmodule). Inside a ``gc_frozen`` block, what the block made is frozen too,
    and unfrozen with the rest at that block's end. When the program froze objects of its
    own (``gc.freeze``), nothing is moved: unfreezing would let those go too.

    Only in the main thread, where ``gc_frozen`` blocks open and close: from another thread
    a freeze could land just after such a block's unfreeze and stay for good. And not for a
    block that runs again and again over short-lived objects (the emulator's scheduling
    rounds: ``settle=False``), which would age everything the program holds at each round
    and leave its cyclic garbage to the rare full collections.

    Blocks open in several threads at once (a plan read in a thread while the event loop
    lists the job's tasks, the emulator's scheduler in `dagbatch run`) are counted: the
    collector comes back when the last of them ends, not when the first that found it on
    does, in the middle of the others (a sixth of a 200,000-task listing was young
    collections so resumed)."""
    global _pauses, _resume
    with _pause_lock:
        if not _pauses:
            _resume = gc.isenabled()
        _pauses += 1
        gc.disable()
    try:
        yield
    finally:
        with _pause_lock:
            _pauses -= 1
            if not _pauses and _resume:
                if settle and threading.current_thread() is threading.main_thread():
                    _settle()
                gc.enable()


#: ``gc_paused`` blocks open in every thread, and whether the collector was on when the first
#: of them opened (it is turned back on as the last ends).
_pause_lock = threading.Lock()
_pauses = 0
_resume = False


def _settle() -> None:
    """Move every tracked object to the oldest generation, or into the open ``gc_frozen``
    block's frozen set (``gc_paused``). ``gc.get_freeze_count`` walks the frozen objects:
    asked only outside ``gc_frozen``, where little is frozen. (The standalone emulator
    freezes its start-up, and settles nothing: its scheduler runs in its own thread with
    ``settle=False``, its request handlers pause nothing.)"""
    if _frozen_blocks:
        gc.freeze()
    elif not gc.get_freeze_count():
        gc.freeze()
        gc.unfreeze()


#: ``gc_frozen`` blocks open (their objects frozen) in this process.
_frozen_blocks = 0


@contextmanager
def gc_frozen(build: Callable[[], T]) -> Iterator[T]:
    """``build()`` with the collector paused, then everything alive left out of the
    collections made inside the block (``gc.freeze``; ``gc.unfreeze`` at its end).

    Frozen before the collector is back: re-enabled first, its next collection would sweep
    every object ``build`` made (about 50 ms for a 100,000-task plan) for nothing.
    """
    global _frozen_blocks
    with gc_paused():
        value = build()
        gc.freeze()
        _frozen_blocks += 1
    try:
        yield value
    finally:
        _frozen_blocks -= 1
        gc.unfreeze()


@contextmanager
def gc_fewer_full(every: int = FULL_COLLECTION_EVERY) -> Iterator[None]:
    """Inside the block, a full collection only every ``every`` collections of the middle
    generation (Python's default is 10); the young generations are collected as usual.

    For a process that holds a large, long-lived store (the emulator's: its columns are lists
    as long as the jobs, and a full collection walks every element of them) and makes
    short-lived objects all the time (one request after another). And for code dagbatch runs
    but does not own, which must keep the collector working as it expects (a workflow file,
    whose graph of a million small dicts is walked by every full collection while it grows)."""
    thresholds = gc.get_threshold()
    gc.set_threshold(thresholds[0], thresholds[1], every)
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
