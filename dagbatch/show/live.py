"""Live state for the picture: the state of every task of a job, read from the service.

Which tasks can never run, and whether that is because a parent *succeeded* (a failure handler
not needed: ``skipped``), is the observe package's analysis (``dagbatch.observe.stranded``,
the one implementation, also behind `dagbatch status` and `finish`), and the listing is its
``JobService``. What happened to each task is the same decision as `dagbatch status` counts
(``observe.status.task_outcome``); what is show's own is the mapping of that outcome to the
``TaskState`` the picture draws.
"""

from __future__ import annotations

from collections.abc import Mapping

from dagbatch.gcpause import gc_paused
from dagbatch.observe.model import Dependencies, TaskDefinition, TaskRecord
from dagbatch.observe.service import JobService
from dagbatch.observe.status import (
    PROGRESS_EVERY,
    Progress,
    check_job_holds_plan,
    job_has_ended,
    read_job,
    task_outcome,
)
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


def state_of_outcome(record: TaskRecord, outcome: str) -> TaskState:
    """The ``TaskState`` drawn for a task whose outcome (``observe.status.task_outcome``,
    what `dagbatch status` counts) is ``outcome``: ``stranded`` and ``cancelled`` (never ran
    and will not, e.g. terminated by `dagbatch finish` or left active in an ended job) are
    drawn as never runs, ``skipped`` as skipped, ``succeeded`` as done (an exit code its
    ``exitConditions`` count as a success included)."""
    if outcome in ("stranded", "cancelled", "skipped"):
        return TaskState(
            state=record.state,
            exit_code=record.exit_code,
            result=record.result,
            never_runs=True,
            skipped=outcome == "skipped",
        )
    result = "success" if outcome == "succeeded" else record.result
    return TaskState(state=record.state, exit_code=record.exit_code, result=result)


def live_states(
    view: PlanView,
    records: Mapping[str, TaskRecord],
    *,
    job_ended: bool = False,
    progress: Progress | None = None,
) -> dict[str, TaskState]:
    """Task id -> ``TaskState`` for every task the service holds, classified as `dagbatch
    status` classifies it (``task_outcome``, the one decision): a task that can never run
    (waiting for ever, terminated while it waited, e.g. by `dagbatch finish`, or left
    active in a job that has ended, ``job_ended``) is ``never_runs``, and ``skipped`` too
    when what holds it back is a parent that succeeded. ``progress(done, total)``: as
    ``observe.status.build_status``'s (the analysis, then each task's outcome)."""
    with gc_paused():  # a state a task, none in a cycle (dagbatch.gcpause)
        definitions = definitions_of(view)
        size = len(records)
        if progress is not None:
            progress(0, size)
        analysis = analyse(
            definitions,
            records,
            progress=(lambda done, _: progress(done // 2, size)) if progress is not None else None,
        )
        states: dict[str, TaskState] = {}
        for seen, (tid, rec) in enumerate(records.items(), 1):
            if progress is not None and not seen % PROGRESS_EVERY:
                progress((size + seen) // 2, size)
            states[tid] = state_of_outcome(
                rec, task_outcome(tid, rec, analysis, records, definitions, job_ended=job_ended)
            )
        if progress is not None:
            progress(size, size)
        return states


async def fetch_records(client: BatchClient, job_id: str) -> dict[str, TaskRecord]:
    """Every task of the job as the service records it (one paged listing with ``$select``,
    through observe's ``JobService``)."""
    records, _ = await JobService(client, job_id).tasks()
    return records


async def fetch_task_states(
    client: BatchClient,
    job_id: str,
    view: PlanView,
    *,
    listing: Progress | None = None,
    analysing: Progress | None = None,
) -> dict[str, TaskState]:
    """Task id -> ``TaskState`` for every task of the job, with "can never run" marked
    (``ConfigError`` for a job that holds none of the plan's tasks: ``check_job_holds_plan``).
    The job is read with its tasks: whether it has ended decides for its active tasks.
    ``listing`` and ``analysing``: the progress of each, as `dagbatch status` shows them
    (``observe.status.read_snapshot``'s and ``build_status``'s)."""
    job, _, records, _ = await read_job(JobService(client, job_id), progress=listing)
    check_job_holds_plan(job_id, view.ids, records)
    return live_states(view, records, job_ended=job_has_ended(job), progress=analysing)
