"""ranges: exact taskIdRanges under Batch's rule (a range selects every all-digit id in it)."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from dagbatch.compiler.ranges import NO_DEPS, Dependencies, RangeIndex, dependencies_of, expand
from dagbatch.limits import INT32_MAX

BIG = 64000


def deps_for(ids: list[str], parents: list[str], budget: int = BIG) -> Dependencies:
    index = RangeIndex.build(ids)
    pos = {t: i for i, t in enumerate(ids)}
    return dependencies_of([pos[p] for p in parents], ids, index, budget)


def wire_len(ids: list[str]) -> int:
    return len(json.dumps(ids, separators=(",", ":")))


def test_no_parents() -> None:
    assert deps_for(["1", "2"], []) == NO_DEPS


def test_a_long_run_becomes_one_range() -> None:
    ids = [str(n) for n in range(1, 51)] + ["sink"]
    d = deps_for(ids, ids[:50])
    assert d == Dependencies((), ((1, 50),))
    assert d.chars == 0
    assert expand(d, ids) == set(ids[:50])


def test_runs_split_at_gaps_and_at_tasks_that_are_not_parents() -> None:
    ids = [str(n) for n in range(1, 41)]
    parents = [str(n) for n in range(1, 41) if n != 20]  # task 20 exists but is no parent
    d = deps_for(ids, parents)
    assert d.ranges == ((1, 19), (21, 40))
    assert expand(d, ids) == set(parents)


def test_a_zero_padded_alias_poisons_its_integer() -> None:
    ids = [str(n) for n in range(1, 31)] + ["007"]
    parents = [str(n) for n in range(1, 31)]
    d = deps_for(ids, parents)
    # a range over 7 would select "007" too, so 7 is listed by name
    assert all(not (a <= 7 <= b) for a, b in d.ranges)
    assert "7" in d.task_ids
    assert expand(d, ids) == set(parents)
    assert "007" not in expand(d, ids)


def test_padded_ids_are_never_put_in_ranges() -> None:
    ids = [f"{n:03d}" for n in range(1, 31)]
    d = deps_for(ids, ids, budget=10)
    assert d.ranges == ()
    assert set(d.task_ids) == set(ids)


def test_zero_and_double_zero() -> None:
    assert RangeIndex.build(["0", "1"]).value == (0, 1)
    assert RangeIndex.build(["0", "00", "1"]).value == (-1, -1, 1)


def test_short_runs_stay_in_task_ids_when_that_is_smaller() -> None:
    ids = [str(n) for n in range(1, 100)]
    assert deps_for(ids, ["1", "2"]) == Dependencies(("1", "2"), ())
    for k in range(2, 60):
        parents = ids[:k]
        d = deps_for(ids, parents)
        range_bytes = len(json.dumps([{"start": 1, "end": k}], separators=(",", ":")))
        if d.ranges:
            assert range_bytes < wire_len(parents), k
        else:
            assert range_bytes >= wire_len(parents) - 2, k
    assert deps_for(ids, ids[:50]).ranges == ((1, 50),)


def test_the_budget_forces_ranges_on_short_runs() -> None:
    ids = ["1", "2", "3", "abcdefghij", "x"]
    parents = ["1", "2", "3", "abcdefghij"]
    loose = deps_for(ids, parents)
    assert loose.ranges == ()  # by cost alone the three ids stay
    tight = deps_for(ids, parents, budget=10)
    assert tight == Dependencies(("abcdefghij",), ((1, 3),))
    assert tight.chars <= 10
    assert expand(tight, ids) == set(parents)


def test_the_budget_takes_the_runs_that_save_most_first() -> None:
    ids = [str(n) for n in range(1, 6)] + [str(n) for n in range(100, 104)] + ["z"]
    parents = ids[:-1]  # runs 1..5 (5 chars) and 100..103 (12 chars)
    d = deps_for(ids, parents, budget=6)
    assert d.ranges == ((100, 103),)
    assert d.chars == 5


def test_a_single_integer_parent_may_become_a_range_under_budget_pressure() -> None:
    ids = ["12345", "abc"]
    d = deps_for(ids, ["12345", "abc"], budget=3)
    assert d == Dependencies(("abc",), ((12345, 12345),))


def test_int32_bounds() -> None:
    top = [str(INT32_MAX - 1), str(INT32_MAX), str(INT32_MAX + 1), str(INT32_MAX + 2)]
    ids = [*top, "sink"]
    index = RangeIndex.build(ids)
    assert index.value == (INT32_MAX - 1, INT32_MAX, -1, -1, -1)
    d = deps_for(ids, top, budget=20)
    assert d.ranges == ((INT32_MAX - 1, INT32_MAX),)
    assert set(d.task_ids) == {str(INT32_MAX + 1), str(INT32_MAX + 2)}
    assert expand(d, ids) == set(top)


def test_expand_ignores_leading_zeros_like_batch() -> None:
    d = Dependencies(("a",), ((4, 5),))
    assert expand(d, ["4", "04", "004", "5", "6", "a", "x4"]) == {"a", "4", "04", "004", "5"}


_id = st.one_of(
    st.integers(0, 60).map(str),
    st.integers(0, 60).map(lambda n: f"0{n}"),
    st.text("abcXYZ_-", min_size=1, max_size=6),
    st.integers(INT32_MAX - 3, INT32_MAX + 3).map(str),
)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(_id, min_size=1, max_size=60, unique_by=str.lower),
    st.data(),
    st.integers(0, 200),
)
def test_ranges_select_exactly_the_parents(
    ids: list[str], data: st.DataObject, budget: int
) -> None:
    parents = data.draw(st.lists(st.sampled_from(ids), unique=True))
    d = deps_for(ids, parents, budget)
    assert expand(d, ids) == set(parents)
    assert len(d.task_ids) == len(set(d.task_ids))
    assert all(0 <= a <= b <= INT32_MAX for a, b in d.ranges)
    if d.chars > budget:
        # over budget only when no parent left in taskIds could have gone into a range
        index = RangeIndex.build(ids)
        pos = {t: i for i, t in enumerate(ids)}
        assert all(index.value[pos[t]] < 0 for t in d.task_ids)


# ---- integer aliases as Batch parses them: an optional sign and leading zeros


def test_canonical_int_reads_a_sign_and_leading_zeros() -> None:
    from dagbatch.limits import canonical_int

    assert [canonical_int(t) for t in ("0", "-0", "-5", "00", "0010", "7")] == [
        0,
        0,
        -5,
        0,
        10,
        7,
    ]
    assert [canonical_int(t) for t in ("-", "--5", "5-", "a1", "١")] == [None] * 5


def test_minus_zero_poisons_zero_for_ranges() -> None:
    ids = [str(n) for n in range(0, 30)] + ["-0"]
    parents = [str(n) for n in range(0, 30)]
    d = deps_for(ids, parents)
    assert all(not (a <= 0 <= b) for a, b in d.ranges), d.ranges
    assert expand(d, ids) == set(parents)
    assert "-0" not in expand(d, ids)


def test_under_budget_pressure_no_range_covers_an_alias() -> None:
    # two integer parents over a budget of one character: the budget forces a range, but
    # never {0, 0}, which would select "-0" too
    ids = ["0", "5", "-0", "sink"]
    d = deps_for(ids, ["0", "5"], budget=1)
    assert d == Dependencies(("0",), ((5, 5),))
    assert expand(d, ids) == {"0", "5"}


def test_plain_ids_are_preferred_to_one_integer_ranges() -> None:
    # 8 characters of ids over a budget of 6: the run 5..6 as a range meets it, so the lone
    # 100000 stays a plain id (a one-integer range would save more characters)
    ids = ["5", "6", "100000", "sink"]
    d = deps_for(ids, ["5", "6", "100000"], budget=6)
    assert d.ranges == ((5, 6),)
    assert d.task_ids == ("100000",)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.integers(-3, 40), min_size=1, max_size=40, unique=True),
    st.lists(st.sampled_from(["-0", "00", "-1", "007", "-07", "0010", "000"]), unique=True),
    st.integers(1, 80),
)
def test_ranges_are_exact_with_signed_and_padded_aliases(
    values: list[int], aliases: list[str], budget: int
) -> None:
    ids = [str(v) for v in values] + [a for a in aliases if a not in {str(v) for v in values}]
    parents = [str(v) for v in values]
    d = deps_for(ids, parents, budget=budget)
    assert expand(d, ids) == set(parents)
    for a, b in d.ranges:
        assert a < b or not any(str(a) == t for t in d.task_ids)
