"""What the emulator accepts on the wire: the task property tables and the Batch error body.

The tables list, per api-version, every property name a task (``BatchTaskCreateOptions`` in
2025-06-01, ``TaskAddParameter`` in 2017-09-01.6.0) may carry, nested object by nested object.
They were written from the official OpenAPI files ([spec-2025], [spec-2017] in
``dagbatch/rules.py``); the emulator never reads the spec files at runtime.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import orjson

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

_RESOURCE_FILE_2017: Final[Shape] = {"blobSource": None, "filePath": None, "fileMode": None}
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
    "resourceFiles": _RESOURCE_FILE_2017,
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
        "commonResourceFiles": _RESOURCE_FILE_2017,
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


def iter_exit_options(exit_conditions: Any) -> list[dict[str, Any]]:
    """Every ``exitOptions`` object inside an ``exitConditions`` value."""
    found: list[dict[str, Any]] = []
    if not isinstance(exit_conditions, dict):
        return found
    for key in ("exitCodes", "exitCodeRanges"):
        entries = exit_conditions.get(key)
        if isinstance(entries, list):
            for entry in entries:
                if isinstance(entry, dict) and isinstance(entry.get("exitOptions"), dict):
                    found.append(entry["exitOptions"])
    for key in ("preProcessingError", "schedulingError", "fileUploadError", "default"):
        options = exit_conditions.get(key)
        if isinstance(options, dict):
            found.append(options)
    return found


def error_dict(code: str, message: str, values: Mapping[str, str] | None = None) -> dict[str, Any]:
    """A Batch ``BatchError`` object (also used as the per-task ``error``)."""
    body: dict[str, Any] = {"code": code, "message": {"lang": "en-US", "value": message}}
    if values:
        body["values"] = [{"key": k, "value": v} for k, v in values.items()]
    return body


def error_body(
    base_url: str, code: str, message: str, values: Mapping[str, str] | None = None
) -> bytes:
    """The whole-request error body the service sends, serialized."""
    metadata = f"{base_url}/$metadata#Microsoft.Azure.Batch.Protocol.Entities.Container.errors"
    body: dict[str, Any] = {"odata.metadata": f"{metadata}/@Element"}
    body.update(error_dict(code, message, values))
    return orjson.dumps(body)
