"""A workflow whose inputs, script and results live in Azure Blob Storage (or Azurite, locally).

    count-0 .. count-3  (each: a script by httpUrl, its shard by storageContainerUrl + blobPrefix;
          |              uploads counts/N.txt on success, its stdout/stderr on completion)
        total            (reads counts/ from the pool's auto-storage account by
                          autoStorageContainerName; uploads total.txt)

The storage account comes from ``AZURE_STORAGE_CONNECTION_STRING`` (default: Azurite's
development account on 127.0.0.1:10000). Compiling makes SAS URLs valid for a day.

    python examples/storage_pipeline.py put      # create the containers, upload the inputs
    dagbatch compile examples/storage_pipeline.py --out plan-storage
    ... run it (see the README, "Blob storage in local runs") ...
    python examples/storage_pipeline.py show     # list the results and print the total
"""

from __future__ import annotations

import contextlib
import os
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import networkx as nx

SHARDS = 4
FILES_PER_SHARD = 25
INPUTS = "inputs"  # data/shard-N/*.txt and scripts/count.sh
RESULTS = "results"  # counts/N.txt, logs/TASK/std*.txt, total.txt

COUNT_SH = b"""#!/bin/sh
# Count the lines of every file below $1.
find "$1" -type f -exec cat {} + | wc -l
"""


def account() -> tuple[str, str, str]:
    """(name, key, blob endpoint) of the storage account."""
    from dagbatch.emulator.storage_account import StorageAccount

    conn = os.environ.get("AZURE_STORAGE_CONNECTION_STRING")
    acct = StorageAccount.from_connection_string(conn) if conn else StorageAccount.azurite()
    return acct.name, acct.key, acct.blob_endpoint


def container_sas(container: str, permission: str) -> str:
    """The container's URL with a SAS valid for a day (r: read, l: list, w: write)."""
    from azure.storage.blob import ContainerSasPermissions, generate_container_sas

    name, key, endpoint = account()
    sas = generate_container_sas(
        name,
        container,
        account_key=key,
        permission=ContainerSasPermissions.from_string(permission),
        expiry=datetime.now(UTC) + timedelta(days=1),
    )
    return f"{endpoint}/{container}?{sas}"


def blob_sas(container: str, blob: str) -> str:
    """A blob's URL with a read SAS valid for a day."""
    base, _, sas = container_sas(container, "r").partition("?")
    return f"{base}/{blob}?{sas}"


def logs(results: str, task: str) -> dict[str, object]:
    """stdout.txt and stderr.txt of the task, whatever its exit code."""
    return {
        "file_pattern": "../std*.txt",
        "destination": {"container": {"container_url": results, "path": f"logs/{task}"}},
        "upload_options": {"upload_condition": "taskcompletion"},
    }


def build() -> nx.DiGraph:
    results = container_sas(RESULTS, "rwl")
    g = nx.DiGraph()
    g.graph["job"] = {"id": "storage-pipeline", "pool_id": "local"}
    for shard in range(SHARDS):
        task = f"count-{shard}"
        g.add_node(
            task,
            command_line="/bin/sh -c './count.sh in > counts.txt'",
            resource_files=[
                {
                    "http_url": blob_sas(INPUTS, "scripts/count.sh"),
                    "file_path": "count.sh",
                    "file_mode": "0755",
                },
                {
                    "storage_container_url": container_sas(INPUTS, "rl"),
                    "blob_prefix": f"data/shard-{shard}/",
                    "file_path": "in",
                },
            ],
            output_files=[
                {
                    "file_pattern": "counts.txt",
                    "destination": {
                        "container": {"container_url": results, "path": f"counts/{shard}.txt"}
                    },
                    "upload_options": {"upload_condition": "tasksuccess"},
                },
                logs(results, task),
            ],
        )
        g.add_edge(task, "total")
    g.add_node(
        "total",
        command_line='/bin/sh -c \'cat counts/*.txt | awk "{s += \\$1} END {print s}" '
        "> total.txt'",
        resource_files=[{"auto_storage_container_name": RESULTS, "blob_prefix": "counts/"}],
        output_files=[
            {
                "file_pattern": "total.txt",
                "destination": {"container": {"container_url": results, "path": "total.txt"}},
                "upload_options": {"upload_condition": "tasksuccess"},
            },
            logs(results, "total"),
        ],
    )
    return g


def expected_total() -> int:
    return sum((i % 5) + 1 for _shard in range(SHARDS) for i in range(FILES_PER_SHARD))


def service() -> Any:
    """A client of the account's blob service. One that does not answer is said in seconds,
    not after a minute of retries: one retry, a second later."""
    from azure.storage.blob import BlobServiceClient, LinearRetry

    name, key, endpoint = account()
    return BlobServiceClient(
        endpoint,
        credential={"account_name": name, "account_key": key},
        connection_timeout=5,
        retry_policy=LinearRetry(backoff=1, retry_total=1, random_jitter_range=0),
    )


def put() -> None:
    """Create the containers and upload the script and the data (idempotent)."""
    from azure.core.exceptions import ResourceExistsError

    blobs = service()
    for container in (INPUTS, RESULTS):
        with contextlib.suppress(ResourceExistsError):
            blobs.create_container(container)
    inputs = blobs.get_container_client(INPUTS)
    inputs.upload_blob("scripts/count.sh", COUNT_SH, overwrite=True)
    for shard in range(SHARDS):
        for i in range(FILES_PER_SHARD):
            lines = "".join(f"record {shard}-{i}-{n}\n" for n in range((i % 5) + 1))
            inputs.upload_blob(f"data/shard-{shard}/{i:03d}.txt", lines.encode(), overwrite=True)
    print(
        f"uploaded scripts/count.sh and {SHARDS * FILES_PER_SHARD} data files to "
        f"{account()[2]}/{INPUTS}; expected total: {expected_total()}"
    )


def show() -> None:
    """List the result blobs and print total.txt."""
    results = service().get_container_client(RESULTS)
    for blob in results.list_blobs():
        print(f"{blob.name}  ({blob.size} bytes)")
    total = results.download_blob("total.txt").readall().decode().strip()
    print(f"total: {total} (expected {expected_total()})")


if __name__ == "__main__":
    commands = {"put": put, "show": show}
    if len(sys.argv) != 2 or sys.argv[1] not in commands:
        sys.exit(f"usage: {sys.argv[0]} put|show")
    from azure.core.exceptions import ServiceRequestError

    try:
        commands[sys.argv[1]]()
    except ServiceRequestError as exc:
        sys.exit(
            f"cannot reach the storage account at {account()[2]} ({type(exc).__name__}): start "
            "Azurite (README: Blob storage in local runs) or set AZURE_STORAGE_CONNECTION_STRING"
        )
