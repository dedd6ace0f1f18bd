"""Classifying one addtaskcollection answer (dagbatch.submit.results), a pure function."""

from __future__ import annotations

from dagbatch.submit.client import TaskAddResult
from dagbatch.submit.results import FOREIGN_TASK, classify_results


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
    assert out.exists == ["c"]  # sent before: a GET decides
    assert out.failed == [
        ("d", "TaskExists", FOREIGN_TASK, "conflict"),
        ("e", "InvalidPropertyValue", "bad", "clienterror"),
    ]
    # servererror and the task the answer left out, in request order.
    assert out.resend == ["b", "f"]


def test_an_empty_answer_resends_everything_in_order() -> None:
    out = classify_results(["x", "y"], [], sent_before=set())
    assert out.resend == ["x", "y"] and not out.added and not out.failed and not out.exists
