"""What every operation handler receives: the app's settings and the per-request context."""

from __future__ import annotations

import random
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

    def param(self, name: str) -> str:
        """A path parameter (``job_id``, ``task_id``)."""
        return str(self.request.path_params[name])
