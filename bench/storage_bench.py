"""Task files through blob storage: ``python -m bench.storage_bench [--files N]``.

Against a local Azurite (started here, in memory, on a free port; Node.js needed), it moves N
files (default 1,000) through ``dagbatch.emulator.blobstore`` both ways (a
``storageContainerUrl`` resource file down, an ``outputFiles`` pattern up) and the same files
with hand-written Blob REST calls (httpx GET / Put Blob with the SAS, 8 threads like
blobstore, no listing), then checks every blob and prints files per second for each. The
hand-written numbers are the floor. Measured with the SDK's ``download_blob`` for each blob,
downloads were 1.6-3.4x the floor (uploads 0.8-1.5x): blobstore now lists with the SDK and
fetches each blob with a plain GET, as it does an ``httpUrl``, and uploads with the SDK.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx

from dagbatch.emulator.blobstore import (
    TRANSFER_CONCURRENCY,
    download_resource_files,
    upload_output_files,
)


@dataclass
class StorageResult:
    files: int
    sdk_download_s: float
    http_download_s: float
    sdk_upload_s: float
    http_upload_s: float

    def table(self) -> str:
        rows = [
            ("download", self.sdk_download_s, self.http_download_s),
            ("upload", self.sdk_upload_s, self.http_upload_s),
        ]
        lines = [
            f"{self.files:,} files through Azurite (in memory, 127.0.0.1)",
            "",
            "| direction | blobstore | hand-written httpx | ratio |",
            "|---|---|---|---|",
        ]
        for name, sdk, http in rows:
            lines.append(
                f"| {name} | {sdk:.2f} s ({self.files / sdk:,.0f} files/s) "
                f"| {http:.2f} s ({self.files / http:,.0f} files/s) | {sdk / http:.2f}x |"
            )
        return "\n".join(lines)


def _timed(function: Callable[[], object]) -> float:
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def run(files: int = 1000, workdir: Path | None = None) -> StorageResult:
    """Measure; every run is checked (all files arrive with their contents)."""
    from tests.azurite_server import start_azurite

    root = Path(workdir or tempfile.mkdtemp(prefix="storage-bench-"))
    azurite = start_azurite(root / "azurite")
    try:
        service = azurite.service()
        source = service.create_container("source")
        service.create_container("sdk-out")
        service.create_container("http-out")
        names = [f"in/{i % 10}/{i:05d}.dat" for i in range(files)]
        with ThreadPoolExecutor(TRANSFER_CONCURRENCY) as pool:
            list(pool.map(lambda n: source.upload_blob(n, n.encode()), names))
        read_url = azurite.container_sas_url("source", "rl")

        sdk_wd = root / "sdk" / "wd"
        sdk_download = _timed(
            lambda: download_resource_files(
                [{"storageContainerUrl": read_url, "filePath": "."}], sdk_wd
            )
        )
        assert all((sdk_wd / n).read_bytes() == n.encode() for n in names)

        http_wd = root / "http" / "wd"
        base, _, sas = read_url.partition("?")

        def get_all() -> None:
            with httpx.Client() as client:

                def get(name: str) -> None:
                    response = client.get(f"{base}/{name}?{sas}")
                    response.raise_for_status()
                    target = http_wd / name
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(response.content)

                with ThreadPoolExecutor(TRANSFER_CONCURRENCY) as pool:
                    list(pool.map(get, names))

        http_download = _timed(get_all)
        assert all((http_wd / n).read_bytes() == n.encode() for n in names)

        sdk_upload = _timed(
            lambda: upload_output_files(
                [
                    {
                        "filePattern": "in/**/*.dat",
                        "destination": {
                            "container": {
                                "containerUrl": azurite.container_sas_url("sdk-out", "rwl")
                            }
                        },
                        "uploadOptions": {"uploadCondition": "taskcompletion"},
                    }
                ],
                working_dir=sdk_wd,
                task_dir=sdk_wd.parent,
                exit_code=0,
            )
        )

        out_base, _, out_sas = azurite.container_sas_url("http-out", "rwl").partition("?")

        def put_all() -> None:
            with httpx.Client() as client:

                def put(name: str) -> None:
                    client.put(
                        f"{out_base}/{name}?{out_sas}",
                        content=(http_wd / name).read_bytes(),
                        headers={"x-ms-blob-type": "BlockBlob"},
                    ).raise_for_status()

                with ThreadPoolExecutor(TRANSFER_CONCURRENCY) as pool:
                    list(pool.map(put, names))

        http_upload = _timed(put_all)
        for container, prefix in (("sdk-out", ""), ("http-out", "in/")):
            listed = {b.name for b in service.get_container_client(container).list_blobs()}
            assert listed == {n[len("in/") :] if not prefix else n for n in names}, container
        return StorageResult(files, sdk_download, http_download, sdk_upload, http_upload)
    finally:
        azurite.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=1000)
    args = parser.parse_args(argv)
    print(run(args.files).table())
    return 0


if __name__ == "__main__":
    sys.exit(main())
