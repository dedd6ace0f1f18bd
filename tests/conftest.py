"""Shared fixtures: the local Batch emulator on 127.0.0.1 in a background thread.

``emulator`` is a running ``EmulatorServer`` with no faults; ``emulator_factory(**options)``
starts more, e.g. ``emulator_factory(throttle=0.3, seed=7)`` or
``emulator_factory(faults=FaultConfig(...), account="acct", key=...)``. Every server has
``.endpoint`` ("http://127.0.0.1:PORT"), ``.account``, ``.key``, ``.store`` (jobs, tasks and
counters: ``store.task_ids(job)``, ``store.task(job, id)``, ``store.stats()``) and
``.set_faults(FaultConfig)``. All are stopped at the end of the test.

``azurite`` (session) is Azurite's blob service: ``.account`` (a ``StorageAccount``),
``.service()``, ``.create_container(name)``, ``.container_sas_url(name, permission)``,
``.blob_sas_url(container, blob, expires_in)``, ``.read_blobs(container)``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from dagbatch.emulator import FaultConfig
from dagbatch.emulator.server import EmulatorServer
from tests.azurite_server import AzuriteServer, start_azurite

_FAULT_FIELDS = {f.name for f in dataclasses.fields(FaultConfig)}

EmulatorFactory = Callable[..., EmulatorServer]


@pytest.fixture
def emulator_factory() -> Iterator[EmulatorFactory]:
    """Start emulators: keyword arguments are ``EmulatorServer`` options (``faults``,
    ``account``, ``key``, ``accounts``, ``store``, ``check_auth``) or ``FaultConfig`` fields
    (``latency_ms``, ``task_server_error``, ``throttle``, ``busy``, ``internal``, ``drop``,
    ``retry_after``, ``seed``, ``operations``)."""
    started: list[EmulatorServer] = []

    def start(**options: Any) -> EmulatorServer:
        fault_options = {k: options.pop(k) for k in list(options) if k in _FAULT_FIELDS}
        if fault_options:
            if "faults" in options:
                raise TypeError("give either faults= or FaultConfig fields, not both")
            options["faults"] = FaultConfig(**fault_options)
        server = EmulatorServer(**options).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def emulator(emulator_factory: EmulatorFactory) -> EmulatorServer:
    """A running emulator without faults, default dev account and key."""
    return emulator_factory()


@pytest.fixture(scope="session")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AzuriteServer]:
    """Azurite's blob service on 127.0.0.1 (a free port, in memory) for the whole session;
    skips without Node.js, except in CI where it fails (see tests/azurite_server.py)."""
    server = start_azurite(tmp_path_factory.mktemp("azurite"))
    try:
        yield server
    finally:
        server.stop()
