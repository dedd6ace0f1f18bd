"""Task files without storage (dagbatch.emulator.blobstore, filepatterns, storage_account):
Batch's output file patterns, upload conditions,
connection strings, TaskFileFailure and redaction of storage secrets."""

from __future__ import annotations

from pathlib import Path

import pytest

from dagbatch.emulator.blobstore import upload_condition_holds
from dagbatch.emulator.filepatterns import expand_env, expand_file_pattern, has_wildcard
from dagbatch.emulator.storage_account import (
    AZURITE_ACCOUNT_KEY,
    AZURITE_ACCOUNT_NAME,
    StorageAccount,
)
from dagbatch.errors import TaskFileFailure
from dagbatch.redact import redact


@pytest.fixture
def task(tmp_path: Path) -> Path:
    """A task directory: stdout/stderr beside wd, files and dot-files inside wd."""
    task_dir = tmp_path / "task"
    wd = task_dir / "wd"
    files = [
        "a.txt",
        "b.txt",
        "c.log",
        ".hidden.txt",
        "abc*",
        "abcd",
        "sub/c.txt",
        "sub/.e.txt",
        "sub/deeper/d.txt",
        "sub/deeper/d.csv",
        ".git/x.txt",
        "out/1.dat",
        "out/x/2.dat",
        "out/.skip.dat",
    ]
    for name in files:
        (wd / name).parent.mkdir(parents=True, exist_ok=True)
        (wd / name).write_text(name)
    (wd / "emptydir.txt").mkdir()  # a directory never matches
    (task_dir / "stdout.txt").write_text("out")
    (task_dir / "stderr.txt").write_text("err")
    return task_dir


def names(task_dir: Path, pattern: str, path: str | None = None) -> list[str]:
    env = {"AZ_BATCH_TASK_DIR": str(task_dir), "AZ_BATCH_TASK_WORKING_DIR": str(task_dir / "wd")}
    found = expand_file_pattern(pattern, task_dir / "wd", env, path)
    for local, _blob in found:
        assert local.is_file()
    return [blob for _local, blob in found]


def test_star_matches_one_level_and_never_a_dot_file(task: Path) -> None:
    assert names(task, "*.txt") == ["a.txt", "b.txt"]
    # "*.gif will not match .a.gif, but .*.gif will" [S OutputFile.filePattern]
    assert names(task, ".*.txt") == [".hidden.txt"]
    assert names(task, "*") == ["a.txt", "abc*", "abcd", "b.txt", "c.log"]


def test_double_star_matches_any_directory_but_not_dot_directories(task: Path) -> None:
    assert names(task, "**/*.txt") == [
        "a.txt",
        "b.txt",
        "sub/c.txt",
        "sub/deeper/d.txt",
    ]
    assert names(task, "sub/**/d.*") == ["deeper/d.csv", "deeper/d.txt"]
    # A final ** takes every (non-dot) file below.
    assert names(task, "out/**") == ["1.dat", "x/2.dat"]


def test_question_mark_and_classes(task: Path) -> None:
    assert names(task, "?.txt") == ["a.txt", "b.txt"]
    assert names(task, "[ab].txt") == ["a.txt", "b.txt"]
    assert names(task, "[a-a].txt") == ["a.txt"]
    assert names(task, "[!a].txt") == ["b.txt"]
    assert names(task, "abc?") == ["abc*", "abcd"]
    # "If the filename contains a wildcard character it can be escaped using brackets".
    assert names(task, "abc[*]") == ["abc*"]


def test_path_is_the_blob_name_without_wildcards_and_a_directory_with_them(task: Path) -> None:
    # No wildcard: path is the blob's name; omitted: the file's name at the container root.
    assert names(task, "sub/c.txt", "results/run-1/c-final.txt") == ["results/run-1/c-final.txt"]
    assert names(task, "sub/c.txt") == ["c.txt"]
    # Wildcards: path is a virtual directory prepended to each name.
    assert names(task, "**/*.csv", "csv/") == ["csv/sub/deeper/d.csv"]
    assert names(task, "sub/deeper/*.txt", "x") == ["x/d.txt"]


def test_patterns_reach_the_task_dir_relatively_or_by_variable(task: Path) -> None:
    assert names(task, "../std*.txt", "logs") == ["logs/stderr.txt", "logs/stdout.txt"]
    assert names(task, "$AZ_BATCH_TASK_DIR/stdout.txt", "t1/stdout.txt") == ["t1/stdout.txt"]
    assert names(task, "${AZ_BATCH_TASK_WORKING_DIR}/sub/*.txt") == ["c.txt"]
    assert names(task, "$AZ_BATCH_TASK_DIR/std*.txt") == ["stderr.txt", "stdout.txt"]


def test_nothing_matched_is_an_empty_list(task: Path) -> None:
    assert names(task, "missing.txt") == []
    assert names(task, "nodir/*.txt") == []
    assert names(task, "emptydir.txt") == []
    assert names(task, "*.nothing") == []


def test_env_expansion_and_wildcard_detection() -> None:
    assert expand_env("$A/${B}/$C", {"A": "1", "B": "2"}) == "1/2/$C"
    assert has_wildcard("a/*.txt") and has_wildcard("a?") and has_wildcard("[ab]")
    assert not has_wildcard("a/b.txt") and not has_wildcard("a[b")


@pytest.mark.parametrize(
    ("condition", "exit_code", "uploads"),
    [
        ("tasksuccess", 0, True),
        ("tasksuccess", 1, False),
        ("taskfailure", 0, False),
        ("taskfailure", 2, True),
        ("taskcompletion", 0, True),
        ("taskcompletion", 3, True),
        ("TaskSuccess", 0, True),
        (None, 5, True),
    ],
)
def test_upload_conditions(condition: str | None, exit_code: int, uploads: bool) -> None:
    entry = {"filePattern": "x", "uploadOptions": {"uploadCondition": condition}}
    assert upload_condition_holds(entry, exit_code) is uploads


def test_connection_strings() -> None:
    azurite = (
        f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT_NAME};"
        f"AccountKey={AZURITE_ACCOUNT_KEY};BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;"
    )
    account = StorageAccount.from_connection_string(azurite)
    assert account == StorageAccount.azurite()
    assert account.container_url("in") == "http://127.0.0.1:10000/devstoreaccount1/in"
    assert StorageAccount.from_connection_string("UseDevelopmentStorage=true") == account
    assert StorageAccount.from_connection_string(account.connection_string) == account

    azure = StorageAccount.from_connection_string(
        "DefaultEndpointsProtocol=https;AccountName=prod;AccountKey=cHJvZC1rZXktdmFsdWU=;"
        "EndpointSuffix=core.windows.net"
    )
    assert azure.blob_endpoint == "https://prod.blob.core.windows.net"
    assert "cHJvZC1rZXktdmFsdWU=" not in repr(azure)
    assert "cHJvZC1rZXktdmFsdWU=" not in redact(f"key {azure.key} in {azure.connection_string}")

    with pytest.raises(ValueError, match="AccountName and AccountKey"):
        StorageAccount.from_connection_string("AccountName=a;SharedAccessSignature=sv=1&sig=zz")
    with pytest.raises(ValueError, match="NAME=VALUE") as info:
        StorageAccount.from_connection_string("AccountName=a;garbage")
    with pytest.raises(ValueError, match="http"):
        StorageAccount.from_connection_string("AccountName=a;AccountKey=k;BlobEndpoint=ftp://x")
    assert "zz" not in str(info.value)


def test_redact_masks_storage_secrets() -> None:
    text = "AccountName=a;AccountKey=c2VjcmV0;SharedAccessSignature=sv=2020&sig=abc%2Bdef"
    out = redact(text)
    assert "c2VjcmV0" not in out and "abc%2Bdef" not in out
    assert "AccountName=a" in out
    url = "http://127.0.0.1:1/acct/c/b.txt?se=2026-01-01&sp=r&sig=Zm9v%2Bbar%3D"
    assert redact(url) == "http://127.0.0.1:1/acct/c/b.txt?se=2026-01-01&sp=r&sig=REDACTED"


def test_task_file_failure_stage_and_wire_shape() -> None:
    down = TaskFileFailure("BlobNotFound", "resource file 'a' ...", {"FilePath": "a"})
    assert down.stage == "download"
    assert down.failure_info() == {
        "category": "usererror",
        "code": "BlobNotFound",
        "message": "resource file 'a' ...",
        "details": [{"name": "FilePath", "value": "a"}],
    }
    assert TaskFileFailure("FileUploadAccessDenied", "m", {}).stage == "upload"
    assert TaskFileFailure("DiskFull", "m", stage="upload").stage == "upload"
