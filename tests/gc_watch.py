"""Watching Python's cyclic collector from a test: which collections a block of code made."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collections_made() -> Iterator[list[int]]:
    """The generation of every cyclic collection that starts inside the block, in order (what
    was left to collect before it is collected first, so it does not count)."""
    gc.collect()
    seen: list[int] = []

    def watch(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            seen.append(info["generation"])

    gc.callbacks.append(watch)
    try:
        yield seen
    finally:
        gc.callbacks.remove(watch)
