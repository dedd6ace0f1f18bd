"""Checks of what a job holds, read through the official azure-batch SDK (v15), as a user would.

``assert_job_holds_plan`` lists the job's tasks with ``BatchClient.list_tasks`` and asserts
that every task of the plan is there exactly once, with exactly the body the plan sent (the
service adds only read-only fields), and was created after each of its parents (by the
``creationTime`` the service records, and by the listing order, which is the order the
emulator stored them in).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

#: Read-only fields the service adds to a task it holds, and the defaults it fills in
#: (``constraints``, ``userIdentity``, ``requiredSlots``: see the spec's Tasks_GetTask example).
SERVICE_FIELDS = frozenset(
    {
        "url",
        "eTag",
        "lastModified",
        "creationTime",
        "state",
        "stateTransitionTime",
        "previousState",
        "previousStateTransitionTime",
        "executionInfo",
        "nodeInfo",
        "constraints",
        "userIdentity",
        "requiredSlots",
    }
)


def _parents(task: dict[str, Any], numbered: dict[int, str]) -> list[str]:
    depends = task.get("dependsOn") or {}
    out = list(depends.get("taskIds") or ())
    for r in depends.get("taskIdRanges") or ():
        out.extend(numbered[n] for n in range(r["start"], r["end"] + 1) if n in numbered)
    return out


def assert_job_holds_plan(
    endpoint: str, account: str, key: str, job_id: str, plan: list[dict[str, Any]]
) -> None:
    """The job holds exactly ``plan``'s tasks, once each, exact bodies, parents first."""
    batch = pytest.importorskip("azure.batch")
    from azure.core.credentials import AzureNamedKeyCredential

    with batch.BatchClient(endpoint, AzureNamedKeyCredential(account, key)) as client:
        listed = list(client.list_tasks(job_id, max_results=1000))
    ids = [t.id for t in listed]
    counts = Counter(ids)
    assert [i for i, n in counts.items() if n > 1] == [], "tasks present more than once"
    assert set(ids) == {t["id"] for t in plan}, "the job does not hold exactly the plan's tasks"

    held = {t.id: t.as_dict() for t in listed}
    for sent in plan:
        got = held[sent["id"]]
        assert {k: got.get(k) for k in sent} == sent, f"task {sent['id']} differs"
        assert set(got) - set(sent) <= SERVICE_FIELDS, f"task {sent['id']} has extra fields"

    created = {t.id: t.creation_time for t in listed}
    position = {task_id: n for n, task_id in enumerate(ids)}
    numbered = {int(t["id"]): t["id"] for t in plan if t["id"].isdigit()}
    early = []
    for task in plan:
        for parent in _parents(task, numbered):
            child = task["id"]
            if not (created[parent] < created[child] and position[parent] < position[child]):
                early.append((parent, child))
    assert early == [], f"{len(early)} task(s) created before a parent, e.g. {early[:3]}"
