"""Comparing a task we sent with the one the service holds (a ``TaskExists`` answer is
accepted only when the existing task is the one this submission sent)."""

from __future__ import annotations

from typing import Any

import orjson

#: Properties the service never adds by itself: present on the existing task but absent from
#: what we sent means it is another task. Other properties (constraints, userIdentity, ...) get
#: service defaults, so only what we sent is compared for them.
_STRICT_KEYS = frozenset(
    {
        "commandLine",
        "dependsOn",
        "resourceFiles",
        "environmentSettings",
        "multiInstanceSettings",
        "outputFiles",
        "applicationPackageReferences",
        "exitConditions",
        "displayName",
    }
)
#: Enum-valued keys: compared ignoring case (older service versions answer in PascalCase).
_ENUM_KEYS = frozenset(
    {
        "dependencyAction",
        "jobAction",
        "scope",
        "elevationLevel",
        "uploadCondition",
        "access",
        "workingDirectory",
        "containerHostBatchBindMounts",
        "source",
    }
)
#: Lists whose order carries no meaning.
_UNORDERED_KEYS = frozenset({"taskIds", "taskIdRanges", "environmentSettings", "exitCodes"})


def _empty(value: Any) -> bool:
    return value is None or value == [] or value == {}


def _sort_key(value: Any) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def _diff(sent: Any, found: Any, path: str, key: str, out: list[str]) -> None:
    if isinstance(sent, dict):
        if not isinstance(found, dict):
            out.append(path)
            return
        for k, v in sent.items():
            if _empty(v) and _empty(found.get(k)):
                continue
            _diff(v, found.get(k), f"{path}.{k}", k, out)
        return
    if isinstance(sent, list):
        if not isinstance(found, list) or len(found) != len(sent):
            out.append(path)
            return
        if key in _UNORDERED_KEYS:
            sent = sorted(sent, key=_sort_key)
            found = sorted(found, key=_sort_key)
        for i, (a, b) in enumerate(zip(sent, found, strict=True)):
            _diff(a, b, f"{path}[{i}]", key, out)
        return
    if isinstance(sent, str) and isinstance(found, str) and key in _ENUM_KEYS:
        if sent.lower() != found.lower():
            out.append(path)
        return
    if isinstance(sent, bool) or isinstance(found, bool):
        if sent is not found:
            out.append(path)
        return
    if sent != found:
        out.append(path)


def task_differences(sent: dict[str, Any], existing: dict[str, Any]) -> list[str]:
    """The properties where ``existing`` (a GET answer) differs from ``sent``; [] = same task.

    Everything we sent must be there with the same value (ignoring enum case and the order of
    dependency lists); fields the service adds (url, eTag, state, creationTime, defaults) are
    ignored, except the ``_STRICT_KEYS`` which must be absent when we did not send them.
    """
    out: list[str] = []
    if existing.get("id") != sent.get("id"):
        out.append("id")
    for key, value in sent.items():
        if key == "id" or (_empty(value) and _empty(existing.get(key))):
            continue
        _diff(value, existing.get(key), key, key, out)
    for key in _STRICT_KEYS:
        if key not in sent and not _empty(existing.get(key)):
            out.append(key)
    return out
