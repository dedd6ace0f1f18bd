"""The "can never run" analysis: Batch's dependency and exit-condition rules, pure."""

from __future__ import annotations

import time
from typing import Any

import pytest

from dagbatch.observe.model import (
    Dependencies,
    FailureInfo,
    TaskDefinition,
    TaskRecord,
)
from dagbatch.observe.stranded import (
    analyse,
    barrier_children,
    integer_id,
    resolve_exit,
    strand_of,
)

HANDLER_PARENT = {  # what compile emits for a parent whose dependents run on failure only
    "exitCodes": [{"code": 0, "exitOptions": {"dependencyAction": "block"}}],
    "default": {"dependencyAction": "satisfy"},
}


def d(tid: str, *ids: str, ranges: tuple[tuple[int, int], ...] = (), ec: Any = None):
    return TaskDefinition(tid, Dependencies(tuple(ids), ranges), ec)


def done(tid: str, code: int | None = 0, failure: str | None = None, ran: bool = True):
    failed = (code not in (0, None)) or failure is not None or code is None
    return TaskRecord(
        tid,
        "completed",
        exit_code=code,
        result="failure" if failed else "success",
        failure=FailureInfo("usererror", failure, "x") if failure else None,
        started=_t().isoformat() if ran else None,
        ended=_t().isoformat(),
    )


def _t():
    from datetime import UTC, datetime

    return datetime(2026, 1, 1, tzinfo=UTC)


def active(tid: str) -> TaskRecord:
    return TaskRecord(tid, "active")


def running(tid: str) -> TaskRecord:
    return TaskRecord(tid, "running", started=_t().isoformat())


def job(defs: list[TaskDefinition], recs: list[TaskRecord]):
    return {x.id: x for x in defs}, {r.id: r for r in recs}


# -- resolve_exit ---------------------------------------------------------------------------


def test_batch_defaults_satisfy_zero_and_block_everything_else() -> None:
    assert resolve_exit(None, done("a", 0)).dependency_action == "satisfy"
    assert resolve_exit(None, done("a", 0)).job_action == "none"
    two = resolve_exit(None, done("a", 2))
    assert (two.condition, two.dependency_action, two.job_action) == (
        "batch-default",
        "block",
        "terminate",
    )
    pre = resolve_exit(None, done("a", None, "ResourceContainerAccessDenied"))
    assert pre.dependency_action == "block"


def test_exit_codes_then_ranges_then_default() -> None:
    ec = {
        "exitCodes": [{"code": 3, "exitOptions": {"dependencyAction": "satisfy"}}],
        "exitCodeRanges": [{"start": 2, "end": 5, "exitOptions": {"dependencyAction": "block"}}],
        "default": {"dependencyAction": "satisfy"},
    }
    assert resolve_exit(ec, done("a", 3)).condition == "exitCodes"
    assert resolve_exit(ec, done("a", 3)).dependency_action == "satisfy"
    assert resolve_exit(ec, done("a", 4)).condition == "exitCodeRanges"
    assert resolve_exit(ec, done("a", 4)).dependency_action == "block"
    assert resolve_exit(ec, done("a", 9)).condition == "default"
    assert resolve_exit(ec, done("a", 9)).dependency_action == "satisfy"


def test_default_never_applies_to_exit_code_zero() -> None:
    ec = {"default": {"dependencyAction": "block"}}
    out = resolve_exit(ec, done("a", 0))
    assert (out.condition, out.dependency_action) == ("batch-default", "satisfy")
    listed = {"exitCodes": [{"code": 0, "exitOptions": {"dependencyAction": "block"}}]}
    assert resolve_exit(listed, done("a", 0)).dependency_action == "block"


def test_matched_options_without_action_take_the_default_for_the_ending() -> None:
    ec = {"exitCodes": [{"code": 7, "exitOptions": {"jobAction": "none"}}]}
    out = resolve_exit(ec, done("a", 7))
    assert (out.condition, out.dependency_action, out.job_action) == ("exitCodes", "block", "none")


def test_pre_processing_error() -> None:
    rec = done("a", None, "BlobDownloadMiscError")
    out = resolve_exit({"preProcessingError": {"dependencyAction": "satisfy"}}, rec)
    assert (out.condition, out.dependency_action) == ("preProcessingError", "satisfy")
    out = resolve_exit({"default": {"dependencyAction": "satisfy"}}, rec)
    assert (out.condition, out.dependency_action) == ("default", "satisfy")


def test_file_upload_error_gives_way_to_a_matching_exit_code() -> None:
    rec = done("a", 0, "FileUploadContainerNotFound")
    assert resolve_exit(None, rec).dependency_action == "block"  # not a clean exit 0
    upload = {"fileUploadError": {"dependencyAction": "satisfy"}}
    assert resolve_exit(upload, rec).condition == "fileUploadError"
    both = {
        **upload,
        "exitCodes": [{"code": 0, "exitOptions": {"dependencyAction": "block"}}],
    }
    out = resolve_exit(both, rec)
    assert (out.condition, out.dependency_action) == ("exitCodes", "block")


# -- analyse ------------------------------------------------------------------------------


def test_failed_parent_strands_its_dependents_transitively() -> None:
    defs, recs = job(
        [d("17"), d("18"), d("reduce", "17", "18"), d("alert", "reduce"), d("other", "18")],
        [done("17", 2), done("18"), active("reduce"), active("alert"), active("other")],
    )
    a = analyse(defs, recs)
    assert set(a.blocked) == {"reduce", "alert"}
    assert "other" not in a.blocked
    s = strand_of(a, "alert", recs, names={}, barriers={}, definitions={})
    assert s.chain == ("alert", "reduce", "17")
    assert (s.kind, s.root_id, s.root_exit_code) == ("stranded", "17", 2)
    assert s.explain() == (
        "alert waits on reduce, which waits on 17, which exited 2 → dependencyAction: block "
        "(Batch's default for that ending)"
    )
    direct = strand_of(a, "reduce", recs, names={}, barriers={}, definitions={})
    assert direct.explain().startswith("reduce waits on 17, which exited 2")


def test_tasks_that_wait_on_each_other_can_never_run() -> None:
    """A merge task whose range holds its own id, two tasks each naming the other, and the
    tasks that wait on them: none can ever start. They were "waiting" (status said RUNNING
    for ever); each is blocked behind the cycle, and its chain goes round it."""
    defs, recs = job(
        [
            d("1"),
            d("2"),
            d("3"),
            d("4", ranges=((1, 4),)),
            d("a", "b"),
            d("b", "a"),
            d("c", "x", "b"),
            d("e", "c"),
            d("x"),
            d("free", "1"),
        ],
        [
            done("1"),
            running("2"),
            done("3"),
            *(active(t) for t in ("4", "a", "b", "c", "e", "x", "free")),
        ],
    )
    # Looked for once nothing runs or can start: they wait all the same until then.
    assert analyse(defs, recs).blocked == {}
    recs["2"] = done("2")
    assert analyse(defs, recs).blocked == {}  # "free" and "x" can start
    for t in ("free", "x"):
        recs[t] = done(t)
    an = analyse(defs, recs)
    assert set(an.blocked) == {"4", "a", "b", "c", "e"}
    assert sorted(an.cycles.values()) == [("4",), ("a", "b")]

    def chain(t: str) -> tuple[str, ...]:
        s = strand_of(an, t, recs, names={"e": "end"}, barriers={}, definitions=defs)
        assert s.kind == "cycle" and s.root_exit_code is None
        return s.chain

    assert chain("4") == ("4", "4")
    assert chain("a") == ("a", "b", "a") and chain("b") == ("b", "a", "b")
    assert chain("e") == ("end", "c", "b", "a", "b")
    s = strand_of(an, "c", recs, names={}, barriers={}, definitions=defs)
    assert s.explain() == (
        "c waits on b, which waits on a, which waits on b: tasks that wait on each other "
        "never start"
    )
    # While a task waits on one the job does not hold (a submission cut short: a search
    # over the whole job on every refresh), the cycles are left for later; the verdict is
    # stuck on the missing task all the same.
    defs["m"], recs["m"] = d("m", "nosuch"), active("m")
    held = analyse(defs, recs)
    assert held.missing == {"m": ("nosuch",)} and held.cycles == {}
    # A cycle behind a failed task is stranded by the failure, as before.
    defs, recs = job(
        [d("p"), d("a", "b", "p"), d("b", "a")], [done("p", 3), active("a"), active("b")]
    )
    an = analyse(defs, recs)
    assert an.cycles == {} and an.root_of("a") == "p" and an.root_of("b") == "p"


def test_running_or_waiting_parents_leave_a_task_able_to_run() -> None:
    defs, recs = job(
        [d("a"), d("b", "a"), d("c", "b")],
        [running("a"), active("b"), active("c")],
    )
    assert analyse(defs, recs).blocked == {}


def test_failure_handler_of_a_successful_parent_is_skipped() -> None:
    defs, recs = job(
        [d("work", ec=HANDLER_PARENT), d("alert", "work")],
        [done("work", 0), active("alert")],
    )
    a = analyse(defs, recs)
    s = strand_of(a, "alert", recs, names={}, barriers={}, definitions={})
    assert (s.kind, s.outcome.condition) == ("skipped", "exitCodes")
    assert "exited 0" in s.explain()
    # the same handler when the parent fails: satisfied, it can run
    defs, recs = job(
        [d("work", ec=HANDLER_PARENT), d("alert", "work")],
        [done("work", 3), active("alert")],
    )
    assert analyse(defs, recs).blocked == {}


def test_ranges_select_integer_ids_and_ignore_leading_zeros() -> None:
    defs, recs = job(
        [d("1"), d("02"), d("3"), d("x5"), d("r", ranges=((1, 3),))],
        [done("1"), done("02", 1), done("3"), done("x5", 1), active("r")],
    )
    a = analyse(defs, recs)
    assert strand_of(a, "r", recs, names={}, barriers={}, definitions={}).root_id == "02"
    assert integer_id("004") == 4 and integer_id("5flamingoes") is None
    # a non-integer id inside the numbers' span is not selected
    defs, recs = job(
        [d("1"), d("x5"), d("r", ranges=((1, 9),))],
        [done("1"), done("x5", 1), active("r")],
    )
    assert analyse(defs, recs).blocked == {}


def test_the_first_alias_of_an_integer_to_complete_decides() -> None:
    from datetime import timedelta

    def at(r: TaskRecord, seconds: int) -> TaskRecord:
        return r._replace(ended=(_t() + timedelta(seconds=seconds)).isoformat())

    defs = {x.id: x for x in [d("4"), d("04"), d("r", ranges=((4, 4),))]}
    first_ok = {"4": at(done("4", 1), 20), "04": at(done("04", 0), 10), "r": active("r")}
    assert analyse(defs, first_ok).blocked == {}
    first_bad = {"4": at(done("4", 1), 10), "04": at(done("04", 0), 20), "r": active("r")}
    assert analyse(defs, first_bad).blocked == {"r": "4"}
    none_yet = {"4": running("4"), "04": active("04"), "r": active("r")}
    assert analyse(defs, none_yet).blocked == {}


def test_a_terminated_task_takes_default_not_pre_processing_error() -> None:
    ec = {
        "preProcessingError": {"dependencyAction": "satisfy"},
        "default": {"dependencyAction": "block"},
    }
    out = resolve_exit(ec, done("a", None, "TaskEnded", ran=False))
    assert (out.condition, out.dependency_action) == ("default", "block")
    older = resolve_exit({"schedulingError": {"dependencyAction": "satisfy"}}, done("a", None, "X"))
    assert older.dependency_action == "satisfy"


def test_missing_parent_is_waiting_not_stranded() -> None:
    defs, recs = job([d("b", "ghost")], [active("b")])
    a = analyse(defs, recs)
    assert a.blocked == {} and a.missing == {"b": ("ghost",)}
    # A parent named in another case is held (Batch compares ids ignoring case).
    defs, recs = job([d("top"), d("b", "TOP", "ghost")], [active("top"), active("b")])
    assert analyse(defs, recs).missing == {"b": ("ghost",)}
    defs, recs = job([d("top"), d("b", "Top")], [active("top"), active("b")])
    assert analyse(defs, recs).missing == {}


def test_task_terminated_while_blocked_is_not_a_root() -> None:
    # 'mid' was terminated by finish (completed, never started); 'leaf' still waits on it.
    defs, recs = job(
        [d("top"), d("mid", "top"), d("leaf", "mid")],
        [done("top", 2), done("mid", None, "TaskEnded", ran=False), active("leaf")],
    )
    a = analyse(defs, recs)
    assert a.blocked["mid"] == "top" and a.blocked["leaf"] == "mid"
    assert strand_of(a, "leaf", recs, names={}, barriers={}, definitions={}).root_id == "top"


def test_barriers_fold_into_the_child_and_names_come_from_the_id_map() -> None:
    defs, recs = job(
        [d("1"), d("2"), d("dagbatch-barrier-x-1", "1", "2"), d("3", "dagbatch-barrier-x-1")],
        [done("1"), done("2", 5), active("dagbatch-barrier-x-1"), active("3")],
    )
    barriers = barrier_children(defs, ["dagbatch-barrier-x-1"])
    assert barriers == {"dagbatch-barrier-x-1": "3"}
    a = analyse(defs, recs)
    s = strand_of(
        a, "3", recs, names={"2": "shard-b", "3": "reduce"}, barriers=barriers, definitions={}
    )
    assert s.chain == ("reduce", "shard-b")
    assert s.barriers == ("dagbatch-barrier-x-1",)


def test_a_long_chain_is_analysed_without_recursion_and_in_linear_time() -> None:
    n = 60_000
    defs = {"0": d("0")} | {str(i): d(str(i), str(i - 1)) for i in range(1, n)}
    recs = {"0": done("0", 1)} | {str(i): active(str(i)) for i in range(1, n)}
    started = time.process_time()
    a = analyse(defs, recs)
    roots = {a.root_of(str(i)) for i in range(1, n)}
    assert len(a.blocked) == n - 1 and roots == {"0"}
    s = strand_of(a, str(n - 1), recs, names={}, barriers={}, definitions={})
    assert s.chain[-2:] == ("...", "0") and len(s.chain) == 10
    assert time.process_time() - started < 20  # a quadratic walk would take minutes


def test_a_wide_fan_in_over_a_range() -> None:
    n = 50_000
    defs = {str(i): d(str(i)) for i in range(1, n + 1)} | {"r": d("r", ranges=((1, n),))}
    recs = {str(i): active(str(i)) for i in range(1, n + 1)} | {"r": active("r")}
    recs["777"] = done("777", 9)
    a = analyse(defs, recs)
    assert set(a.blocked) == {"r"} and a.root_of("r") == "777"


@pytest.mark.parametrize("code", [1, 255, -1])
def test_any_nonzero_exit_blocks_by_default(code: int) -> None:
    defs, recs = job([d("p"), d("c", "p")], [done("p", code), active("c")])
    assert analyse(defs, recs).blocked == {"c": "p"}


def test_an_integer_of_a_range_that_no_task_has_is_waited_on_as_missing() -> None:
    defs, recs = job(
        [d("1"), d("3"), d("r", ranges=((1, 3),))],
        [done("1"), done("3"), active("r")],
    )
    a = analyse(defs, recs)
    assert a.blocked == {} and a.missing == {"r": ("2",)}
    # a blocking parent decides before a missing one
    defs, recs = job(
        [d("1"), d("3"), d("r", ranges=((1, 3),))],
        [done("1", 4), done("3"), active("r")],
    )
    a = analyse(defs, recs)
    assert a.blocked == {"r": "1"} and a.missing == {}


def test_children_first_orders_dependents_before_their_parents() -> None:
    from dagbatch.observe.stranded import children_first

    defs, recs = job(
        [d("a"), d("b", "a"), d("h", "b"), d("c", "a"), d("9"), d("r", "c", ranges=((9, 9),))],
        [active(t) for t in ("a", "b", "h", "c", "9", "r")],
    )
    layers = children_first(["a", "b", "h", "c", "9", "r"], defs, recs)
    position = {t: i for i, layer in enumerate(layers) for t in layer}
    for child, parent in [("b", "a"), ("h", "b"), ("c", "a"), ("r", "c"), ("r", "9")]:
        assert position[child] < position[parent], layers
    assert sorted(t for layer in layers for t in layer) == ["9", "a", "b", "c", "h", "r"]
    # only the targets are ordered: a parent outside them does not count
    assert children_first(["h", "b"], defs, recs) == [["h"], ["b"]]


def test_a_record_s_times_read_as_sent_or_as_epoch_seconds() -> None:
    from datetime import UTC, datetime

    from dagbatch.observe.model import TaskRecord

    at = datetime(2026, 1, 1, 0, 0, 1, 500000, tzinfo=UTC)
    wire = TaskRecord("a", "completed", started="2026-01-01T00:00:01.5Z", ended=None)
    local = TaskRecord("a", "completed", started=at.timestamp(), ended=at.timestamp())
    assert wire.start_time == local.start_time == local.end_time == at
    assert wire.end_time is None
