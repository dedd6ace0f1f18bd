"""Live state for the picture: the state of every task of a job, read from the service.

``fetch_task_states`` is the one place that asks the service; it can be swapped for the
status command's own reading (which also knows which tasks can never run) without touching
the picture. ``mark_never_runs`` is the local reading of "can never run" used until then.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dagbatch.show.model import PlanView, TaskState
from dagbatch.show.source import dependency_satisfied
from dagbatch.submit.client import BatchClient

#: The task properties the picture needs (GET /jobs/{job}/tasks ``$select``).
TASK_SELECT = "id,state,executionInfo"


def task_state_of(task: Mapping[str, Any]) -> TaskState:
    """A ``TaskState`` from one task as the service lists it."""
    info = task.get("executionInfo") or {}
    code = info.get("exitCode")
    return TaskState(
        state=str(task.get("state", "active")),
        exit_code=code if isinstance(code, int) else None,
        result=info.get("result"),
    )


async def fetch_task_states(client: BatchClient, job_id: str) -> dict[str, TaskState]:
    """Task id -> ``TaskState`` for every task of the job (all pages)."""
    states: dict[str, TaskState] = {}
    async for task in client.list_tasks(job_id, select=TASK_SELECT):
        tid = task.get("id")
        if isinstance(tid, str):
            states[tid] = task_state_of(task)
    return states


def mark_never_runs(view: PlanView, states: Mapping[str, TaskState]) -> dict[str, TaskState]:
    """The states with ``never_runs`` set on every task that is not completed and has a parent
    that completed in a way that blocks it, or a parent that can never run itself
    (docs/BATCH_FACTS.md "Exit conditions": the parent's dependencyAction decides)."""
    out = dict(states)
    blocked = [False] * len(view)
    for i, parents in enumerate(view.parents):  # submit order is topological
        st = out.get(view.ids[i])
        if st is None or st.state == "completed":
            continue
        for p in parents:
            if blocked[p]:
                break
            ps = out.get(view.ids[p])
            if (
                ps is not None
                and ps.state == "completed"
                and not dependency_satisfied(view.exits[p], ps.exit_code, ps.result)
            ):
                break
        else:
            continue
        blocked[i] = True
        out[view.ids[i]] = TaskState(st.state, st.exit_code, st.result, never_runs=True)
    return out
