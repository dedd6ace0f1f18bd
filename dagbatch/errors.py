"""The one exception hierarchy of dagbatch, and the `Diagnostic` record.

::

    DagbatchError                      every error dagbatch raises on purpose
    ├── WorkflowLoadError              the workflow file could not be loaded (file, line)
    ├── InvalidWorkflow                the workflow breaks rules; carries every Diagnostic
    │   └── InvalidProperties          Task(...) or JobSettings(...) given bad values (also a
    │                                  ValueError, as pydantic's ValidationError is)
    ├── PlanError                      a plan directory is missing, unreadable or tampered with
    ├── ConfigError                    bad options or credentials given by the user
    │   ├── JournalExists              a journal exists and --resume was not given
    │   ├── JournalMismatch            the journal belongs to another plan, job or endpoint
    │   ├── JournalCorrupt             the journal's header or a record is damaged
    │   └── JournalWriteError          the journal cannot be written (disk full, ...)
    ├── RefusedError                   Batch cannot do what was asked to this job (the fix said)
    ├── SubmitError                    talking to the Batch service failed
    │   ├── AuthenticationError        403 AuthenticationFailed / no usable credentials
    │   ├── EndpointUnreachable        no connection to the endpoint could be made at all
    │   ├── TransientError             429/5xx, timeout, dropped connection: retryable
    │   ├── JobMismatch                the job exists with settings other than job.json's
    │   ├── JobReplaced                the job the journal recorded is gone or was re-created
    │   └── BatchServiceError          a whole-request error answer (status, code, message)
    │       └── RequestBodyTooLarge    413: send fewer tasks per request
    └── TaskFileFailure                a local run could not download a resource file or
                                       upload an output file (Batch's failureInfo code)

Errors keep their data as attributes; foreign exceptions are translated at the boundary
with ``raise ... from``. The CLI maps them to exit codes (``dagbatch.cli.exit_codes``).
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Final, Literal

from dagbatch.redact import redact

Severity = Literal["error", "warning"]


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """One problem found in a workflow.

    ``code`` is stable (documented in the README); ``task_id`` and ``field`` say where,
    ``message`` what, ``hint`` how to fix it.
    """

    code: str
    message: str
    task_id: str | None = None
    field: str | None = None
    hint: str | None = None
    severity: Severity = "error"

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}

    def format(self) -> str:
        where = []
        if self.task_id is not None:
            where.append(f"task {shortened(self.task_id)}")
        if self.field:
            where.append(f"field {self.field!r}")
        loc = f" ({', '.join(where)})" if where else ""
        text = f"{self.severity} {self.code}{loc}: {self.message}"
        if self.hint:
            text += f"\n    hint: {self.hint}"
        return text


def a_type(value: Any) -> str:
    """``value``'s type with its article, for a message: ``a str``, ``an int``."""
    name = type(value).__name__
    return f"{'an' if name[:1].lower() in 'aeiou' else 'a'} {name}"


#: Past this many characters a task id is shown cut in the middle (``shortened``).
SHOWN_ID_CHARS: Final = 80


def shortened(task_id: str) -> str:
    """``repr(task_id)``, or for an id of more than ``SHOWN_ID_CHARS`` characters (one
    Batch refuses: at most 64) its start and end with the length between: a line, not a
    screenful of digits."""
    if len(task_id) <= SHOWN_ID_CHARS:
        return repr(task_id)
    return f"{task_id[:40]!r}...{task_id[-10:]!r} ({len(task_id):,} characters)"


def safe_repr(value: Any) -> str:
    """``repr(value)`` for a message; when the value's own ``__repr__`` raises (or returns
    no string), the repr of the str, int or float it is a subclass of, else
    ``<unprintable TYPE>``: a value from a workflow file is the user's object, and a
    diagnostic about it must not become a traceback of its own."""
    try:
        return repr(value)
    except Exception:
        # A subclass of a plain type is shown as that type's value would be.
        for base in (str, int, float):
            if isinstance(value, base):
                return base.__repr__(value)
        return f"<unprintable {type(value).__name__}>"


def safe_str(value: Any) -> str:
    """``str(value)``, or ``safe_repr(value)`` when the value's own ``__str__`` raises (an
    exception the workflow raised, whose message cannot be made)."""
    try:
        return str(value)
    except Exception:
        return safe_repr(value)


class Killed(SystemExit):
    """The ``SystemExit`` dagbatch's own SIGTERM handlers raise (`kill`), so the cleanup
    around the engine runs: never the workflow's doing, though it may interrupt the
    workflow's code while it loads (``dagbatch.compiler.loader`` lets it through)."""


class TimedOut(BaseException):
    """`dagbatch run`'s ``--timeout`` passed while the workflow was still loading or
    compiling (``dagbatch.signals.alarm_at`` raises it; ``dagbatch.local.run`` turns it into
    the run's timeout ending). A ``BaseException``, as ``KeyboardInterrupt``, so the
    workflow's own ``except Exception`` does not take it for one of its errors, and
    ``dagbatch.compiler.loader`` lets it through. ``stage`` says what was under way."""

    def __init__(self, stage: str | None = None) -> None:
        super().__init__(stage)
        self.stage = stage


class DagbatchError(Exception):
    """Base of every error dagbatch raises on purpose."""


class WorkflowLoadError(DagbatchError):
    """The workflow file could not be imported or did not yield a graph."""

    def __init__(self, message: str, *, path: str | None = None, line: int | None = None):
        self.path = path
        self.line = line
        where = ""
        if path:
            where = f"{path}:{line}: " if line else f"{path}: "
        super().__init__(f"{where}{message}")


@dataclass
class InvalidWorkflow(DagbatchError):
    """The workflow breaks one or more rules; ``diagnostics`` lists all of them."""

    diagnostics: list[Diagnostic] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__(self.__str__())

    def __reduce__(self) -> tuple[Any, tuple[Any, ...], dict[str, Any]]:
        # Rebuilt from its fields, not from ``args`` (the message): pickled to another
        # process (a process pool building tasks) or copied, it keeps its diagnostics (and
        # its notes, in its __dict__).
        return type(self), tuple(getattr(self, f.name) for f in fields(self)), self.__dict__

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "error"]

    def __str__(self) -> str:
        errs = self.errors
        head = f"workflow is invalid: {len(errs)} error(s)"
        return head + "".join("\n" + d.format() for d in errs[:50])


@dataclass
class InvalidProperties(InvalidWorkflow, ValueError):
    """``dagbatch.Task(...)``, ``dagbatch.JobSettings(...)`` or another wire model built with
    bad values: ``diagnostics`` has one per problem, as compile reports them (code, field,
    "did you mean" for a misspelt name; no task id, the task has none yet). ``model`` names
    the class. A ``ValueError``, as pydantic's ``ValidationError`` (raised before) is."""

    model: str = "Task"

    def __str__(self) -> str:
        errs = self.errors
        head = f"invalid {self.model}(...): {len(errs)} error(s)"
        return head + "".join("\n" + d.format() for d in errs[:50])


class PlanError(DagbatchError):
    """A plan directory is missing, unreadable, or does not match its manifest."""


class ConfigError(DagbatchError):
    """Options, environment or credentials given by the user are unusable."""


class EmulatorError(DagbatchError):
    """The local emulator cannot go on: its scheduler stopped on an unexpected error (a
    defect of dagbatch, reported to whoever waits on it rather than waited on for ever)."""


def unknown_tasks(
    what: str, unknown: Sequence[str], known: Mapping[str, str], holder: str
) -> ConfigError:
    """The ``ConfigError`` for task names the user gave (``what``: where, e.g. ``--task``)
    that name no task of ``holder`` (``the plan``, ``the job``): each one, with the closest
    known name when one is close (``known``: lower-cased name -> name as written). Names are
    compared ignoring case, as Batch compares task ids; only the ten named are looked up
    (difflib over a big job's names is slow)."""
    return ConfigError(
        f"{what} name {len(unknown)} task(s) {holder} does not hold: "
        + _names_with_guesses(unknown, known)
    )


def no_such_tasks(
    what: str, unknown: Sequence[str], known: Mapping[str, str], holder: str
) -> ConfigError:
    """``unknown_tasks``'s error, worded from the holder's side: ``--task: job flaky holds
    no task 'transfrom' (did you mean 'transform'?)``."""
    which = "no task " if len(unknown) == 1 else f"none of these {len(unknown)} tasks: "
    return ConfigError(f"{what}: {holder} holds {which}" + _names_with_guesses(unknown, known))


def _names_with_guesses(unknown: Sequence[str], known: Mapping[str, str]) -> str:
    """The first ten names, each with the closest known name when one is close."""
    candidates = list(known)
    hints = []
    for name in unknown[:10]:
        close = difflib.get_close_matches(name.lower(), candidates, n=1, cutoff=0.75)
        hints.append(f"{name!r}" + (f" (did you mean {known[close[0]]!r}?)" if close else ""))
    return ", ".join(hints) + (f" and {len(unknown) - 10} more" if len(unknown) > 10 else "")


class RefusedError(DagbatchError):
    """An operation Batch cannot do on the job as it is (e.g. reactivate a task of a completed
    job); the message says why and the fix."""


class SubmitError(DagbatchError):
    """Talking to the Batch service failed."""


class AuthenticationError(SubmitError):
    """The service refused our credentials (403 AuthenticationFailed) or none were usable."""


class BatchServiceError(SubmitError):
    """A whole-request error answer from the service."""

    def __init__(
        self,
        status: int,
        code: str | None,
        message: str,
        *,
        batch_index: int | None = None,
    ):
        self.status = status
        self.code = code
        self.batch_index = batch_index
        super().__init__(f"HTTP {status} {code or ''}: {message}".replace("  ", " "))


class EndpointUnreachable(SubmitError):
    """No connection to the endpoint could be made (DNS, refused, unreachable network)."""


#: The code of a transport failure with no answer (``TransientError.code``): the connection
#: failed or was cut, or no answer came in time.
CONNECTION_ERROR = "ConnectionError"
TIMEOUT = "Timeout"


class TransientError(SubmitError):
    """A whole-request failure worth retrying: 429/5xx, a timeout or a dropped connection.

    ``status`` is None for transport errors (the request may have been processed fully, partly
    or not at all); ``connect`` is True when no connection was made, so the request surely did
    not reach the service; ``retry_after`` is the server's ``Retry-After`` in seconds.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        retry_after: float | None = None,
        connect: bool = False,
    ):
        self.status = status
        self.code = code or (f"HTTP{status}" if status else CONNECTION_ERROR)
        self.retry_after = retry_after
        self.connect = connect
        super().__init__(redact(message))


class RequestBodyTooLarge(BatchServiceError):
    """413 ``RequestBodyTooLarge``: send fewer tasks per request."""


class JobMismatch(SubmitError):
    """The job exists but its settings differ from the plan's job.json."""


class JobReplaced(SubmitError):
    """The job the journal recorded tasks in is gone, or is another job with the same id."""


class JournalExists(ConfigError):
    """A journal for this job exists and ``--resume`` was not given."""


class JournalMismatch(ConfigError):
    """The journal belongs to another plan, job or endpoint."""


class JournalCorrupt(ConfigError):
    """The journal's header line is missing or damaged, or a record has the wrong shape."""


class JournalWriteError(ConfigError):
    """The journal could not be written (disk full, file too large, I/O error)."""


#: Batch's failureInfo codes for resource file downloads (a ``preProcessingError``) and output
#: file uploads (a ``fileUploadError``); docs/BATCH_FACTS.md section 1, from the .NET SDK's
#: ``TaskFailureInformationCodes``.
DOWNLOAD_FAILURE_CODES = frozenset(
    {
        "BlobAccessDenied",
        "BlobDownloadMiscError",
        "BlobDownloadTimedOut",
        "BlobNotFound",
        "ResourceContainerAccessDenied",
        "ResourceContainerNotFound",
        "ResourceContainerListTimedOut",
        "ResourceContainerListMiscError",
        "ResourceDirectoryCreateFailed",
        "ResourceFileCreateFailed",
        "ResourceFileWriteFailed",
        "DiskFull",
    }
)
UPLOAD_FAILURE_CODES = frozenset(
    {
        "FileUploadAccessDenied",
        "FileUploadContainerNotFound",
        "FileUploadConflict",
        "FileUploadTimedOut",
        "FileUploadMiscError",
    }
)


class TaskFileFailure(DagbatchError):
    """A task's resource file could not be downloaded, or an output file not uploaded.

    ``code`` is one of Batch's failureInfo codes (``DOWNLOAD_FAILURE_CODES`` or
    ``UPLOAD_FAILURE_CODES``); ``stage`` is ``"download"`` (Batch reports it as a
    ``preProcessingError``: the command line never ran) or ``"upload"`` (a
    ``fileUploadError``: it ran), given or taken from the code (an upload code: upload).
    ``message`` names the file and never a SAS signature; ``details`` become failureInfo's
    name/value ``details``. ``failure_info()`` is the wire shape of
    ``executionInfo.failureInfo``.
    """

    def __init__(
        self,
        code: str,
        message: str,
        details: dict[str, str] | None = None,
        *,
        stage: Literal["download", "upload"] | None = None,
    ):
        if stage is None:
            stage = "upload" if code in UPLOAD_FAILURE_CODES else "download"
        self.stage: Literal["download", "upload"] = stage
        self.code = code
        self.message = message
        self.details: dict[str, str] = dict(details or {})
        super().__init__(f"{code}: {message}")

    @property
    def category(self) -> Literal["usererror", "servererror"]:
        """Batch's failureInfo category. Every file failure here comes from the task's own
        inputs or destination (a URL, a SAS, a container, the disk), so ``usererror``."""
        return "usererror"

    def failure_info(self) -> dict[str, Any]:
        """``executionInfo.failureInfo`` as Batch returns it (wire shape, camelCase)."""
        return {
            "category": self.category,
            "code": self.code,
            "message": self.message,
            "details": [{"name": k, "value": v} for k, v in self.details.items()],
        }
