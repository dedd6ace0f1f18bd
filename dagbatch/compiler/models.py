"""Pydantic wire models of an Azure Batch task and job, for api-versions 2025-06-01 and
2017-09-01.6.0.

The models are the union of both versions' task properties (2025-06-01 is a superset of
2017-09-01.6.0 apart from the resource file source, ``blobSource`` in 2017 and ``httpUrl`` in
2025, which are one field here). Every model accepts snake_case Python names and camelCase
wire names. ``task_wire_properties`` dumps a task for one api-version and reports the
properties that version does not have.

Errors that dagbatch checks beyond the types raise ``PydanticCustomError`` whose type string
is a stable diagnostic code (the validate pass reports ``err["type"]`` as the code):

``invalid-duration``, ``user-identity-exclusive``, ``path-escapes-task-dir``,
``resource-file-source``, ``invalid-file-mode``, ``multi-instance-slots``,
``invalid-exit-codes``, ``invalid-exit-code-range``, ``invalid-max-parallel-tasks``,
``invalid-metadata``, ``duplicate-environment-name``. Rules across fields (one source per
resource file, ...) are checked even when a field fails, so every independent problem is
reported at once (``with_rules``).

Built directly (``Task(...)``, ``JobSettings(...)``), a model with bad values raises
``dagbatch.errors.InvalidProperties`` (a ``ValueError``) holding the diagnostics compile
would give; ``model_validate`` raises pydantic's ``ValidationError``, which the compiler
translates itself (``spec.pydantic_diagnostics``).

Sources: [spec-2025] ``BatchTaskCreateOptions`` and what it references, [spec-2017]
``TaskAddParameter`` and what it references (see ``dagbatch.limits``).
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from itertools import repeat
from pathlib import PurePath
from typing import Annotated, Any, Final, Literal, TypeAlias, TypeGuard, TypeVar, get_args

from pydantic import (
    AliasChoices,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel
from pydantic.fields import FieldInfo
from pydantic.functional_validators import ModelWrapValidatorHandler
from pydantic_core import InitErrorDetails, PydanticCustomError
from pydantic_core.core_schema import ErrorType

from dagbatch import limits
from dagbatch.errors import Diagnostic, InvalidProperties, safe_repr
from dagbatch.limits import INT32_MAX, INT32_MIN, MAX_DISPLAY_NAME_LENGTH, MAX_ID_LENGTH, ApiVersion
from dagbatch.wireshape import RESOURCE_FILE_2017, TASK_SHAPE_2017, Shape

__all__ = [
    "POOL_OS_VALUES",
    "TASK_FIELD_NAMES",
    "AffinityInfo",
    "ApplicationPackageReference",
    "AuthenticationTokenSettings",
    "AutoUserSpecification",
    "ContainerHostBatchBindMountEntry",
    "ContainerRegistry",
    "EnvironmentSetting",
    "ExitCodeMapping",
    "ExitCodeRangeMapping",
    "ExitCodeSpan",
    "ExitConditions",
    "ExitOptions",
    "IdentityReference",
    "JobConstraints",
    "JobSettings",
    "MetadataItem",
    "MultiInstanceSettings",
    "OutputFile",
    "OutputFileBlobContainerDestination",
    "OutputFileDestination",
    "OutputFileUploadHeader",
    "OutputFileUploadOptions",
    "PoolOs",
    "ResourceFile",
    "Task",
    "TaskConstraints",
    "TaskContainerSettings",
    "UserIdentity",
    "VersionIssue",
    "exit_conditions_wire",
    "format_duration",
    "job_version_issues",
    "job_wire",
    "loc_to_wire_path",
    "task_wire_properties",
]


def _not_bool(value: object) -> object:
    """``True`` and ``False`` are no numbers to Batch: pydantic would take them for 1 and 0
    (``priority=True`` would become priority 1). The exit codes refuse them too."""
    if isinstance(value, bool):
        raise PydanticCustomError(
            "invalid-type", "Input should be a valid integer, not {value}", {"value": repr(value)}
        )
    return value


#: An integer field: an ``int`` (or what pydantic reads as one), never a ``bool``.
NotBool = BeforeValidator(_not_bool)
Int32 = Annotated[int, Field(ge=INT32_MIN, le=INT32_MAX), NotBool]
PositiveInt32 = Annotated[int, Field(ge=1, le=INT32_MAX), NotBool]
#: maxTaskRetryCount: -1 (no limit) or a count.
RetryCount = Annotated[int, Field(ge=limits.UNLIMITED_RETRIES, le=INT32_MAX), NotBool]


class WireModel(BaseModel):
    """Base of every wire model: frozen, unknown keys rejected, snake_case or camelCase in.

    A ``pathlib`` path is accepted wherever a string is (``file_path=Path("data/x.csv")``),
    written with forward slashes.
    """

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        populate_by_name=True,
        alias_generator=to_camel,
    )

    def __init__(self, /, *given: Any, **data: Any) -> None:
        """Validate ``data``. Bad values raise ``InvalidProperties`` (a ``ValueError``): one
        diagnostic a problem, worded as compile words them (the field, "did you mean" for a
        misspelt name), not pydantic's dump. ``model_validate`` raises pydantic's
        ``ValidationError`` as before: the compiler turns that into diagnostics itself.
        A value given without its name (``Task("echo hi")``) is one of them too, where
        Python's own TypeError named pydantic's base class."""
        if given:
            name = type(self).__name__
            first = next(iter(type(self).model_fields), "name")
            raise InvalidProperties(
                [
                    Diagnostic(
                        code="invalid-type",
                        message=f"{name}(...) takes its properties by name, not by position",
                        hint=f"e.g. {name}({first}={safe_repr(given[0])})",
                    )
                ],
                model=name,
            )
        try:
            super().__init__(**data)
        except ValidationError as exc:
            # Not chained as the cause: the traceback would print pydantic's dump (with its
            # web links) under ours. It stays reachable as ``__context__``.
            raise invalid_properties(exc, type(self), data) from None

    # Marks this __init__ as pydantic's own (as pydantic's RootModel marks its __init__):
    # validation never calls it, so a model inside a task validates as before, and
    # ``model_validate`` keeps raising ValidationError. Only a direct ``Task(...)`` comes here.
    __init__.__pydantic_base_init__ = True  # type: ignore[attr-defined]

    @model_validator(mode="before")
    @classmethod
    def _paths_as_strings(cls, data: Any) -> Any:
        # Every model of a task runs this (ten a task with resource files and exit
        # conditions): C-level scans, a dict checked without the Mapping ABC.
        if (type(data) is dict or isinstance(data, Mapping)) and any(
            map(isinstance, data.values(), repeat(PurePath))
        ):
            return {k: v.as_posix() if isinstance(v, PurePath) else v for k, v in data.items()}
        return data


def invalid_properties(
    exc: ValidationError, model: type[BaseModel], given: Mapping[str, Any]
) -> InvalidProperties:
    """``exc``, raised building ``model`` from ``given``, as ``InvalidProperties``: the
    diagnostics compile would give for the same values (no task id: the task has none
    yet)."""
    # The translation lives with the normalize pass, which imports this module: imported
    # here, on the error path only.
    from dagbatch.compiler.spec import pydantic_diagnostics

    return InvalidProperties(
        pydantic_diagnostics(exc, None, model=model, given=given), model=model.__name__
    )


# --------------------------------------------------------------------------- rules

#: A problem a rule found: where inside the model (``()``: the model itself) and what.
Problem: TypeAlias = tuple[tuple[int | str, ...], PydanticCustomError]
#: A rule across fields of one model: a getter of the model's values by field name (None
#: when not given) -> the problems. The values are validated ones, or, when some field
#: failed, the ones given, as given (a rule checks a raw value only where it has the type
#: the field wants): so every independent problem of a task is reported in one compile, not
#: one per fix.
Rule: TypeAlias = Callable[[Callable[[str], Any]], list[Problem]]

#: pydantic's own error types (the others are dagbatch's codes, raised as custom errors).
_PYDANTIC_ERROR_TYPES: Final = frozenset(get_args(ErrorType))


def joined_errors(
    title: str, exc: ValidationError | None, problems: Sequence[Problem], data: Any
) -> ValidationError:
    """One ``ValidationError`` with ``exc``'s errors and then ``problems`` (``data``: their
    input). Raised inside a validator, pydantic puts its errors where that value sits."""
    lines: list[InitErrorDetails] = []
    for err in exc.errors() if exc is not None else ():
        etype = err["type"]
        line: InitErrorDetails = {
            # A custom error (a dagbatch code) is rebuilt from its rendered message.
            "type": etype
            if etype in _PYDANTIC_ERROR_TYPES
            else PydanticCustomError(etype, err["msg"]),
            "loc": tuple(err["loc"]),
            "input": err["input"],
        }
        if "ctx" in err:
            line["ctx"] = err["ctx"]
        lines.append(line)
    lines.extend({"type": error, "loc": loc, "input": data} for loc, error in problems)
    return ValidationError.from_exception_data(title, lines)


def _field_keys(name: str, info: FieldInfo) -> list[str]:
    """The keys a field is given under: its name, alias and validation aliases."""
    keys = [name]
    if info.alias:
        keys.append(info.alias)
    if isinstance(info.validation_alias, AliasChoices):
        keys.extend(c for c in info.validation_alias.choices if isinstance(c, str))
    elif isinstance(info.validation_alias, str):
        keys.append(info.validation_alias)
    return keys


def _given_values(model: type[BaseModel], data: object) -> Mapping[str, Any] | None:
    """The values given for ``model`` in ``data`` by field name, as given; None when
    ``data`` is not a mapping (then pydantic's own error says so)."""
    if isinstance(data, model):
        return {name: getattr(data, name) for name in model.model_fields}
    if not isinstance(data, Mapping):
        return None
    out: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        key = next((k for k in _field_keys(name, info) if k in data), None)
        if key is not None:
            out[name] = data[key]
    return out


M = TypeVar("M", bound=BaseModel)


def with_rules(model: type[M], data: Any, handler: Callable[[Any], M], rules: Rule) -> M:
    """Validate ``data`` as ``model`` (``handler``, a wrap validator's) and apply ``rules``;
    their problems are raised with the fields' own errors, all in one ``ValidationError``.
    (A model validator in "after" mode runs only when every field is valid, so a task's
    second problem would show only once the first was fixed.)"""
    try:
        value = handler(data)
    except ValidationError as exc:
        given = _given_values(model, data)
        problems = rules(given.get) if given is not None else []
        if not problems:
            raise
        raise joined_errors(model.__name__, exc, problems, data) from None
    # A model's fields are in its __dict__: read there, with no copy (a big workflow
    # validates a task a node).
    problems = rules(value.__dict__.get)
    if problems:
        raise joined_errors(model.__name__, None, problems, data)
    return value


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


# --------------------------------------------------------------------------- enums


def _enum_folder(values: tuple[str, ...]) -> BeforeValidator:
    """Map any spelling of an enum value ("nonAdmin", "NonAdmin", "non_admin") to the one the
    spec lists. Unknown values pass through unchanged so the Literal reports the allowed ones."""
    table = {v.lower(): v for v in values}

    def fold(value: object) -> object:
        if isinstance(value, enum.Enum):
            value = value.value
        if isinstance(value, str):
            return table.get(value.lower().replace("_", "").replace("-", ""), value)
        return value

    return BeforeValidator(fold)


# [spec-2025]/[spec-2017]: every enum value below is the exact spelling the spec lists; both
# versions list the same spelling for the enums they share.
AutoUserScope = Annotated[Literal["task", "pool"], _enum_folder(("task", "pool"))]
ElevationLevel = Annotated[Literal["nonadmin", "admin"], _enum_folder(("nonadmin", "admin"))]
AccessScope = Annotated[Literal["job"], _enum_folder(("job",))]
JobAction = Annotated[
    Literal["none", "disable", "terminate"], _enum_folder(("none", "disable", "terminate"))
]
DependencyAction = Annotated[Literal["satisfy", "block"], _enum_folder(("satisfy", "block"))]
UploadCondition = Annotated[
    Literal["tasksuccess", "taskfailure", "taskcompletion"],
    _enum_folder(("tasksuccess", "taskfailure", "taskcompletion")),
]
ContainerWorkingDirectory = Annotated[
    Literal["taskWorkingDirectory", "containerImageDefault"],
    _enum_folder(("taskWorkingDirectory", "containerImageDefault")),
]
ContainerHostDataPath = Annotated[
    Literal["Shared", "Startup", "VfsMounts", "Task", "JobPrep", "Applications"],
    _enum_folder(("Shared", "Startup", "VfsMounts", "Task", "JobPrep", "Applications")),
]
AllTasksComplete = Annotated[
    Literal["noaction", "terminatejob"], _enum_folder(("noaction", "terminatejob"))
]
TaskFailureMode = Annotated[
    Literal["noaction", "performexitoptionsjobaction"],
    _enum_folder(("noaction", "performexitoptionsjobaction")),
]
OnFailure = Annotated[Literal["block", "satisfy"], _enum_folder(("block", "satisfy"))]
#: The node operating systems a pool's ``pool_os`` names.
POOL_OS_VALUES: Final = ("linux", "windows")
PoolOs = Annotated[Literal["linux", "windows"], _enum_folder(POOL_OS_VALUES)]


# --------------------------------------------------------------------------- durations

# ISO 8601 durations as .NET's XmlConvert.ToTimeSpan reads them (the service is .NET): years,
# months, days, hours, minutes, seconds (fraction allowed on seconds only); no weeks, no sign.
_DURATION_RE: Final = re.compile(
    r"P(?=\d|T\d)(?:\d+Y)?(?:\d+M)?(?:\d+D)?(?:T(?=\d)(?:\d+H)?(?:\d+M)?(?:\d+(?:\.\d+)?S)?)?"
)
_US_PER = {"D": 86_400_000_000, "H": 3_600_000_000, "M": 60_000_000, "S": 1_000_000}


def format_duration(value: timedelta) -> str:
    """A non-negative timedelta as a canonical ISO 8601 duration: 1 hour -> "PT1H"."""
    if value < timedelta(0):
        raise ValueError("a duration cannot be negative")
    rest = value // timedelta(microseconds=1)
    days, rest = divmod(rest, _US_PER["D"])
    hours, rest = divmod(rest, _US_PER["H"])
    minutes, rest = divmod(rest, _US_PER["M"])
    seconds, micros = divmod(rest, _US_PER["S"])
    text = "P" + (f"{days}D" if days else "")
    clock = (f"{hours}H" if hours else "") + (f"{minutes}M" if minutes else "")
    if micros:
        clock += f"{seconds}.{micros:06d}".rstrip("0") + "S"
    elif seconds:
        clock += f"{seconds}S"
    if clock:
        text += "T" + clock
    return text if text != "P" else "PT0S"


def _duration(value: object) -> object:
    if isinstance(value, timedelta):
        if value < timedelta(0):
            raise PydanticCustomError(
                "invalid-duration",
                "duration {value} is negative",
                # "-5 s", not timedelta's "-1 day, 23:59:55"
                {"value": f"{value.total_seconds():g} s"},
            )
        return format_duration(value)
    if isinstance(value, str) and _DURATION_RE.fullmatch(value):
        return value
    raise PydanticCustomError(
        "invalid-duration",
        "{value} is not an ISO 8601 duration such as 'PT1H', 'P1DT2H30M' or 'PT0.5S' "
        "(or a datetime.timedelta)",
        {
            "value": safe_repr(value)
            if isinstance(value, str | int | float)
            else type(value).__name__
        },
    )


Duration = Annotated[str, BeforeValidator(_duration)]


# --------------------------------------------------------------------------- sub-models


class IdentityReference(WireModel):
    """[spec-2025] BatchNodeIdentityReference (2025 only)."""

    resource_id: str | None = None


_WINDOWS_DRIVE: Final = re.compile(r"[A-Za-z]:")


def no_nul(value: str, what: str) -> str:
    """``value``, unless it holds a NUL character: no process can be given one in its
    command line, environment or file names (the task could never start)."""
    if "\x00" in value:
        raise PydanticCustomError(
            "invalid-value",
            "{what} holds a NUL character (\\x00), which no process can be given: the task "
            "could never start",
            {"what": what},
        )
    return value


def _check_relative_path(path: str) -> str:
    """[spec-2025] ResourceFile.filePath: "The specified relative path cannot break out of
    the Task's working directory (for example by using '..')"."""
    no_nul(path, "filePath")
    if path.startswith(("/", "\\")) or _WINDOWS_DRIVE.match(path):
        raise PydanticCustomError(
            "path-escapes-task-dir",
            "filePath '{path}' is absolute; it must be relative to the task working directory",
            {"path": path},
        )
    if ".." in re.split(r"[\\/]", path):
        raise PydanticCustomError(
            "path-escapes-task-dir",
            "filePath '{path}' contains a '..' component, which Batch refuses in a file "
            "path (it could lead out of the task working directory)",
            {"path": path},
        )
    return path


_FILE_MODE_RE: Final = re.compile(r"[0-7]{3,4}")
#: An HTTP(S) URL with a host: what a node can download a resource file from.
_HTTP_URL_RE: Final = re.compile(r"(?i)https?://[^/\s?#]+")


class ResourceFile(WireModel):
    """[spec-2025] ResourceFile; [spec-2017] ResourceFile (``blobSource`` is the 2017 name of
    ``httpUrl`` and is accepted as such)."""

    auto_storage_container_name: str | None = None
    storage_container_url: str | None = None
    http_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("httpUrl", "http_url", "blobSource", "blob_source"),
        serialization_alias="httpUrl",
    )
    blob_prefix: str | None = None
    file_path: str | None = None
    file_mode: str | None = None
    identity_reference: IdentityReference | None = None

    @field_validator("file_path")
    @classmethod
    def _path_inside(cls, value: str | None) -> str | None:
        return None if value is None else _check_relative_path(value)

    @field_validator("http_url", "storage_container_url")
    @classmethod
    def _http(cls, value: str | None) -> str | None:
        """A URL a node fetches with HTTP(S) [spec-2025 ResourceFile.httpUrl: "readable
        from compute nodes"]: '', 'not a url' or an ftp:// one fail only when the task
        runs."""
        if value is not None and not _HTTP_URL_RE.match(value):
            raise PydanticCustomError(  # the URL is not repeated: it may hold a SAS token
                "invalid-value",
                "the URL is not an http:// or https:// one with a host, which is what a node "
                "downloads from",
            )
        return value

    @field_validator("auto_storage_container_name")
    @classmethod
    def _named(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise PydanticCustomError(
                "invalid-value", "autoStorageContainerName is empty: name the container"
            )
        return value

    @field_validator("file_mode")
    @classmethod
    def _octal(cls, value: str | None) -> str | None:
        if value is not None and not _FILE_MODE_RE.fullmatch(value):
            raise PydanticCustomError(
                "invalid-file-mode",
                "fileMode '{value}' is not an octal permission string such as '0755'",
                {"value": value},
            )
        return value

    @model_validator(mode="wrap")
    @classmethod
    def _one_source(
        cls, data: Any, handler: ModelWrapValidatorHandler[ResourceFile]
    ) -> ResourceFile:
        return with_rules(cls, data, handler, _resource_file_rules)


def _resource_file_rules(get: Callable[[str], Any]) -> list[Problem]:
    """[spec-2025] ResourceFile: exactly one source; ``filePath`` is required with ``httpUrl``
    and ``blobPrefix`` applies to containers only. The ``httpUrl`` rules are checked only
    when it is the one source (with two, which stays is the user's choice)."""
    sources = [
        wire
        for name, wire in (
            ("http_url", "httpUrl"),
            ("storage_container_url", "storageContainerUrl"),
            ("auto_storage_container_name", "autoStorageContainerName"),
        )
        if get(name) is not None
    ]
    if len(sources) != 1:
        return [
            (
                (),
                PydanticCustomError(
                    "resource-file-source",
                    "a resource file needs exactly one of httpUrl (2017: blobSource), "
                    "storageContainerUrl, autoStorageContainerName; got {got}",
                    {"got": ", ".join(sources) or "none"},
                ),
            )
        ]
    problems: list[Problem] = []
    if sources == ["httpUrl"]:
        path = get("file_path")
        if isinstance(path, str) and (path.strip() in (".", "./") or path.endswith(("/", "\\"))):
            problems.append(
                (
                    ("file_path",),
                    PydanticCustomError(
                        "resource-file-source",
                        "filePath '{path}' names a directory; with httpUrl it is the file to "
                        "download to (a name such as 'input.csv')",
                        {"path": path},
                    ),
                )
            )
        if not get("file_path"):
            problems.append(
                (
                    (),
                    PydanticCustomError(
                        "resource-file-source",
                        "a resource file with httpUrl (2017: blobSource) needs filePath, the "
                        "file name to download to",
                    ),
                )
            )
        if get("blob_prefix") is not None:
            problems.append(
                (
                    (),
                    PydanticCustomError(
                        "resource-file-source",
                        "blobPrefix applies only with storageContainerUrl or "
                        "autoStorageContainerName, not with httpUrl",
                    ),
                )
            )
    return problems


class EnvironmentSetting(WireModel):
    #: required, so not empty [spec-2025 EnvironmentSetting: "name" is required]
    name: str = Field(min_length=1)
    value: str | None = None

    @field_validator("name")
    @classmethod
    def _settable(cls, name: str) -> str:
        """A name a process's environment can hold: no '=' (it ends the name) and no NUL."""
        if "=" in name:
            raise PydanticCustomError(
                "invalid-value",
                "environment variable name '{name}' holds '=', which ends a name in a "
                "process's environment: the task could never start",
                {"name": name},
            )
        return no_nul(name, "the environment variable name")

    @field_validator("value")
    @classmethod
    def _no_nul(cls, value: str | None) -> str | None:
        return None if value is None else no_nul(value, "the environment variable's value")


def _environment(value: object) -> object:
    """Accept {"NAME": "value", ...} as well as [{"name": ..., "value": ...}, ...]; the
    mapping's order is kept."""
    if isinstance(value, Mapping):
        return tuple({"name": k, "value": v} for k, v in value.items())
    return value


def repeated_environment_names(settings: object, loc: tuple[int | str, ...]) -> list[Problem]:
    """No environment variable name twice in one list (``duplicate-environment-name``);
    ``settings`` as validated (EnvironmentSetting entries) or as given (a dict cannot repeat a
    name; a list of mappings can), ``loc`` the field's.

    What Batch does with a name given twice is not documented (docs/BATCH_FACTS.md; the
    spec's EnvironmentSetting, tests/data/spec, says nothing), so the value the task gets is
    unknown: the service may refuse the task, or one value may silently win. Losing a value
    without a word is worse than asking the user to give each name once, so it is an error.
    Names are compared exactly (Linux variables are case-sensitive).
    """
    if not isinstance(settings, list | tuple) or len(settings) < 2:
        return []
    names = [
        item.name
        if isinstance(item, EnvironmentSetting)
        else item.get("name")
        if isinstance(item, Mapping)
        else None
        for item in settings
    ]
    # Only names that could be valid count: a name of the wrong type or an empty one has its
    # own error (and a list or dict cannot go in a set).
    named = [name for name in names if isinstance(name, str) and name]
    if len(set(named)) == len(named):
        return []
    return [(loc, problem) for problem in _repeated_names(names)]


def _repeated_names(names: Sequence[object]) -> list[PydanticCustomError]:
    """One problem naming every name given more than once, with the entries that give it."""
    where: dict[str, list[int]] = {}
    for i, name in enumerate(names):
        if isinstance(name, str) and name:
            where.setdefault(name, []).append(i)
    repeated = {name: idx for name, idx in where.items() if len(idx) > 1}
    if not repeated:
        return []
    text = "; ".join(
        f"{safe_repr(name)} is set by entries {', '.join(map(str, idx[:-1]))} and {idx[-1]}"
        for name, idx in repeated.items()
    )
    return [
        PydanticCustomError(
            "duplicate-environment-name",
            "environment variable names given more than once: {names}; which value a "
            "task gets is not documented by Batch, so give each name once",
            {"names": text},
        )
    ]


#: Environment settings: a list of {"name", "value"} (no name twice) or a {name: value} dict.
#: (``repeated_environment_names`` checks the names: the task's and the job's rules call it.)
Environment = Annotated[tuple[EnvironmentSetting, ...], BeforeValidator(_environment)]


class AffinityInfo(WireModel):
    """[spec-2025] BatchAffinityInfo; [spec-2017] AffinityInformation."""

    affinity_id: str


class TaskConstraints(WireModel):
    max_wall_clock_time: Duration | None = None
    retention_time: Duration | None = None
    #: -1 means retry without limit; nothing below it [spec-2025 BatchTaskConstraints].
    max_task_retry_count: RetryCount | None = None


class AutoUserSpecification(WireModel):
    scope: AutoUserScope | None = None
    elevation_level: ElevationLevel | None = None


_USERNAME_ALIASES: Final = AliasChoices("username", "userName", "user_name")


class UserIdentity(WireModel):
    """The wire name is ``username`` (lower-case n) in both versions."""

    user_name: str | None = Field(
        default=None, validation_alias=_USERNAME_ALIASES, serialization_alias="username"
    )
    auto_user: AutoUserSpecification | None = None

    @model_validator(mode="wrap")
    @classmethod
    def _exclusive(
        cls, data: Any, handler: ModelWrapValidatorHandler[UserIdentity]
    ) -> UserIdentity:
        return with_rules(cls, data, handler, _user_identity_rules)


def _user_identity_rules(get: Callable[[str], Any]) -> list[Problem]:
    # [spec-2025] UserIdentity: "mutually exclusive; you must specify one but not both".
    user_name, auto_user = get("user_name"), get("auto_user")
    if (user_name is None) != (auto_user is None):
        return []
    return [
        (
            (),
            PydanticCustomError(
                "user-identity-exclusive",
                "userIdentity needs exactly one of username and autoUser, got {got}",
                {"got": "both" if user_name is not None else "neither"},
            ),
        )
    ]


class MultiInstanceSettings(WireModel):
    number_of_instances: PositiveInt32 | None = None
    coordination_command_line: str
    common_resource_files: tuple[ResourceFile, ...] | None = None


class ApplicationPackageReference(WireModel):
    application_id: str
    version: str | None = None


class AuthenticationTokenSettings(WireModel):
    access: tuple[AccessScope, ...] | None = None


class ContainerRegistry(WireModel):
    """[spec-2025] ContainerRegistryReference; [spec-2017] ContainerRegistry (there username
    and password are required and identityReference does not exist)."""

    username: str | None = Field(
        default=None, validation_alias=_USERNAME_ALIASES, serialization_alias="username"
    )
    password: str | None = Field(default=None, repr=False)
    registry_server: str | None = None
    identity_reference: IdentityReference | None = None


class ContainerHostBatchBindMountEntry(WireModel):
    source: ContainerHostDataPath | None = None
    is_read_only: bool | None = None


class TaskContainerSettings(WireModel):
    container_run_options: str | None = None
    image_name: str
    registry: ContainerRegistry | None = None
    working_directory: ContainerWorkingDirectory | None = None
    container_host_batch_bind_mounts: tuple[ContainerHostBatchBindMountEntry, ...] | None = None


class OutputFileUploadHeader(WireModel):
    name: str
    value: str | None = None


class OutputFileBlobContainerDestination(WireModel):
    path: str | None = None
    container_url: str
    identity_reference: IdentityReference | None = None
    upload_headers: tuple[OutputFileUploadHeader, ...] | None = None


class OutputFileDestination(WireModel):
    container: OutputFileBlobContainerDestination | None = None


class OutputFileUploadOptions(WireModel):
    upload_condition: UploadCondition


class OutputFile(WireModel):
    file_pattern: str
    destination: OutputFileDestination
    upload_options: OutputFileUploadOptions


# --------------------------------------------------------------------------- exit conditions


class ExitOptions(WireModel):
    job_action: JobAction | None = None
    dependency_action: DependencyAction | None = None


class ExitCodeMapping(WireModel):
    code: Int32
    exit_options: ExitOptions


class ExitCodeRangeMapping(WireModel):
    start: Int32
    end: Int32
    exit_options: ExitOptions

    @model_validator(mode="wrap")
    @classmethod
    def _ordered(
        cls, data: Any, handler: ModelWrapValidatorHandler[ExitCodeRangeMapping]
    ) -> ExitCodeRangeMapping:
        return with_rules(cls, data, handler, _exit_code_range_rules)


def _exit_code_range_rules(get: Callable[[str], Any]) -> list[Problem]:
    start, end = get("start"), get("end")
    # A bound outside int32 has its own error: the two are compared only within it.
    in_range = (
        _is_int(start)
        and _is_int(end)
        and all(INT32_MIN <= bound <= INT32_MAX for bound in (start, end))
    )
    if not (in_range and start > end):
        return []
    return [
        (
            (),
            PydanticCustomError(
                "invalid-exit-code-range",
                "exit code range start {start} is greater than end {end}",
                {"start": start, "end": end},
            ),
        )
    ]


class ExitConditions(WireModel):
    """``preProcessingError`` is the wire name in both spec versions; the older reference page
    called it ``schedulingError``, which is accepted as input."""

    exit_codes: tuple[ExitCodeMapping, ...] | None = None
    exit_code_ranges: tuple[ExitCodeRangeMapping, ...] | None = None
    pre_processing_error: ExitOptions | None = Field(
        default=None,
        validation_alias=AliasChoices(
            "preProcessingError", "pre_processing_error", "schedulingError", "scheduling_error"
        ),
        serialization_alias="preProcessingError",
    )
    file_upload_error: ExitOptions | None = None
    default: ExitOptions | None = None

    @model_validator(mode="wrap")
    @classmethod
    def _unambiguous(
        cls, data: Any, handler: ModelWrapValidatorHandler[ExitConditions]
    ) -> ExitConditions:
        return with_rules(cls, data, handler, _exit_conditions_rules)


def _exit_effect(options: ExitOptions, start: int, end: int) -> tuple[str | None, str | None]:
    """What ``options`` do for the codes ``start``..``end``: an unset dependencyAction is
    Batch's default (block, for codes that are not 0), so ``{}`` and ``{"dependencyAction":
    "block"}`` are the same. An unset jobAction is kept apart from ``none``: what it means
    depends on the job's onTaskFailure, which a task does not know."""
    action = options.dependency_action
    if action is None and not start <= 0 <= end:
        action = "block"
    return (str(action) if action is not None else None), (
        str(options.job_action) if options.job_action is not None else None
    )


def _entries(value: Any) -> Sequence[Any]:
    """A list's entries; anything else has none here (its type is the field's own error)."""
    return value if isinstance(value, list | tuple) else ()


def _exit_conditions_rules(get: Callable[[str], Any]) -> list[Problem]:
    """An exit code listed twice in ``exitCodes``, or two ``exitCodeRanges`` that overlap,
    with different actions: which one Batch applies is not documented (BATCH_FACTS, exit
    conditions), so the code's fate is unknown. Told as a duplicate environment name is."""
    problems: list[Problem] = []
    first: dict[int, tuple[int, Any]] = {}
    for i, entry in enumerate(_entries(get("exit_codes"))):
        if not isinstance(entry, ExitCodeMapping):
            continue
        effect = _exit_effect(entry.exit_options, entry.code, entry.code)
        seen = first.setdefault(entry.code, (i, effect))
        if seen[0] != i and seen[1] != effect:
            problems.append(
                (
                    ("exit_codes", i),
                    PydanticCustomError(
                        "invalid-exit-codes",
                        "exit code {code} is listed again (entry {first}) with other exit "
                        "options; which one Batch applies is not documented: list each code "
                        "once",
                        {"code": entry.code, "first": seen[0]},
                    ),
                )
            )
    ranges = [
        (i, r)
        for i, r in enumerate(_entries(get("exit_code_ranges")))
        if isinstance(r, ExitCodeRangeMapping) and r.start <= r.end
    ]
    for k, (i, a) in enumerate(ranges):
        for j, b in ranges[k + 1 :]:
            overlap = a.start <= b.end and b.start <= a.end
            if overlap and _exit_effect(a.exit_options, a.start, a.end) != _exit_effect(
                b.exit_options, b.start, b.end
            ):
                problems.append(
                    (
                        ("exit_code_ranges", j),
                        PydanticCustomError(
                            "invalid-exit-codes",
                            "exit code range {start}-{end} overlaps entry {other} with other "
                            "exit options; which one Batch applies is not documented: make the "
                            "ranges disjoint",
                            {"start": b.start, "end": b.end, "other": i},
                        ),
                    )
                )
    return problems


# --------------------------------------------------------------------------- the task

#: An inclusive (start, end) span of exit codes.
ExitCodeSpan: TypeAlias = tuple[int, int]


def _exit_code(value: object) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and INT32_MIN <= value <= INT32_MAX:
        return value
    raise PydanticCustomError(
        "invalid-exit-codes", "{value} is not an int32 exit code", {"value": safe_repr(value)}
    )


def _exit_code_item(item: object) -> int | ExitCodeSpan:
    """One entry of ``satisfy_exit_codes``: an int, a (start, end) pair or a {"start", "end"}
    mapping -> an int or an inclusive (start, end) span; a one-code span becomes the int."""
    if isinstance(item, Mapping):
        if set(item) != {"start", "end"}:
            raise PydanticCustomError(
                "invalid-exit-codes",
                "an exit code range mapping needs exactly the keys 'start' and 'end'",
            )
        start, end = _exit_code(item["start"]), _exit_code(item["end"])
    elif isinstance(item, list | tuple):
        if len(item) != 2:
            raise PydanticCustomError(
                "invalid-exit-codes",
                "an exit code range is a (start, end) pair, got {item}",
                {"item": safe_repr(item)},
            )
        start, end = _exit_code(item[0]), _exit_code(item[1])
    else:
        return _exit_code(item)
    if start > end:
        raise PydanticCustomError(
            "invalid-exit-codes",
            "exit code range ({start}, {end}) has start greater than end",
            {"start": start, "end": end},
        )
    return start if start == end else (start, end)


#: An entry of ``satisfy_exit_codes``, checked one by one (every bad entry is reported).
ExitCodeItem = Annotated[int | ExitCodeSpan, PlainValidator(_exit_code_item)]


def _exit_code_list(value: object) -> tuple[object, ...]:
    """``satisfy_exit_codes`` as given -> its entries (one code or range alone is a list of
    one, and a Python ``range`` is the span it covers); each entry is checked by
    ``_exit_code_item``."""
    if isinstance(value, int | str | bytes | Mapping):
        return (value,)
    if isinstance(value, range):  # range(3, 6): codes 3 to 5, one span (not a million ints)
        if value.step == 1:
            return ((value.start, value.stop - 1),) if len(value) else ()
        return tuple(value)
    if isinstance(value, list | tuple | set | frozenset):
        return tuple(value)
    raise PydanticCustomError(
        "invalid-exit-codes",
        "satisfy_exit_codes must be a list of exit codes or (start, end) ranges",
    )


def _sorted_exit_codes(
    codes: tuple[int | ExitCodeSpan, ...],
) -> tuple[int | ExitCodeSpan, ...]:
    """Sorted and deduplicated: ints and (start, end) spans by their start."""
    return tuple(
        sorted(set(codes), key=lambda c: (c, c, 0) if isinstance(c, int) else (c[0], c[1], 1))
    )


class Task(WireModel):
    """A task as the user writes it: every wire property of a Batch task except ``id`` (the
    node key) and ``dependsOn`` (the edges), plus the failure intent.

    ``on_failure``: whether dependents run when this task fails ("block", the default, or
    "satisfy"); ``satisfy_exit_codes``: non-zero exit codes that count as success for the
    dependents; ``job_action``: what happens to the job when this task fails.
    """

    command_line: str = Field(min_length=1)
    display_name: str | None = Field(default=None, max_length=MAX_DISPLAY_NAME_LENGTH)
    container_settings: TaskContainerSettings | None = None
    resource_files: tuple[ResourceFile, ...] | None = None
    output_files: tuple[OutputFile, ...] | None = None
    environment_settings: Environment | None = None
    affinity_info: AffinityInfo | None = None
    constraints: TaskConstraints | None = None
    required_slots: PositiveInt32 | None = None
    user_identity: UserIdentity | None = None
    multi_instance_settings: MultiInstanceSettings | None = None
    application_package_references: tuple[ApplicationPackageReference, ...] | None = None
    authentication_token_settings: AuthenticationTokenSettings | None = None
    exit_conditions: ExitConditions | None = None

    on_failure: OnFailure = "block"
    satisfy_exit_codes: tuple[ExitCodeItem, ...] = ()
    job_action: JobAction | None = None

    @field_validator("command_line")
    @classmethod
    def _runnable(cls, command_line: str) -> str:
        if command_line.isspace():  # "" is refused by min_length; blanks name no program
            raise PydanticCustomError(
                "invalid-value", "the command line is blank: it names no program to run"
            )
        return no_nul(command_line, "the command line")

    @field_validator("satisfy_exit_codes", mode="before")
    @classmethod
    def _exit_code_entries(cls, value: object) -> tuple[object, ...]:
        return _exit_code_list(value)

    @field_validator("satisfy_exit_codes")
    @classmethod
    def _exit_codes_sorted(
        cls, value: tuple[int | ExitCodeSpan, ...]
    ) -> tuple[int | ExitCodeSpan, ...]:
        return _sorted_exit_codes(value)

    @model_validator(mode="wrap")
    @classmethod
    def _rules(cls, data: Any, handler: ModelWrapValidatorHandler[Task]) -> Task:
        # Most tasks give nothing the rules look at: validated as they are, without the
        # rules' reading of every field (a fifth of a task's validation).
        if isinstance(data, Mapping) and not _task_rules_apply(data):
            return handler(data)
        return with_rules(cls, data, handler, _task_rules)


def _task_rules_apply(data: Mapping[str, Any]) -> bool:
    """Whether ``_task_rules`` can find anything in ``data``: multi-instance settings, or
    environment settings other than a mapping (which cannot repeat a name) or a list or
    tuple of one (any iterable pydantic takes for a tuple may repeat one)."""
    if not _TASK_RULE_KEYS.isdisjoint(data):
        return True
    env = next((data[key] for key in _ENVIRONMENT_KEYS if key in data), None)
    if env is None or isinstance(env, Mapping):
        return False
    return not (isinstance(env, list | tuple) and len(env) < 2)


def _task_rules(get: Callable[[str], Any]) -> list[Problem]:
    problems = repeated_environment_names(get("environment_settings"), ("environment_settings",))
    # [spec-2025] requiredSlots: "For multi-instance Tasks, this must be 1." Checked against
    # a valid slot count only (an invalid one has its own error).
    slots = get("required_slots")
    if get("multi_instance_settings") is not None and _is_int(slots) and 1 < slots <= INT32_MAX:
        problems.append(
            (
                ("multi_instance_settings",),
                PydanticCustomError(
                    "multi-instance-slots",
                    "requiredSlots is {slots}; a multi-instance task must have requiredSlots 1",
                    {"slots": slots},
                ),
            )
        )
    return problems


def _accepted_names(model: type[BaseModel]) -> frozenset[str]:
    return frozenset(
        k for name, info in model.model_fields.items() for k in _field_keys(name, info)
    )


# Python names whose wire name is not their plain camelCase.
_WIRE_NAME_EXCEPTIONS: Final = {"user_name": "username", "userName": "username"}


def loc_to_wire_path(loc: tuple[int | str, ...]) -> str:
    """A pydantic error ``loc`` as a wire-name path: ("resource_files", 0, "file_path") ->
    "resourceFiles[0].filePath"."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            name = _WIRE_NAME_EXCEPTIONS.get(part) or to_camel(part)
            text += f".{name}" if text else name
    return text


#: Every key a task accepts, snake_case and camelCase (for "did you mean" suggestions).
TASK_FIELD_NAMES: Final[frozenset[str]] = _accepted_names(Task)
#: The keys a task's multi-instance settings and environment settings are given under.
_TASK_RULE_KEYS: Final = frozenset(
    _field_keys("multi_instance_settings", Task.model_fields["multi_instance_settings"])
)
_ENVIRONMENT_KEYS: Final = tuple(
    _field_keys("environment_settings", Task.model_fields["environment_settings"])
)


def accepted_names_at(model: type[BaseModel], loc: Sequence[Any]) -> frozenset[str] | None:
    """The property names accepted where an error's ``loc`` points, inside ``model``: the
    names of the model that holds its last element (``("constraints", "max_retries")`` ->
    those of ``TaskConstraints``), or None when the path leaves the models."""
    current: type[BaseModel] = model
    for part in loc[:-1]:
        if isinstance(part, int):
            continue  # an index into a list of models
        info = next((f for n, f in current.model_fields.items() if part in (n, f.alias)), None)
        inner = _model_in(info.annotation) if info is not None else None
        if inner is None:
            return None
        current = inner
    return _accepted_names(current)


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model an annotation holds (``X``, ``X | None``, ``list[X]``, ...)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


# Not wire properties of their own: the emit pass turns them into exitConditions.
_INTENT_FIELDS: Final[set[str]] = {
    "on_failure",
    "satisfy_exit_codes",
    "job_action",
    "exit_conditions",
}


# --------------------------------------------------------------------------- per version


@dataclass(frozen=True, slots=True)
class VersionIssue:
    """A property set on a task that the target api-version does not have."""

    field: str
    message: str
    hint: str


# Properties that are required in 2017 although optional in 2025.
_REQUIRED_2017: Final[dict[str, tuple[str, ...]]] = {"registry": ("username", "password")}
_V2017: Final = "2017-09-01.6.0"
_HINT_2017: Final = "use api-version 2025-06-01, or remove the property for 2017-09-01.6.0"


def _prune(
    obj: dict[str, Any], tree: Shape, path: str, issues: list[VersionIssue]
) -> dict[str, Any]:
    """Keep only the properties of ``tree``, reporting the others."""
    if tree is RESOURCE_FILE_2017 and "httpUrl" in obj:
        obj = {("blobSource" if k == "httpUrl" else k): v for k, v in obj.items()}
    out: dict[str, Any] = {}
    for key, value in obj.items():
        where = f"{path}.{key}" if path else key
        if key not in tree:
            issues.append(
                VersionIssue(
                    where,
                    f"{where} is not a property of api-version {_V2017}",
                    _HINT_2017,
                )
            )
            continue
        sub = tree[key]
        if sub is None:
            out[key] = value
        elif isinstance(value, list):
            out[key] = [_prune(v, sub, f"{where}[{i}]", issues) for i, v in enumerate(value)]
        else:
            out[key] = _prune(value, sub, where, issues)
            for required in _REQUIRED_2017.get(key, ()):
                if required not in out[key]:
                    issues.append(
                        VersionIssue(
                            f"{where}.{required}",
                            f"{where}.{required} is required in api-version {_V2017}",
                            f"set {required}, or use api-version 2025-06-01",
                        )
                    )
    return out


def task_wire_properties(
    task: Task, api_version: ApiVersion
) -> tuple[dict[str, Any], list[VersionIssue]]:
    """The task's plain properties as the camelCase wire dict of ``api_version``.

    Not included: ``id``, ``dependsOn``, ``exitConditions`` and the failure intent (the emit
    pass adds those). The second item lists properties the version does not have; they are
    left out of the dict.
    """
    wire = task.model_dump(mode="json", by_alias=True, exclude_none=True, exclude=_INTENT_FIELDS)
    if api_version != _V2017:
        return wire, []
    issues: list[VersionIssue] = []
    return _prune(wire, TASK_SHAPE_2017, "", issues), issues


def exit_conditions_wire(ec: ExitConditions, api_version: ApiVersion) -> dict[str, Any]:
    """``exitConditions`` as a camelCase wire dict. Both spec versions call the start-up
    failure entry ``preProcessingError`` ([spec-2017] ExitConditions has no
    ``schedulingError``); the shape is the same in both."""
    del api_version  # identical in both versions
    return ec.model_dump(mode="json", by_alias=True, exclude_none=True)


# --------------------------------------------------------------------------- the job


class JobConstraints(WireModel):
    max_wall_clock_time: Duration | None = None
    max_task_retry_count: RetryCount | None = None


class MetadataItem(WireModel):
    name: str
    value: str


def _metadata(value: object) -> object:
    """Accept {"name": "value", ...} as well as [{"name": ..., "value": ...}, ...]."""
    if isinstance(value, Mapping):
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
            raise PydanticCustomError(
                "invalid-metadata", "job metadata names and values must be strings"
            )
        return tuple({"name": k, "value": v} for k, v in sorted(value.items()))
    return value


class JobSettings(WireModel):
    """Job-level settings from ``graph.graph["job"]`` or the command line."""

    id: str | None = None
    display_name: str | None = Field(default=None, max_length=MAX_DISPLAY_NAME_LENGTH)
    pool_id: str | None = None
    #: [spec-2025] priority: -1000 (lowest) to 1000 (highest).
    priority: (
        Annotated[int, Field(ge=limits.MIN_JOB_PRIORITY, le=limits.MAX_JOB_PRIORITY), NotBool]
        | None
    ) = None
    #: [spec-2025] maxParallelTasks: -1 (no limit) or greater than 0 (2025 only).
    max_parallel_tasks: (
        Annotated[int, Field(ge=limits.NO_PARALLEL_TASKS_LIMIT, le=INT32_MAX), NotBool] | None
    ) = None
    constraints: JobConstraints | None = None
    on_all_tasks_complete: AllTasksComplete | None = None
    on_task_failure: TaskFailureMode | None = None
    metadata: Annotated[tuple[MetadataItem, ...], BeforeValidator(_metadata)] | None = None
    common_environment_settings: Environment | None = None
    #: The pool's node OS: picks the barrier tasks' command line. Not sent to Batch.
    pool_os: PoolOs | None = None

    @field_validator("id", "pool_id")
    @classmethod
    def _batch_id(cls, value: str | None, info: ValidationInfo) -> str | None:
        """A job or pool id Batch takes (the same rule for both: letters, digits, '-' and
        '_', at most 64), worded as a task id's problems are (the codes included), as
        ``--job-id`` and ``--pool-id`` are checked."""
        if value is None:
            return None
        what = "job id" if info.field_name == "id" else "pool id"
        if len(value) > MAX_ID_LENGTH:
            raise PydanticCustomError(
                "id-too-long",
                "{what} is {n} characters; Batch allows at most {limit}",
                {"what": what, "n": len(value), "limit": MAX_ID_LENGTH},
            )
        bad = limits.refused_id_chars(value)
        if not value:
            raise PydanticCustomError("invalid-id", "{what} is empty", {"what": what})
        if bad:
            raise PydanticCustomError(
                "invalid-id",
                "{what} has characters Batch does not allow: {bad}; ids may use letters, "
                "digits, '-' and '_' only",
                {"what": what, "bad": ", ".join(map(repr, bad))},
            )
        return value

    @model_validator(mode="wrap")
    @classmethod
    def _rules(cls, data: Any, handler: ModelWrapValidatorHandler[JobSettings]) -> JobSettings:
        return with_rules(
            cls,
            data,
            handler,
            lambda get: repeated_environment_names(
                get("common_environment_settings"), ("common_environment_settings",)
            ),
        )

    @field_validator("max_parallel_tasks")
    @classmethod
    def _not_zero(cls, value: int | None) -> int | None:
        if value == 0:
            raise PydanticCustomError(
                "invalid-max-parallel-tasks",
                "maxParallelTasks must be -1 (no limit) or greater than 0",
            )
        return value


#: Each key a job setting is given under (snake_case, camelCase, aliases) -> its field name.
JOB_FIELD_BY_KEY: Final[Mapping[str, str]] = {
    key: name for name, info in JobSettings.model_fields.items() for key in _field_keys(name, info)
}
#: Each key a task property is given under (name, alias, validation aliases) -> its field.
TASK_FIELD_BY_KEY: Final[Mapping[str, str]] = {
    key: name for name, info in Task.model_fields.items() for key in _field_keys(name, info)
}


#: Job properties that api-version 2017-09-01.6.0 (JobAddParameter) does not have.
_JOB_ONLY_2025: Final = ("maxParallelTasks",)


def job_wire(
    job: JobSettings, api_version: ApiVersion, *, job_id: str | None = None
) -> dict[str, Any]:
    """The Add Job body's user settings (camelCase; ``pool_id`` becomes
    ``poolInfo: {"poolId": ...}``). ``job_id`` overrides ``job.id``. The caller adds
    ``usesTaskDependencies`` / ``onTaskFailure`` as the plan needs. Properties the version
    does not have are left out; ``job_version_issues`` reports them."""
    wire = job.model_dump(mode="json", by_alias=True, exclude_none=True, exclude={"pool_os"})
    if job_id is not None:
        wire["id"] = job_id
    pool = wire.pop("poolId", None)
    out = {k: v for k, v in wire.items() if not (api_version == _V2017 and k in _JOB_ONLY_2025)}
    if pool is not None:
        out["poolInfo"] = {"poolId": pool}
    return out


def job_version_issues(job: JobSettings, api_version: ApiVersion) -> list[VersionIssue]:
    """Job settings that ``api_version`` does not have."""
    if api_version != _V2017:
        return []
    wire = job.model_dump(by_alias=True, exclude_none=True, exclude={"pool_os"})
    return [
        VersionIssue(key, f"{key} is not a property of api-version {_V2017}", _HINT_2017)
        for key in _JOB_ONLY_2025
        if key in wire
    ]
