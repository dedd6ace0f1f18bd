"""`dagbatch submit --auth entra` where no Microsoft Entra ID credential is set up: one error
that says so and how to give one (exit 2, as a missing account key), not the credential
chain's text twice.

The command runs as a user runs it, in a subprocess, with azure-identity's real
``DefaultAzureCredential`` and no logging set up (how the chain's warning reached the screen).
The chain would ask the managed identity endpoint, 169.254.169.254: the subprocess imports a
``sitecustomize`` that refuses, before any packet is sent, every connection to an address that
is not loopback, so the test never reaches it (the managed identity then counts as not set up,
as off Azure). HOME is an empty directory (no token cache, no Azure CLI profile) and PATH holds
no program (no `az`, `azd` or `pwsh`)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from dagbatch.emulator.server import EmulatorServer
from tests.plan_factory import layered_plan

pytest.importorskip("azure.identity")

ROOT = Path(__file__).resolve().parents[2]

#: Imported at the start of the subprocess: a connection to any address other than loopback
#: is refused without reaching the network, and recorded in the file NO_NETWORK_LOG names.
NO_NETWORK = """
import ipaddress
import os
import socket

_connect = socket.socket.connect
_connect_ex = socket.socket.connect_ex


def _loopback(address):
    if not isinstance(address, tuple):
        return True  # a Unix socket
    try:
        return ipaddress.ip_address(address[0]).is_loopback
    except ValueError:
        return address[0] == "localhost"


def _refuse(address):
    with open(os.environ["NO_NETWORK_LOG"], "a", encoding="utf-8") as log:
        log.write(f"{address[0]}\\n")
    raise ConnectionRefusedError(f"the test refuses a connection to {address[0]}")


def connect(self, address):
    if not _loopback(address):
        _refuse(address)
    return _connect(self, address)


def connect_ex(self, address):
    if not _loopback(address):
        _refuse(address)
    return _connect_ex(self, address)


socket.socket.connect = connect
socket.socket.connect_ex = connect_ex
"""

#: Variables through which azure-identity could find a credential in the test's environment.
CREDENTIAL_PREFIXES = ("AZURE_", "IDENTITY_", "MSI_", "IMDS_")


def no_credential_env(tmp_path: Path, endpoint: str) -> dict[str, str]:
    guard = tmp_path / "guard"
    guard.mkdir()
    (guard / "sitecustomize.py").write_text(NO_NETWORK, encoding="utf-8")
    home = tmp_path / "home"
    home.mkdir()
    empty = tmp_path / "bin"
    empty.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(CREDENTIAL_PREFIXES)}
    env.update(
        HOME=str(home),
        PATH=str(empty),
        PYTHONPATH=os.pathsep.join([str(guard), str(ROOT)]),
        NO_NETWORK_LOG=str(tmp_path / "refused.txt"),
        AZURE_BATCH_ENDPOINT=endpoint,
    )
    return env


def test_submit_auth_entra_without_a_credential_says_so_once(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    plan = layered_plan(tmp_path / "plan", tasks=5, waves=1, pool_id="p")
    env = no_credential_env(tmp_path, emulator.endpoint)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "dagbatch",
            "submit",
            str(plan),
            "--auth",
            "entra",
            "--job-id",
            "job",
            "--create-job",
            "-q",
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
    )
    err = done.stderr
    assert done.returncode == 2, err
    assert done.stdout == ""
    # One error, one line: what is missing and how to provide it.
    assert err.count("error:") == 1 and err.endswith("\n") and err.count("\n") == 1, err
    assert err.startswith("error: no Microsoft Entra ID credential was found (--auth entra)")
    for how in ("az login", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET", "--auth sharedkey"):
        assert how in err, how
    assert "AzureCliCredential" in err  # what was tried, by name
    # The chain's own text is not printed, neither by its log nor in the error.
    assert "failed to retrieve a token" not in err
    assert "Attempted credentials" not in err
    # Nothing was sent: the job was not created.
    assert emulator.store.job_ids() == []
    refused = tmp_path / "refused.txt"
    reached = refused.read_text().split() if refused.exists() else []
    assert set(reached) <= {"169.254.169.254"}, reached  # only the managed identity was tried
