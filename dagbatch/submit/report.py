"""What a submission did: ``SubmitFailure`` per task that did not land, ``SubmitReport`` for
the whole run, and its JSON file next to the journal."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import orjson

from dagbatch.paths import write_whole

#: Why a task is not confirmed in the job:
#: ``clienterror`` the service refused the task (its code says why); ``conflict`` another task
#: with its id exists (or one the job held before this submission sent it,
#: ``adopt_existing`` aside); ``rejected`` the whole request was refused (400, 413 for one
#: task); ``gaveup`` the retries ran out on answers that say the task was not added (429, 503,
#: per-task servererror); ``unconfirmed`` the retries ran out after answers that leave it open
#: (timeouts, dropped connections, 500): the task may have landed, ``--resume`` checks;
#: ``missing`` confirmed earlier, but the job does not hold it now.
FailureKind = Literal["clienterror", "conflict", "rejected", "gaveup", "unconfirmed", "missing"]


@dataclass(frozen=True, slots=True)
class SubmitFailure:
    """A task that is not confirmed in the job: its code and message as the service (or we)
    said, already redacted."""

    task_id: str
    code: str
    message: str
    kind: FailureKind
    batch: int | None = None

    @property
    def may_have_landed(self) -> bool:
        return self.kind == "unconfirmed"

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
    """What a submission did. ``ok`` when every task of the plan is confirmed in the job and
    the job holds at least as many tasks as the plan (``job_task_count``, when it was read)."""

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
    job_task_count: int | None = None  # tasks the job holds at the end (GET taskcounts)
    notes: tuple[str, ...] = ()
    #: Tasks the job held before this submission sent them, the same as the plan's, counted
    #: as landed (``adopt_existing``).
    adopted: int = 0

    @property
    def ok(self) -> bool:
        return (
            not self.failures
            and not self.not_submitted
            and self.confirmed == self.total
            and (self.job_task_count is None or self.job_task_count >= self.total)
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "jobId": self.job_id,
            "ok": self.ok,
            "total": self.total,
            "confirmed": self.confirmed,
            "previouslyConfirmed": self.previously_confirmed,
            "added": self.added,
            "verifiedExisting": self.verified_existing,
            "adopted": self.adopted,
            "retries": self.retries,
            "requests": self.requests,
            "elapsedSeconds": round(self.elapsed, 3),
            "jobCreated": self.job_created,
            "jobTerminateSet": self.job_terminate_set,
            "jobTaskCount": self.job_task_count,
            "journal": str(self.journal_path),
            "failures": [f.to_dict() for f in self.failures],
            "notSubmitted": list(self.not_submitted),
            "notes": list(self.notes),
        }


def report_path_for(journal_path: Path) -> Path:
    """The JSON report's path, next to the journal: journal-X.jsonl -> journal-X.report.json."""
    return journal_path.with_name(journal_path.stem + ".report.json")


def write_report(report: SubmitReport, path: Path) -> None:
    """Write the full report (every failure) as JSON; messages are already redacted."""
    data = orjson.dumps(report.to_dict(), option=orjson.OPT_INDENT_2)
    write_whole(path, data + b"\n")
