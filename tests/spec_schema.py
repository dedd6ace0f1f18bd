"""Validate request bodies against the official Batch OpenAPI excerpts (test helper).

The swagger 2.0 definitions of ``shared/spec/`` are turned into a draft-4 JSON Schema:
object definitions get ``additionalProperties: false`` (so unknown properties are caught),
``readOnly`` properties are dropped (a request must not send them), ``x-nullable: true``
allows null, int32/int64 formats become ranges and ``format: duration`` an ISO 8601 pattern.
Definitions the excerpts reference but do not include (job manager task, pool info, ...)
get small stand-ins written from the full spec files.

Usage::

    errors = validate_task_collection({"value": [...]}, "2025-06-01")
    assert errors == []
"""

from __future__ import annotations

import copy
import functools
import json
import os
from pathlib import Path
from typing import Any

import jsonschema

_FILES = {
    "2025-06-01": "batch-2025-06-01.excerpt.json",
    "2017-09-01.6.0": "batch-2017-09-01.6.0.excerpt.json",
}
_TASK_COLLECTION = {"2025-06-01": "BatchTaskGroup", "2017-09-01.6.0": "TaskAddCollectionParameter"}
_JOB = {"2025-06-01": "BatchJobCreateOptions", "2017-09-01.6.0": "JobAddParameter"}

_INT_RANGES = {"int32": (-(2**31), 2**31 - 1), "int64": (-(2**63), 2**63 - 1)}
_DURATION_PATTERN = r"^P(?=\d|T\d)(\d+Y)?(\d+M)?(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+(\.\d+)?S)?)?$"

# Stand-ins for definitions referenced by the job bodies but left out of the excerpts. The
# pool info and metadata item shapes are those of the full spec files; the job manager /
# preparation / release tasks and the network configuration are only required to be objects.
_STANDINS: dict[str, dict[str, dict[str, Any]]] = {
    "2025-06-01": {
        "BatchPoolInfo": {
            "type": "object",
            "properties": {"poolId": {"type": "string"}, "autoPoolSpecification": {}},
        },
        "BatchMetadataItem": {
            "type": "object",
            "properties": {"name": {"type": "string"}, "value": {"type": "string"}},
            "required": ["name", "value"],
        },
        "BatchJobManagerTask": {"type": "object", "x-standin": True},
        "BatchJobPreparationTask": {"type": "object", "x-standin": True},
        "BatchJobReleaseTask": {"type": "object", "x-standin": True},
        "BatchJobNetworkConfiguration": {"type": "object", "x-standin": True},
    },
    "2017-09-01.6.0": {
        "PoolInformation": {
            "properties": {"poolId": {"type": "string"}, "autoPoolSpecification": {}},
        },
        "MetadataItem": {
            "properties": {"name": {"type": "string"}, "value": {"type": "string"}},
            "required": ["name", "value"],
        },
        "JobManagerTask": {"type": "object", "x-standin": True},
        "JobPreparationTask": {"type": "object", "x-standin": True},
        "JobReleaseTask": {"type": "object", "x-standin": True},
    },
}

# [spec-2025] BatchTaskGroup.value says "The maximum count of Tasks is 100." in prose only;
# [spec-2017] says it as maxItems. Make both machine-checked.
_MAX_ITEMS = {("2025-06-01", "BatchTaskGroup", "value"): 100}


def spec_dir() -> Path:
    """``tests/data/spec`` in the repository (see its README for the source), or
    ``$DAGBATCH_SPEC_DIR``."""
    env = os.environ.get("DAGBATCH_SPEC_DIR")
    if env:
        return Path(env)
    return Path(__file__).resolve().parent / "data" / "spec"


@functools.cache
def load_spec(api_version: str) -> dict[str, Any]:
    """The raw swagger excerpt of ``api_version``."""
    if api_version not in _FILES:
        raise ValueError(f"unknown api-version {api_version!r}")
    path = spec_dir() / _FILES[api_version]
    with path.open(encoding="utf-8") as fh:
        spec: dict[str, Any] = json.load(fh)
    return spec


def _convert(node: Any) -> Any:
    """One swagger schema node -> JSON Schema (recursively)."""
    if isinstance(node, list):
        return [_convert(x) for x in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        # Siblings of $ref (description, x-ms-client-name, ...) carry no constraint.
        return {"$ref": node["$ref"]}
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in ("description", "title", "example", "x-ms-enum", "x-ms-client-name"):
            continue
        if key == "properties":
            out[key] = {
                name: _convert(sub)
                for name, sub in value.items()
                if not (isinstance(sub, dict) and sub.get("readOnly"))
            }
        elif key in ("items", "additionalProperties", "allOf", "not"):
            out[key] = _convert(value)
        elif key == "discriminator":
            # Swagger polymorphism: none in these excerpts. Fail loudly rather than check
            # a polymorphic body wrongly if a later excerpt brings one.
            raise NotImplementedError(f"swagger discriminator {value!r} is not supported")
        else:
            out[key] = copy.deepcopy(value)
    fmt = node.get("format")
    if fmt in _INT_RANGES and node.get("type") == "integer":
        low, high = _INT_RANGES[fmt]
        out.setdefault("minimum", low)
        out.setdefault("maximum", high)
    if fmt == "duration" and node.get("type") == "string":
        out.setdefault("pattern", _DURATION_PATTERN)
    if "properties" in node or node.get("type") == "object":
        out["type"] = "object"
        if "additionalProperties" not in node and not node.get("x-standin") and "allOf" not in node:
            out["additionalProperties"] = False
        if "required" in out:
            out["required"] = [r for r in out["required"] if r in out.get("properties", {})]
            if not out["required"]:
                del out["required"]
    out.pop("x-standin", None)
    if node.get("x-nullable") is True and "type" in out:
        out["type"] = [out["type"], "null"]
    return out


@functools.cache
def _definitions(api_version: str) -> dict[str, Any]:
    spec = load_spec(api_version)
    raw = dict(_STANDINS[api_version])
    raw.update(spec["definitions"])
    defs = {name: _convert(schema) for name, schema in raw.items()}
    for (version, name, prop), limit in _MAX_ITEMS.items():
        if version == api_version:
            defs[name]["properties"][prop].setdefault("maxItems", limit)
    return defs


@functools.cache
def _validator(api_version: str, root: str) -> jsonschema.Draft4Validator:
    schema = {"definitions": _definitions(api_version), "$ref": f"#/definitions/{root}"}
    jsonschema.Draft4Validator.check_schema(schema)
    return jsonschema.Draft4Validator(schema)


def _path(error: jsonschema.ValidationError) -> str:
    text = ""
    for part in error.absolute_path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "<body>"


def _validate(body: Any, api_version: str, root: str) -> list[str]:
    validator = _validator(api_version, root)
    errors = [f"{_path(e)}: {_message(e)}" for e in validator.iter_errors(body)]
    return sorted(errors)


def _message(error: jsonschema.ValidationError) -> str:
    if error.validator == "maxItems" and isinstance(error.instance, list):
        return f"has {len(error.instance)} items, more than {error.validator_value}"
    if error.validator == "pattern" and error.validator_value == _DURATION_PATTERN:
        return f"{error.instance!r} is not an ISO 8601 duration"
    message = error.message
    return message if len(message) <= 400 else message[:400] + "..."


def validate_task_collection(body: dict[str, Any], api_version: str) -> list[str]:
    """Errors of an addtaskcollection body (``{"value": [task, ...]}``); empty = valid."""
    return _validate(body, api_version, _TASK_COLLECTION[api_version])


def validate_task(task: dict[str, Any], api_version: str) -> list[str]:
    """Errors of one task body (``BatchTaskCreateOptions`` / ``TaskAddParameter``)."""
    return _validate({"value": [task]}, api_version, _TASK_COLLECTION[api_version])


def validate_job(body: dict[str, Any], api_version: str) -> list[str]:
    """Errors of an Add Job body; empty = valid."""
    return _validate(body, api_version, _JOB[api_version])
