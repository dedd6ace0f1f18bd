"""The submission journal: an append-only JSON-lines file that makes `submit --resume` exact.

One record a line, compact JSON (orjson), key ``t`` says what it is::

    {"t":"run","v":1,"plan":"<sha256 of plan.json>","job":"nightly","endpoint":"https://...",
     "at":"2025-01-01T00:00:00Z","resume":false}         a run (re)starts
    {"t":"send","b":3,"ids":["a","b"]}                     an attempt is about to go out
    {"t":"ok","ids":["a"]}                                  these tasks are confirmed added
    {"t":"fail","id":"b","code":"InvalidPropertyValue","msg":"...","kind":"clienterror"}
                                                            terminal, this run
    {"t":"job","event":"created","creationTime":"..."}    the job was created (and when)
    {"t":"job","event":"terminatejob"}                      onAllTasksComplete was set

Ordering rules that make resume exact: a ``send`` record is written (and flushed to the OS, so
it survives SIGKILL) before its request leaves; an ``ok`` record is written and flushed as soon
as the answer confirms the tasks. So after any crash every task the service may hold is in a
``send`` record, and every ``ok`` task really landed. Against a loss of power, the records
reach the disk by group commit (``commit``: one fsync covers every record written before it):
before a task that depends on confirmed tasks is sent, before a new wave starts, at least every
``SYNC_EVERY_S`` while answers come in, and at the end (``dagbatch.submit.waves``).

On resume, ``ok`` tasks are skipped and ``send``-but-not-``ok`` tasks are "possibly landed":
their ``TaskExists`` is accepted after a GET and compare. ``fail`` records are informative: a
resumed run tries those tasks again (a transient give-up may succeed now; a client error fails
again and is reported again). They also say what the sends before them did
(``JournalState.maybe_ours``): a ``TaskExists`` conflict means the job held a task of that id
that was not ours, so no send before it made it; a ``gaveup``, ``clienterror`` or ``rejected``
failure means those sends added nothing; an ``unconfirmed`` one (or a record without a
``kind``, written before there was one) leaves them possibly landed. A send after the last
such record (an interrupted run) is possibly landed too: the user may have deleted the other
task meanwhile.

A torn last line (the process died in the middle of a write) is ignored on reading; the next
writer first terminates it with a newline so later records stay whole. Anything else that is
wrong is refused (``JournalCorrupt``, naming the line): a first record that is not a run
header, a record of an unknown kind or with fields of the wrong type, or a run header of
another plan, job or endpoint appended to this journal. Every record belongs to the run of the
header above it, and every run of one journal to the same plan, job and endpoint.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import time
from collections.abc import Iterable
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO, Final

import orjson

from dagbatch.errors import (
    ConfigError,
    JournalCorrupt,
    JournalExists,
    JournalMismatch,
    JournalWriteError,
    PlanError,
)
from dagbatch.locks import try_lock

JOURNAL_VERSION = 1
#: ``fail`` kinds after which the sends before added nothing: the service said so.
NOT_ADDED: Final = frozenset({"gaveup", "clienterror", "rejected"})

#: fdatasync where the system has it: appended data and the file size it needs reach the
#: disk, without the inode's times that fsync would also write.
_datasync = getattr(os, "fdatasync", os.fsync)
#: An fsync quicker than this (seconds, the last one measured) runs on the event loop itself:
#: handing it to a worker thread costs more (the hand-off and the GIL going back and forth,
#: about half a millisecond a time measured on the benchmark machine, whose fsync takes
#: 0.13 ms). A slower disk gets the worker thread, so the loop goes on meanwhile.
INLINE_FSYNC_S = 0.0005
#: While answers come in, confirmations are put on disk at least this often (seconds); a
#: dependent task or a new wave does not wait for it (it commits first). An fsync per answer
#: took a quarter of the event loop's busy time at 16 requests in flight (0.3 ms each, 845 of
#: them for 100,000 tasks). What a power cut can lose is the records of the last
#: ``SYNC_EVERY_S`` (as it could always lose the ``send`` records of the requests in flight);
#: a resume meets those tasks as ``TaskExists``.
SYNC_EVERY_S = 0.05


__all__ = [
    "JOURNAL_VERSION",
    "Journal",
    "JournalCorrupt",
    "JournalExists",
    "JournalMismatch",
    "JournalState",
    "JournalWriteError",
    "RunHeader",
    "normalize_endpoint",
    "read_journal",
]


@dataclass(frozen=True, slots=True)
class RunHeader:
    """What a journal is about: the plan (sha256 of plan.json), the job and the endpoint."""

    plan_sha256: str
    job_id: str
    endpoint: str

    def to_record(self, *, resume: bool) -> dict[str, Any]:
        return {
            "t": "run",
            "v": JOURNAL_VERSION,
            "plan": self.plan_sha256,
            "job": self.job_id,
            "endpoint": normalize_endpoint(self.endpoint),
            "at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "resume": resume,
        }


@dataclass(frozen=True)
class JournalState:
    """What a journal says happened, folded over all its runs."""

    header: RunHeader | None = None
    runs: int = 0
    sent: frozenset[str] = frozenset()
    confirmed: frozenset[str] = frozenset()
    failed: dict[str, tuple[str, str]] = field(default_factory=dict)
    job_events: frozenset[str] = frozenset()
    job_created_at: str | None = None  # the job's creationTime when this journal created it
    torn_lines: int = 0

    @property
    def unconfirmed_sent(self) -> frozenset[str]:
        """Tasks sent at some point but never confirmed: they may or may not exist."""
        return self.sent - self.confirmed

    #: Tasks a send of this submission may have added (see the module docstring): only for
    #: them is a ``TaskExists`` possibly ours.
    maybe_ours: frozenset[str] = frozenset()


def normalize_endpoint(endpoint: str) -> str:
    return endpoint.strip().rstrip("/").lower()


def _str_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _check_record(record: Any, line: int, path: Path) -> dict[str, Any]:
    """``record`` if it has the shape of its kind; else ``JournalCorrupt`` naming the line."""

    def bad(what: str) -> JournalCorrupt:
        return JournalCorrupt(f"journal {path}, line {line}: {what}; refusing to use it")

    if not isinstance(record, dict):
        raise bad("not a JSON object")
    kind = record.get("t")
    if kind == "run":
        if not all(isinstance(record.get(k), str) for k in ("plan", "job", "endpoint")):
            raise bad("a run header without a plan, job and endpoint")
    elif kind == "send":
        if not isinstance(record.get("b"), int) or not _str_list(record.get("ids")):
            raise bad("a 'send' record without a batch number and a list of task ids")
    elif kind == "ok":
        if not _str_list(record.get("ids")):
            raise bad("an 'ok' record without a list of task ids")
    elif kind == "fail":
        if not all(isinstance(record.get(k), str) for k in ("id", "code")):
            raise bad("a 'fail' record without a task id and a code")
    elif kind == "job":
        if not isinstance(record.get("event"), str):
            raise bad("a 'job' record without an event")
    else:
        raise bad(f"a record of unknown kind {kind!r}")
    return record


#: Every record is written with orjson from a dict whose first key is ``"t"``: a line cut
#: short by a crash begins with this, or is a beginning of it.
_RECORD_START: Final = b'{"t":'


def _could_be_torn(line: bytes) -> bool:
    """Whether a line that is not JSON can be a record cut short (else the file is not a
    journal: a user's file given as --journal is never taken for one and emptied)."""
    line = line.lstrip()
    return line.startswith(_RECORD_START) or _RECORD_START.startswith(line)


def journal_exists(
    job_id: str, path: Path, state: JournalState, total: int | None
) -> JournalExists:
    """The refusal of a new submission where a journal says one was started: whether that
    one is whole (then only a new job submits the plan again) or can be continued
    (``--resume``), with the number of tasks confirmed of ``total`` (the plan's, if known)."""
    from dagbatch.plan import next_job_id  # pydantic: not for `dagbatch --help`

    done = len(state.confirmed)
    whole = total is not None and done >= total and not state.unconfirmed_sent
    new_job = f"--job-id {next_job_id(job_id, path.parent)}"
    if whole:
        return JournalExists(
            f"job {job_id!r} was already submitted whole from this plan (journal {path}: all "
            f"{done:,} tasks confirmed), so there is nothing to continue. To submit it again, "
            f"name a new job ({new_job} --create-job); or --journal PATH for a separate "
            "journal."
        )
    of = f" of {total:,}" if total is not None else ""
    return JournalExists(
        f"a journal for job {job_id!r} already exists at {path}: a submission of this plan was "
        f"started before ({done:,}{of} tasks confirmed). Pass --resume to continue it (tasks "
        f"already confirmed are not sent again), or {new_job} / --journal PATH to start a "
        "separate submission."
    )


def read_journal(path: Path) -> JournalState:
    """Fold a journal file into a ``JournalState``.

    Torn lines (not JSON: a write cut short by a crash) are skipped and counted. A missing or
    damaged header, a record of the wrong shape, or a run header of another plan, job or
    endpoint raise ``JournalCorrupt``.
    """
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return JournalState()
    except OSError as exc:
        raise PlanError(f"cannot read journal {path}: {exc}") from exc
    header: RunHeader | None = None
    runs = 0
    sent: set[str] = set()
    confirmed: set[str] = set()
    failed: dict[str, tuple[str, str]] = {}
    # What the sends did (module docstring): ``pending``, sent with no failure after;
    # ``landed``, a failure after them left them possibly landed.
    pending: set[str] = set()
    landed: set[str] = set()
    events: set[str] = set()
    created_at: str | None = None
    torn = 0
    first_torn: int | None = None
    # A write cut short can only be the last line of a run: the next run ends it with a
    # newline and starts with its header (Journal.open). A line that is not JSON followed by
    # another record of the same run is damage, not a torn write.
    last_torn: int | None = None
    for number, line in enumerate(data.split(b"\n"), start=1):
        if not line.strip():
            continue
        try:
            raw = orjson.loads(line)
        except orjson.JSONDecodeError:
            if not _could_be_torn(line):
                raise JournalCorrupt(
                    f"{path}, line {number}: not a journal record, nor one cut short by a "
                    "crash: this is not a dagbatch journal, and it is left as it is; give "
                    "--journal a file of its own"
                ) from None
            torn += 1
            last_torn = number
            if header is None and first_torn is None:
                first_torn = number
            continue
        record = _check_record(raw, number, path)
        kind = record["t"]
        if last_torn is not None and header is not None and kind != "run":
            raise JournalCorrupt(
                f"journal {path}, line {last_torn}: not a JSON record, and line {number} of "
                "the same run follows it: the journal was damaged (a write cut short can only "
                "be a run's last line); refusing to use it"
            )
        last_torn = None
        if header is None:
            if kind != "run":
                where = (
                    f"its header (line {first_torn}) is damaged"
                    if first_torn is not None
                    else f"line {number} comes before any run header"
                )
                raise JournalCorrupt(
                    f"journal {path}: {where}, so its records cannot be tied to a plan; "
                    "refusing to use it (move it away to start a new submission)"
                )
            header = RunHeader(record["plan"], record["job"], record["endpoint"])
        if kind == "run":
            runs += 1
            this = (record["plan"], record["job"], normalize_endpoint(record["endpoint"]))
            first = (header.plan_sha256, header.job_id, normalize_endpoint(header.endpoint))
            if this != first:
                raise JournalCorrupt(
                    f"journal {path}, line {number}: a run of another plan, job or endpoint "
                    "was appended to this journal; refusing to use it"
                )
        elif kind == "send":
            sent.update(record["ids"])
            pending.update(record["ids"])
        elif kind == "ok":
            ids = record["ids"]
            confirmed.update(ids)
            for task_id in ids:
                failed.pop(task_id, None)
        elif kind == "fail":
            task_id = record["id"]
            failed[task_id] = (record["code"], str(record.get("msg", "")))
            outcome = record.get("kind")
            if record["code"] == "TaskExists":  # another's task: no send of ours made it
                landed.discard(task_id)
            elif outcome not in NOT_ADDED and task_id in pending:  # they may have landed
                landed.add(task_id)
            pending.discard(task_id)
        elif kind == "job":
            events.add(record["event"])
            if record["event"] == "created" and isinstance(record.get("creationTime"), str):
                created_at = record["creationTime"]
    return JournalState(
        header=header,
        runs=runs,
        sent=frozenset(sent),
        confirmed=frozenset(confirmed),
        failed=failed,
        maybe_ours=frozenset(landed | pending),
        job_events=frozenset(events),
        job_created_at=created_at,
        torn_lines=torn,
    )


def check_new_journal(path: Path) -> None:
    """What ``Journal.open`` would find wrong with a journal that does not exist yet, found
    without writing anything: a path that cannot be read (``PlanError``: a file where a
    directory should be), or no writable directory to create it in (``JournalWriteError``).

    ``submit --create-job`` asks for the job while the plan is parsed, before the journal is
    opened; it checks this first, so a local problem is reported before any request."""
    read_journal(path)
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent  # Journal.open creates the directories that are missing
    if not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
        raise JournalWriteError(
            f"cannot write the journal {path}: {folder} is not a directory this user can write"
        )


class Journal:
    """An open journal, appending records. Use ``Journal.open``; close with ``close``."""

    def __init__(self, path: Path, fh: BinaryIO):
        self.path = path
        self._fh = fh
        self._written = 0  # records written so far
        self._synced = 0  # of which known to be on disk
        self._syncing: asyncio.Future[None] | None = None  # the group commit in flight
        self._last_sync_s = 0.0  # how long the last fsync took (0: none yet, try inline)
        self._synced_at = time.monotonic()  # when the last fsync ended
        self._inline: asyncio.Future[None] | None = None  # the fsync due on the loop's next turn
        #: Whether the journal records more than run headers: a task sent (in this run or an
        #: earlier one), an answer, or a step taken on the job. One that does not is removed
        #: by ``close``.
        self._promised = False

    @classmethod
    def open(
        cls,
        path: Path,
        header: RunHeader,
        *,
        resume: bool,
        task_ids: AbstractSet[str] | None = None,
    ) -> tuple[Journal, JournalState]:
        """Open (or create) the journal for this run, checking it belongs to this submission.

        Without ``resume`` an existing non-empty journal is refused (``JournalExists``); with
        it, the journal must name the same plan, job and endpoint (``JournalMismatch``), and
        every task it names must be one of ``task_ids`` (the plan's) when given
        (``JournalCorrupt``). Nothing is written to a journal that is refused.
        """
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fh = open(path, "ab", buffering=0)  # noqa: SIM115 - closed by Journal.close
        except OSError as exc:
            raise JournalWriteError(f"cannot write the journal {path}: {exc}") from exc
        try:
            # Locked before it is read: a submission running now holds it, and is named as
            # one, not taken for one that was started before and stopped (JournalExists).
            # Opening it appends nothing: a refused journal is left as it was.
            if not try_lock(fh):  # two submits must not share a journal
                raise ConfigError(f"journal {path} is in use by another dagbatch submit")
            state = read_journal(path)
            if task_ids is not None:
                foreign = (state.sent | state.confirmed | set(state.failed)) - task_ids
                if foreign:
                    raise JournalCorrupt(
                        f"journal {path} names {len(foreign)} task(s) that are not in this "
                        f"plan (e.g. {sorted(foreign)[0]!r}): it holds records of another "
                        "plan; refusing to use it"
                    )
            fresh = not state.sent  # nothing was ever sent: the journal holds no promise yet
            if state.sent and not resume:
                total = len(task_ids) if task_ids is not None else None
                raise journal_exists(header.job_id, path, state, total)
            if fresh:
                state = JournalState()
            if state.header is not None:
                mine = (header.plan_sha256, header.job_id, normalize_endpoint(header.endpoint))
                theirs = (state.header.plan_sha256, state.header.job_id, state.header.endpoint)
                names = ("plan (sha256 of plan.json)", "job id", "endpoint")
                diffs = [n for n, a, b in zip(names, mine, theirs, strict=True) if a != b]
                if diffs:
                    raise JournalMismatch(
                        f"journal {path} belongs to another submission (different "
                        f"{', '.join(diffs)}); refusing to resume it"
                    )
            journal = cls(path, fh)
            journal._promised = not fresh
            if fresh:
                fh.truncate(0)  # only run headers of attempts that sent nothing
            elif fh.tell() > 0:
                with open(path, "rb") as check:
                    check.seek(-1, os.SEEK_END)
                    if check.read(1) != b"\n":
                        fh.write(b"\n")  # terminate a torn last line
            journal._write(header.to_record(resume=resume))
            journal.sync()
        except OSError as exc:
            fh.close()
            raise JournalWriteError(f"cannot write the journal {path}: {exc}") from exc
        except BaseException:
            fh.close()
            raise
        return journal, state

    def _write(self, record: dict[str, Any]) -> None:
        # One unbuffered write() per record: the line reaches the OS whole or (on a crash in
        # the middle of the syscall) torn, never interleaved with another record.
        line = orjson.dumps(record) + b"\n"
        try:
            done = self._fh.write(line)
            # A write may take part of the line (a disk that fills, a file size limit): the
            # rest is written, or the error that stops it is raised, before the caller acts on
            # the record (sends its request). Taken as whole, a cut record had its request
            # sent, and the next --resume read its tasks as another submission's.
            while done is not None and done < len(line):
                more = self._fh.write(line[done:])
                if not more:
                    raise OSError(errno.ENOSPC, "the record was written in part only")
                done += more
        except OSError as exc:
            raise self._write_error(exc) from exc
        self._written += 1
        if record["t"] != "run":
            self._promised = True

    def _write_error(self, exc: OSError) -> JournalWriteError:
        return JournalWriteError(
            f"cannot write the journal {self.path}: {exc.strerror or exc}; nothing more was "
            "sent. Free some space, then run the same command with --resume"
        )

    def sending(self, batch: int, ids: Iterable[str]) -> None:
        """Record an attempt before its request goes out (flushed, not fsync'ed)."""
        self._write({"t": "send", "b": batch, "ids": list(ids)})

    def confirmed(self, ids: Iterable[str]) -> None:
        """Record confirmed tasks; await ``commit`` (or call ``sync``) before counting them as
        confirmed."""
        ids = list(ids)
        if ids:
            self._write({"t": "ok", "ids": ids})

    def failed(self, task_id: str, code: str, message: str, kind: str) -> None:
        """Record a task that did not land; ``kind`` (``report.FailureKind``) says whether
        the sends before it may have added it (``JournalState.maybe_ours``)."""
        self._write({"t": "fail", "id": task_id, "code": code, "msg": message, "kind": kind})

    def job_event(self, event: str, **details: str) -> None:
        """Record a job-level step (``created`` with its ``creationTime``, ``terminatejob``)."""
        self._write({"t": "job", "event": event, **details})
        self.sync()

    def sync(self) -> None:
        """fsync everything written so far (no-op when nothing was written since)."""
        covered = self._written
        if covered > self._synced:
            started = time.perf_counter()
            try:
                _datasync(self._fh.fileno())
            except OSError as exc:
                raise self._write_error(exc) from exc
            self._last_sync_s = time.perf_counter() - started
            self._synced = max(self._synced, covered)
            self._synced_at = time.monotonic()

    @property
    def unsynced(self) -> bool:
        """Whether records were written since the last fsync started."""
        return self._written > self._synced

    def sync_due(self) -> bool:
        """Whether records wait for the disk and the last fsync ended ``SYNC_EVERY_S`` ago
        or more."""
        return self._written > self._synced and time.monotonic() - self._synced_at >= SYNC_EVERY_S

    async def commit(self) -> None:
        """Return once every record written before the call is on disk: group commit.

        At most one fsync is in flight (in a worker thread, so the event loop goes on; or, on a
        disk whose last fsync took under ``INLINE_FSYNC_S``, at once on the loop). A caller
        whose records were written while one runs waits for it, then for the next one,
        which covers every record written before it started: one fsync per round of answers,
        not one per answer, and the rule "an ``ok`` record is on disk before its tasks count
        as confirmed" holds for each caller. A failed fsync raises ``JournalWriteError`` in
        every caller it was to cover.
        """
        target = self._written
        if self._synced >= target:
            return
        if self._syncing is None and self._last_sync_s < INLINE_FSYNC_S:
            # A fast disk: one fsync on the loop itself, as soon as the callers of this turn
            # of the loop have written (INLINE_FSYNC_S).
            if self._inline is None:
                loop = asyncio.get_running_loop()
                self._inline = loop.create_future()
                loop.call_soon(self._sync_inline)
            await asyncio.shield(self._inline)
            return
        while self._synced < target:
            if self._syncing is None:
                self._syncing = asyncio.ensure_future(self._sync_in_thread())
            # Shielded: a cancelled caller must not cancel the fsync others wait on.
            await asyncio.shield(self._syncing)

    def _sync_inline(self) -> None:
        done, self._inline = self._inline, None
        if done is None:
            return
        try:
            self.sync()
        except JournalWriteError as exc:
            done.set_exception(exc)
        else:
            done.set_result(None)

    async def _sync_in_thread(self) -> None:
        try:
            await asyncio.to_thread(self.sync)
        finally:
            self._syncing = None

    def close(self) -> None:
        """Close the file. A journal that records nothing sent and no step on the job (the
        submission stopped before its first request, e.g. at JobNotFound) holds no promise
        (``open`` would start it afresh): it is removed, so that it does not stand in the way
        of compiling the plan again (``write_plan_dir`` keeps a plan that has a journal)."""
        if not self._fh.closed:
            if not self._promised:
                with contextlib.suppress(OSError):
                    self.path.unlink()  # while still holding the lock
            with contextlib.suppress(OSError, JournalWriteError):
                self.sync()  # a write error was already raised where it happened
            self._fh.close()
