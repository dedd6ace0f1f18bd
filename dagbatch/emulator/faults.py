"""Seeded, reproducible fault injection for the emulator.

Each request gets its own random generator, seeded from the configured seed, the request's
method, path and body bytes, and how many times that exact request was seen before. So the
same seed and the same client behaviour give the same faults, whatever order concurrent
requests arrive in, and a re-sent request draws afresh.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field
from typing import Final, Literal

#: Operation names, as used in ``FaultConfig.operations`` and in the request counters.
OPERATIONS: Final = (
    "createjob",
    "getjob",
    "updatejob",
    "replacejob",
    "addtaskcollection",
    "addtask",
    "gettask",
    "replacetask",
    "listtasks",
    "listjobs",
    "deletejob",
    "terminatejob",
    "disablejob",
    "enablejob",
    "gettaskcounts",
    "terminatetask",
    "reactivatetask",
    "deletetask",
    "listtaskfiles",
    "gettaskfile",
    "gettaskfileproperties",
)

RequestFault = Literal["throttle", "busy", "internal", "drop"]

#: The per-task server error codes a ``task_server_error`` fault picks from.
TASK_SERVER_ERROR_CODES: Final = ("ServerBusy", "InternalError")


@dataclass(frozen=True)
class FaultConfig:
    """What to inject. Probabilities are per request, except ``task_server_error`` (per task).

    ``throttle`` answers 429 ``TooManyRequests``, ``busy`` 503 ``ServerBusy`` (both with
    ``Retry-After: retry_after``), ``internal`` 500 ``InternalError``; ``drop`` processes a
    random prefix of the request (for addtaskcollection: really stores those tasks) and then
    closes the connection in the middle of the response. At most one request-level fault
    applies to a request. Faults apply only to the listed ``operations``.
    """

    latency_ms: float = 0.0
    task_server_error: float = 0.0
    throttle: float = 0.0
    busy: float = 0.0
    internal: float = 0.0
    drop: float = 0.0
    retry_after: int = 1
    seed: int = 0
    operations: frozenset[str] = field(default_factory=lambda: frozenset({"addtaskcollection"}))

    def __post_init__(self) -> None:
        for name in ("task_server_error", "throttle", "busy", "internal", "drop"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be a probability between 0 and 1, got {value}")
        if self.throttle + self.busy + self.internal + self.drop > 1.0:
            raise ValueError("throttle + busy + internal + drop must not exceed 1")
        if self.latency_ms < 0:
            raise ValueError("latency_ms must not be negative")
        if self.retry_after < 0:
            raise ValueError("retry_after must not be negative")
        unknown = set(self.operations) - set(OPERATIONS)
        if unknown:
            raise ValueError(f"unknown operations {sorted(unknown)}; known: {list(OPERATIONS)}")

    @property
    def active(self) -> bool:
        """True when this configuration injects anything at all."""
        return bool(
            self.latency_ms
            or self.task_server_error
            or self.throttle
            or self.busy
            or self.internal
            or self.drop
        )


def request_rng(seed: int, method: str, path: str, body: bytes, occurrence: int) -> random.Random:
    """The generator for one request (see the module docstring)."""
    digest = hashlib.blake2b(body, digest_size=16).hexdigest()
    return random.Random(f"{seed}|{method}|{path}|{digest}|{occurrence}")


def body_key(method: str, path: str, body: bytes) -> bytes:
    """The key under which repeated identical requests are counted."""
    return hashlib.blake2b(
        method.encode() + b" " + path.encode() + b"\n" + body, digest_size=16
    ).digest()


def pick_request_fault(config: FaultConfig, rng: random.Random) -> RequestFault | None:
    """Draw the request-level fault (or none) for one request; always draws exactly once."""
    u = rng.random()
    choices: tuple[tuple[RequestFault, float], ...] = (
        ("throttle", config.throttle),
        ("busy", config.busy),
        ("internal", config.internal),
        ("drop", config.drop),
    )
    for name, p in choices:
        if u < p:
            return name
        u -= p
    return None
