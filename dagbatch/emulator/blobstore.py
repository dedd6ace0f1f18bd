"""Task files of a local run: resource files from and output files to Azure Blob Storage.

What Batch does around a task's command line, done locally against real storage (Azure, or
Azurite, the official storage emulator):

- ``download_resource_files``: before the command starts, every ``resourceFiles`` entry
  (docs/BATCH_FACTS.md section 8): ``httpUrl`` (any reachable URL, a SAS included; 2017's
  ``blobSource`` is the same), ``storageContainerUrl`` and ``autoStorageContainerName`` (every
  blob, or those under ``blobPrefix``, into ``filePath`` as a directory, keeping the blobs'
  directory structure), then ``fileMode`` (octal, default ``0770``) on Linux.
- ``upload_output_files``: after the command, every ``outputFiles`` entry whose
  ``uploadCondition`` holds for the exit code, with Batch's pattern rules
  (``expand_file_pattern``, section 9) and ``uploadHeaders``.
- A failure raises ``dagbatch.errors.TaskFileFailure`` with Batch's failureInfo code; its
  ``stage`` says whether it is a ``preProcessingError`` (download) or a ``fileUploadError``
  (upload). Messages name the file; SAS signatures and account keys never appear (every text
  goes through ``dagbatch.redact.redact``).

How the task runner uses it (one task, in its directory ``task_dir`` with ``task_dir/wd``)::

    try:   # storage: the configured account, or None (then Azurite's, if it runs)
        download_resource_files(task["resourceFiles"], wd, storage=configured_storage)
    except TaskFileFailure as failure:                   # failure.stage == "download"
        # completed, result failure, no exitCode, failureInfo = failure.failure_info();
        # exit options: exitConditions.preProcessingError, else default (BATCH_FACTS 5)
        ...
    exit_code = run the command line (stdout.txt / stderr.txt in task_dir)
    try:
        upload_output_files(task["outputFiles"], working_dir=wd, task_dir=task_dir,
                            exit_code=exit_code, env=task_environment)
    except TaskFileFailure as failure:                   # failure.stage == "upload"
        # completed, result failure, the exit code kept, failureInfo = failure.failure_info();
        # exit options: a matching exitCodes/exitCodeRanges entry, else fileUploadError,
        # else default; neither is retried (BATCH_FACTS 3)
        ...

The official ``azure-storage-blob`` SDK (the ``storage`` extra) lists containers, signs for
the auto-storage account and uploads; an ``httpUrl`` is a plain HTTP GET of any URL, as Batch
does it, with httpx, and so is each blob of a container (measured faster than the SDK's
per-blob download for many small files: bench/storage_bench.py). The SDK is imported only when
a container is used, so the emulator runs without it for tasks that need no container.
"""

from __future__ import annotations

import errno
import os
import threading
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final
from urllib.parse import parse_qsl, quote

import httpx

from dagbatch.emulator.filepatterns import expand_file_pattern
from dagbatch.emulator.storage_account import (
    CONNECTION_STRING_ENV,
    StorageAccount,
    local_pool_storage,
)
from dagbatch.errors import TaskFileFailure
from dagbatch.redact import redact, redact_loggers

#: Default ``fileMode`` of a downloaded resource file on Linux (BATCH_FACTS section 8).
DEFAULT_FILE_MODE = 0o770
#: Files downloaded or uploaded at once from one resource or output file entry.
TRANSFER_CONCURRENCY = 8
#: Seconds to wait for a connection / for data, for both HTTP and the SDK.
CONNECT_TIMEOUT_S = 20.0
READ_TIMEOUT_S = 300.0
#: Largest file sent in one Put Blob (above it the SDK uploads blocks; ``uploadHeaders`` that
#: are not blob properties then go with each block).
MAX_SINGLE_PUT_BYTES = 256 * 1024 * 1024

#: Log records of these loggers may carry URLs: they are redacted.
_REDACTED_LOGGERS = (
    "dagbatch.emulator.blobstore",
    "azure",
    "azure.core.pipeline.policies.http_logging_policy",
    "azure.storage.blob",
    "httpx",
    "httpcore",
    "httpcore.connection",
    "httpcore.http11",
    "azure.core.pipeline.policies._redirect",
    "azure.core.pipeline.policies._retry",
    "azure.storage.blob._shared.policies",
    # requests' transport (used by the SDK) logs each request line, query string included,
    # and URLs when it retries or redirects.
    "urllib3",
    "urllib3.connection",
    "urllib3.connectionpool",
    "urllib3.poolmanager",
    "urllib3.util.retry",
)


# --------------------------------------------------------------------------------------
# Shared helpers


def safe_url(url: str) -> str:
    """A URL fit for a message: the SAS signature masked (its other fields, such as the
    expiry ``se=``, stay: they say why access was refused)."""
    return redact(url)


def blob_url(container_url: str, name: str) -> str:
    """The URL of blob ``name`` of the container at ``container_url``: the name goes into the
    path, before the container's query (its SAS)."""
    base, _, query = container_url.partition("?")
    return f"{base.rstrip('/')}/{quote(name, safe='/')}" + (f"?{query}" if query else "")


def _sdk() -> Any:
    """The azure-storage-blob module, or a clear failure when the extra is missing. Its
    loggers (and urllib3's, which log query strings) are redacted from first use."""
    redact_loggers(_REDACTED_LOGGERS)
    try:
        import azure.storage.blob as blob
    except ImportError as exc:  # pragma: no cover - the dev extra installs it
        raise ImportError(
            "blob containers need azure-storage-blob: pip install 'dagbatch[storage]'"
        ) from exc
    return blob


def _client_options() -> dict[str, Any]:
    blob = _sdk()
    return {
        "retry_policy": blob.LinearRetry(backoff=1, retry_total=2, random_jitter_range=1),
        "connection_timeout": CONNECT_TIMEOUT_S,
        "read_timeout": READ_TIMEOUT_S,
        "max_single_put_size": MAX_SINGLE_PUT_BYTES,
    }


def _http_status(exc: BaseException) -> int | None:
    status = getattr(exc, "status_code", None)
    return status if isinstance(status, int) else None


def _error_code(exc: BaseException) -> str:
    """The service's error code (``AuthorizationFailure``), not the SDK's enum name for it."""
    code = getattr(exc, "error_code", None)
    return str(getattr(code, "value", code)) if code else ""


def _is_timeout(exc: BaseException) -> bool:
    from azure.core.exceptions import ServiceRequestTimeoutError, ServiceResponseTimeoutError

    return isinstance(exc, ServiceRequestTimeoutError | ServiceResponseTimeoutError)


def _describe(exc: BaseException) -> str:
    """A short, redacted description of an HTTP/SDK failure (status, code, first line)."""
    status = _http_status(exc)
    code = _error_code(exc)
    reason = str(getattr(exc, "reason", "") or "") if status else ""
    if not status:
        first = str(exc).strip().splitlines()
        reason = first[0] if first else type(exc).__name__
    text = " ".join(p for p in (f"HTTP {status}" if status else "", code, reason) if p)
    return redact(text or type(exc).__name__)


def _inside(working_dir: Path, relative: str) -> Path:
    """``working_dir / relative``, refusing a path that breaks out of it ("cannot break out
    of the Task's working directory", BATCH_FACTS section 8)."""
    root = Path(os.path.abspath(working_dir))
    target = Path(os.path.abspath(root / relative))
    if target != root and root not in target.parents:
        raise ValueError(relative)
    return target


def _file_mode(resource_file: Mapping[str, Any], file_path: str) -> int:
    mode = resource_file.get("fileMode")
    if mode is None:
        return DEFAULT_FILE_MODE
    try:
        value = int(str(mode), 8)
    except ValueError:
        raise TaskFileFailure(
            "ResourceFileCreateFailed",
            f"resource file {file_path!r}: fileMode {mode!r} is not an octal mode",
            {"FilePath": file_path},
        ) from None
    if not 0 <= value <= 0o7777:
        raise TaskFileFailure(
            "ResourceFileCreateFailed",
            f"resource file {file_path!r}: fileMode {mode!r} is out of range",
            {"FilePath": file_path},
        )
    return value


def _write_failure(exc: OSError, target: Path, file_path: str, stage: str) -> TaskFileFailure:
    """Map a local write error to Batch's code: a full disk, a directory or a file that
    could not be created, or a write that failed."""
    if exc.errno == errno.ENOSPC:
        code = "DiskFull"
    elif stage == "mkdir":
        code = "ResourceDirectoryCreateFailed"
    elif stage == "open":
        code = "ResourceFileCreateFailed"
    else:
        code = "ResourceFileWriteFailed"
    return TaskFileFailure(
        code,
        f"resource file {file_path!r}: cannot write {target}: {exc.strerror or exc}",
        {"FilePath": file_path},
    )


class _LocalFile:
    """Open a download target (creating its directories) and map OS errors to codes."""

    def __init__(self, target: Path, file_path: str, mode: int):
        self.target = target
        self.file_path = file_path
        self.mode = mode

    def __enter__(self) -> Any:
        try:
            self.target.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise _write_failure(exc, self.target, self.file_path, "mkdir") from None
        try:
            try:
                self.handle = open(self.target, "wb")  # closed in __exit__
            except PermissionError:
                # A retry finds the file an earlier attempt wrote with a read-only fileMode
                # (0555): the node's own file, replaced as the first attempt made it.
                if not self.target.is_file():
                    raise
                self.target.unlink()
                self.handle = open(self.target, "wb")
        except OSError as exc:
            raise _write_failure(exc, self.target, self.file_path, "open") from None
        return self.handle

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        try:
            self.handle.close()
        except OSError as err:
            if exc is None:
                raise _write_failure(err, self.target, self.file_path, "write") from None
        if exc is None and os.name == "posix":
            # "This property applies only to files being downloaded to Linux Compute Nodes."
            os.chmod(self.target, self.mode)


# --------------------------------------------------------------------------------------
# Resource files (BATCH_FACTS section 8)


def download_resource_files(
    resource_files: Sequence[Mapping[str, Any]],
    working_dir: Path,
    *,
    storage: StorageAccount | None = None,
) -> None:
    """Download a task's ``resourceFiles`` (wire shape, api-version 2025-06-01; 2017's
    ``blobSource`` is read as ``httpUrl``) into ``working_dir``, in order, before the command
    line runs.

    Raises ``TaskFileFailure`` (stage ``download``: a ``preProcessingError``; Batch does not
    retry it) on the first entry that fails: ``BlobNotFound`` / ``BlobAccessDenied`` /
    ``BlobDownloadTimedOut`` / ``BlobDownloadMiscError`` for a file,
    ``ResourceContainerNotFound`` / ``ResourceContainerAccessDenied`` /
    ``ResourceContainerListTimedOut`` / ``ResourceContainerListMiscError`` for a container
    that cannot be listed, ``Resource{Directory,File}CreateFailed`` /
    ``ResourceFileWriteFailed`` / ``DiskFull`` for the local side. ``storage`` is the local
    pool's auto-storage account, needed by ``autoStorageContainerName``; when None,
    ``local_pool_storage`` finds one (``$AZURE_STORAGE_CONNECTION_STRING``, else Azurite on
    127.0.0.1:10000), only when a resource file needs it.
    """
    for index, resource_file in enumerate(resource_files):
        http_url = resource_file.get("httpUrl") or resource_file.get("blobSource")
        container_url = resource_file.get("storageContainerUrl")
        auto_container = resource_file.get("autoStorageContainerName")
        sources = [s for s in (http_url, container_url, auto_container) if s]
        if len(sources) != 1:
            # The service refuses such a task at add time; a caller that skipped that check
            # still gets a failure naming the entry.
            raise TaskFileFailure(
                "BlobDownloadMiscError",
                f"resourceFiles[{index}] must have exactly one of httpUrl, "
                "storageContainerUrl and autoStorageContainerName",
                {"ResourceFileIndex": str(index)},
            )
        if http_url:
            _download_http(str(http_url), resource_file, working_dir)
        elif container_url:
            _download_container(str(container_url), resource_file, working_dir, None)
        else:
            if storage is None:
                try:
                    storage = local_pool_storage(None)
                except ValueError as exc:
                    raise TaskFileFailure(
                        "ResourceContainerListMiscError",
                        f"resourceFiles[{index}]: autoStorageContainerName "
                        f"{auto_container!r}: ${CONNECTION_STRING_ENV} is unusable: "
                        f"{redact(str(exc))}",
                        {"ContainerName": str(auto_container)},
                    ) from None
            if storage is None:
                raise TaskFileFailure(
                    "ResourceContainerListMiscError",
                    f"resourceFiles[{index}]: autoStorageContainerName "
                    f"{auto_container!r} needs the local pool's storage account: start "
                    f"Azurite on 127.0.0.1:10000 or set ${CONNECTION_STRING_ENV} (`dagbatch "
                    "emulator` also takes --storage-connection-string)",
                    {"ContainerName": str(auto_container)},
                )
            _download_container(
                storage.container_url(str(auto_container)), resource_file, working_dir, storage
            )


def _http_client() -> httpx.Client:
    redact_loggers(_REDACTED_LOGGERS)
    return httpx.Client(
        timeout=httpx.Timeout(READ_TIMEOUT_S, connect=CONNECT_TIMEOUT_S),
        follow_redirects=True,
        limits=httpx.Limits(max_connections=TRANSFER_CONCURRENCY * 2),
    )


def _fetch(
    client: httpx.Client,
    url: str,
    target: Path,
    file_path: str,
    mode: int,
    details: dict[str, str],
    what: str,
) -> None:
    """One GET of ``url`` into ``target`` (``file_path`` as the task names it), streamed;
    HTTP and transport errors become Batch's ``Blob*`` codes (404 ``BlobNotFound``, 401/403
    ``BlobAccessDenied``, a timeout ``BlobDownloadTimedOut``, anything else
    ``BlobDownloadMiscError``)."""
    try:
        with client.stream("GET", url) as response:
            if response.status_code >= 400:
                code = {404: "BlobNotFound", 403: "BlobAccessDenied", 401: "BlobAccessDenied"}
                error_code = response.headers.get("x-ms-error-code", "")
                details["HttpStatusCode"] = str(response.status_code)
                if error_code:
                    details["ErrorCode"] = error_code
                raise TaskFileFailure(
                    code.get(response.status_code, "BlobDownloadMiscError"),
                    f"resource file {file_path!r}: downloading {what} failed: "
                    f"HTTP {response.status_code} {error_code or response.reason_phrase}".rstrip(),
                    details,
                )
            with _LocalFile(target, file_path, mode) as handle:
                for chunk in response.iter_bytes(1024 * 1024):
                    try:
                        handle.write(chunk)
                    except OSError as exc:
                        raise _write_failure(exc, target, file_path, "write") from None
    except httpx.TimeoutException as exc:
        raise TaskFileFailure(
            "BlobDownloadTimedOut",
            f"resource file {file_path!r}: downloading {what} timed out ({type(exc).__name__})",
            details,
        ) from None
    except (httpx.HTTPError, httpx.InvalidURL, ValueError) as exc:
        raise TaskFileFailure(
            "BlobDownloadMiscError",
            f"resource file {file_path!r}: downloading {what} failed: "
            f"{redact(str(exc)) or type(exc).__name__}",
            details,
        ) from None


def _download_http(url: str, resource_file: Mapping[str, Any], working_dir: Path) -> None:
    """``httpUrl``: one GET of any reachable URL into ``filePath`` (required with it)."""
    file_path = str(resource_file.get("filePath") or "")
    details = {"FilePath": file_path, "ResourceUrl": safe_url(url)}
    if not file_path:
        raise TaskFileFailure(
            "ResourceFileCreateFailed",
            f"resource file from {safe_url(url)} has no filePath (required with httpUrl)",
            details,
        )
    try:
        target = _inside(working_dir, file_path)
    except ValueError:
        raise TaskFileFailure(
            "ResourceFileCreateFailed",
            f"resource file {file_path!r} is outside the task working directory",
            details,
        ) from None
    mode = _file_mode(resource_file, file_path)
    with _http_client() as client:
        _fetch(client, url, target, file_path, mode, details, safe_url(url))


def _container_client(container_url: str, storage: StorageAccount | None) -> Any:
    blob = _sdk()
    if storage is not None:
        credential = {"account_name": storage.name, "account_key": storage.key}
        return blob.ContainerClient.from_container_url(
            container_url, credential=credential, **_client_options()
        )
    return blob.ContainerClient.from_container_url(container_url, **_client_options())


def _download_container(
    container_url: str,
    resource_file: Mapping[str, Any],
    working_dir: Path,
    storage: StorageAccount | None,
) -> None:
    """A container source: list the blobs (under ``blobPrefix``), then download each into
    ``filePath`` (a directory, default the working directory) keeping its full name."""
    file_path = str(resource_file.get("filePath") or "")
    prefix = resource_file.get("blobPrefix") or None
    container_name = resource_file.get("autoStorageContainerName")
    where = (
        f"auto-storage container {container_name!r} ({safe_url(container_url)})"
        if container_name
        else f"container {safe_url(container_url)}"
    )
    details = {"ContainerUrl": safe_url(container_url)}
    if file_path:
        details["FilePath"] = file_path
    if prefix:
        details["BlobPrefix"] = str(prefix)
    try:
        directory = _inside(working_dir, file_path or ".")
    except ValueError:
        raise TaskFileFailure(
            "ResourceDirectoryCreateFailed",
            f"resource file directory {file_path!r} is outside the task working directory",
            details,
        ) from None
    mode = _file_mode(resource_file, file_path or ".")
    try:
        client = _container_client(container_url, storage)
    except (ValueError, ImportError) as exc:
        raise TaskFileFailure(
            "ResourceContainerListMiscError",
            f"{where}: {redact(str(exc))}",
            details,
        ) from None
    from azure.core.exceptions import AzureError

    with client:
        try:
            names = [
                b.name
                for b in client.list_blobs(name_starts_with=prefix)
                if not b.name.endswith("/")
            ]
        except AzureError as exc:
            status = _http_status(exc)
            if status == 404:
                code = "ResourceContainerNotFound"
            elif status in (401, 403):
                code = "ResourceContainerAccessDenied"
            elif _is_timeout(exc):
                code = "ResourceContainerListTimedOut"
            else:
                code = "ResourceContainerListMiscError"
            raise TaskFileFailure(
                code, f"listing {where} failed: {_describe(exc)}", details
            ) from None

    # Each blob is fetched with a plain GET of its URL, as an httpUrl is: measured 1.6-3.4x
    # faster than the SDK's download_blob for many small blobs (bench/storage_bench.py),
    # with the same answers. The container's SAS is the blob's; for the auto-storage account
    # a short-lived read SAS is made from its key.
    base, _, query = container_url.partition("?")
    base = base.rstrip("/")
    if storage is not None:
        try:
            query = _read_sas(storage, base.rsplit("/", 1)[1])
        except ValueError as exc:  # a key that is not base64
            raise TaskFileFailure(
                "ResourceContainerAccessDenied",
                f"{where}: cannot sign for the account: {redact(str(exc))}",
                details,
            ) from None

    def fetch(name: str) -> TaskFileFailure | None:
        shown = f"{file_path}/{name}" if file_path else name
        blob_details = {**details, "FilePath": shown, "BlobName": name}
        try:
            target = _inside(directory, name)
        except ValueError:
            return TaskFileFailure(
                "ResourceFileCreateFailed",
                f"blob {name!r} of {where} would be written outside the task working directory",
                blob_details,
            )
        url = blob_url(f"{base}?{query}" if query else base, name)
        try:
            _fetch(http, url, target, shown, mode, blob_details, f"blob {name!r} of {where}")
        except TaskFileFailure as failure:
            return failure
        return None

    with _http_client() as http:
        for failure in _run_all(fetch, names):
            if failure is not None:
                raise failure


def _read_sas(storage: StorageAccount, container: str) -> str:
    """A read SAS for one container of the account, valid for an hour."""
    blob = _sdk()
    return str(
        blob.generate_container_sas(
            storage.name,
            container,
            account_key=storage.key,
            permission=blob.ContainerSasPermissions(read=True),
            expiry=datetime.now(UTC) + timedelta(hours=1),
            start=datetime.now(UTC) - timedelta(minutes=5),
        )
    )


def _run_all(function: Any, items: Sequence[Any]) -> Iterator[Any]:
    """``function`` over ``items`` with up to ``TRANSFER_CONCURRENCY`` threads; results in
    the order of ``items``."""
    if len(items) <= 1:
        return iter([function(item) for item in items])
    with ThreadPoolExecutor(max_workers=min(TRANSFER_CONCURRENCY, len(items))) as pool:
        return iter(list(pool.map(function, items)))


# --------------------------------------------------------------------------------------
# Output files (BATCH_FACTS section 9)

#: Put Blob headers that are blob properties: sent as the SDK's content settings so that they
#: hold for block uploads too (x-ms-meta-* become metadata).
_CONTENT_HEADERS = {
    "content-type": "content_type",
    "x-ms-blob-content-type": "content_type",
    "content-encoding": "content_encoding",
    "x-ms-blob-content-encoding": "content_encoding",
    "content-language": "content_language",
    "x-ms-blob-content-language": "content_language",
    "cache-control": "cache_control",
    "x-ms-blob-cache-control": "cache_control",
    "x-ms-blob-content-disposition": "content_disposition",
}


def upload_condition_holds(output_file: Mapping[str, Any], exit_code: int) -> bool:
    """Whether an entry uploads after this exit code: ``tasksuccess`` on exit 0,
    ``taskfailure`` on non-zero, ``taskcompletion`` (the default) always [S]."""
    options = output_file.get("uploadOptions") or {}
    condition = str(options.get("uploadCondition") or "taskcompletion").lower()
    if condition == "tasksuccess":
        return exit_code == 0
    if condition == "taskfailure":
        return exit_code != 0
    return True


def _upload_kwargs(headers: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """``uploadHeaders`` as SDK arguments: content settings, metadata, tier, tags, and the
    other Put Blob headers as they are."""
    blob = _sdk()
    settings: dict[str, str] = {}
    metadata: dict[str, str] = {}
    raw: dict[str, str] = {}
    kwargs: dict[str, Any] = {}
    for header in headers:
        name = str(header.get("name", ""))
        value = str(header.get("value", ""))
        lower = name.lower()
        if lower in _CONTENT_HEADERS:
            settings[_CONTENT_HEADERS[lower]] = value
        elif lower.startswith("x-ms-meta-"):
            metadata[name[len("x-ms-meta-") :]] = value
        elif lower == "x-ms-access-tier" and (tier := _tier(blob, value)) is not None:
            # The SDK takes its enum, not the header's text (a str made it raise
            # AttributeError); a tier it does not know goes as the header, for the service to
            # accept or refuse.
            kwargs["standard_blob_tier"] = tier
        elif lower == "x-ms-tags":
            kwargs["tags"] = dict(parse_qsl(value))
        elif name:
            raw[name] = value
    if settings:
        kwargs["content_settings"] = blob.ContentSettings(**settings)
    if metadata:
        kwargs["metadata"] = metadata
    if raw:
        kwargs["headers"] = raw
    return kwargs


def _tier(blob: Any, value: str) -> Any:
    """The SDK's ``StandardBlobTier`` named by an ``x-ms-access-tier`` value (Hot, Cool,
    Cold, Archive; any case), or None."""
    folded = value.strip().lower()
    return next((t for t in blob.StandardBlobTier if t.value.lower() == folded), None)


@dataclass
class _Upload:
    local: Path
    blob_name: str
    container_url: str
    kwargs: dict[str, Any]
    pattern: str

    @property
    def shown(self) -> str:
        """The file's path as messages show it: ``wd/../stdout.txt`` as ``stdout.txt``'s."""
        return os.path.normpath(self.local)


def upload_output_files(
    output_files: Sequence[Mapping[str, Any]],
    *,
    working_dir: Path,
    task_dir: Path,
    exit_code: int,
    env: Mapping[str, str] | None = None,
) -> None:
    """Upload a task's ``outputFiles`` (wire shape) after its command line exited with
    ``exit_code``.

    Each entry whose ``uploadCondition`` holds is expanded with ``expand_file_pattern``
    (``env`` is the task's environment, with ``AZ_BATCH_TASK_DIR`` and
    ``AZ_BATCH_TASK_WORKING_DIR`` defaulting to ``task_dir`` and ``working_dir``) and every
    file is uploaded to ``destination.container.containerUrl`` (overwriting a blob of the same
    name) with ``uploadHeaders``.

    Batch does not document whether it goes on after one upload fails. Here every upload is
    attempted (a failed one does not stop the others, so as many results as possible reach
    the container) and then ``TaskFileFailure`` (stage ``upload``: a ``fileUploadError``) is
    raised for the first failure in ``outputFiles`` order: ``FileUploadContainerNotFound``,
    ``FileUploadAccessDenied``, ``FileUploadConflict``, ``FileUploadTimedOut`` or
    ``FileUploadMiscError``; its details count the failed files.

    Like Batch, it writes ``fileuploadout.txt`` (one line per uploaded file) and
    ``fileuploaderr.txt`` (one line per failure) into ``task_dir`` when an upload was
    attempted, and neither when none was. A pattern that matches nothing is not an error.
    """
    full_env = {
        "AZ_BATCH_TASK_DIR": str(task_dir),
        "AZ_BATCH_TASK_WORKING_DIR": str(working_dir),
        **(env or {}),
    }
    uploads: list[_Upload] = []
    for index, output_file in enumerate(output_files):
        if not upload_condition_holds(output_file, exit_code):
            continue
        pattern = str(output_file.get("filePattern", ""))
        destination = (output_file.get("destination") or {}).get("container") or {}
        container_url = str(destination.get("containerUrl") or "")
        if not container_url:
            raise TaskFileFailure(
                "FileUploadMiscError",
                f"outputFiles[{index}] ({pattern!r}) has no destination.container.containerUrl",
                {"FilePattern": pattern},
            )
        try:
            kwargs = _upload_kwargs(destination.get("uploadHeaders") or [])
        except ImportError as exc:
            raise TaskFileFailure(
                "FileUploadMiscError",
                f"outputFiles[{index}] ({pattern!r}): {exc}",
                {"FilePattern": pattern},
            ) from None
        for local, blob_name in expand_file_pattern(
            pattern, working_dir, full_env, destination.get("path")
        ):
            uploads.append(_Upload(local, blob_name, container_url, kwargs, pattern))
    if not uploads:
        return
    failures = _upload_all(uploads)
    _write_upload_logs(task_dir, uploads, failures)
    first = next((f for f in failures if f is not None), None)
    if first is not None:
        count = sum(1 for f in failures if f is not None)
        first.details["FailedUploads"] = str(count)
        first.details["AttemptedUploads"] = str(len(uploads))
        raise first


def _upload_all(uploads: list[_Upload]) -> list[TaskFileFailure | None]:
    """Upload every file (one container client per container URL); a result per upload."""
    clients: dict[str, Any] = {}
    lock = threading.Lock()

    def client_for(url: str) -> Any:
        with lock:
            if url not in clients:
                clients[url] = _sdk().ContainerClient.from_container_url(url, **_client_options())
            return clients[url]

    def put(upload: _Upload) -> TaskFileFailure | None:
        from azure.core.exceptions import AzureError

        where = f"{safe_url(upload.container_url)} as blob {upload.blob_name!r}"
        details = {
            "FilePath": upload.shown,
            "BlobName": upload.blob_name,
            "ContainerUrl": safe_url(upload.container_url),
            "FilePattern": upload.pattern,
        }
        try:
            client = client_for(upload.container_url)
            with open(upload.local, "rb") as data:
                client.upload_blob(
                    upload.blob_name,
                    data,
                    length=os.fstat(data.fileno()).st_size,
                    overwrite=True,
                    max_concurrency=1,
                    **upload.kwargs,
                )
        except OSError as exc:
            return TaskFileFailure(
                "FileUploadMiscError",
                f"output file {upload.shown!r}: cannot read it: {exc.strerror or exc}",
                details,
            )
        except (AzureError, ValueError) as exc:
            status = _http_status(exc)
            if status == 404:
                code = "FileUploadContainerNotFound"
            elif status in (401, 403):
                code = "FileUploadAccessDenied"
            elif status == 409:
                code = "FileUploadConflict"
            elif isinstance(exc, AzureError) and _is_timeout(exc):
                code = "FileUploadTimedOut"
            else:
                code = "FileUploadMiscError"
            return TaskFileFailure(
                code,
                f"output file {upload.shown!r}: uploading to {where} failed: {_describe(exc)}",
                details,
            )
        except Exception as exc:  # the SDK's own fault: this upload fails, the others go on
            return TaskFileFailure(
                "FileUploadMiscError",
                f"output file {upload.shown!r}: uploading to {where} failed: "
                f"{type(exc).__name__}: {exc}",
                details,
            )
        return None

    try:
        return list(_run_all(put, uploads))
    finally:
        for client in clients.values():
            client.close()


#: The upload logs in a task's directory: the files uploaded, and the failures.
UPLOAD_LOGS: Final = ("fileuploadout.txt", "fileuploaderr.txt")


def _write_upload_logs(
    task_dir: Path, uploads: list[_Upload], failures: list[TaskFileFailure | None]
) -> None:
    """``fileuploadout.txt`` / ``fileuploaderr.txt`` in the task directory (their location on
    a real node is undocumented; the task directory is where a user of a local run looks)."""
    out_lines: list[str] = []
    err_lines: list[str] = []
    for upload, failure in zip(uploads, failures, strict=True):
        target = safe_url(blob_url(upload.container_url, upload.blob_name))
        if failure is None:
            out_lines.append(f"uploaded {upload.shown} to {target}\n")
        else:
            err_lines.append(f"{failure.code}: {failure.message}\n")
    try:
        task_dir.mkdir(parents=True, exist_ok=True)
        out_log, err_log = UPLOAD_LOGS
        (task_dir / out_log).write_text("".join(out_lines), encoding="utf-8")
        (task_dir / err_log).write_text("".join(err_lines), encoding="utf-8")
    except OSError:
        pass  # the logs are a help, not part of the outcome


__all__ = [
    "DEFAULT_FILE_MODE",
    "download_resource_files",
    "upload_condition_holds",
    "upload_output_files",
]
