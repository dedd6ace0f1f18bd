"""Comparing a task we sent with the one the service holds (a ``TaskExists`` answer is
accepted only when the existing task is the one this submission sent)."""

from __future__ import annotations

from typing import Any

import orjson

from dagbatch import limits

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
        "containerSettings",
        "affinityInfo",
        "authenticationTokenSettings",
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


def task_differences(
    sent: dict[str, Any],
    existing: dict[str, Any],
    *,
    defaults: bool = False,
    job_retries: int | None = None,
) -> list[str]:
    """The properties where ``existing`` (a GET answer) differs from ``sent``; [] = same task.

    Everything we sent must be there with the same value (ignoring enum case and the order of
    dependency lists); fields the service adds (url, eTag, state, creationTime, defaults) are
    ignored, except the ``_STRICT_KEYS`` which must be absent when we did not send them.

    ``defaults``: the properties the service fills in when a task leaves them out must hold
    the service's own values where ``sent`` leaves them out (``_default_differences``): for
    a task this submission did not add (``--adopt-existing``), which could have been made
    with any of them. (A task we sent ourselves is compared without: a value the service
    fills in that we did not foresee must not make our own task a conflict.)
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
    if defaults:
        out.extend(_default_differences(sent, existing, job_retries))
    return out


def _default_differences(
    sent: dict[str, Any], existing: dict[str, Any], job_retries: int | None
) -> list[str]:
    """The properties ``sent`` leaves out that ``existing`` holds with a value other than
    the one the service gives a task without them [spec-2025 BatchTask, BatchTaskConstraints]:
    ``requiredSlots`` 1; a ``userIdentity`` of no named user, not elevated (the spec names
    two default scopes; either is taken); ``constraints``: no wall-clock limit, 7 days'
    retention, the job's retry count (0 without one)."""
    out: list[str] = []
    if "requiredSlots" not in sent and existing.get("requiredSlots") not in (None, 1):
        out.append("requiredSlots")
    if "userIdentity" not in sent:
        identity = existing.get("userIdentity") or {}
        auto = identity.get("autoUser") or {}
        level = str(auto.get("elevationLevel") or "nonadmin").lower()
        if identity.get("username") or level != "nonadmin":
            out.append("userIdentity")
    given = sent.get("constraints") or {}
    found = existing.get("constraints") or {}
    retries = {None, 0, job_retries}
    for name, usual in (
        ("maxWallClockTime", {None, limits.UNLIMITED_DURATION}),
        ("retentionTime", {None, limits.DEFAULT_RETENTION}),
        ("maxTaskRetryCount", retries),
    ):
        if name not in given and found.get(name) not in usual:
            out.append(f"constraints.{name}")
    return out
