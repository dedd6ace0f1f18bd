"""Live state for the picture: the state of every task of a job, read from the service.

Which tasks can never run, and whether that is because a parent *succeeded* (a failure handler
not needed: ``skipped``), is the observe package's analysis (``dagbatch.observe.stranded``,
the one implementation, also behind `dagbatch status` and `finish`), and the listing is its
``JobService``. What is show's own is the mapping of a task's record to the ``TaskState`` the
picture draws.
"""

from __future__ import annotations

from collections.abc import Mapping

from dagbatch.observe.model import Dependencies, TaskDefinition, TaskRecord
from dagbatch.observe.service import JobService
from dagbatch.observe.status import check_job_holds_plan
from dagbatch.observe.stranded import analyse, succeeded_by_exit_code
from dagbatch.show.model import PlanView, TaskState
from dagbatch.submit.client import BatchClient


def definitions_of(view: PlanView) -> dict[str, TaskDefinition]:
    """The analysis's definitions of the plan's tasks (parents by id, exitConditions)."""
    ids = view.ids
    return {
        tid: TaskDefinition(
            tid, Dependencies(task_ids=tuple(ids[p] for p in view.parents[i])), view.exits[i]
        )
        for i, tid in enumerate(ids)
    }


def state_of(
    record: TaskRecord,
    *,
    never_runs: bool = False,
    skipped: bool = False,
    definition: TaskDefinition | None = None,
) -> TaskState:
    """The ``TaskState`` drawn for a task the service describes by ``record``: a success
    when its exit code is one its ``exitConditions`` (``definition``) count as a success."""
    return TaskState(
        state=record.state,
        exit_code=record.exit_code,
        result="success" if succeeded_by_exit_code(definition, record) else record.result,
        never_runs=never_runs,
        skipped=skipped,
    )


def live_states(view: PlanView, records: Mapping[str, TaskRecord]) -> dict[str, TaskState]:
    """Task id -> ``TaskState`` for every task the service holds: a task that can never run
    (waiting for ever, or terminated while it waited, e.g. by `dagbatch finish`) is
    ``never_runs``, and ``skipped`` too when what holds it back is a parent that succeeded."""
    definitions = definitions_of(view)
    analysis = analyse(definitions, records)
    out: dict[str, TaskState] = {}
    for tid, rec in records.items():
        if tid in analysis.blocked:
            root = records.get(analysis.root_of(tid))
            skipped = root is not None and not root.failed
            out[tid] = state_of(rec, never_runs=True, skipped=skipped)
        else:
            out[tid] = state_of(rec, definition=definitions.get(tid))
    return out


async def fetch_records(client: BatchClient, job_id: str) -> dict[str, TaskRecord]:
    """Every task of the job as the service records it (one paged listing with ``$select``,
    through observe's ``JobService``)."""
    records, _ = await JobService(client, job_id).tasks()
    return records


async def fetch_task_states(
    client: BatchClient, job_id: str, view: PlanView
) -> dict[str, TaskState]:
    """Task id -> ``TaskState`` for every task of the job, with "can never run" marked
    (``ConfigError`` for a job that holds none of the plan's tasks: ``check_job_holds_plan``)."""
    records = await fetch_records(client, job_id)
    check_job_holds_plan(job_id, view.ids, records)
    return live_states(view, records)
