"""A local Azure Batch emulator: the REST subset dagbatch and azure-batch 15.x use.

``EmulatorServer`` (needs the ``emulator`` extra: starlette and uvicorn) serves it on
127.0.0.1; ``FaultConfig`` says what faults to inject; ``EmulatorStore`` holds what was added;
``scheduler.Engine`` runs the tasks with Batch's rules, through a runner: ``runner.RealRunner``
(processes, files through ``blobstore``) or ``simulate.SimulatedRunner`` (what-if exit codes).
Modules: ``app`` (routing, the shared prologue), ``jobs`` and ``tasks`` (the operations),
``rules`` (the service's validation rules), ``replies`` (the error factory), ``odata``
(``$filter``/``$select``), ``store``, ``wire``, ``faults``.
``DEV_ACCOUNT`` / ``DEV_KEY`` are the fixed, public credentials it accepts by default: for local
use only, never a secret.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dagbatch.emulator.faults import OPERATIONS, FaultConfig
from dagbatch.emulator.store import EmulatorStore

if TYPE_CHECKING:
    from dagbatch.emulator.server import EmulatorServer, serve_forever

#: The emulator's account name unless told otherwise.
DEV_ACCOUNT = "devaccount"
#: A fixed, public key for local use only: base64 of the 64 ASCII bytes
#: ``dagbatch-emulator-well-known-development-key-for-local-use-only!``. Never a secret.
DEV_KEY = "ZGFnYmF0Y2gtZW11bGF0b3Itd2VsbC1rbm93bi1kZXZlbG9wbWVudC1rZXktZm9yLWxvY2FsLXVzZS1vbmx5IQ=="

__all__ = [
    "DEV_ACCOUNT",
    "DEV_KEY",
    "OPERATIONS",
    "EmulatorServer",
    "EmulatorStore",
    "FaultConfig",
    "serve_forever",
]


def __getattr__(name: str) -> Any:
    """Import the server (starlette, uvicorn) only when it is asked for."""
    if name in ("EmulatorServer", "serve_forever"):
        from dagbatch.emulator import server

        return getattr(server, name)
    raise AttributeError(f"module 'dagbatch.emulator' has no attribute {name!r}")
