"""Azurite, the official Azure Storage emulator, for the tests: blob service on 127.0.0.1.

``start_azurite(workdir)`` starts ``azurite-blob`` from ``<repo>/.azurite`` (installed there
with ``npm install --prefix .azurite azurite@3``, by ``.ci/run`` or, when absent, by
``ensure_azurite`` here) on a free port, in memory, and returns an ``AzuriteServer`` with the
development account's ``StorageAccount``, a ``BlobServiceClient`` and helpers to make SAS
URLs. Without Node.js the tests that need it skip, saying why, except in CI (``CI`` set),
where they fail: CI must run them.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from dagbatch.emulator.storage_account import StorageAccount, azurite_blob_endpoint

REPO = Path(__file__).resolve().parent.parent
AZURITE_PREFIX = REPO / ".azurite"
AZURITE_BIN = AZURITE_PREFIX / "node_modules" / ".bin" / "azurite-blob"
#: The Azurite major version the tests are written against (also in .ci/run).
AZURITE_PACKAGE = "azurite@3"
START_TIMEOUT_S = 60.0
INSTALL_TIMEOUT_S = 600.0


def _unavailable(reason: str) -> None:
    """Skip, or fail in CI, where the Azurite tests must run."""
    if os.environ.get("CI"):
        pytest.fail(f"Azurite is needed in CI: {reason}")
    pytest.skip(reason)


def ensure_azurite() -> Path:
    """The azurite-blob executable, installed into ``<repo>/.azurite`` with npm if absent."""
    if AZURITE_BIN.exists():
        return AZURITE_BIN
    if shutil.which("node") is None or shutil.which("npm") is None:
        _unavailable("needs Node.js and npm to run Azurite (the Azure Storage emulator)")
    result = subprocess.run(
        [
            "npm",
            "install",
            "--prefix",
            str(AZURITE_PREFIX),
            AZURITE_PACKAGE,
            "--no-audit",
            "--no-fund",
            "--loglevel",
            "error",
        ],
        capture_output=True,
        text=True,
        timeout=INSTALL_TIMEOUT_S,
        check=False,
    )
    if result.returncode != 0 or not AZURITE_BIN.exists():
        pytest.fail(f"npm install {AZURITE_PACKAGE} failed:\n{result.stdout}\n{result.stderr}")
    return AZURITE_BIN


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class AzuriteServer:
    """A running Azurite blob service and the development account on it."""

    process: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def account(self) -> StorageAccount:
        return StorageAccount.azurite(azurite_blob_endpoint(self.port))

    @property
    def endpoint(self) -> str:
        return azurite_blob_endpoint(self.port)

    def service(self) -> Any:
        from azure.storage.blob import BlobServiceClient

        return BlobServiceClient.from_connection_string(self.account.connection_string)

    def create_container(self, name: str) -> Any:
        """A new container (a ContainerClient)."""
        return self.service().create_container(name)

    def container_sas_url(
        self, name: str, permission: str = "rl", expires_in: timedelta = timedelta(hours=1)
    ) -> str:
        """The container's URL with a SAS (``permission`` letters: r, w, l, c, d, a)."""
        from azure.storage.blob import ContainerSasPermissions, generate_container_sas

        expiry = datetime.now(UTC) + expires_in
        start = min(expiry - timedelta(minutes=1), datetime.now(UTC) - timedelta(minutes=5))
        sas = generate_container_sas(
            self.account.name,
            name,
            account_key=self.account.key,
            permission=ContainerSasPermissions.from_string(permission),
            expiry=expiry,
            start=start,
        )
        return f"{self.endpoint}/{name}?{sas}"

    def blob_sas_url(
        self, container: str, blob: str, expires_in: timedelta = timedelta(hours=1)
    ) -> str:
        """A blob's URL with a read SAS (a negative ``expires_in`` gives an expired one)."""
        from azure.storage.blob import BlobSasPermissions, generate_blob_sas

        expiry = datetime.now(UTC) + expires_in
        start = min(expiry - timedelta(minutes=1), datetime.now(UTC) - timedelta(minutes=5))
        sas = generate_blob_sas(
            self.account.name,
            container,
            blob,
            account_key=self.account.key,
            permission=BlobSasPermissions(read=True),
            expiry=expiry,
            start=start,
        )
        return f"{self.endpoint}/{container}/{blob}?{sas}"

    def read_blobs(self, container: str) -> dict[str, bytes]:
        """Every blob of a container, by name."""
        from concurrent.futures import ThreadPoolExecutor

        client = self.service().get_container_client(container)
        names = [b.name for b in client.list_blobs()]
        with ThreadPoolExecutor(8) as pool:
            data = pool.map(lambda name: client.download_blob(name).readall(), names)
            return dict(zip(names, data, strict=True))

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


#: prctl's option that signals a child when the thread that started it ends (linux/prctl.h).
PR_SET_PDEATHSIG = 1


def _die_with_the_tests() -> None:
    """In Azurite's process, before it starts (Linux): SIGTERM it when the test process
    ends, however it ends. ``stop`` runs only when the tests end normally: a run cut short by
    a signal left Azurite running, orphaned."""
    with contextlib.suppress(OSError, AttributeError):  # no prctl: stop() is all there is
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def start_azurite(workdir: Path) -> AzuriteServer:
    """Start Azurite's blob service on 127.0.0.1, a free port, in memory; wait until it
    accepts connections (bounded)."""
    binary = ensure_azurite()
    if shutil.which("node") is None:
        _unavailable("needs Node.js to run Azurite (the Azure Storage emulator)")
    workdir.mkdir(parents=True, exist_ok=True)
    log = workdir / "azurite.log"
    for _attempt in range(3):  # a free port can be taken between the probe and the bind
        port = _free_port()
        with open(log, "wb") as out:
            process = subprocess.Popen(
                [
                    str(binary),
                    "--blobHost",
                    "127.0.0.1",
                    "--blobPort",
                    str(port),
                    "--inMemoryPersistence",
                    "--skipApiVersionCheck",
                    "--loose",
                    "--disableTelemetry",
                    "--silent",
                ],
                cwd=workdir,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                preexec_fn=_die_with_the_tests if sys.platform == "linux" else None,
            )
        server = AzuriteServer(process=process, port=port, log=log)
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline and process.poll() is None:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    return server
            except OSError:
                time.sleep(0.1)
        server.stop()
    pytest.fail(f"Azurite did not start; its log:\n{log.read_text(errors='replace')}")
