"""Classifying one addtaskcollection answer (dagbatch.submit.results), a pure function."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from dagbatch.submit.client import TaskAddResult
from dagbatch.submit.results import classify_results


def test_each_status_goes_where_it_belongs() -> None:
    sent = ["a", "b", "c", "d", "e", "f", "g"]
    results = [
        TaskAddResult("g", "success"),
        TaskAddResult("a", "success"),
        TaskAddResult("b", "servererror", "ServerBusy", "busy"),
        TaskAddResult("c", "clienterror", "TaskExists", "exists"),
        TaskAddResult("d", "clienterror", "TaskExists", "exists"),
        TaskAddResult("e", "clienterror", "InvalidPropertyValue", "bad"),
        TaskAddResult("zz", "success"),  # not sent: ignored
        TaskAddResult("a", "servererror"),  # a repeated answer: the first one counts
    ]
    out = classify_results(sent, results, sent_before={"c"})
    assert out.added == ["g", "a"]
    assert out.exists == ["c"]  # sent before: a GET decides whether it is ours
    assert out.foreign == ["d"]  # never sent: not ours (a GET compares it for the report)
    assert out.failed == [("e", "InvalidPropertyValue", "bad", "clienterror")]
    # servererror and the task the answer left out, in request order.
    assert out.resend == ["b", "f"]


def test_an_empty_answer_resends_everything_in_order() -> None:
    out = classify_results(["x", "y"], [], sent_before=set())
    assert out.resend == ["x", "y"]
    assert not out.added and not out.failed and not out.exists and not out.foreign


_IDS = st.sampled_from(["a", "b", "c", "d", "zz"])
_RESULT = st.builds(
    TaskAddResult,
    _IDS,
    st.sampled_from(["success", "success", "success", "clienterror", "servererror", "odd"]),
    st.sampled_from([None, "TaskExists", "InvalidPropertyValue"]),
    st.just("why"),
)


def _reference(sent: list[str], results: list[TaskAddResult], before: set[str]) -> Any:
    """The classification written out step by step: the first answer for a sent task
    counts; what is never answered is sent again."""
    first: dict[str, TaskAddResult] = {}
    for r in results:
        if r.task_id in sent and r.task_id not in first:
            first[r.task_id] = r
    added = [r.task_id for r in first.values() if r.status == "success"]
    taken = [r for r in first.values() if r.status == "clienterror" and r.code == "TaskExists"]
    exists = [r.task_id for r in taken if r.task_id in before]
    foreign = [r.task_id for r in taken if r.task_id not in before]
    failed = [
        (r.task_id, r.code or "ClientError", r.message or "", "clienterror")
        for r in first.values()
        if r.status == "clienterror" and r.code != "TaskExists"
    ]
    resend = [
        i for i in sent if i not in first or first[i].status not in ("success", "clienterror")
    ]
    return added, exists, foreign, failed, resend


@settings(max_examples=400, deadline=None)
@given(
    st.lists(st.sampled_from(["a", "b", "c", "d"]), min_size=1, max_size=4, unique=True),
    st.lists(_RESULT, max_size=8),
    st.sets(st.sampled_from(["a", "b", "c", "d"])),
    st.booleans(),
)
def test_every_answer_is_classified_as_written_out(
    sent: list[str], results: list[TaskAddResult], before: set[str], all_success: bool
) -> None:
    """The quick path for an answer of only successes and the task-by-task one agree with
    the rules written out, whatever the answer holds."""
    if all_success:  # the common answer, in some order: the quick path
        results = [TaskAddResult(i, "success") for i in reversed(sent)]
    out = classify_results(sent, results, sent_before=before)
    got = (out.added, out.exists, out.foreign, out.failed, out.resend)
    assert got == _reference(sent, results, before)
