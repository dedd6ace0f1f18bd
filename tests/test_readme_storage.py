"""The README's "Blob storage in local runs" commands, as written: Azurite's flags exist, `put`
uploads the inputs, the example compiles with a SAS on every URL and nothing else secret.
(Running it through the emulator is in tests/emulator/test_storage_workflow.py.)"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

from tests.azurite_server import AzuriteServer, ensure_azurite

ROOT = Path(__file__).resolve().parents[1]
SECTION = (ROOT / "README.md").read_text().split("## Blob storage in local runs", 1)[1]
SECTION = SECTION.split("\n## ", 1)[0]


def commands(block: int) -> list[list[str]]:
    """The command lines of the section's ``block``-th sh block (comments and ``&`` off)."""
    text = SECTION.split("```sh\n")[block + 1].split("```", 1)[0]
    lines = [line.split("  #", 1)[0].strip().rstrip("&").strip() for line in text.splitlines()]
    return [shlex.split(line) for line in lines if line]


def local(argv: list[str], plan: Path) -> list[str]:
    """A README command for this checkout's interpreter, writing its plan into ``plan``."""
    head = {
        ".venv/bin/python": [sys.executable],
        ".venv/bin/dagbatch": [sys.executable, "-m", "dagbatch"],
    }[argv[0]]
    return head + [str(plan) if a == "plan-storage" else a for a in argv[1:]]


def test_the_azurite_command_uses_flags_azurite_has() -> None:
    install, start, *_ = commands(0)
    assert install == ["npm", "install", "--prefix", ".azurite", "azurite@3"]
    binary = ensure_azurite()
    assert start[0] == str(binary.relative_to(ROOT))
    usage = subprocess.run(
        [str(binary), "--help"], capture_output=True, text=True, timeout=60, check=False
    ).stdout
    for flag in (a for a in start[1:] if a.startswith("--")):
        assert flag in usage, flag
    # Local only: no telemetry to the internet, listening on loopback.
    assert "--disableTelemetry" in start
    assert start[start.index("--blobHost") + 1] == "127.0.0.1"


def test_put_and_compile_run_as_written(azurite: AzuriteServer, tmp_path: Path) -> None:
    _install, _start, put, compile_ = commands(0)
    env = {**os.environ, "AZURE_STORAGE_CONNECTION_STRING": azurite.account.connection_string}
    plan = tmp_path / "plan-storage"
    out = subprocess.run(
        local(put, plan), cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=True
    ).stdout
    assert "100 data files" in out and "expected total: 300" in out
    blobs = azurite.read_blobs("inputs")
    assert len(blobs) == 101 and blobs["scripts/count.sh"].startswith(b"#!/bin/sh")
    subprocess.run(
        local(compile_, plan), cwd=ROOT, env=env, capture_output=True, timeout=300, check=True
    )
    tasks = json.loads((plan / "batches" / "000001.json").read_text())["value"]
    assert [t["id"] for t in tasks] == ["count-0", "count-1", "count-2", "count-3", "total"]
    sources = {
        key
        for t in tasks
        for rf in t["resourceFiles"]
        for key in rf
        if key in ("httpUrl", "storageContainerUrl", "autoStorageContainerName")
    }
    assert sources == {"httpUrl", "storageContainerUrl", "autoStorageContainerName"}
    conditions = {o["uploadOptions"]["uploadCondition"] for t in tasks for o in t["outputFiles"]}
    assert conditions == {"tasksuccess", "taskcompletion"}
    assert azurite.account.key not in (plan / "batches" / "000001.json").read_text()


def test_put_without_a_storage_account_says_so_in_seconds(tmp_path: Path) -> None:
    """No Azurite (a closed port on 127.0.0.1): one line saying what to do, not a minute of
    retries and a traceback."""
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    azurite_key = (
        "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
    )
    env = {
        **os.environ,
        "AZURE_STORAGE_CONNECTION_STRING": "DefaultEndpointsProtocol=http;"
        f"AccountName=devstoreaccount1;AccountKey={azurite_key};"
        f"BlobEndpoint=http://127.0.0.1:{port}/devstoreaccount1;",
    }
    put = commands(0)[2]
    done = subprocess.run(
        local(put, tmp_path / "plan-storage"),
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert "cannot reach the storage account" in done.stderr
    assert "AZURE_STORAGE_CONNECTION_STRING" in done.stderr
    assert "Traceback" not in done.stderr
