"""Which properties a task has on the wire, per api-version, as a tree of wire names.

Written from the official OpenAPI files ([spec-2025] ``BatchTaskCreateOptions``, [spec-2017]
``TaskAddParameter``; sources in ``dagbatch/rules.py``). The emulator rejects what the tree
does not know, as the service does; the models prune what the 2017 schema lacks.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

#: A shape maps each property name to the shape of its value (an object or a list of objects),
#: or to None when the value is a scalar or a list of scalars.
Shape = Mapping[str, "Shape | None"]

_EXIT_OPTIONS: Final[Shape] = {"jobAction": None, "dependencyAction": None}
_EXIT_CONDITIONS: Final[Shape] = {
    "exitCodes": {"code": None, "exitOptions": _EXIT_OPTIONS},
    "exitCodeRanges": {"start": None, "end": None, "exitOptions": _EXIT_OPTIONS},
    "preProcessingError": _EXIT_OPTIONS,
    "fileUploadError": _EXIT_OPTIONS,
    "default": _EXIT_OPTIONS,
}
_DEPENDS_ON: Final[Shape] = {"taskIds": None, "taskIdRanges": {"start": None, "end": None}}
_ENV: Final[Shape] = {"name": None, "value": None}
_CONSTRAINTS: Final[Shape] = {
    "maxWallClockTime": None,
    "retentionTime": None,
    "maxTaskRetryCount": None,
}
_USER: Final[Shape] = {"username": None, "autoUser": {"scope": None, "elevationLevel": None}}
_APP_PACKAGE: Final[Shape] = {"applicationId": None, "version": None}
_TOKEN: Final[Shape] = {"access": None}

_IDENTITY_2025: Final[Shape] = {"resourceId": None}
_RESOURCE_FILE_2025: Final[Shape] = {
    "autoStorageContainerName": None,
    "storageContainerUrl": None,
    "httpUrl": None,
    "blobPrefix": None,
    "filePath": None,
    "fileMode": None,
    "identityReference": _IDENTITY_2025,
}
TASK_SHAPE_2025: Final[Shape] = {
    "id": None,
    "displayName": None,
    "exitConditions": _EXIT_CONDITIONS,
    "commandLine": None,
    "containerSettings": {
        "containerRunOptions": None,
        "imageName": None,
        "registry": {
            "username": None,
            "password": None,
            "registryServer": None,
            "identityReference": _IDENTITY_2025,
        },
        "workingDirectory": None,
        "containerHostBatchBindMounts": {"source": None, "isReadOnly": None},
    },
    "resourceFiles": _RESOURCE_FILE_2025,
    "outputFiles": {
        "filePattern": None,
        "destination": {
            "container": {
                "path": None,
                "containerUrl": None,
                "identityReference": _IDENTITY_2025,
                "uploadHeaders": {"name": None, "value": None},
            }
        },
        "uploadOptions": {"uploadCondition": None},
    },
    "environmentSettings": _ENV,
    "affinityInfo": {"affinityId": None},
    "constraints": _CONSTRAINTS,
    "requiredSlots": None,
    "userIdentity": _USER,
    "multiInstanceSettings": {
        "numberOfInstances": None,
        "coordinationCommandLine": None,
        "commonResourceFiles": _RESOURCE_FILE_2025,
    },
    "dependsOn": _DEPENDS_ON,
    "applicationPackageReferences": _APP_PACKAGE,
    "authenticationTokenSettings": _TOKEN,
}

RESOURCE_FILE_2017: Final[Shape] = {"blobSource": None, "filePath": None, "fileMode": None}
TASK_SHAPE_2017: Final[Shape] = {
    "id": None,
    "displayName": None,
    "commandLine": None,
    "containerSettings": {
        "containerRunOptions": None,
        "imageName": None,
        "registry": {"registryServer": None, "username": None, "password": None},
    },
    "exitConditions": _EXIT_CONDITIONS,
    "resourceFiles": RESOURCE_FILE_2017,
    "outputFiles": {
        "filePattern": None,
        "destination": {"container": {"path": None, "containerUrl": None}},
        "uploadOptions": {"uploadCondition": None},
    },
    "environmentSettings": _ENV,
    "affinityInfo": {"affinityId": None},
    "constraints": _CONSTRAINTS,
    "userIdentity": _USER,
    "multiInstanceSettings": {
        "numberOfInstances": None,
        "coordinationCommandLine": None,
        "commonResourceFiles": RESOURCE_FILE_2017,
    },
    "dependsOn": _DEPENDS_ON,
    "applicationPackageReferences": _APP_PACKAGE,
    "authenticationTokenSettings": _TOKEN,
}


def task_shape(api_version: str) -> Shape:
    """The task shape for this api-version; any version other than 2017-09-01.6.0 is 2025."""
    return TASK_SHAPE_2017 if api_version == "2017-09-01.6.0" else TASK_SHAPE_2025


def unknown_property(value: Any, shape: Shape, prefix: str = "") -> str | None:
    """The dotted path of the first property of ``value`` that ``shape`` does not know."""
    if isinstance(value, list):
        for item in value:
            found = unknown_property(item, shape, prefix)
            if found is not None:
                return found
        return None
    if not isinstance(value, dict):
        return None
    for name, child in value.items():
        if name not in shape:
            return f"{prefix}{name}"
        sub = shape[name]
        if sub is not None and child is not None:
            found = unknown_property(child, sub, f"{prefix}{name}.")
            if found is not None:
                return found
    return None


@dataclass(frozen=True, slots=True)
class ShapeCheck:
    """A shape compiled for ``only_known``: its names, and the checks of the names whose
    values are objects (or lists of objects)."""

    names: frozenset[str]
    nested: Mapping[str, ShapeCheck]
    nested_names: frozenset[str]


def compile_shape(shape: Shape) -> ShapeCheck:
    """The ``ShapeCheck`` of a shape."""
    nested = {name: compile_shape(sub) for name, sub in shape.items() if sub is not None}
    return ShapeCheck(frozenset(shape), nested, frozenset(nested))


def only_known(value: Any, check: ShapeCheck) -> bool:
    """True when ``unknown_property(value, shape)`` is None for the shape ``check`` was
    compiled from: the same walk with set operations and no paths built (the emulator runs
    it on every task it receives, ``unknown_property`` only to name what it rejects)."""
    if isinstance(value, dict):
        if not check.names.issuperset(value):
            return False
        if check.nested_names.isdisjoint(value):
            return True
        nested = check.nested
        for name in check.nested_names.intersection(value):
            child = value[name]
            if child is not None and not only_known(child, nested[name]):
                return False
        return True
    if isinstance(value, list):
        for item in value:
            if not only_known(item, check):
                return False
    return True


TASK_CHECK_2025: Final = compile_shape(TASK_SHAPE_2025)
TASK_CHECK_2017: Final = compile_shape(TASK_SHAPE_2017)


def task_shape_check(api_version: str) -> ShapeCheck:
    """The compiled ``task_shape`` of this api-version."""
    return TASK_CHECK_2017 if api_version == "2017-09-01.6.0" else TASK_CHECK_2025


# --- what a task's exitConditions decide ---


def _options_for_code(conditions: Mapping[str, Any], code: int) -> Mapping[str, Any] | None:
    # exitCodes first, then exitCodeRanges [BATCH_FACTS run-time rules 5]; which wins when
    # both match is not documented: the exact code, listed first in the spec, is taken.
    for entry in conditions.get("exitCodes") or ():
        if isinstance(entry, dict) and entry.get("code") == code:
            return entry.get("exitOptions") or {}
    for entry in conditions.get("exitCodeRanges") or ():
        if isinstance(entry, dict) and entry.get("start", 1) <= code <= entry.get("end", 0):
            return entry.get("exitOptions") or {}
    return None


#: failureInfo code of a task whose process exited with a non-zero code, and nothing else
#: went wrong [BATCH_FACTS 1].
EXIT_CODE_FAILURE = "FailureExitCode"


def counts_as_success(
    conditions: Mapping[str, Any] | None, code: int | None, failure_code: str | None
) -> bool:
    """Whether an ending Batch records as a failure is one the task's ``exitConditions``
    treat as a success: its process exited with a non-zero ``code`` (and nothing else went
    wrong) that ``exitCodes`` or ``exitCodeRanges`` list with the very actions exit code 0
    gets: the same ``dependencyAction`` (satisfy, or block where the dependents are failure
    handlers) and no job action. That is how a workflow's ``satisfy_exit_codes`` ("non-zero
    codes that count as success") reach Batch, which still records the task's result as
    ``failure`` [BATCH_FACTS 1, run-time rules 5]. A failure satisfied only through
    ``default`` (a task whose dependents run whatever it does) stays a failure."""
    if not code or failure_code not in (None, EXIT_CODE_FAILURE) or not conditions:
        return False
    options = _options_for_code(conditions, code)
    if options is None or str(options.get("jobAction") or "none").lower() != "none":
        return False
    # Unset, an action takes Batch's default: satisfy for exit code 0, block for the others
    # [BATCH_FACTS run-time rules 4, 5].
    success = _options_for_code(conditions, 0) or {}
    return (
        str(options.get("dependencyAction") or "block").lower()
        == str(success.get("dependencyAction") or "satisfy").lower()
    )


def exit_actions(
    conditions: Mapping[str, Any] | None, kind: str, code: int | None, ok: bool
) -> tuple[str, str]:
    """(dependencyAction, jobAction) for a task that ended ``kind`` with ``code``.

    ``kind``: ``exit`` (the process ended, or was killed), ``preprocessing`` (it never started:
    resource files, launch), ``upload`` (output files failed after it ran). The order is
    Batch's [BATCH_FACTS run-time rules 5]: exitCodes, exitCodeRanges, then
    preProcessingError / fileUploadError (a matching exit code takes precedence over
    fileUploadError), then ``default`` (non-zero codes
    and the errors without their own entry; exit code 0 changes only if listed). Unset
    actions take Batch's defaults: satisfy / none for success, block / terminate otherwise
    [BATCH_FACTS run-time rules 4, 5].
    """
    options: Mapping[str, Any] | None = None
    if conditions:
        if code is not None and kind != "preprocessing":
            options = _options_for_code(conditions, code)
        if options is None:
            if kind == "preprocessing":
                # Present, even empty, it is the entry (its actions Batch's defaults), as
                # fileUploadError's is: ``default`` only when "not present" [spec-2025
                # ExitConditions.default]. (schedulingError: its name before 2018.)
                options = conditions.get("preProcessingError")
                if options is None:
                    options = conditions.get("schedulingError")
            elif kind == "upload":
                options = conditions.get("fileUploadError")
            if options is None and not ok:
                options = conditions.get("default")
    options = options or {}
    dependency = options.get("dependencyAction") or ("satisfy" if ok else "block")
    job_action = options.get("jobAction") or ("none" if ok else "terminate")
    return str(dependency), str(job_action)
