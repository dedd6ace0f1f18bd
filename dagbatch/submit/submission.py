"""Exactly-once submission of a plan directory to a Batch job: the entry points.

``submit_plan`` (sync; also from inside a running event loop, e.g. a notebook) and
``submit_plan_async`` run these steps, each in its own module:

1. ``dagbatch.plan.read_plan_files``: read the plan and check every file of it (job.json and
   each batch against their sha256 in plan.json) before anything is sent; then
   ``parse_plan_steps``: parse the batches and check the manifest against itself and the
   order of parents -> ``LoadedPlan``, or ``PlanError``. With ``--create-job`` and no
   journal yet, the job is asked for between the two (``job.create_early``, once
   ``check_new_journal`` found the journal's path usable), so its round trip runs while the
   plan is parsed; a submission that stops before step 3 takes it leaves that job as it is
   (``job.drop_early_creation``).
2. ``Journal.open`` (``dagbatch.submit.journal``): open or resume the journal, refusing one of
   another plan, job or endpoint, or a damaged one -> the open ``Journal`` and the
   ``JournalState`` of earlier runs. Every task id it names must be a task of this plan.
3. ``prepare_job`` (``dagbatch.submit.job``): create (or take the early creation's answer)
   or check the job; on resume, make sure it is still the job the journal's tasks went to ->
   whether this run created it.
4. ``WaveScheduler.run_waves`` (``dagbatch.submit.waves``): send the plan's segments
   (``LoadedPlan.segments``), each once the segments holding its parents are confirmed ->
   the ids held back; failures and counters on the scheduler.
5. When every task is confirmed and plan.json asks for it, ``set_terminate``; then
   ``missing_tasks`` counts the job's tasks (one GET taskcounts) and names any task of the
   plan the job does not hold.
6. -> ``SubmitReport`` (``dagbatch.submit.report``).
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Final

from dagbatch.asyncrun import run_sync
from dagbatch.errors import ConfigError, PlanError, TransientError
from dagbatch.gcpause import gc_frozen, gc_paused
from dagbatch.plan import (
    LoadedPlan,
    PlanFiles,
    check_plan_dir_type,
    journal_file,
    load_plan,
    next_step,
    parse_plan_steps,
    read_plan_files,
)
from dagbatch.planorder import sequential_rounds
from dagbatch.redact import install_log_redaction
from dagbatch.submit.client import BatchClient, check_client
from dagbatch.submit.compare import task_differences
from dagbatch.submit.concurrency import (
    DEFAULT_CONCURRENCY,
    check_concurrency,
)
from dagbatch.submit.job import (
    EarlyCreation,
    create_early,
    drop_early_creation,
    missing_tasks,
    prepare_job,
    set_terminate,
)
from dagbatch.submit.journal import Journal, RunHeader, check_new_journal
from dagbatch.submit.progress import NullProgress, Progress
from dagbatch.submit.report import SubmitFailure, SubmitReport, report_path_for, write_report
from dagbatch.submit.waves import WaveScheduler

__all__ = [
    "DEFAULT_CONCURRENCY",
    "SubmitFailure",
    "SubmitReport",
    "default_journal_path",
    "load_plan",
    "report_path_for",
    "submit_plan",
    "submit_plan_async",
    "task_differences",
    "write_report",
]


def default_journal_path(plan_dir: Path, job_id: str) -> Path:
    """``PLAN_DIR/journal-JOB.jsonl``."""
    return Path(plan_dir) / journal_file(job_id)


async def submit_plan_async(
    plan_dir: str | Path,
    *,
    job_id: str | None = None,
    client: BatchClient,
    concurrency: int | None = None,
    resume: bool = False,
    journal_path: str | Path | None = None,
    create_job: bool = False,
    pool_id: str | None = None,
    progress: Progress | None = None,
    plan: LoadedPlan | None = None,
    adopt_existing: bool = False,
    pool_held: bool = False,
) -> SubmitReport:
    """Submit a plan directory; see the module docstring. Closes ``client`` when done.

    ``pool_held``: the job's pool starts no task before the submission is done (`dagbatch
    run`'s local pool): the plan's requests go out whole and at once, not parents first
    (``WaveScheduler``).

    ``adopt_existing``: a task the job already holds that this submission did not add (an
    earlier submission of the plan whose journal was lost), and that is the same as the
    plan's, counts as landed (``SubmitReport.adopted``) instead of a conflict.

    ``plan``: ``load_plan(plan_dir)`` when the caller already holds it (`dagbatch run` reads
    the plan for its own report), so it is not read and checked a second time.

    ``concurrency``: addtaskcollection requests in flight, fixed (1 to ``MAX_CONCURRENCY``);
    None (the default): adaptive, from ``DEFAULT_CONCURRENCY`` up while throughput rises,
    halved on throttling (``dagbatch.submit.concurrency``).
    """
    install_log_redaction()
    started = time.monotonic()
    check_client(client)
    check_plan_dir_type(plan_dir)
    for name, value in (("job_id", job_id), ("pool_id", pool_id)):
        if not isinstance(value, str | None):
            raise ConfigError(f"{name} is a str, not {type(value).__name__}")
    for name, flag in (
        ("resume", resume),
        ("create_job", create_job),
        ("adopt_existing", adopt_existing),
        ("pool_held", pool_held),
    ):
        if not isinstance(flag, bool):
            raise ConfigError(f"{name} is a bool, not {type(flag).__name__}")
    check_concurrency(concurrency)
    journal_given = None if journal_path is None else Path(journal_path)
    # The plan lives as long as the submission: kept out of its collections (dagbatch.gcpause).
    if plan is not None and Path(plan.directory).resolve() != Path(plan_dir).resolve():
        raise ConfigError(f"the loaded plan is of {plan.directory}, not of {plan_dir}")
    client.prefetch_auth()  # an Entra token is fetched while the plan loads
    #: the job's creation, asked for while the plan was parsed, until prepare_job takes it
    creating: EarlyCreation | None = None
    # A plan loaded here is read by nothing after the submission: its parsed task bodies go
    # as their batches are confirmed. A caller's plan keeps them (`dagbatch run` reads them).
    owned = plan is None
    try:
        if plan is None:
            plan, creating = await _load_creating(
                Path(plan_dir), client, job_id, create_job, pool_id, resume, journal_given
            )
        loaded = plan
        with gc_frozen(lambda: loaded) as plan:
            return await _submit_loaded(
                plan,
                Path(plan_dir),
                job_id=job_id or plan.manifest.jobId or "",
                client=client,
                concurrency=concurrency,
                resume=resume,
                journal_path=journal_given,
                create_job=create_job,
                pool_id=pool_id,
                progress=progress or NullProgress(),
                creating=creating,
                started=started,
                owned=owned,
                adopt=adopt_existing,
                pool_held=pool_held,
            )
    except BaseException:
        # Stopped before prepare_job took the early creation: it is left as it is (another
        # run of the plan may be using the job already: a journal that exists, ...).
        if creating is not None:
            await drop_early_creation(creating, wait=False)
        raise
    finally:
        await client.aclose()


async def _submit_loaded(
    plan: LoadedPlan,
    plan_dir: Path,
    *,
    job_id: str,
    client: BatchClient,
    concurrency: int | None,
    resume: bool,
    journal_path: Path | None,
    create_job: bool,
    pool_id: str | None,
    progress: Progress,
    creating: EarlyCreation | None,
    started: float,
    owned: bool,
    adopt: bool,
    pool_held: bool,
) -> SubmitReport:
    """Steps 2-6 of the module docstring, on a loaded plan. ``creating``: see
    ``_load_creating``; ``prepare_job`` takes it (``EarlyCreation.taken``)."""
    # Both said at once when both are missing, not one run after the other.
    missing = []
    if create_job and not pool_id and not plan.job.get("poolInfo"):
        missing.append("--create-job needs --pool-id (job.json has no poolInfo)")
    if not job_id:
        missing.append("plan.json has no jobId: pass --job-id")
    if missing:
        raise ConfigError("; and ".join(missing))
    journal_path = Path(journal_path) if journal_path else default_journal_path(plan_dir, job_id)
    # Lists and sets as long as the plan, kept for the whole submission: frozen with the
    # plan rather than walked by the next young collections (dagbatch.gcpause).
    with gc_paused():
        plan_order = [t for b in plan.batches for t in b.task_ids]
        plan_ids = set(plan_order)
        header = RunHeader(plan.sha256, job_id, client.endpoint)
        journal, state = Journal.open(journal_path, header, resume=resume, task_ids=plan_ids)
    api = plan.manifest.apiVersion
    notes: list[str] = []
    if resume and state.header is None:
        notes.append(
            f"--resume found no task of an earlier run in {journal_path}: this run "
            "started the submission afresh"
        )
    creation_record: asyncio.Task[None] | None = None
    try:
        sub = WaveScheduler(
            plan,
            job_id,
            client,
            journal,
            state,
            progress,
            concurrency,
            forget_sent=owned,
            adopt=adopt,
            pool_held=pool_held,
        )
        # Only plan tasks are ever confirmed: the journal's are checked against the plan
        # (Journal.open), and an answer's ids outside the request are dropped
        # (classify_results). So no intersection with the plan's ids (15-30 ms at
        # 100,000 tasks).
        previously = len(sub.confirmed)
        job_created = terminate_set = False
        if state.torn_lines:
            progress.note(f"journal: ignored {state.torn_lines} torn line(s)")
        job_created, creation_record = await prepare_job(
            client,
            job_id,
            plan.job,
            api=api,
            journal=journal,
            state=state,
            create_job=create_job,
            pool_id=pool_id,
            to_send=plan.total_tasks - previously,
            creating=creating,
        )
        sub.before_first_ok = creation_record
        progress.start(plan.total_tasks, previously, len(plan.waves()))
        if not previously and not pool_held:
            _note_sequential_rounds(plan, progress)
        progress.concurrency(sub.gate.level, adaptive=concurrency is None)
        not_submitted = await sub.run_waves()
        if creation_record is not None:
            await creation_record  # recorded even if no task was confirmed
        confirmed = len(sub.confirmed)  # plan tasks only (see previously)
        if (
            confirmed == plan.total_tasks
            and not sub.failures
            and plan.manifest.onAllTasksComplete == "terminatejob"
        ):
            # The service gone quiet here (retries spent) costs the report nothing: a note
            # says what was not done, and --resume does it.
            try:
                if "terminatejob" not in state.job_events:
                    await set_terminate(client, job_id, api=api, journal=journal)
                terminate_set = True
            except TransientError as exc:
                notes.append(
                    f"onAllTasksComplete: terminatejob was not set ({exc}); run the same "
                    "command with --resume to set it"
                )
        # The job, not only the journal, must hold every task that was confirmed.
        try:
            held, missing = await missing_tasks(client, job_id, plan_order, api=api)
        except TransientError as exc:
            held, missing = None, []
            notes.append(f"the job's tasks were not counted: {exc}")
        else:
            if held is None:
                notes.append(
                    "the service did not answer task counts: the job's tasks were not counted"
                )
            elif held > plan.total_tasks:
                notes.append(
                    f"the job holds {held} tasks, {held - plan.total_tasks} more than the plan"
                )
        if sub.same_conflicts:
            notes.append(
                f"{sub.same_conflicts:,} task(s) already in the job are the same as the "
                "plan's but were not added by this submission (an earlier submission of the "
                "plan whose journal was lost?); if they are yours, run the same command with "
                "--resume --adopt-existing to count them as landed"
            )
        for task_id in missing:
            if task_id in sub.confirmed and task_id not in sub.failures:
                sub.failures[task_id] = SubmitFailure(
                    task_id,
                    "TaskMissing",
                    "confirmed, but the job does not hold it (was the job re-created or the "
                    "task deleted?)",
                    "missing",
                )
                confirmed -= 1
    finally:
        if creation_record is not None and not creation_record.done():
            creation_record.cancel()
            await asyncio.gather(creation_record, return_exceptions=True)
        progress.finish()
        journal.close()
    return SubmitReport(
        job_id=job_id,
        total=plan.total_tasks,
        confirmed=confirmed,
        previously_confirmed=previously,
        added=sub.added,
        verified_existing=sub.verified,
        adopted=sub.adopted,
        retries=sub.retries,
        requests=sub.requests,
        elapsed=time.monotonic() - started,
        failures=tuple(sub.failures.values()),
        not_submitted=tuple(not_submitted),
        journal_path=journal_path,
        job_created=job_created,
        job_terminate_set=terminate_set,
        job_task_count=held,
        notes=tuple(notes),
    )


def _note_sequential_rounds(plan: LoadedPlan, progress: Progress) -> None:
    """Say beforehand when the parents-first order makes the submission far longer than its
    waves suggest: a chain packed 100 links to a request goes one link a round trip."""
    rounds = sequential_rounds(plan.segments)
    if rounds > max(SEQUENTIAL_NOTE_AT, 2 * len(plan.waves())):
        progress.note(
            f"the plan's {len(plan.batches):,} requests go out as {len(plan.segments):,}: a "
            "task is sent only once its parents exist, so a request holding a parent and its "
            f"child is sent in parts; this takes at least {rounds:,} round trips one after "
            "another, whatever the concurrency"
        )


#: Sequential round trips from which ``_note_sequential_rounds`` speaks.
SEQUENTIAL_NOTE_AT: Final = 20


async def _load_creating(
    plan_dir: Path,
    client: BatchClient,
    job_id: str | None,
    create_job: bool,
    pool_id: str | None,
    resume: bool,
    journal_path: Path | None,
) -> tuple[LoadedPlan, EarlyCreation | None]:
    """Load the plan; with ``--create-job`` and nothing sent before, create the job while
    the plan is parsed (``create_early``): one round trip less before the first task.

    The job is asked for only once every file of the plan matched its checksum
    (``read_plan_files``), so a modified plan still sends nothing. If parsing fails all the
    same (files and checksums rewritten together), the error says the job was created."""
    files = read_plan_files(plan_dir)
    job_id = job_id or files.manifest.jobId
    api = files.manifest.apiVersion
    journal = (
        Path(journal_path)
        if journal_path
        else (default_journal_path(plan_dir, job_id) if job_id else None)
    )
    creating = None
    if create_job and job_id and not resume and journal is not None and not journal.exists():
        # Whatever is wrong here is found before the first request: the journal's path too.
        check_new_journal(journal)
        creating = create_early(client, files.job, job_id, pool_id, api=api)
    try:
        plan = await _parse_with_pauses(files)
    except BaseException as exc:
        if creating is None:
            raise
        note = await drop_early_creation(creating, wait=isinstance(exc, PlanError))
        if note:
            raise PlanError(f"{exc}{note}") from exc
        raise
    return plan, creating


async def _parse_with_pauses(files: PlanFiles) -> LoadedPlan:
    """``parse_plan`` with the event loop let on between its steps (``parse_plan_steps``):
    the job's creation goes out and its answer comes in while the plan is parsed. (In a
    thread instead, the parse took a quarter longer, the two threads taking turns with the
    interpreter.)"""
    steps = parse_plan_steps(files)
    with gc_paused():  # as load_plan
        while (plan := next_step(steps)) is None:
            await asyncio.sleep(0)
        plan.segments  # noqa: B018 (the parents-first check, part of the parse as in load_plan)
    return plan


def submit_plan(
    plan_dir: str | Path,
    *,
    job_id: str | None = None,
    client: BatchClient,
    concurrency: int | None = None,
    resume: bool = False,
    journal_path: str | Path | None = None,
    create_job: bool = False,
    pool_id: str | None = None,
    progress: Progress | None = None,
    plan: LoadedPlan | None = None,
    adopt_existing: bool = False,
    pool_held: bool = False,
) -> SubmitReport:
    """Synchronous ``submit_plan_async``.

    Runs its own event loop; called from a thread that already runs one (a Jupyter notebook,
    an async application), it runs in a worker thread and blocks until done.
    """

    return run_sync(
        submit_plan_async(
            plan_dir,
            job_id=job_id,
            client=client,
            concurrency=concurrency,
            resume=resume,
            journal_path=journal_path,
            create_job=create_job,
            pool_id=pool_id,
            progress=progress,
            plan=plan,
            adopt_existing=adopt_existing,
            pool_held=pool_held,
        ),
        thread_name="dagbatch-submit",
    )
