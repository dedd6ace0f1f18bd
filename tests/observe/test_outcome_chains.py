"""observe.outcome at scale: reason chains of any depth (no recursion), reasons of a bounded
size in text and JSON, and a range's members found by bisection, as the plain scan finds
them."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from dagbatch.observe.outcome import (
    IntegerIds,
    JobState,
    Reason,
    TaskStatus,
    explain_outcome,
)
from dagbatch.observe.stranded import MAX_CHAIN

LONG = 5_000
FAILED = TaskStatus(
    state="completed",
    exit_code=1,
    result="failure",
    failure_code="FailureExitCode",
    start=1.0,
    end=2.0,
)
WAITING = TaskStatus(state="active")


def _chain_tasks(n: int) -> list[dict]:
    return [{"id": "t0"}] + [
        {"id": f"t{i}", "dependsOn": {"taskIds": [f"t{i - 1}"]}} for i in range(1, n)
    ]


def _links(reason: Reason) -> list[Reason]:
    links = [reason]
    while links[-1].cause is not None:
        links.append(links[-1].cause)  # type: ignore[arg-type]
    return links


def _reasons(tasks: list[dict]) -> dict[str, Reason]:
    statuses = {t["id"]: WAITING for t in tasks} | {"t0": FAILED}
    return {
        o.task_id: o.reason
        for o in explain_outcome(tasks, statuses, JobState("active"))
        if o.reason is not None
    }


def test_every_task_of_a_long_chain_is_told_the_whole_chain_in_any_plan_order() -> None:
    # Last task first: finding its reason walks the whole chain at once.
    got = _reasons(list(reversed(_chain_tasks(LONG))))
    for i in (1, 2, 201, 1_500, LONG - 1):
        links = _links(got[f"t{i}"])
        assert [r.kind for r in links] == ["waiting"] * (i - 1) + ["blocked"], i
        assert [r.parent for r in links] == [f"t{j}" for j in range(i - 1, -1, -1)]
    # Each task's chain is its parent's: built once, shared.
    assert got["t3000"].cause is got["t2999"]


def test_a_long_chain_is_cut_in_its_text_and_json() -> None:
    last = _reasons(_chain_tasks(LONG))[f"t{LONG - 1}"]
    text = last.text()
    shown = [f"waits for parent t{LONG - 2 - j}, which never ran (" for j in range(MAX_CHAIN)]
    assert text.startswith("".join(shown))
    omitted = LONG - 2 - MAX_CHAIN
    assert f"through {omitted} more parents that never ran: blocked: parent t0 failed" in text
    assert len(text) < 1_000
    out = last.as_dict()
    assert out["text"] == text
    node = out
    for j in range(MAX_CHAIN):
        assert node["kind"] == "waiting" and node["parent"] == f"t{LONG - 2 - j}"
        assert "text" not in node or node is out
        if j < MAX_CHAIN - 1:
            assert "omitted" not in node
            node = node["cause"]
    assert node["omitted"] == omitted
    assert node["cause"] == {
        "kind": "blocked",
        "parent": "t0",
        "parentEnd": "failed with exit code 1",
    }


def test_a_short_chain_is_told_in_full() -> None:
    got = _reasons(_chain_tasks(4))
    assert got["t3"].text() == (
        "waits for parent t2, which never ran (waits for parent t1, which never ran (blocked: "
        "parent t0 failed with exit code 1, and its dependencyAction for that is block))"
    )
    assert got["t3"].as_dict() == {
        "kind": "waiting",
        "text": got["t3"].text(),
        "parent": "t2",
        "cause": {
            "kind": "waiting",
            "parent": "t1",
            "cause": {"kind": "blocked", "parent": "t0", "parentEnd": "failed with exit code 1"},
        },
    }
    # A chain of exactly MAX_CHAIN links past the task is not cut.
    full = _reasons(_chain_tasks(MAX_CHAIN + 2))[f"t{MAX_CHAIN + 1}"]
    assert "more parents" not in full.text() and "omitted" not in str(full.as_dict())
    assert full.text().count("waits for parent") == MAX_CHAIN


ids = st.lists(
    st.one_of(
        st.integers(0, 60).map(str),
        st.integers(0, 60).map(lambda n: f"0{n}"),  # leading zeros: the same integer
        st.sampled_from(["a", "b-1", "x7"]),
    ),
    unique_by=str.lower,
    max_size=40,
)


@settings(max_examples=200, deadline=None)
@given(ids, st.lists(st.tuples(st.integers(-5, 70), st.integers(-5, 70)), max_size=8))
def test_a_range_has_the_members_the_plain_scan_finds(
    task_ids: list[str], ranges: list[tuple[int, int]]
) -> None:
    index = IntegerIds(task_ids)
    by_int: dict[int, list[str]] = {}
    for tid in task_ids:
        if tid.isdigit():
            by_int.setdefault(int(tid), []).append(tid)
    for start, end in ranges:
        scan = [(n, members) for n, members in by_int.items() if start <= n <= end]
        assert index.members(start, end) == scan


def test_long_chains_compare_hash_and_print_without_recursion() -> None:
    one = _reasons(_chain_tasks(LONG))[f"t{LONG - 1}"]
    other = _reasons(_chain_tasks(LONG))[f"t{LONG - 1}"]  # equal, made apart
    assert one is not other and one == other and hash(one) == hash(other)
    assert one != _reasons(_chain_tasks(LONG - 1))[f"t{LONG - 2}"]  # a link shorter
    assert len({one, other}) == 1
    assert repr(one).startswith(f"Reason(kind='waiting', parent='t{LONG - 2}', parent_end=None, ")
    assert repr(one).count("Reason(") == LONG - 1
    # Short chains: as a dataclass compares and prints them.
    short = Reason("waiting", parent="b", cause=Reason("blocked", parent="a", parent_end="x"))
    assert short == Reason("waiting", parent="b", cause=Reason("blocked", "a", "x"))
    assert short != Reason("waiting", parent="b", cause=Reason("blocked", "a", "y"))
    assert short != Reason("waiting", parent="b")
    assert repr(short) == (
        "Reason(kind='waiting', parent='b', parent_end=None, cause=Reason(kind='blocked', "
        "parent='a', parent_end='x', cause=None, job_reason=None, by=None, detail=None), "
        "job_reason=None, by=None, detail=None)"
    )
