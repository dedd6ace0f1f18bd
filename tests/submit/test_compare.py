"""Comparing a task we sent with the one the service holds (dagbatch.submit.compare)."""

from __future__ import annotations

from dagbatch.submit.compare import task_differences


def test_task_differences_canonicalises_service_fields() -> None:
    sent = {
        "id": "a",
        "commandLine": "x",
        "dependsOn": {"taskIds": ["p1", "p2"]},
        "exitConditions": {"default": {"dependencyAction": "satisfy"}},
    }
    existing = {
        **sent,
        "dependsOn": {"taskIds": ["p2", "p1"]},
        "exitConditions": {"default": {"dependencyAction": "Satisfy", "jobAction": "none"}},
        "url": "https://x/jobs/j/tasks/a",
        "eTag": "0x1",
        "state": "active",
        "creationTime": "2025-01-01T00:00:00Z",
        "constraints": {"maxTaskRetryCount": 0},
    }
    assert task_differences(sent, existing) == []
    assert task_differences(sent, {**existing, "commandLine": "y"}) == ["commandLine"]
    assert task_differences(sent, {**existing, "dependsOn": {"taskIds": ["p1"]}}) == [
        "dependsOn.taskIds"
    ]
    assert sorted(task_differences({"id": "a", "commandLine": "x"}, existing)) == [
        "dependsOn",
        "exitConditions",
    ]
    assert task_differences(sent, {**existing, "id": "A"}) == ["id"]


# --- client errors, 413 --------------------------------------------------------------------------
