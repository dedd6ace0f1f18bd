"""What every operation handler receives: the app's settings and the per-request context."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request

from dagbatch.emulator.faults import FaultConfig
from dagbatch.emulator.store import EmulatorStore


@dataclass
class EmulatorSettings:
    """What an app instance checks and injects. ``faults`` may be swapped while running."""

    accounts: Mapping[str, str]
    faults: FaultConfig
    check_auth: bool = True


@dataclass
class Ctx:
    """Per-request facts gathered before the handler runs."""

    request: Request
    op: str
    api_version: str
    base: str
    body: bytes
    rng: random.Random
    faults: FaultConfig | None
    drop: bool
    store: EmulatorStore
    engine: Any = None
    #: ``time.monotonic()`` before which the answer is not sent (the injected latency).
    reply_at: float = 0.0

    async def hold(self) -> None:
        """Wait (asynchronously) until ``reply_at``: the latency runs from the moment the
        request was read, while it is processed, not after."""
        delay = self.reply_at - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)

    def param(self, name: str) -> str:
        """A path parameter (``job_id``, ``task_id``)."""
        return str(self.request.path_params[name])
