"""The compiler never emits a number Batch refuses: a job setting or a task property outside
the spec's bounds (priority -1000 to 1000, maxParallelTasks -1 or above 0, maxTaskRetryCount
-1 or more, int32 exit codes and counts, durations that are not negative) is an error
diagnostic naming the field (and the task), before anything is written or sent. The values at
the bounds compile as given (tests/local/test_run_bounds.py runs them on the emulator)."""

from __future__ import annotations

from typing import Any

import networkx as nx
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from dagbatch import compile_graph
from dagbatch.errors import InvalidWorkflow

INT32_MAX = 2**31 - 1
INT32_MIN = -(2**31)


def _graph(job: dict[str, Any] | None = None, **task: Any) -> nx.DiGraph:
    g = nx.DiGraph()
    g.add_node("a", command_line="/bin/true", **task)
    g.graph["job"] = {"id": "j", **(job or {})}
    return g


def _errors(g: nx.DiGraph) -> list[tuple[str | None, str | None]]:
    with pytest.raises(InvalidWorkflow) as info:
        compile_graph(g)
    return [(d.field, d.task_id) for d in info.value.errors]


@pytest.mark.parametrize(
    ("job", "field"),
    [
        ({"priority": 5000}, "job.priority"),
        ({"priority": 1001}, "job.priority"),
        ({"priority": -1001}, "job.priority"),
        ({"priority": "high"}, "job.priority"),
        ({"priority": True}, "job.priority"),  # not 1: a bool is no number to Batch
        ({"max_parallel_tasks": True}, "job.max_parallel_tasks"),
        ({"constraints": {"max_task_retry_count": False}}, "job.constraints.max_task_retry_count"),
        ({"max_parallel_tasks": 0}, "job.max_parallel_tasks"),
        ({"max_parallel_tasks": -2}, "job.max_parallel_tasks"),
        ({"max_parallel_tasks": INT32_MAX + 1}, "job.max_parallel_tasks"),
        ({"constraints": {"max_task_retry_count": -2}}, "job.constraints.max_task_retry_count"),
        ({"constraints": {"max_wall_clock_time": "-PT1H"}}, "job.constraints.max_wall_clock_time"),
    ],
)
def test_a_job_setting_outside_the_spec_is_an_error_naming_it(
    job: dict[str, Any], field: str
) -> None:
    assert _errors(_graph(job)) == [(field, None)]


@pytest.mark.parametrize(
    ("task", "field"),
    [
        ({"constraints": {"max_task_retry_count": -2}}, "constraints.max_task_retry_count"),
        ({"constraints": {"max_task_retry_count": INT32_MIN}}, "constraints.max_task_retry_count"),
        ({"constraints": {"retention_time": "-P1D"}}, "constraints.retention_time"),
        ({"required_slots": 0}, "required_slots"),
        ({"required_slots": INT32_MAX + 1}, "required_slots"),
        ({"required_slots": True}, "required_slots"),
        (
            {"exit_conditions": {"exit_codes": [{"code": True, "exit_options": {}}]}},
            "exit_conditions.exit_codes[0].code",
        ),
        (
            {
                "required_slots": 2,
                "multi_instance_settings": {"coordination_command_line": "c"},
            },
            "multi_instance_settings",
        ),
        (
            {"exit_conditions": {"exit_codes": [{"code": INT32_MAX + 1, "exit_options": {}}]}},
            "exit_conditions.exit_codes[0].code",
        ),
        (
            {
                "exit_conditions": {
                    "exit_code_ranges": [{"start": INT32_MIN - 1, "end": 0, "exit_options": {}}]
                }
            },
            "exit_conditions.exit_code_ranges[0].start",
        ),
        ({"satisfy_exit_codes": [INT32_MAX + 1]}, "satisfy_exit_codes[0]"),
        ({"satisfy_exit_codes": [(1, INT32_MAX + 1)]}, "satisfy_exit_codes[0]"),
    ],
)
def test_a_task_property_outside_the_spec_is_an_error_naming_it_and_the_task(
    task: dict[str, Any], field: str
) -> None:
    assert _errors(_graph(**task)) == [(field, "a")]


def test_the_bounds_themselves_compile_as_given() -> None:
    g = _graph(
        {"priority": -1000, "max_parallel_tasks": 1, "constraints": {"max_task_retry_count": -1}},
        constraints={"max_task_retry_count": -1},
        satisfy_exit_codes=[INT32_MIN, (3, INT32_MAX)],
    )
    plan = compile_graph(g)
    assert (plan.job["priority"], plan.job["maxParallelTasks"]) == (-1000, 1)
    assert plan.job["constraints"] == {"maxTaskRetryCount": -1}
    (task,) = [t for b in plan.batches for t in b.tasks]
    assert task["constraints"] == {"maxTaskRetryCount": -1}
    conditions = task["exitConditions"]
    assert [e["code"] for e in conditions.get("exitCodes", [])] == [INT32_MIN]
    assert [(r["start"], r["end"]) for r in conditions["exitCodeRanges"]] == [(3, INT32_MAX)]


#: Integers around every bound the spec states, and beyond int32.
_EDGES = st.one_of(
    st.sampled_from(
        [0, 1, -1, -2, 1000, 1001, -1000, -1001, INT32_MAX, INT32_MAX + 1, INT32_MIN, INT32_MIN - 1]
    ),
    st.integers(min_value=-1100, max_value=1100),
    st.integers(min_value=INT32_MIN - 10, max_value=INT32_MAX + 10),
)


@settings(max_examples=200, deadline=None)
@given(priority=_EDGES, parallel=_EDGES, job_retries=_EDGES, retries=_EDGES, code=_EDGES)
def test_compile_accepts_exactly_what_the_emulator_accepts(
    priority: int, parallel: int, job_retries: int, retries: int, code: int
) -> None:
    """For job priority, maxParallelTasks, the job's and a task's maxTaskRetryCount and an
    exit code: a workflow compiles exactly when the emulator (the service's rules) takes
    each value, so compile never emits a body Batch refuses, nor refuses one it takes."""
    from dagbatch.emulator import rules
    from dagbatch.emulator.store import Job

    job = {
        "priority": priority,
        "max_parallel_tasks": parallel,
        "constraints": {"max_task_retry_count": job_retries},
    }
    task = {
        "constraints": {"max_task_retry_count": retries},
        "exit_conditions": {
            "exit_codes": [{"code": code, "exit_options": {"dependency_action": "block"}}]
        },
    }
    wire_job = {
        "priority": priority,
        "maxParallelTasks": parallel,
        "constraints": {"maxTaskRetryCount": job_retries},
    }
    wire_task = {
        "id": "a",
        "commandLine": "/bin/true",
        "constraints": {"maxTaskRetryCount": retries},
        "exitConditions": {
            "exitCodes": [{"code": code, "exitOptions": {"dependencyAction": "block"}}]
        },
    }
    emulator_job = Job(
        id="j", spec={"usesTaskDependencies": True}, created=0.0, modified=0.0, serial=1
    )
    emulator_takes = rules.job_problem(wire_job) is None and rules.task_errors(
        [wire_task], emulator_job
    ) == [None]
    try:
        plan = compile_graph(_graph(job, **task))
    except InvalidWorkflow:
        event("refused")
        assert not emulator_takes
        return
    event("compiled")
    assert emulator_takes
    (sent,) = [t for b in plan.batches for t in b.tasks]
    assert rules.task_errors([dict(sent)], emulator_job) == [None]
    assert rules.job_problem(plan.job) is None
