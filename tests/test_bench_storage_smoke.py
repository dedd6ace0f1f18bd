"""The storage benchmark end to end at a tiny size: every file arrives both ways."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.azurite_server import ensure_azurite

pytest.importorskip("azure.storage.blob")


def test_storage_bench_moves_every_file(tmp_path: Path) -> None:
    ensure_azurite()  # skips (or fails in CI) without Node.js
    from bench import storage_bench

    result = storage_bench.run(files=40, workdir=tmp_path)
    assert result.files == 40
    for seconds in (
        result.sdk_download_s,
        result.http_download_s,
        result.sdk_upload_s,
        result.http_upload_s,
    ):
        assert seconds > 0
    table = result.table()
    assert table.count("files/s") == 4 and "| download |" in table and "| upload |" in table
