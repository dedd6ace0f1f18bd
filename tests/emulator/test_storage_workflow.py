"""A whole workflow through the emulator's run path with real processes and a real Azurite:
resource files from all three sources, output files under each upload condition, and the
failures Batch reports (``preProcessingError`` / ``fileUploadError``) with dependents following
the parent's ``dependencyAction``; plus the README's storage example end to end.

The emulator's task runner (``dagbatch.emulator.runner``) takes the pool's storage account as
``RealRunner(root, storage=...)``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.azurite_server import AzuriteServer

ROOT = Path(__file__).resolve().parents[2]
WAIT_S = 180.0


def _client(server: Any) -> Any:
    batch = pytest.importorskip("azure.batch")
    from azure.core.credentials import AzureNamedKeyCredential

    return batch.BatchClient(server.endpoint, AzureNamedKeyCredential(server.account, server.key))


def _wait(client: Any, job: str, done: set[str], still_active: set[str]) -> dict[str, Any]:
    """Poll until every task of ``done`` is completed (bounded); the others stay active."""
    deadline = time.monotonic() + WAIT_S
    while True:
        tasks = {t.id: t for t in client.list_tasks(job)}
        if all(tasks[i].state == "completed" for i in done):
            break
        assert time.monotonic() < deadline, {i: t.state for i, t in tasks.items()}
        time.sleep(0.2)
    time.sleep(1.0)  # give a wrongly unblocked dependent the chance to start
    tasks = {t.id: t for t in client.list_tasks(job)}
    for task_id in still_active:
        assert tasks[task_id].state == "active", task_id
    return tasks


def _running(emulator_factory: Any, tmp_path: Path, azurite: AzuriteServer) -> Any:
    """An emulator that runs tasks as processes, with Azurite as the pool's auto storage."""
    from dagbatch.emulator.runner import RealRunner

    runner = RealRunner(tmp_path / "node", storage=azurite.account)
    return emulator_factory(runner=runner, slots=2, storage=azurite.account)


def _out(url: str, pattern: str, path: str | None, condition: str) -> dict[str, Any]:
    container: dict[str, Any] = {"containerUrl": url}
    if path is not None:
        container["path"] = path
    return {
        "filePattern": pattern,
        "destination": {"container": container},
        "uploadOptions": {"uploadCondition": condition},
    }


def test_a_workflow_reads_and_writes_blob_storage(
    azurite: AzuriteServer, emulator_factory: Any, tmp_path: Path
) -> None:
    models = pytest.importorskip("azure.batch").models
    suffix = uuid.uuid4().hex[:10]
    inputs, auto, results = f"wf-in-{suffix}", f"wf-auto-{suffix}", f"wf-out-{suffix}"
    svc = azurite.service()
    svc.create_container(inputs).upload_blob("scripts/tool.sh", b"#!/bin/sh\nmkdir -p out\n")
    for name, data in {"data/a.txt": b"a\n", "data/b.txt": b"b\n", "skip/c.txt": b"c\n"}.items():
        svc.get_container_client(inputs).upload_blob(name, data)
    svc.create_container(auto).upload_blob("ref/r.txt", b"ref\n")
    svc.create_container(results)
    write = azurite.container_sas_url(results, "rwl")
    read_only = azurite.container_sas_url(results, "rl")
    missing_url = azurite.blob_sas_url(inputs, "absent.txt")
    expired_url = azurite.blob_sas_url(inputs, "data/a.txt", expires_in=timedelta(minutes=-5))

    tasks: list[dict[str, Any]] = [
        {
            "id": "ingest",
            "commandLine": "/bin/sh -c './tool.sh && cat in/data/*.txt ref/r.txt > out/all.txt "
            "&& echo ingested'",
            "resourceFiles": [
                {
                    "httpUrl": azurite.blob_sas_url(inputs, "scripts/tool.sh"),
                    "filePath": "tool.sh",
                    "fileMode": "0755",
                },
                {
                    "storageContainerUrl": azurite.container_sas_url(inputs),
                    "blobPrefix": "data/",
                    "filePath": "in",
                },
                {"autoStorageContainerName": auto, "blobPrefix": "ref/"},
            ],
            "outputFiles": [
                _out(write, "out/*.txt", "ingest", "tasksuccess"),
                _out(write, "out/*.txt", "failed/ingest", "taskfailure"),
                _out(
                    write,
                    "$AZ_BATCH_TASK_DIR/stdout.txt",
                    "logs/ingest/stdout.txt",
                    "taskcompletion",
                ),
            ],
        },
        {
            "id": "fails",
            "commandLine": "/bin/sh -c 'echo bad > err.txt; exit 3'",
            "outputFiles": [
                _out(write, "err.txt", "failed/fails/err.txt", "taskfailure"),
                _out(write, "err.txt", "ok/fails/err.txt", "tasksuccess"),
                _out(write, "../std*.txt", "logs/fails", "taskcompletion"),
            ],
        },
        {
            "id": "missing",
            "commandLine": "/bin/true",
            "resourceFiles": [{"httpUrl": missing_url, "filePath": "in/absent.txt"}],
            "exitConditions": {"preProcessingError": {"dependencyAction": "satisfy"}},
        },
        {"id": "after-missing", "commandLine": "/bin/true", "dependsOn": {"taskIds": ["missing"]}},
        {
            "id": "expired",
            "commandLine": "/bin/true",
            "resourceFiles": [{"httpUrl": expired_url, "filePath": "a.txt"}],
        },
        {"id": "after-expired", "commandLine": "/bin/true", "dependsOn": {"taskIds": ["expired"]}},
        {
            "id": "denied",
            "commandLine": "/bin/sh -c 'echo x > x.txt'",
            "outputFiles": [_out(read_only, "x.txt", None, "taskcompletion")],
            # Explicit: whether exit code 0's default (satisfy) or the failure's (block) wins
            # for an upload error is not documented.
            "exitConditions": {"fileUploadError": {"dependencyAction": "block"}},
        },
        {"id": "after-denied", "commandLine": "/bin/true", "dependsOn": {"taskIds": ["denied"]}},
        {
            # Killed at its maxWallClockTime: its logs are still uploaded (taskcompletion).
            "id": "slow",
            "commandLine": "/bin/sh -c 'echo started; sleep 30'",
            "constraints": {"maxWallClockTime": "PT1S"},
            "outputFiles": [_out(write, "../std*.txt", "logs/slow", "taskcompletion")],
        },
        {
            # Retried once: the second attempt writes over the read-only file the first one
            # was given, and does not upload the first attempt's upload logs.
            "id": "retried",
            "commandLine": "/bin/sh -c 'echo attempt; exit 1'",
            "constraints": {"maxTaskRetryCount": 1},
            "resourceFiles": [
                {
                    "httpUrl": azurite.blob_sas_url(inputs, "scripts/tool.sh"),
                    "filePath": "tool.sh",
                    "fileMode": "0555",
                }
            ],
            "outputFiles": [_out(write, "../*.txt", "logs/retried", "taskcompletion")],
        },
    ]
    server = _running(emulator_factory, tmp_path, azurite)
    with _client(server) as client:
        client.create_job(
            models.BatchJobCreateOptions(
                {"id": "storage-wf", "poolInfo": {"poolId": "local"}, "usesTaskDependencies": True}
            )
        )
        client.create_tasks("storage-wf", [models.BatchTaskCreateOptions(t) for t in tasks])
        done = {"ingest", "fails", "missing", "after-missing", "expired", "denied", "slow"}
        done.add("retried")
        final = _wait(client, "storage-wf", done, {"after-expired", "after-denied"})

    def info(task_id: str) -> Any:
        return final[task_id].execution_info

    assert info("ingest").result == "success" and info("ingest").exit_code == 0
    assert info("fails").result == "failure" and info("fails").exit_code == 3
    assert info("fails").failure_info.code == "FailureExitCode"
    # A download failure: preProcessingError, no exit code, the file named, no signature.
    for task_id, code, path, url in (
        ("missing", "BlobNotFound", "in/absent.txt", missing_url),
        ("expired", "BlobAccessDenied", "a.txt", expired_url),
    ):
        failure = info(task_id).failure_info
        assert info(task_id).result == "failure"
        assert info(task_id).exit_code is None
        assert failure.code == code and failure.category == "usererror"
        assert path in failure.message
        sig = parse_qs(urlsplit(url).query)["sig"][0]
        assert sig not in str(dict(final[task_id]))
    assert final["after-missing"].execution_info.result == "success"  # satisfy
    # An upload failure: fileUploadError after a zero exit, whose action blocks dependents.
    assert info("denied").exit_code == 0 and info("denied").result == "failure"
    assert info("denied").failure_info.code == "FileUploadAccessDenied"

    assert info("slow").failure_info.code == "TaskEnded"
    assert info("retried").failure_info.code == "FailureExitCode"
    assert final["retried"].execution_info.retry_count == 1

    blobs = azurite.read_blobs(results)
    assert blobs["ingest/all.txt"] == b"a\nb\nref\n"
    assert blobs["logs/slow/stdout.txt"] == b"started\n"
    assert blobs["logs/retried/stdout.txt"] == b"attempt\n"
    assert blobs["logs/ingest/stdout.txt"] == b"ingested\n"
    assert blobs["failed/fails/err.txt"] == b"bad\n"
    assert set(blobs) == {
        "ingest/all.txt",
        "logs/ingest/stdout.txt",
        "failed/fails/err.txt",
        "logs/fails/stdout.txt",
        "logs/fails/stderr.txt",
        "logs/slow/stdout.txt",
        "logs/slow/stderr.txt",
        "logs/retried/stdout.txt",
        "logs/retried/stderr.txt",
    }


def test_the_readme_storage_example_runs(azurite: AzuriteServer, tmp_path: Path) -> None:
    """The README's steps as written: put the inputs, compile, `dagbatch run` the plan, show
    the results (Azurite found through AZURE_STORAGE_CONNECTION_STRING: it is not on its
    default port here)."""
    env = {**os.environ, "AZURE_STORAGE_CONNECTION_STRING": azurite.account.connection_string}
    example = str(ROOT / "examples" / "storage_pipeline.py")
    subprocess.run([sys.executable, example, "put"], env=env, check=True, timeout=120)
    plan = tmp_path / "plan-storage"
    subprocess.run(
        [sys.executable, "-m", "dagbatch", "compile", example, "--out", str(plan), "-q"],
        env=env,
        check=True,
        timeout=120,
    )
    ran = subprocess.run(
        [sys.executable, "-m", "dagbatch", "run", str(plan)],
        env=env,
        cwd=tmp_path,  # its run directory, .dagbatch/, goes here, not into the checkout
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert azurite.account.key not in ran.stdout + ran.stderr
    shown = subprocess.run(
        [sys.executable, example, "show"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout
    assert "total: 300 (expected 300)" in shown
    assert "logs/count-3/stdout.txt" in shown


def test_a_thousand_files_move_through_a_local_run(
    azurite: AzuriteServer, emulator_factory: Any, tmp_path: Path
) -> None:
    """1,000 blobs in by storageContainerUrl, 1,000 results out by an outputFiles pattern,
    through two tasks: every blob that should be written is there."""
    from concurrent.futures import ThreadPoolExecutor

    models = pytest.importorskip("azure.batch").models
    suffix = uuid.uuid4().hex[:10]
    source, results = f"many-in-{suffix}", f"many-out-{suffix}"
    client = azurite.create_container(source)
    azurite.create_container(results)
    with ThreadPoolExecutor(8) as pool:
        list(
            pool.map(
                lambda i: client.upload_blob(f"d/{i % 10}/{i:04d}.txt", b"%d\n" % i), range(1000)
            )
        )
    write = azurite.container_sas_url(results, "rwl")
    tasks = [
        {
            "id": f"half-{half}",
            # each task copies its half (500 files) into out/ with a new suffix
            "commandLine": "/bin/sh -c 'for f in in/d/*/*.txt; do "
            "mkdir -p out/$(dirname $f); cp $f out/${f%.txt}.res; done'",
            "resourceFiles": [
                {
                    "storageContainerUrl": azurite.container_sas_url(source),
                    "blobPrefix": f"d/{digit}",
                    "filePath": "in",
                }
                for digit in range(half * 5, half * 5 + 5)
            ],
            "outputFiles": [_out(write, "out/in/**/*.res", "results", "tasksuccess")],
        }
        for half in range(2)
    ]
    server = _running(emulator_factory, tmp_path, azurite)
    with _client(server) as batch_client:
        batch_client.create_job(
            models.BatchJobCreateOptions({"id": "many-files", "poolInfo": {"poolId": "local"}})
        )
        batch_client.create_tasks("many-files", [models.BatchTaskCreateOptions(t) for t in tasks])
        final = _wait(batch_client, "many-files", {"half-0", "half-1"}, set())
    assert {t.execution_info.result for t in final.values()} == {"success"}
    blobs = azurite.read_blobs(results)
    assert blobs == {f"results/d/{i % 10}/{i:04d}.res": b"%d\n" % i for i in range(1000)}
