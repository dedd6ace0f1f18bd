"""The emulator's task counts (``count_tasks``) against a count made one task at a time."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from dagbatch.emulator.jobs import COUNT_KEYS, count_tasks
from dagbatch.emulator.scheduler import (
    ACTIVE,
    COMPLETED,
    DEFAULT_SPEC,
    DELETED,
    PREPARING,
    RUNNING,
    TaskSpec,
)


def _one_by_one(
    states: bytearray, failures: dict[int, Any], specs: list[TaskSpec | None]
) -> tuple[list[int], list[int]]:
    tasks = dict.fromkeys(COUNT_KEYS, 0)
    slots = dict.fromkeys(COUNT_KEYS, 0)
    for pos, state in enumerate(states):
        need = ((specs[pos] if pos < len(specs) else None) or DEFAULT_SPEC).slots
        if state == ACTIVE:
            keys = ["active"]
        elif state in (RUNNING, PREPARING):
            keys = ["running"]
        elif state == COMPLETED:
            keys = ["completed", "failed" if pos in failures else "succeeded"]
        else:
            keys = []
        for key in keys:
            tasks[key] += 1
            slots[key] += need
    return list(tasks.values()), list(slots.values())


@st.composite
def jobs(draw: st.DrawFn) -> tuple[bytearray, dict[int, Any], list[TaskSpec | None]]:
    states = draw(
        st.lists(st.sampled_from([ACTIVE, PREPARING, RUNNING, COMPLETED, DELETED]), max_size=60)
    )
    n = len(states)
    # A failure stays recorded when a task is retried or reactivated: any state may have one.
    failed = draw(st.sets(st.integers(0, n - 1), max_size=n)) if n else set()
    specs = [
        draw(st.one_of(st.none(), st.builds(TaskSpec, slots=st.integers(1, 4))))
        for _ in range(draw(st.integers(0, n)))  # the index may lag behind the tasks
    ]
    return bytearray(states), {pos: {"code": "x"} for pos in failed}, specs


@given(jobs())
def test_counts_are_those_of_one_task_at_a_time(
    job: tuple[bytearray, dict[int, Any], list[TaskSpec | None]],
) -> None:
    states, failures, specs = job
    assert count_tasks(states, failures, specs) == _one_by_one(states, failures, specs)
