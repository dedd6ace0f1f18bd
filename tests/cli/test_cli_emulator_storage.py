"""`dagbatch emulator --storage-connection-string`: parsed, validated, kept in the settings,
and the key never printed."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from click.testing import CliRunner

from dagbatch.cli.main import main
from dagbatch.emulator.server import EmulatorServer
from dagbatch.emulator.storage_account import (
    AZURITE_ACCOUNT_KEY,
    StorageAccount,
    detect_azurite,
    local_pool_storage,
)

KEY = "c3RvcmFnZS1rZXktZm9yLWNsaS10ZXN0cw=="
CONN = (
    f"DefaultEndpointsProtocol=http;AccountName=localacct;AccountKey={KEY};"
    "BlobEndpoint=http://127.0.0.1:10999/localacct;"
)


def test_a_bad_connection_string_is_a_usage_error_without_the_key() -> None:
    result = CliRunner().invoke(
        main, ["emulator", "--port", "0", "--storage-connection-string", f"AccountKey={KEY}"]
    )
    assert result.exit_code == 2
    assert "--storage-connection-string" in result.output
    assert "AccountName and AccountKey" in result.output
    assert KEY not in result.output
    result = CliRunner().invoke(
        main, ["emulator", "--storage-connection-string", f"AccountName=a;{KEY}"]
    )
    assert result.exit_code == 2 and KEY not in result.output


def test_the_emulator_announces_its_auto_storage_and_never_the_key() -> None:
    env = {k: v for k, v in os.environ.items() if k != "AZURE_STORAGE_CONNECTION_STRING"}
    env["AZURE_STORAGE_CONNECTION_STRING"] = CONN  # the Azure CLI's variable works too
    lines: list[str] = []
    with subprocess.Popen(
        [sys.executable, "-m", "dagbatch", "emulator", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    ) as process:
        try:
            assert process.stdout is not None
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                line = process.stdout.readline()
                if not line:
                    break
                lines.append(line)
                if line.startswith("Auto storage"):
                    break
        finally:
            process.terminate()
            process.wait(timeout=10)
    text = "".join(lines)
    assert "Auto storage: account localacct at http://127.0.0.1:10999/localacct" in text, text
    assert KEY not in text


def test_the_server_keeps_the_account() -> None:
    account = StorageAccount.from_connection_string(CONN)
    with EmulatorServer(storage=account) as server:
        assert server.storage == account
    # Configured wins; otherwise Azurite's development account only if Azurite runs.
    assert local_pool_storage(account) is account
    detected = local_pool_storage(None)
    assert detected == detect_azurite()
    if detected is not None:
        assert detected.key == AZURITE_ACCOUNT_KEY
