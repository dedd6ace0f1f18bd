"""The job side of a submission: create or check the job before sending, make sure it is the
job the journal's tasks went to, and count its tasks at the end.

The journal records when this submission created the job (its ``creationTime``). A resumed
submission trusts its ``ok`` records only if the job is still that job: a job that is gone, or
that was deleted and created again under the same id (another ``creationTime``, or fewer tasks
than the journal confirmed), is refused with ``JobReplaced`` instead of reporting tasks as
confirmed that the job does not hold.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from dagbatch.errors import BatchServiceError, ConfigError, JobMismatch, JobReplaced
from dagbatch.submit.client import BatchClient, ServiceAnswer
from dagbatch.submit.journal import Journal, JournalState


def _same_setting(existing: Any, wanted: Any, default: Any) -> bool:
    a = default if existing is None else existing
    b = default if wanted is None else wanted
    if isinstance(a, str) and isinstance(b, str):
        return a.lower() == b.lower()
    return bool(a == b)


#: Settings of job.json a job that ``--create-job`` finds already made must share with it
#: (beside the two the tasks need), each with the service's default: the pool the tasks run
#: on and how they are scheduled. The rest (constraints, environment) the service answers in
#: forms of its own, not compared.
_SAME_JOB_SETTINGS: Final = (("poolInfo.poolId", None), ("priority", 0), ("maxParallelTasks", -1))


def job_mismatch(
    existing: dict[str, Any], wanted: dict[str, Any], *, all_settings: bool = False
) -> list[str]:
    """The settings that make ``existing`` unfit for the plan's job.json ``wanted``: those
    its tasks need; with ``all_settings``, also ``_SAME_JOB_SETTINGS`` (a job ``--create-job``
    would have made otherwise)."""
    out = []
    if not _same_setting(
        existing.get("usesTaskDependencies"), wanted.get("usesTaskDependencies"), False
    ):
        out.append("usesTaskDependencies")
    if not _same_setting(existing.get("onTaskFailure"), wanted.get("onTaskFailure"), "noaction"):
        out.append("onTaskFailure")
    if all_settings:
        for name, default in _SAME_JOB_SETTINGS:
            if not _same_setting(_setting(existing, name), _setting(wanted, name), default):
                out.append(name)
    return out


def _setting(body: dict[str, Any], dotted: str) -> Any:
    """A job body's setting by its dotted name (``poolInfo.poolId``), None when absent."""
    value: Any = body
    for key in dotted.split("."):
        value = value.get(key) if isinstance(value, dict) else None
    return value


def job_task_total(counts: dict[str, int]) -> int:
    """Tasks a job holds, from its ``taskCounts`` (active + running + completed)."""
    return sum(counts.get(k, 0) for k in ("active", "running", "completed"))


async def _check_same_job(
    client: BatchClient,
    job_id: str,
    existing: dict[str, Any] | None,
    state: JournalState,
    api: str,
    journal: Path,
) -> None:
    """Refuse (``JobReplaced``) when the journal's earlier tasks cannot be in this job;
    ``journal`` is its path, named in the refusal."""
    if not state.confirmed:
        return  # nothing was confirmed before: no earlier task is expected in the job
    earlier = len(state.confirmed)
    move_away = f"move the journal away ({journal}) to submit the plan afresh"
    if existing is None:
        raise JobReplaced(
            f"job {job_id!r} does not exist any more, but the journal records {earlier} "
            "task(s) confirmed in it: the job was deleted (or the service lost it). Refusing "
            f"to report them as submitted; {move_away}"
        )
    created = existing.get("creationTime")
    if state.job_created_at and created and created != state.job_created_at:
        raise JobReplaced(
            f"job {job_id!r} was created at {created}, but this submission created it at "
            f"{state.job_created_at}: it is another job with the same id (deleted and created "
            f"again), without the {earlier} task(s) the journal confirmed. Refusing to resume "
            f"into it; {move_away}"
        )
    try:
        counts = await client.get_task_counts(job_id, api_version=api)
    except BatchServiceError:
        return  # task counts not served: the count at the end still lists what is missing
    if counts is None or job_task_total(counts) >= earlier:
        return
    # Fewer tasks than confirmed (counts may also lag behind): the ids decide.
    present = {i.lower() async for i in client.iter_task_ids(job_id, api_version=api)}
    lost = [i for i in state.confirmed if i.lower() not in present]
    if lost:
        raise JobReplaced(
            f"job {job_id!r} does not hold {len(lost)} of the {earlier} task(s) the journal "
            f"records confirmed in it (e.g. {sorted(lost)[0]!r}): the job was re-created or "
            f"tasks were deleted. Refusing to resume into it; {move_away}"
        )


def wanted_job(job: dict[str, Any], job_id: str, pool_id: str | None) -> dict[str, Any]:
    """The Add Job body: job.json with the job's id and, when given, the pool."""
    wanted = dict(job)
    wanted["id"] = job_id
    if pool_id:
        wanted["poolInfo"] = {"poolId": pool_id}
    return wanted


@dataclass
class EarlyCreation:
    """The job's creation, asked for while the plan was still being parsed
    (``create_early``). ``taken``: ``prepare_job`` used its answer."""

    task: asyncio.Task[ServiceAnswer]
    job_id: str
    taken: bool = False


def create_early(
    client: BatchClient, job: dict[str, Any], job_id: str, pool_id: str | None, *, api: str
) -> EarlyCreation | None:
    """Start creating the job now, while the plan is parsed (one round trip less before the
    first task is sent); ``prepare_job(creating=...)`` takes the answer. None when the job
    cannot be created from what is given (no pool): ``prepare_job`` says so.

    Only for a submission with nothing sent before (no journal), whose plan files already
    passed their checksums (``dagbatch.plan.read_plan_files``). A submission that stops
    before ``prepare_job`` takes it leaves the job as it is (``drop_early_creation``): empty
    unless another submission of the same plan uses it meanwhile, and the next
    ``submit --create-job`` uses it as it uses any job with the plan's settings. (Deleting it
    is no safer: another run may be filling it, and a deleted job lingers in ``deleting``,
    where the same id cannot be created again for a while.)"""
    wanted = wanted_job(job, job_id, pool_id)
    if not wanted.get("poolInfo"):
        return None
    return EarlyCreation(asyncio.ensure_future(client.create_job(wanted, api_version=api)), job_id)


async def drop_early_creation(creating: EarlyCreation, *, wait: bool) -> str:
    """The submission stops before ``prepare_job`` took the early creation. ``wait``: learn
    whether the job was created (else the request is cancelled: an interrupted run does not
    wait for it). -> a note for the error when this run created the job."""
    if creating.taken:
        return ""
    creating.taken = True
    if not wait:
        creating.task.cancel()
    try:
        answer = await creating.task
    except BaseException:  # cancelled, or the creation failed: the error that stops us says why
        return ""
    if answer.status >= 300:
        return ""  # JobExists: not this run's
    return (
        f" (job {creating.job_id!r} was created while the plan was read; no task was sent to "
        "it: the next `dagbatch submit --create-job` of this plan uses it)"
    )


async def prepare_job(
    client: BatchClient,
    job_id: str,
    job: dict[str, Any],
    *,
    api: str,
    journal: Journal,
    state: JournalState,
    create_job: bool,
    pool_id: str | None,
    to_send: int = 1,
    creating: EarlyCreation | None = None,
) -> tuple[bool, asyncio.Task[None] | None]:
    """Create (or check) the job -> (whether this run created it, the pending journal record
    of that creation).

    The record (``created`` with the job's ``creationTime``, one GET) is written while the
    first requests are in flight: the caller must await it before the first ``ok`` record,
    as a resumed run compares the creation time only when the journal confirms tasks
    (``_check_same_job``), so it is in the journal whenever it is needed. One round trip
    fewer before the first task is sent.

    With a journal of an earlier run, the job must still be the one its tasks went to (see
    the module docstring). ``create_job`` creates it from ``job`` (job.json) unless a job with
    the same settings exists; without it the job must exist. A job that has completed is
    refused when tasks are left to send (``to_send``): Batch adds none to it. ``creating``:
    the creation ``create_early`` started, whose answer stands for the one sent here.
    """
    wanted = wanted_job(job, job_id, pool_id)
    if create_job and not wanted.get("poolInfo"):
        raise ConfigError("--create-job needs --pool-id (job.json has no poolInfo)")
    existing: dict[str, Any] | None = None
    if create_job and not state.sent:
        # Nothing was ever sent to the job, so there is nothing to check in it before trying
        # to create it: one round trip fewer; a JobExists answer is checked below.
        fresh = True
    else:
        fresh = False
        answer = await client.get_job(job_id, api_version=api)
        existing = answer.body if answer.status < 300 and isinstance(answer.body, dict) else None
        await _check_same_job(client, job_id, existing, state, api, journal.path)
    if existing is None and create_job:
        if creating is not None:
            creating.taken = True
            created = await creating.task
        else:
            created = await client.create_job(wanted, api_version=api)
        if created.status < 300:
            return True, asyncio.ensure_future(_record_creation(client, job_id, api, journal))
        answer = await client.get_job(job_id, api_version=api)  # JobExists: created meanwhile
        existing = answer.body if answer.status < 300 and isinstance(answer.body, dict) else None
        if fresh:
            await _check_same_job(client, job_id, existing, state, api, journal.path)
    if existing is None:
        create = "--create-job" if wanted.get("poolInfo") else "--create-job --pool-id P"
        raise BatchServiceError(
            404,
            "JobNotFound",
            f"job {job_id!r} does not exist: create it first, or pass {create}",
        )
    state_now = str(existing.get("state", "active")).lower()
    if to_send and state_now in ("completed", "terminating", "deleting"):
        # Batch adds no task to such a job (409 JobCompleted for each request): said once,
        # before any is sent, with the way out.
        info = existing.get("executionInfo")
        reason = info.get("terminateReason") if isinstance(info, dict) else None
        why = f" ({reason})" if reason else ""
        raise BatchServiceError(
            409,
            "JobCompleted",
            f"job {job_id!r} is {existing['state']}{why}: Batch adds no task to it (a task's "
            "jobAction, a user or a time limit ended it; `dagbatch status` says which). "
            f"Submit the plan into a new job: --job-id {job_id}-2 --create-job",
        )
    diffs = job_mismatch(existing, wanted, all_settings=create_job)
    if diffs:
        if create_job:
            raise JobMismatch(
                f"job {job_id!r} already exists with different settings ({', '.join(diffs)}); "
                "use another --job-id"
            )
        if (
            "onTaskFailure" in diffs
            and str(wanted.get("onTaskFailure")).lower() == "performexitoptionsjobaction"
        ):
            raise JobMismatch(
                f"job {job_id!r} was created with onTaskFailure {existing.get('onTaskFailure')!r}, "
                "and the plan's tasks set a jobAction (job_action, or an exit condition's "
                "jobAction): Batch refuses every such task under it; create a new job "
                "(--create-job) for this plan"
            )
        if "usesTaskDependencies" in diffs and wanted.get("usesTaskDependencies"):
            raise JobMismatch(
                f"job {job_id!r} was not created with usesTaskDependencies, and the plan's "
                "tasks use task dependencies (dependsOn, or the dependencyAction that "
                "satisfy_exit_codes and failure intents compile to): Batch would refuse them; "
                "create a new job (--create-job) for this plan"
            )
    return False, None


async def _record_creation(client: BatchClient, job_id: str, api: str, journal: Journal) -> None:
    """Journal that this submission created the job, with its ``creationTime`` (one GET)."""
    again = await client.get_job(job_id, api_version=api)
    body = again.body if isinstance(again.body, dict) else {}
    details = {}
    if isinstance(body.get("creationTime"), str):
        details["creationTime"] = body["creationTime"]
    journal.job_event("created", **details)


async def set_terminate(client: BatchClient, job_id: str, *, api: str, journal: Journal) -> None:
    """Set ``onAllTasksComplete: terminatejob`` (after the last task landed)."""
    await client.patch_job(job_id, {"onAllTasksComplete": "terminatejob"}, api_version=api)
    journal.job_event("terminatejob")


async def missing_tasks(
    client: BatchClient, job_id: str, plan_ids: list[str], *, api: str
) -> tuple[int | None, list[str]]:
    """(tasks the job holds, plan tasks it does not hold).

    One request (GET taskcounts) when the job holds as many tasks as the plan; otherwise its
    ids are listed to name the missing ones: fewer, and some are missing; more, and some may
    be all the same (tasks added beside the plan's, one deleted: the count alone said all
    was well). (None, []) when the service does not serve task counts.
    """
    try:
        counts = await client.get_task_counts(job_id, api_version=api)
    except BatchServiceError:
        return None, []
    if counts is None:
        return 0, list(plan_ids)
    total = job_task_total(counts)
    if total == len(plan_ids):
        return total, []
    present = set()
    async for task_id in client.iter_task_ids(job_id, api_version=api):
        present.add(task_id.lower())
    return total, [i for i in plan_ids if i.lower() not in present]
