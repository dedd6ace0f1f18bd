"""A task's files in a local run: resource files before the command, output files after.

The one place the runner handles files (another module, ``blobstore``, may add Azure
Storage sources). Implemented here: ``httpUrl`` resource files (downloaded with httpx into
the working directory at ``filePath``, ``fileMode`` applied, default ``0770``)
[BATCH_FACTS 8]. Other sources and every ``outputFiles`` entry fail with a clear "not
supported in a local run" ``TaskFileFailure``. Failures never echo a URL's query string (a
SAS ``sig=`` is a secret).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import Any, Final
from urllib.parse import urlsplit, urlunsplit

import httpx

from dagbatch.errors import TaskFileFailure

DEFAULT_FILE_MODE: Final = 0o770
DOWNLOAD_TIMEOUT: Final = 120.0
_OTHER_SOURCES: Final = ("storageContainerUrl", "autoStorageContainerName", "blobSource")


def _safe_url(url: str) -> str:
    """The URL without its query (a SAS token) or credentials."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def _target(working_dir: Path, file_path: Any) -> Path:
    """``filePath`` under the working directory; it "cannot break out" of it [BATCH_FACTS 8]."""
    if not isinstance(file_path, str) or not file_path:
        raise TaskFileFailure(
            "ResourceFileCreateFailed",
            "A resource file with httpUrl needs a filePath (the file name included).",
            {"FilePath": str(file_path)},
        )
    rel = PurePosixPath(file_path.replace("\\", "/"))
    if rel.is_absolute() or ".." in rel.parts:
        raise TaskFileFailure(
            "ResourceFileCreateFailed",
            f"The resource file path {file_path!r} breaks out of the task working directory.",
            {"FilePath": file_path},
        )
    return working_dir.joinpath(*rel.parts)


def download_resource_files(resource_files: Sequence[Mapping[str, Any]], working_dir: Path) -> None:
    """Download every resource file into ``working_dir``, before the command line runs."""
    if not resource_files:
        return
    with httpx.Client(follow_redirects=True, timeout=DOWNLOAD_TIMEOUT) as client:
        for rf in resource_files:
            url = rf.get("httpUrl")
            if not isinstance(url, str):
                source = next((k for k in _OTHER_SOURCES if k in rf), "none")
                raise TaskFileFailure(
                    "DownloadMiscError",
                    f"Resource files from {source} are not supported in a local run (only "
                    "httpUrl is).",
                    {"Source": source, "FilePath": str(rf.get("filePath", ""))},
                )
            target = _target(working_dir, rf.get("filePath"))
            shown = _safe_url(url)
            details = {"FilePath": str(rf.get("filePath")), "Url": shown}
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                with client.stream("GET", url) as response:
                    if response.status_code != 200:
                        code = {403: "BlobAccessDenied", 404: "BlobNotFound"}.get(
                            response.status_code, "DownloadMiscError"
                        )
                        raise TaskFileFailure(
                            code,
                            f"Downloading {shown} failed: HTTP {response.status_code}.",
                            details,
                        )
                    with open(target, "wb") as out:
                        for chunk in response.iter_bytes():
                            out.write(chunk)
            except httpx.TimeoutException as exc:
                raise TaskFileFailure(
                    "BlobDownloadTimedOut", f"Downloading {shown} timed out.", details
                ) from exc
            except httpx.HTTPError as exc:
                raise TaskFileFailure(
                    "DownloadMiscError",
                    f"Downloading {shown} failed: {type(exc).__name__}.",
                    details,
                ) from exc
            except OSError as exc:
                raise TaskFileFailure(
                    "ResourceFileWriteFailed",
                    f"Writing {rf.get('filePath')} failed: {exc.strerror or exc}.",
                    details,
                ) from exc
            mode = rf.get("fileMode")
            try:
                os.chmod(target, int(mode, 8) if isinstance(mode, str) else DEFAULT_FILE_MODE)
            except ValueError as exc:
                raise TaskFileFailure(
                    "ResourceFileWriteFailed",
                    f"fileMode {mode!r} is not an octal mode.",
                    details,
                ) from exc


def upload_output_files(
    output_files: Sequence[Mapping[str, Any]],
    *,
    working_dir: Path,
    task_dir: Path,
    exit_code: int,
) -> None:
    """Upload the task's output files after it ran: not supported in a local run."""
    if not output_files:
        return
    pattern = str(output_files[0].get("filePattern", ""))
    raise TaskFileFailure(
        "FileUploadMiscError",
        "outputFiles are not supported in a local run (the files stay in the task "
        f"directory {task_dir}).",
        {"FilePattern": pattern},
    )
