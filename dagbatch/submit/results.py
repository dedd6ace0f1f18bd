"""Classifying the per-task results of one addtaskcollection answer (a pure function).

The service answers every task of a request with ``success``, ``clienterror`` (with a code) or
``servererror``, in any order [docs/BATCH_FACTS.md: "Response 200 ... in any order";
``servererror``: retry unchanged; ``clienterror``: do not retry unchanged]. A task the answer
does not mention was not processed and is sent again.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence, Set
from dataclasses import dataclass, field
from operator import attrgetter

from dagbatch.submit.client import TaskAddResult
from dagbatch.submit.report import FailureKind

_status = attrgetter("status")
_task_id = attrgetter("task_id")

#: The message for a ``TaskExists`` on a task this submission never sent, when the existing
#: task could not be read to compare it with the plan's.
FOREIGN_TASK = (
    "conflict: a task with this id already exists in the job and was not added by this "
    "submission (it could not be read to compare it with the plan's); it was left unchanged"
)

#: ... when the existing task is the same as the plan's (see ``WaveScheduler.adopt``).
FOREIGN_SAME_TASK = (
    "conflict: a task with this id, the same as the plan's, already exists in the job but was "
    "not added by this submission; it was left unchanged"
)


@dataclass
class Classified:
    """Where each task of a request stands after one answer.

    ``added``: landed now. ``resend``: not added (``servererror``, an unknown status, or
    absent from the answer); send again unchanged. ``exists``: ``TaskExists`` for a task this
    submission sent before; a GET decides whether it is ours. ``foreign``: ``TaskExists`` for
    a task this submission never sent: not ours, though a GET tells whether it is the same as
    the plan's (a submission whose journal was lost). ``failed``: (task id, code, message,
    kind) of tasks refused for good.
    """

    added: list[str] = field(default_factory=list)
    resend: list[str] = field(default_factory=list)
    exists: list[str] = field(default_factory=list)
    foreign: list[str] = field(default_factory=list)
    failed: list[tuple[str, str, str, FailureKind]] = field(default_factory=list)


def classify_results(
    sent: Sequence[str], results: Iterable[TaskAddResult], sent_before: Set[str]
) -> Classified:
    """Classify ``results`` for the tasks ``sent`` (ids in request order).

    ``sent_before`` holds the ids this submission sent in an earlier attempt (or an
    interrupted run journaled as sent): only for those is ``TaskExists`` possibly ours.
    Results for ids not sent, and repeated results, are ignored. ``resend`` keeps the request
    order.
    """
    out = Classified()
    expected = set(sent)
    if not isinstance(results, list):
        results = list(results)
    # The common answer: every task sent, once each, a success. Then all were added, told
    # by C-level scans rather than a Python step per task.
    if (
        len(results) == len(expected) == len(sent)
        and set(map(_status, results)) == {"success"}
        and set(task_ids := list(map(_task_id, results))) == expected
    ):
        out.added = task_ids
        return out
    answered: set[str] = set()
    for r in results:
        if r.task_id not in expected or r.task_id in answered:
            continue
        answered.add(r.task_id)
        if r.status == "success":
            out.added.append(r.task_id)
        elif r.status == "clienterror" and r.code == "TaskExists":
            (out.exists if r.task_id in sent_before else out.foreign).append(r.task_id)
        elif r.status == "clienterror":
            out.failed.append((r.task_id, r.code or "ClientError", r.message or "", "clienterror"))
        else:  # servererror (or a status we do not know): not added, send again unchanged
            out.resend.append(r.task_id)
    again = set(out.resend)
    out.resend = [i for i in sent if i in again or i not in answered]
    return out
