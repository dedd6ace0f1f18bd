"""Exactly-once submission of a plan directory to a Batch job.

``submit_plan`` (sync) / ``submit_plan_async`` read a plan directory (see the plan contract in
the design notes), verify every batch file against its sha256 in plan.json, open the journal
(``dagbatch.submit.journal``), optionally create the job, then send the batches wave by wave: the
requests of one wave concurrently (at most ``concurrency`` at a time), a wave only after every
request of the previous waves is confirmed. Per request:

- first attempt: the exact bytes of ``batches/NNNNNN.json`` (a filtered body on resume when
  some of its tasks were confirmed before);
- per-task ``success`` -> confirmed; ``servererror`` (or a task missing from the answer) ->
  re-sent in a new body holding only those tasks (filtered from the parsed original, serialized
  with orjson), after a backoff;
- ``TaskExists`` -> confirmed only if this submission sent that task before (an earlier
  attempt, or a journal ``send`` record of the interrupted run) and a GET of the existing task
  matches what we sent; otherwise a conflict, and nothing is overwritten;
- other client errors -> terminal failures, reported;
- 429/500/503, timeouts and dropped connections -> backoff (``Retry-After`` honoured) and the
  same unconfirmed tasks re-sent with the same ids;
- 413 ``RequestBodyTooLarge`` -> the request is split in halves, sent one after the other.

If any task of a wave does not land, later waves are not sent (their tasks may depend on it):
they are reported as ``NotSubmitted``; fix the cause and run again with ``--resume``.
When every task landed and plan.json says ``onAllTasksComplete: terminatejob``, the job is
patched to terminate once its tasks complete.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import orjson

from dagbatch.errors import (
    BatchServiceError,
    ConfigError,
    JobMismatch,
    PlanError,
    RequestBodyTooLarge,
    TransientError,
)
from dagbatch.plan import Batch, LoadedPlan, journal_file, load_plan
from dagbatch.redact import install_log_redaction, redact
from dagbatch.submit.client import BatchClient
from dagbatch.submit.journal import Journal, JournalState, RunHeader, read_journal
from dagbatch.submit.progress import NullProgress, Progress
from dagbatch.submit.retry import RetryState

log = logging.getLogger("dagbatch.submit.submission")

#: Default number of addtaskcollection requests in flight. Measured with the emulator in its
#: own process, 50 ms latency per request, 2 cores, 20,000 tasks (200 requests, 4 waves):
#: 1 -> 12.5 s, 2 -> 6.8 s, 4 -> 4.0 s, 8 -> 2.3-2.9 s, 10-16 -> 2.2-2.7 s, 32 -> 3.0 s,
#: 64 -> 3.4-3.9 s. With no latency at all the same run takes 2.2-2.3 s: from about 8-10 in
#: flight on, the CPU (JSON, signing, the emulator itself) is the limit, not the wire, and
#: more only adds contention. 16 sits on that plateau and leaves room for the real service,
#: whose round trips are longer than 50 ms (twice the latency needs twice the requests in
#: flight for the same rate, by Little's law), while staying far below throttling territory.
DEFAULT_CONCURRENCY = 16

#: Concurrent GETs when verifying ``TaskExists`` answers.
VERIFY_CONCURRENCY = 16

FailureKind = Literal["clienterror", "conflict", "gaveup", "rejected", "notsubmitted"]


# --------------------------------------------------------------------------------------
# Comparing a task we sent with the one the service holds

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


# --------------------------------------------------------------------------------------
# The report


@dataclass(frozen=True, slots=True)
class SubmitFailure:
    """A task that did not land: its code and message as the service (or we) said."""

    task_id: str
    code: str
    message: str
    kind: FailureKind
    batch: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "taskId": self.task_id,
            "code": self.code,
            "message": self.message,
            "kind": self.kind,
            "batch": self.batch,
        }


@dataclass(frozen=True)
class SubmitReport:
    """What a submission did. ``ok`` when every task of the plan is confirmed in the job."""

    job_id: str
    total: int
    confirmed: int
    previously_confirmed: int
    added: int
    verified_existing: int
    retries: int
    requests: int
    elapsed: float
    failures: tuple[SubmitFailure, ...]
    not_submitted: tuple[str, ...]
    journal_path: Path
    job_created: bool = False
    job_terminate_set: bool = False

    @property
    def ok(self) -> bool:
        return not self.failures and not self.not_submitted and self.confirmed == self.total

    def to_dict(self) -> dict[str, Any]:
        return {
            "jobId": self.job_id,
            "ok": self.ok,
            "total": self.total,
            "confirmed": self.confirmed,
            "previouslyConfirmed": self.previously_confirmed,
            "added": self.added,
            "verifiedExisting": self.verified_existing,
            "retries": self.retries,
            "requests": self.requests,
            "elapsedSeconds": round(self.elapsed, 3),
            "jobCreated": self.job_created,
            "jobTerminateSet": self.job_terminate_set,
            "journal": str(self.journal_path),
            "failures": [f.to_dict() for f in self.failures],
            "notSubmitted": list(self.not_submitted),
        }


def default_journal_path(plan_dir: Path, job_id: str) -> Path:
    return Path(plan_dir) / journal_file(job_id)


def report_path_for(journal_path: Path) -> Path:
    """The JSON report's path, next to the journal: journal-X.jsonl -> journal-X.report.json."""
    return journal_path.with_name(journal_path.stem + ".report.json")


def write_report(report: SubmitReport, path: Path) -> None:
    """Write the full report (every failure) as JSON; messages are already redacted."""
    data = orjson.dumps(report.to_dict(), option=orjson.OPT_INDENT_2)
    path.write_bytes(data + b"\n")


# --------------------------------------------------------------------------------------
# The submission


class _Submission:
    def __init__(
        self,
        plan: LoadedPlan,
        job_id: str,
        client: BatchClient,
        journal: Journal,
        state: JournalState,
        progress: Progress,
        concurrency: int,
    ):
        self.plan = plan
        self.job_id = job_id
        self.client = client
        self.journal = journal
        self.progress = progress
        self.api_version: str = plan.manifest.apiVersion
        self.sent: set[str] = set(state.sent)
        self.confirmed: set[str] = set(state.confirmed)
        self.failures: dict[str, SubmitFailure] = {}
        self.added = 0
        self.verified = 0
        self.retries = 0
        self.requests = 0
        self.sem = asyncio.Semaphore(concurrency)
        self.verify_sem = asyncio.Semaphore(VERIFY_CONCURRENCY)

    # -- bookkeeping -------------------------------------------------------------------

    def _fail(self, task_id: str, code: str, message: str, kind: FailureKind, batch: int) -> None:
        message = redact(message)
        self.failures[task_id] = SubmitFailure(task_id, code, message, kind, batch)
        self.journal.failed(task_id, code, message)

    def _retry(self, what: str) -> None:
        self.retries += 1
        self.progress.retry(what)
        log.info("retry: %s", what)

    async def _confirm(self, ids: list[str]) -> None:
        if not ids:
            return
        self.journal.confirmed(ids)
        self.confirmed.update(ids)
        self.progress.advance(len(ids))
        await asyncio.to_thread(self.journal.sync)

    # -- verifying TaskExists ----------------------------------------------------------

    async def _verify_one(self, task: dict[str, Any]) -> tuple[str, list[str] | None]:
        """("same"|"differs"|"absent"|"unknown", differing fields)."""
        async with self.verify_sem:
            try:
                answer = await self.client.get_task(
                    self.job_id, task["id"], api_version=self.api_version
                )
            except TransientError:
                return "unknown", None
        if answer.status == 404 or not isinstance(answer.body, dict):
            return "absent", None
        diffs = task_differences(task, answer.body)
        return ("same" if not diffs else "differs"), diffs

    # -- one request, with its retries --------------------------------------------------

    async def _send_chunk(
        self, batch: int, tasks: list[dict[str, Any]], body: bytes
    ) -> list[list[dict[str, Any]]]:
        """Send ``tasks`` until each is confirmed or failed; returns halves to send on 413."""
        retry = RetryState(self.client.retry)
        remaining = tasks
        while remaining:
            ids = [t["id"] for t in remaining]
            sent_before = {i for i in ids if i in self.sent}
            try:
                async with self.sem:
                    # Journal the attempt before its request leaves (see dagbatch.submit.journal).
                    self.journal.sending(batch, ids)
                    self.sent.update(ids)
                    self.requests += 1
                    results = await self.client.add_task_collection(
                        self.job_id, body, api_version=self.api_version
                    )
            except RequestBodyTooLarge as exc:
                if len(remaining) == 1:
                    self._fail(ids[0], "RequestBodyTooLarge", str(exc), "rejected", batch)
                    return []
                self._retry(f"batch {batch}: body too large, splitting {len(remaining)} tasks")
                half = len(remaining) // 2
                return [remaining[:half], remaining[half:]]
            except TransientError as exc:
                self._retry(f"batch {batch}: {exc}")
                if not await retry.backoff(exc.retry_after):
                    for task_id in ids:
                        self._fail(
                            task_id,
                            exc.code,
                            f"gave up after {retry.retries} retries: {exc}",
                            "gaveup",
                            batch,
                        )
                    return []
                continue
            except BatchServiceError as exc:
                if exc.status != 400:
                    raise  # job not found, job state, forbidden: the whole submission stops
                for task_id in ids:
                    self._fail(task_id, exc.code or "BadRequest", str(exc), "rejected", batch)
                return []

            by_id = {t["id"]: t for t in remaining}
            ok: list[str] = []
            again: set[str] = set()
            exists: list[dict[str, Any]] = []
            verified: list[str] = []
            answered: set[str] = set()
            for r in results:
                if r.task_id not in by_id or r.task_id in answered:
                    continue
                answered.add(r.task_id)
                if r.status == "success":
                    ok.append(r.task_id)
                elif r.status == "clienterror" and r.code == "TaskExists":
                    if r.task_id in sent_before:
                        exists.append(by_id[r.task_id])
                    else:
                        self._fail(
                            r.task_id,
                            "TaskExists",
                            "conflict: a task with this id already exists in the job and was "
                            "not added by this submission; it was left unchanged",
                            "conflict",
                            batch,
                        )
                elif r.status == "clienterror":
                    self._fail(
                        r.task_id, r.code or "ClientError", r.message or "", "clienterror", batch
                    )
                else:  # servererror (or an unknown status): re-send unchanged
                    again.add(r.task_id)
            again.update(i for i in ids if i not in answered)

            if exists:
                checks = await asyncio.gather(*(self._verify_one(t) for t in exists))
                for task, (verdict, diffs) in zip(exists, checks, strict=True):
                    if verdict == "same":
                        verified.append(task["id"])
                    elif verdict == "differs":
                        self._fail(
                            task["id"],
                            "TaskExists",
                            "conflict: the existing task differs from the one in the plan "
                            f"({', '.join(diffs or [])}); it was left unchanged",
                            "conflict",
                            batch,
                        )
                    else:
                        again.add(task["id"])
            self.added += len(ok)
            self.verified += len(verified)
            await self._confirm(ok + verified)

            remaining = [t for t in remaining if t["id"] in again]
            if remaining:
                self._retry(f"batch {batch}: {len(remaining)} task(s) to send again")
                if not await retry.backoff(None):
                    for task in remaining:
                        self._fail(
                            task["id"],
                            "ServerError",
                            f"gave up after {retry.retries} retries: the service kept answering "
                            "servererror for this task",
                            "gaveup",
                            batch,
                        )
                    return []
                body = orjson.dumps({"value": remaining})
        return []

    async def _run_batch(self, batch: Batch) -> None:
        pending = [t for t in batch.tasks if t["id"] not in self.confirmed]
        if not pending:
            return
        # The exact bytes of the plan when nothing was confirmed before; else a filtered body.
        body = batch.body if len(pending) == len(batch.tasks) else orjson.dumps({"value": pending})
        chunks: deque[tuple[list[dict[str, Any]], bytes]] = deque([(pending, body)])
        while chunks:
            tasks, data = chunks.popleft()
            halves = await self._send_chunk(batch.index, tasks, data)
            for half in reversed(halves):  # halves in order, one after the other
                chunks.appendleft((half, orjson.dumps({"value": half})))

    async def run_waves(self) -> list[str]:
        """Send every wave; returns the ids not submitted because an earlier wave failed."""
        waves = self.plan.waves()
        for n, wave in enumerate(waves):
            if self.failures:
                return [t["id"] for w in waves[n:] for b in w for t in b.tasks]
            todo = sum(1 for b in wave for t in b.tasks if t["id"] not in self.confirmed)
            if todo == 0:
                continue
            self.progress.wave(wave[0].wave, todo)
            await _all_or_cancel([self._run_batch(b) for b in wave])
            self.progress.wave_done(wave[0].wave)
        return []


async def _all_or_cancel(coros: Sequence[Any]) -> None:
    """Run concurrently; on the first exception cancel the others and raise it."""
    tasks = [asyncio.ensure_future(c) for c in coros]
    try:
        await asyncio.gather(*tasks)
    except BaseException:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


# --------------------------------------------------------------------------------------
# The job


def _same_setting(existing: Any, wanted: Any, default: Any) -> bool:
    a = default if existing is None else existing
    b = default if wanted is None else wanted
    if isinstance(a, str) and isinstance(b, str):
        return a.lower() == b.lower()
    return bool(a == b)


def _job_mismatch(existing: dict[str, Any], wanted: dict[str, Any]) -> list[str]:
    out = []
    if not _same_setting(
        existing.get("usesTaskDependencies"), wanted.get("usesTaskDependencies"), False
    ):
        out.append("usesTaskDependencies")
    if not _same_setting(existing.get("onTaskFailure"), wanted.get("onTaskFailure"), "noaction"):
        out.append("onTaskFailure")
    return out


async def _prepare_job(
    sub: _Submission, *, create_job: bool, pool_id: str | None, state: JournalState
) -> bool:
    """Create (or check) the job; True when this run created it."""
    client, job_id, api = sub.client, sub.job_id, sub.api_version
    wanted = dict(sub.plan.job)
    wanted["id"] = job_id
    if create_job:
        if pool_id:
            wanted["poolInfo"] = {"poolId": pool_id}
        elif not wanted.get("poolInfo"):
            raise ConfigError("--create-job needs --pool-id (job.json has no poolInfo)")
        answer = await client.create_job(wanted, api_version=api)
        if answer.status < 300:
            sub.journal.job_event("created")
            return True
    answer = await client.get_job(job_id, api_version=api)
    if answer.status == 404 or not isinstance(answer.body, dict):
        raise BatchServiceError(
            404,
            "JobNotFound",
            f"job {job_id!r} does not exist: create it first, or pass --create-job --pool-id P",
        )
    diffs = _job_mismatch(answer.body, wanted)
    if diffs:
        if create_job:
            raise JobMismatch(
                f"job {job_id!r} already exists with different settings ({', '.join(diffs)}); "
                "use another --job-id"
            )
        if "usesTaskDependencies" in diffs and wanted.get("usesTaskDependencies"):
            raise JobMismatch(
                f"job {job_id!r} was not created with usesTaskDependencies: every task with "
                "dependsOn would fail; create a new job (--create-job) for this plan"
            )
    return False


async def _set_terminate(sub: _Submission) -> None:
    await sub.client.patch_job(
        sub.job_id, {"onAllTasksComplete": "terminatejob"}, api_version=sub.api_version
    )
    sub.journal.job_event("terminatejob")


# --------------------------------------------------------------------------------------
# Where the plan comes from: a plan directory, or a workflow compiled on the fly

#: Where ``dagbatch submit workflow.py`` compiles to, under the current directory:
#: ``.dagbatch/<job_id>/plan`` (and the journal beside it, so a re-compile does not wipe it).
WORK_DIR = ".dagbatch"


@dataclass(frozen=True)
class PlanSource:
    """A plan directory to submit and the default journal path for it."""

    plan_dir: Path
    job_id: str | None
    default_journal: Path | None  # None: <plan_dir>/journal-<job_id>.jsonl


def _plan_from_source(
    path: Path,
    *,
    job_id: str | None,
    pool_id: str | None,
    workdir: Path,
    resume: bool,
    journal_path: Path | None = None,
) -> PlanSource:
    """Compile ``path`` (``workflow.py[:NAME]``) into ``workdir/.dagbatch/<job_id>/plan``.

    Compiling is deterministic, so a resumed submission gets byte-identical files (and the
    journal's plan sha256 matches). Raises ``WorkflowLoadError`` / ``InvalidWorkflow``.
    """
    from dagbatch.compiler.export import write_plan
    from dagbatch.compiler.loader import load_workflow
    from dagbatch.compiler.pipeline import CompileOptions, compile_graph

    loaded = load_workflow(path)
    compiled = compile_graph(loaded.graph, CompileOptions(job={"id": job_id, "pool_id": pool_id}))
    job_id = job_id or compiled.job_id
    if not job_id:
        raise ConfigError("the workflow sets no job id: pass --job-id")
    base = workdir / WORK_DIR / job_id
    journal = journal_path or base / journal_file(job_id)
    if not resume and read_journal(journal).sent:
        # Refuse before the compiled plan replaces the one the journal belongs to.
        from dagbatch.submit.journal import JournalExists

        raise JournalExists(
            f"a journal for job {job_id!r} already exists at {journal}: pass --resume to "
            "continue that submission"
        )
    plan_dir = write_plan(compiled, base / "plan")
    return PlanSource(plan_dir, job_id, journal)


def resolve_source(
    source: str,
    *,
    job_id: str | None = None,
    pool_id: str | None = None,
    workdir: Path | None = None,
    resume: bool = False,
    journal_path: Path | None = None,
) -> PlanSource:
    """A plan directory as is, or a ``workflow.py[:NAME]`` compiled first."""
    path = Path(source)
    if path.is_dir():
        if not (path / "plan.json").is_file():
            raise PlanError(f"{path} is not a plan directory (no plan.json)")
        return PlanSource(path, job_id, None)
    from dagbatch.compiler.loader import split_target

    file, _ = split_target(source)
    if file.suffix == ".py":
        if not file.is_file():
            raise PlanError(f"no such workflow file: {file}")
        return _plan_from_source(
            Path(source),
            job_id=job_id,
            pool_id=pool_id,
            workdir=workdir or Path.cwd(),
            resume=resume,
            journal_path=journal_path,
        )
    raise PlanError(f"{source} is neither a plan directory nor a workflow .py file")


# --------------------------------------------------------------------------------------
# Entry points


async def submit_plan_async(
    plan_dir: Path,
    *,
    job_id: str | None = None,
    client: BatchClient,
    concurrency: int = DEFAULT_CONCURRENCY,
    resume: bool = False,
    journal_path: Path | None = None,
    create_job: bool = False,
    pool_id: str | None = None,
    progress: Progress | None = None,
) -> SubmitReport:
    """Submit a plan directory; see the module docstring. Closes ``client`` when done."""
    install_log_redaction()
    started = time.monotonic()
    if concurrency < 1:
        raise ConfigError("--concurrency must be at least 1")
    plan = load_plan(Path(plan_dir))
    if create_job and not pool_id and not plan.job.get("poolInfo"):
        raise ConfigError("--create-job needs --pool-id (job.json has no poolInfo)")
    job_id = job_id or plan.manifest.jobId
    if not job_id:
        raise ConfigError("plan.json has no jobId: pass --job-id")
    journal_path = Path(journal_path) if journal_path else default_journal_path(plan_dir, job_id)
    progress = progress or NullProgress()
    header = RunHeader(plan.sha256, job_id, client.endpoint)
    journal, state = Journal.open(journal_path, header, resume=resume)
    sub = _Submission(plan, job_id, client, journal, state, progress, concurrency)
    plan_ids = {t["id"] for b in plan.batches for t in b.tasks}
    previously = len(sub.confirmed & plan_ids)
    job_created = terminate_set = False
    try:
        if state.torn_lines:
            progress.note(f"journal: ignored {state.torn_lines} torn line(s)")
        job_created = await _prepare_job(sub, create_job=create_job, pool_id=pool_id, state=state)
        progress.start(plan.total_tasks, previously, len(plan.waves()))
        not_submitted = await sub.run_waves()
        confirmed = len(sub.confirmed & plan_ids)
        if (
            confirmed == plan.total_tasks
            and not sub.failures
            and plan.manifest.onAllTasksComplete == "terminatejob"
        ):
            if "terminatejob" not in state.job_events:
                await _set_terminate(sub)
            terminate_set = True
    finally:
        progress.finish()
        journal.close()
        await client.aclose()
    return SubmitReport(
        job_id=job_id,
        total=plan.total_tasks,
        confirmed=confirmed,
        previously_confirmed=previously,
        added=sub.added,
        verified_existing=sub.verified,
        retries=sub.retries,
        requests=sub.requests,
        elapsed=time.monotonic() - started,
        failures=tuple(sub.failures.values()),
        not_submitted=tuple(not_submitted),
        journal_path=journal_path,
        job_created=job_created,
        job_terminate_set=terminate_set,
    )


def submit_plan(
    plan_dir: Path,
    *,
    job_id: str | None = None,
    client: BatchClient,
    concurrency: int = DEFAULT_CONCURRENCY,
    resume: bool = False,
    journal_path: Path | None = None,
    create_job: bool = False,
    pool_id: str | None = None,
    progress: Progress | None = None,
) -> SubmitReport:
    """Synchronous ``submit_plan_async`` (runs its own event loop)."""
    return asyncio.run(
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
        )
    )
