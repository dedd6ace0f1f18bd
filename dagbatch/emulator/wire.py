"""What the emulator accepts on the wire, and the Batch error body.

The property tables (``dagbatch.wireshape``) list, per api-version, every property a task may
carry, nested object by nested object, written from the official OpenAPI files; the emulator
never reads the spec files at runtime.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from dagbatch.wireshape import (
    Shape,
    ShapeCheck,
    only_known,
    task_shape,
    task_shape_check,
    unknown_property,
)

__all__ = [
    "Shape",
    "ShapeCheck",
    "error_body",
    "error_dict",
    "iter_exit_options",
    "only_known",
    "task_shape",
    "task_shape_check",
    "unknown_property",
]


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
