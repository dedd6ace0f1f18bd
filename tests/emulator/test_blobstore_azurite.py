"""dagbatch.emulator.blobstore against a real Azurite: resource files from all three sources,
output files under each upload condition, and the failures Batch reports (failureInfo codes,
no SAS signature anywhere)."""

from __future__ import annotations

import logging
import stat
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import pytest

from dagbatch.emulator import storage_account
from dagbatch.emulator.blobstore import download_resource_files, upload_output_files
from dagbatch.errors import TaskFileFailure
from tests.azurite_server import AzuriteServer

pytest.importorskip("azure.storage.blob")


def new_container(azurite: AzuriteServer, blobs: dict[str, bytes] | None = None) -> str:
    name = f"c{uuid.uuid4().hex[:20]}"
    client = azurite.create_container(name)
    for blob, data in (blobs or {}).items():
        client.upload_blob(blob, data)
    return name


def signature(url: str) -> str:
    return parse_qs(urlsplit(url).query)["sig"][0]


def assert_no_signature(sig: str, *texts: str) -> None:
    for text in texts:
        assert sig not in text and quote(sig, safe="") not in text, text


@pytest.fixture
def task(tmp_path: Path) -> tuple[Path, Path]:
    task_dir = tmp_path / "task"
    wd = task_dir / "wd"
    wd.mkdir(parents=True)
    return task_dir, wd


# --- resource files -----------------------------------------------------------------------


def test_resource_files_from_all_three_sources(
    azurite: AzuriteServer, task: tuple[Path, Path]
) -> None:
    _task_dir, wd = task
    container = new_container(
        azurite,
        {
            "scripts/run.sh": b"#!/bin/sh\necho hi\n",
            "data/a.csv": b"a",
            "data/nested/b.csv": b"b",
            "other/c.csv": b"c",
        },
    )
    auto = new_container(azurite, {"ref/genome.fa": b">g", "ref/idx/1.bin": b"1", "x.txt": b"x"})
    download_resource_files(
        [
            {
                "httpUrl": azurite.blob_sas_url(container, "scripts/run.sh"),
                "filePath": "bin/run.sh",
                "fileMode": "0755",
            },
            {
                "storageContainerUrl": azurite.container_sas_url(container),
                "blobPrefix": "data/",
                "filePath": "inputs",
            },
            {"storageContainerUrl": azurite.container_sas_url(container), "filePath": "all"},
            {"autoStorageContainerName": auto, "blobPrefix": "ref"},
        ],
        wd,
        storage=azurite.account,
    )
    assert (wd / "bin/run.sh").read_bytes() == b"#!/bin/sh\necho hi\n"
    assert stat.S_IMODE((wd / "bin/run.sh").stat().st_mode) == 0o755
    # Container sources keep each blob's full name below filePath; blobPrefix filters.
    assert sorted(
        p.relative_to(wd / "inputs").as_posix() for p in (wd / "inputs").rglob("*") if p.is_file()
    ) == ["data/a.csv", "data/nested/b.csv"]
    assert (wd / "inputs/data/nested/b.csv").read_bytes() == b"b"
    assert sorted(
        p.relative_to(wd / "all").as_posix() for p in (wd / "all").rglob("*") if p.is_file()
    ) == ["data/a.csv", "data/nested/b.csv", "other/c.csv", "scripts/run.sh"]
    assert (wd / "ref/genome.fa").read_bytes() == b">g"
    assert (wd / "ref/idx/1.bin").read_bytes() == b"1"
    assert not (wd / "x.txt").exists()
    # fileMode defaults to 0770 on Linux.
    assert stat.S_IMODE((wd / "ref/genome.fa").stat().st_mode) == 0o770


def test_blob_names_that_need_escaping_arrive_intact(
    azurite: AzuriteServer, task: tuple[Path, Path]
) -> None:
    _task_dir, wd = task
    names = {"dir/with space/ü#1.txt": b"1", "p%41/q?x=1&y.txt": b"2", "a+b/c;d.txt": b"3"}
    container = new_container(azurite, names)
    auto = new_container(azurite, names)
    download_resource_files(
        [
            {"storageContainerUrl": azurite.container_sas_url(container), "filePath": "s"},
            {"autoStorageContainerName": auto, "filePath": "a"},
        ],
        wd,
        storage=azurite.account,
    )
    for name, data in names.items():
        assert (wd / "s" / name).read_bytes() == data, name
        assert (wd / "a" / name).read_bytes() == data, name


def test_blob_source_of_2017_is_an_http_url(
    azurite: AzuriteServer, task: tuple[Path, Path]
) -> None:
    _task_dir, wd = task
    container = new_container(azurite, {"in.txt": b"legacy"})
    download_resource_files(
        [{"blobSource": azurite.blob_sas_url(container, "in.txt"), "filePath": "in.txt"}], wd
    )
    assert (wd / "in.txt").read_bytes() == b"legacy"


def test_missing_blob_fails_with_blob_not_found_and_no_signature(
    azurite: AzuriteServer, task: tuple[Path, Path], caplog: pytest.LogCaptureFixture
) -> None:
    _task_dir, wd = task
    container = new_container(azurite)
    url = azurite.blob_sas_url(container, "absent.txt")
    caplog.set_level(logging.DEBUG)
    with pytest.raises(TaskFileFailure) as info:
        download_resource_files([{"httpUrl": url, "filePath": "in/absent.txt"}], wd)
    failure = info.value
    assert failure.code == "BlobNotFound"
    assert failure.stage == "download"
    assert "in/absent.txt" in failure.message
    assert failure.details["FilePath"] == "in/absent.txt"
    assert failure.details["HttpStatusCode"] == "404"
    assert "sig=REDACTED" in failure.details["ResourceUrl"]
    assert_no_signature(signature(url), str(failure), repr(failure.failure_info()), caplog.text)
    assert not (wd / "in/absent.txt").exists()


def test_expired_sas_fails_with_blob_access_denied(
    azurite: AzuriteServer, task: tuple[Path, Path], caplog: pytest.LogCaptureFixture
) -> None:
    _task_dir, wd = task
    container = new_container(azurite, {"in.txt": b"data"})
    url = azurite.blob_sas_url(container, "in.txt", expires_in=timedelta(minutes=-10))
    caplog.set_level(logging.DEBUG)
    with pytest.raises(TaskFileFailure) as info:
        download_resource_files([{"httpUrl": url, "filePath": "in.txt"}], wd)
    assert info.value.code == "BlobAccessDenied"
    assert info.value.details["HttpStatusCode"] == "403"
    assert "'in.txt'" in info.value.message
    assert_no_signature(signature(url), str(info.value), repr(info.value.details), caplog.text)


def test_container_failures(azurite: AzuriteServer, task: tuple[Path, Path]) -> None:
    _task_dir, wd = task
    with pytest.raises(TaskFileFailure) as info:
        download_resource_files(
            [{"storageContainerUrl": azurite.container_sas_url("nosuchcontainer1")}], wd
        )
    assert info.value.code == "ResourceContainerNotFound"
    # A SAS without list permission cannot list the container.
    container = new_container(azurite, {"a": b"a"})
    url = azurite.container_sas_url(container, permission="r")
    with pytest.raises(TaskFileFailure) as info:
        download_resource_files([{"storageContainerUrl": url, "filePath": "x"}], wd)
    assert info.value.code == "ResourceContainerAccessDenied"
    assert_no_signature(signature(url), str(info.value))
    with pytest.raises(TaskFileFailure) as info:
        download_resource_files(
            [{"autoStorageContainerName": "absent-container"}], wd, storage=azurite.account
        )
    assert info.value.code == "ResourceContainerNotFound"
    assert "absent-container" in info.value.message


def test_auto_storage_defaults_to_azurite_when_it_runs(
    azurite: AzuriteServer, task: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    _task_dir, wd = task
    container = new_container(azurite, {"ref/r.txt": b"r"})
    entry = [{"autoStorageContainerName": container, "filePath": "x"}]
    # No storage account configured and no Azurite on its default port.
    monkeypatch.delenv("AZURE_STORAGE_CONNECTION_STRING", raising=False)
    monkeypatch.setattr(storage_account, "detect_azurite", lambda: None)
    with pytest.raises(TaskFileFailure) as info:
        download_resource_files(entry, wd)
    assert info.value.code == "ResourceContainerListMiscError"
    # `dagbatch run` takes no --storage-connection-string: the hint names what works for both.
    assert "$AZURE_STORAGE_CONNECTION_STRING" in info.value.message
    # Azurite "on its default port" (here: the test's): its development account is used.
    monkeypatch.setattr(storage_account, "detect_azurite", lambda: azurite.account)
    download_resource_files(entry, wd)
    assert (wd / "x/ref/r.txt").read_bytes() == b"r"
    # The Azure CLI's variable names the account otherwise (here: nowhere reachable).
    monkeypatch.setenv(
        "AZURE_STORAGE_CONNECTION_STRING",
        "AccountName=elsewhere;AccountKey=ZWxzZXdoZXJl;BlobEndpoint=http://127.0.0.1:9/x",
    )
    with pytest.raises(TaskFileFailure) as info:
        download_resource_files(entry, wd)
    assert info.value.code == "ResourceContainerListMiscError"
    assert "127.0.0.1:9" in info.value.message
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", "AccountName=only")
    with pytest.raises(TaskFileFailure) as info:
        download_resource_files(entry, wd)
    assert "AZURE_STORAGE_CONNECTION_STRING is unusable" in info.value.message


def test_paths_cannot_leave_the_working_directory(
    azurite: AzuriteServer, task: tuple[Path, Path]
) -> None:
    _task_dir, wd = task
    container = new_container(azurite, {"a.txt": b"a"})
    with pytest.raises(TaskFileFailure) as info:
        download_resource_files(
            [{"httpUrl": azurite.blob_sas_url(container, "a.txt"), "filePath": "../a.txt"}], wd
        )
    assert info.value.code == "ResourceFileCreateFailed"
    assert not (wd.parent / "a.txt").exists()


def test_unreachable_url_is_a_misc_download_error(task: tuple[Path, Path]) -> None:
    _task_dir, wd = task
    import socket

    with socket.socket() as sock:  # a port with nothing listening
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(TaskFileFailure) as info:
        download_resource_files(
            [{"httpUrl": f"http://127.0.0.1:{port}/x?sig=c2VjcmV0", "filePath": "x"}], wd
        )
    assert info.value.code == "BlobDownloadMiscError"
    assert "c2VjcmV0" not in str(info.value)
    for bad in ("not a url", "ftp://127.0.0.1/x", "http://[::1"):
        with pytest.raises(TaskFileFailure) as info:
            download_resource_files([{"httpUrl": bad, "filePath": "x"}], wd)
        assert info.value.code == "BlobDownloadMiscError", bad


# --- output files -------------------------------------------------------------------------


def outputs(url: str, **destination: Any) -> list[dict[str, Any]]:
    """One entry per upload condition, each under its own virtual directory."""
    return [
        {
            "filePattern": "out/*.txt",
            "destination": {"container": {"containerUrl": url, "path": condition, **destination}},
            "uploadOptions": {"uploadCondition": condition},
        }
        for condition in ("tasksuccess", "taskfailure", "taskcompletion")
    ]


@pytest.mark.parametrize(
    ("exit_code", "expected"),
    [(0, {"tasksuccess", "taskcompletion"}), (7, {"taskfailure", "taskcompletion"})],
)
def test_output_files_follow_the_upload_condition(
    azurite: AzuriteServer, task: tuple[Path, Path], exit_code: int, expected: set[str]
) -> None:
    task_dir, wd = task
    (wd / "out").mkdir()
    (wd / "out/r1.txt").write_text("one")
    (wd / "out/r2.txt").write_text("two")
    (task_dir / "stdout.txt").write_text("stdout!")
    container = new_container(azurite)
    url = azurite.container_sas_url(container, permission="rwl")
    entries = [
        *outputs(url),
        {
            "filePattern": "../stdout.txt",
            "destination": {"container": {"containerUrl": url, "path": "logs/stdout.txt"}},
            "uploadOptions": {"uploadCondition": "taskcompletion"},
        },
        {
            "filePattern": "nothing/*.bin",  # matching no file is not an error
            "destination": {"container": {"containerUrl": url}},
            "uploadOptions": {"uploadCondition": "taskcompletion"},
        },
    ]
    upload_output_files(entries, working_dir=wd, task_dir=task_dir, exit_code=exit_code)
    blobs = azurite.read_blobs(container)
    want = {f"{c}/{n}": d for c in expected for n, d in (("r1.txt", b"one"), ("r2.txt", b"two"))}
    want["logs/stdout.txt"] = b"stdout!"
    assert blobs == want
    log = (task_dir / "fileuploadout.txt").read_text()
    assert log.count("uploaded ") == len(want)
    # Each line names the blob's URL: its name in the path, the (masked) SAS after it.
    logged = {urlsplit(line.rsplit(" to ", 1)[1]).path for line in log.splitlines()}
    assert logged == {f"/{azurite.account.name}/{container}/{name}" for name in want}
    assert (task_dir / "fileuploaderr.txt").read_text() == ""
    assert_no_signature(signature(url), log)


def test_upload_headers_set_blob_properties(
    azurite: AzuriteServer, task: tuple[Path, Path]
) -> None:
    task_dir, wd = task
    (wd / "report.json").write_text("{}")
    container = new_container(azurite)
    url = azurite.container_sas_url(container, permission="rwl")
    upload_output_files(
        [
            {
                "filePattern": "report.json",
                "destination": {
                    "container": {
                        "containerUrl": url,
                        "path": "r/report.json",
                        "uploadHeaders": [
                            {"name": "x-ms-blob-content-type", "value": "application/json"},
                            {"name": "x-ms-meta-run", "value": "42"},
                            {"name": "x-ms-blob-cache-control", "value": "no-cache"},
                            # The header's text, in any case: the SDK wants its own enum.
                            {"name": "x-ms-access-tier", "value": "cool"},
                        ],
                    }
                },
                "uploadOptions": {"uploadCondition": "tasksuccess"},
            }
        ],
        working_dir=wd,
        task_dir=task_dir,
        exit_code=0,
    )
    props = azurite.service().get_blob_client(container, "r/report.json").get_blob_properties()
    assert props.content_settings.content_type == "application/json"
    assert props.content_settings.cache_control == "no-cache"
    assert props.metadata == {"run": "42"}
    assert props.blob_tier == "Cool"


def test_upload_nothing_attempted_writes_no_logs(
    azurite: AzuriteServer, task: tuple[Path, Path]
) -> None:
    task_dir, wd = task
    (wd / "a.txt").write_text("a")
    upload_output_files(
        outputs("http://127.0.0.1:1/acct/never")[:1], working_dir=wd, task_dir=task_dir, exit_code=1
    )
    assert not (task_dir / "fileuploadout.txt").exists()
    assert not (task_dir / "fileuploaderr.txt").exists()


def test_upload_failures_are_file_upload_errors_after_every_attempt(
    azurite: AzuriteServer, task: tuple[Path, Path], caplog: pytest.LogCaptureFixture
) -> None:
    task_dir, wd = task
    (wd / "out").mkdir()
    (wd / "out/r.txt").write_text("r")
    good = new_container(azurite)
    good_url = azurite.container_sas_url(good, permission="rwl")
    missing_url = azurite.container_sas_url("nosuchcontainer2", permission="rwl")
    caplog.set_level(logging.DEBUG)
    entries = [
        {
            "filePattern": "out/r.txt",
            "destination": {"container": {"containerUrl": missing_url, "path": "r.txt"}},
            "uploadOptions": {"uploadCondition": "taskcompletion"},
        },
        {
            "filePattern": "out/r.txt",
            "destination": {"container": {"containerUrl": good_url, "path": "r.txt"}},
            "uploadOptions": {"uploadCondition": "taskcompletion"},
        },
    ]
    with pytest.raises(TaskFileFailure) as info:
        upload_output_files(entries, working_dir=wd, task_dir=task_dir, exit_code=0)
    failure = info.value
    assert failure.code == "FileUploadContainerNotFound"
    assert failure.stage == "upload"
    assert "out/r.txt" in failure.message
    assert failure.details["FailedUploads"] == "1"
    assert failure.details["AttemptedUploads"] == "2"
    # The upload after the failed one was still made.
    assert azurite.read_blobs(good) == {"r.txt": b"r"}
    errors = (task_dir / "fileuploaderr.txt").read_text()
    assert "FileUploadContainerNotFound" in errors
    assert_no_signature(
        signature(missing_url), str(failure), repr(failure.details), errors, caplog.text
    )

    read_only = azurite.container_sas_url(good, permission="rl")
    with pytest.raises(TaskFileFailure) as info:
        upload_output_files(
            [
                {
                    "filePattern": "out/*.txt",
                    "destination": {"container": {"containerUrl": read_only}},
                    "uploadOptions": {"uploadCondition": "taskcompletion"},
                }
            ],
            working_dir=wd,
            task_dir=task_dir,
            exit_code=0,
        )
    assert info.value.code == "FileUploadAccessDenied"
    assert_no_signature(signature(read_only), str(info.value))

    forged = good_url.replace("sig=", "sig=AAAA")
    with pytest.raises(TaskFileFailure) as info:
        upload_output_files(
            [
                {
                    "filePattern": "out/*.txt",
                    "destination": {"container": {"containerUrl": forged}},
                    "uploadOptions": {"uploadCondition": "taskcompletion"},
                }
            ],
            working_dir=wd,
            task_dir=task_dir,
            exit_code=0,
        )
    # The service's error code, not the storage SDK's enum name for it.
    assert "AuthorizationFailure" in info.value.message, info.value.message
    assert "StorageErrorCode" not in info.value.message


# --- many files ---------------------------------------------------------------------------


def test_a_thousand_files_through_resource_and_output_files(
    azurite: AzuriteServer, task: tuple[Path, Path]
) -> None:
    """1,000 blobs in, 1,000 results out: every blob that should be written is there."""
    from concurrent.futures import ThreadPoolExecutor

    task_dir, wd = task
    count = 1000
    source = new_container(azurite)
    client = azurite.service().get_container_client(source)
    with ThreadPoolExecutor(8) as pool:
        list(
            pool.map(
                lambda i: client.upload_blob(f"shard/{i % 10}/{i:04d}.in", b"%d" % i), range(count)
            )
        )
    download_resource_files(
        [
            {
                "storageContainerUrl": azurite.container_sas_url(source),
                "blobPrefix": "shard/",
                "filePath": "in",
            }
        ],
        wd,
    )
    inputs = sorted((wd / "in").rglob("*.in"))
    assert len(inputs) == count
    for path in inputs:  # what the task's command would do
        out = wd / "out" / path.parent.name / (path.stem + ".out")
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(path.read_bytes() + b"!")
    results = new_container(azurite)
    upload_output_files(
        [
            {
                "filePattern": "out/**/*.out",
                "destination": {
                    "container": {
                        "containerUrl": azurite.container_sas_url(results, "rwl"),
                        "path": "run1",
                    }
                },
                "uploadOptions": {"uploadCondition": "tasksuccess"},
            }
        ],
        working_dir=wd,
        task_dir=task_dir,
        exit_code=0,
    )
    blobs = azurite.read_blobs(results)
    assert blobs == {f"run1/{i % 10}/{i:04d}.out": b"%d!" % i for i in range(count)}
