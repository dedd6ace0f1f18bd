"""The spec-schema helper accepts good bodies and rejects bad ones, for both api-versions."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from spec_schema import spec_dir, validate_job, validate_task, validate_task_collection

V2025 = "2025-06-01"
V2017 = "2017-09-01.6.0"

EXIT_CONDITIONS = {
    "exitCodes": [{"code": 3, "exitOptions": {"dependencyAction": "satisfy", "jobAction": "none"}}],
    "exitCodeRanges": [{"start": 10, "end": 20, "exitOptions": {"dependencyAction": "block"}}],
    "preProcessingError": {"jobAction": "terminate"},
    "fileUploadError": {"jobAction": "disable"},
    "default": {"dependencyAction": "block"},
}

GOOD_2025: dict[str, Any] = {
    "value": [
        {
            "id": "prep",
            "displayName": "Prepare",
            "commandLine": "/bin/sh -c 'echo hi'",
            "resourceFiles": [
                {"httpUrl": "https://a.blob.core.windows.net/c/x.txt", "filePath": "x.txt"},
                {"storageContainerUrl": "https://a.blob.core.windows.net/c", "blobPrefix": "in/"},
                {"autoStorageContainerName": "inputs", "filePath": "inputs", "fileMode": "0755"},
            ],
            "environmentSettings": [{"name": "MODE", "value": "fast"}],
            "constraints": {"maxWallClockTime": "PT1H", "maxTaskRetryCount": -1},
            "requiredSlots": 2,
            "userIdentity": {"autoUser": {"scope": "pool", "elevationLevel": "admin"}},
        },
        {
            "id": "7",
            "commandLine": "run",
            "dependsOn": {"taskIds": ["prep"], "taskIdRanges": [{"start": 1, "end": 5}]},
            "exitConditions": EXIT_CONDITIONS,
            "userIdentity": {"username": "batchuser"},
        },
    ]
}

GOOD_2017: dict[str, Any] = {
    "value": [
        {
            "id": "prep",
            "commandLine": "cmd /c echo hi",
            "resourceFiles": [
                {"blobSource": "https://a.blob.core.windows.net/c/x.txt", "filePath": "x.txt"}
            ],
            "constraints": {"retentionTime": "P1D"},
            "userIdentity": {"autoUser": {"scope": "task", "elevationLevel": "nonadmin"}},
        },
        {
            "id": "7",
            "commandLine": "run",
            "dependsOn": {"taskIds": ["prep"]},
            "exitConditions": EXIT_CONDITIONS,
        },
    ]
}

GOOD = {V2025: GOOD_2025, V2017: GOOD_2017}


def test_spec_files_are_found() -> None:
    assert (spec_dir() / "batch-2025-06-01.excerpt.json").is_file()


@pytest.mark.parametrize("version", [V2025, V2017])
def test_good_body_is_valid(version: str) -> None:
    assert validate_task_collection(GOOD[version], version) == []


@pytest.mark.parametrize("version", [V2025, V2017])
def test_unknown_property_is_rejected(version: str) -> None:
    body = copy.deepcopy(GOOD[version])
    body["value"][0]["comandLine"] = "typo"
    errors = validate_task_collection(body, version)
    assert len(errors) == 1
    assert errors[0].startswith("value[0]:") and "comandLine" in errors[0]


@pytest.mark.parametrize("version", [V2025, V2017])
def test_nested_unknown_property_is_rejected(version: str) -> None:
    body = copy.deepcopy(GOOD[version])
    body["value"][1]["exitConditions"]["default"]["dependency_action"] = "block"
    errors = validate_task_collection(body, version)
    assert errors and errors[0].startswith("value[1].exitConditions.default:")


@pytest.mark.parametrize("version", [V2025, V2017])
def test_missing_command_line_is_rejected(version: str) -> None:
    body = copy.deepcopy(GOOD[version])
    del body["value"][1]["commandLine"]
    errors = validate_task_collection(body, version)
    assert errors == ["value[1]: 'commandLine' is a required property"]


@pytest.mark.parametrize("version", [V2025, V2017])
def test_enum_values_are_case_sensitive(version: str) -> None:
    body = copy.deepcopy(GOOD[version])
    body["value"][0]["userIdentity"]["autoUser"]["elevationLevel"] = "nonAdmin"
    errors = validate_task_collection(body, version)
    assert len(errors) == 1
    assert "value[0].userIdentity.autoUser.elevationLevel" in errors[0]
    assert "'nonadmin', 'admin'" in errors[0]


def test_blob_source_is_not_a_2025_property() -> None:
    task = {"id": "a", "commandLine": "x", "resourceFiles": [{"blobSource": "u", "filePath": "p"}]}
    errors = validate_task(task, V2025)
    assert len(errors) == 1 and "'blobSource' was unexpected" in errors[0]
    assert validate_task(task, V2017) == []


def test_http_url_is_not_a_2017_property() -> None:
    task = {"id": "a", "commandLine": "x", "resourceFiles": [{"httpUrl": "u", "filePath": "p"}]}
    assert validate_task(task, V2025) == []
    errors = validate_task(task, V2017)
    assert "value[0].resourceFiles[0]: 'blobSource' is a required property" in errors
    assert any("'httpUrl' was unexpected" in e for e in errors)


def test_required_slots_is_not_a_2017_property() -> None:
    task = {"id": "a", "commandLine": "x", "requiredSlots": 1}
    assert validate_task(task, V2025) == []
    assert validate_task(task, V2017) != []


@pytest.mark.parametrize("version", [V2025, V2017])
def test_more_than_100_tasks_is_rejected(version: str) -> None:
    tasks = [{"id": str(i), "commandLine": "x"} for i in range(101)]
    assert validate_task_collection({"value": tasks[:100]}, version) == []
    errors = validate_task_collection({"value": tasks}, version)
    assert errors == ["value: has 101 items, more than 100"]


@pytest.mark.parametrize("version", [V2025, V2017])
def test_durations_and_int32_are_checked(version: str) -> None:
    task = {
        "id": "a",
        "commandLine": "x",
        "constraints": {"maxWallClockTime": "1 hour", "maxTaskRetryCount": 2**31},
    }
    errors = validate_task(task, version)
    assert len(errors) == 2
    assert any("maxWallClockTime: '1 hour' is not an ISO 8601 duration" in e for e in errors)
    assert any("maxTaskRetryCount" in e for e in errors)


@pytest.mark.parametrize("version", [V2025, V2017])
def test_wrong_type_is_rejected(version: str) -> None:
    errors = validate_task({"id": "a", "commandLine": ["x"]}, version)
    assert errors == ["value[0].commandLine: ['x'] is not of type 'string'"]


def test_job_bodies() -> None:
    job_2025 = {
        "id": "nightly",
        "displayName": "Nightly",
        "usesTaskDependencies": True,
        "priority": 10,
        "maxParallelTasks": 4,
        "constraints": {"maxWallClockTime": "P1D", "maxTaskRetryCount": 2},
        "poolInfo": {"poolId": "pool1"},
        "onAllTasksComplete": "noaction",
        "onTaskFailure": "performexitoptionsjobaction",
        "metadata": [{"name": "owner", "value": "data"}],
        "commonEnvironmentSettings": [{"name": "A", "value": "1"}],
    }
    assert validate_job(job_2025, V2025) == []
    errors = validate_job(job_2025, V2017)
    assert errors == [
        "<body>: Additional properties are not allowed ('maxParallelTasks' was unexpected)"
    ]
    job_2017 = {k: v for k, v in job_2025.items() if k != "maxParallelTasks"}
    assert validate_job(job_2017, V2017) == []


@pytest.mark.parametrize("version", [V2025, V2017])
def test_job_rejects_bad_values(version: str) -> None:
    assert validate_job({"id": "j"}, version) == ["<body>: 'poolInfo' is a required property"]
    bad = {"id": "j", "poolInfo": {"poolId": "p"}, "onAllTasksComplete": "terminateJob"}
    errors = validate_job(bad, version)
    assert len(errors) == 1 and "onAllTasksComplete" in errors[0]
    bad = {"id": "j", "poolInfo": {"poolId": "p"}, "metadata": [{"name": "only"}]}
    assert validate_job(bad, version) == ["metadata[0]: 'value' is a required property"]
