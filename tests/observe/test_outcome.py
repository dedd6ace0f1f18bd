"""observe.outcome: why each task never ran, from request bodies and task states alone."""

from __future__ import annotations

from dagbatch.observe.outcome import JobState, TaskStatus, explain_outcome, status_from_doc
from tests.gc_watch import collections_made


def done(
    code: int, *, start: float = 1.0, end: float = 2.0, failure: str | None = None
) -> TaskStatus:
    ok = code == 0 and failure is None
    return TaskStatus(
        state="completed",
        exit_code=code,
        result="success" if ok else "failure",
        failure_code=failure or (None if ok else "FailureExitCode"),
        start=start,
        end=end,
    )


WAITING = TaskStatus(state="active")
ACTIVE_JOB = JobState("active")


def reasons(tasks: list[dict], statuses: dict[str, TaskStatus], job: JobState = ACTIVE_JOB) -> dict:
    return {o.task_id: o.reason for o in explain_outcome(tasks, statuses, job)}


def test_a_chain_names_the_parent_that_blocked_it() -> None:
    tasks = [
        {"id": "a"},
        {"id": "b", "dependsOn": {"taskIds": ["A"]}},  # ids match ignoring case
        {"id": "c", "dependsOn": {"taskIds": ["b"]}},
    ]
    got = reasons(tasks, {"a": done(3), "b": WAITING, "c": WAITING})
    assert got["a"] is None
    assert got["b"].kind == "blocked" and got["b"].parent == "a"
    assert got["b"].parent_end == "failed with exit code 3"
    assert got["c"].kind == "waiting" and got["c"].parent == "b"
    assert got["c"].cause == got["b"]
    assert "waits for parent b, which never ran (blocked: parent a failed" in got["c"].text()


def test_exit_conditions_decide_what_blocks() -> None:
    handler = {
        "exitCodes": [{"code": 0, "exitOptions": {"dependencyAction": "block"}}],
        "default": {"dependencyAction": "satisfy"},
    }
    tasks = [
        {"id": "publish", "exitConditions": handler},
        {"id": "rollback", "dependsOn": {"taskIds": ["publish"]}},
        {"id": "pre", "exitConditions": {"preProcessingError": {"dependencyAction": "satisfy"}}},
        {"id": "after-pre", "dependsOn": {"taskIds": ["pre"]}},
    ]
    launch_failed = TaskStatus(
        state="completed", result="failure", failure_code="BlobNotFound", start=1.0, end=1.0
    )
    got = reasons(
        tasks,
        {"publish": done(0), "rollback": WAITING, "pre": launch_failed, "after-pre": WAITING},
    )
    assert got["rollback"].kind == "blocked"
    assert got["rollback"].parent_end == "succeeded with exit code 0"
    # pre's preProcessingError satisfies: after-pre is simply not started yet.
    assert got["after-pre"].kind == "not-started"


def test_a_handler_blocked_by_a_code_that_counts_as_success_says_so() -> None:
    """A failure handler of a task that exited with one of its satisfy_exit_codes is held
    back because its parent succeeded: "failed with exit code 3" told the opposite."""
    handler = {
        "exitCodes": [
            {"code": 0, "exitOptions": {"dependencyAction": "block"}},
            {"code": 3, "exitOptions": {"dependencyAction": "block"}},
        ],
        "default": {"dependencyAction": "satisfy"},
    }
    tasks = [
        {"id": "p", "exitConditions": handler},
        {"id": "h", "dependsOn": {"taskIds": ["p"]}},
    ]
    got = reasons(tasks, {"p": done(3), "h": WAITING})
    assert got["h"].kind == "blocked"
    assert got["h"].parent_end == "exited 3, which counts as success (satisfy_exit_codes)"
    assert reasons(tasks, {"p": done(4), "h": WAITING})["h"].kind == "not-started"  # h runs


def test_ranges_missing_parents_and_leading_zeros() -> None:
    tasks = [
        {"id": "1"},
        {"id": "02"},
        {"id": "all", "dependsOn": {"taskIdRanges": [{"start": 1, "end": 3}]}},
        {"id": "named", "dependsOn": {"taskIds": ["ghost"]}},
    ]
    got = reasons(tasks, {"1": done(0), "02": done(0), "all": WAITING, "named": WAITING})
    assert got["all"].kind == "missing" and got["all"].parent == "3"
    assert got["named"].kind == "missing" and got["named"].parent == "ghost"
    got = reasons(tasks, {"1": done(0), "02": done(5), "all": WAITING, "named": WAITING})
    assert got["all"].kind == "blocked" and got["all"].parent == "02"


def test_the_job_that_ended_or_was_disabled_by_a_task() -> None:
    tasks = [
        {"id": "gate", "exitConditions": {"default": {"dependencyAction": "satisfy"}}},
        {"id": "next", "dependsOn": {"taskIds": ["gate"]}},
    ]
    statuses = {"gate": done(1), "next": WAITING}
    ended = JobState("completed", "TaskFailed", "performexitoptionsjobaction")
    got = reasons(tasks, statuses, ended)
    assert got["next"].kind == "job-ended" and got["next"].by == "gate"
    assert "by task gate (jobAction terminate)" in got["next"].text()
    user = reasons(tasks, statuses, JobState("completed", "UserTerminate"))
    assert user["next"].kind == "job-ended" and user["next"].by is None
    tasks[0]["exitConditions"]["default"]["jobAction"] = "disable"
    disabled = reasons(tasks, statuses, JobState("disabled", None, "performexitoptionsjobaction"))
    assert disabled["next"].kind == "job-disabled" and disabled["next"].by == "gate"


def test_status_from_a_service_document() -> None:
    doc = {
        "id": "t",
        "state": "completed",
        "executionInfo": {
            "startTime": "2026-11-28T10:00:00.000000Z",
            "endTime": "2026-11-28T10:00:02.500000Z",
            "exitCode": 2,
            "result": "failure",
            "retryCount": 1,
            "requeueCount": 0,
            "failureInfo": {"category": "usererror", "code": "FailureExitCode", "message": "m"},
        },
    }
    st = status_from_doc(doc)
    assert st.ran and st.exit_code == 2 and st.retry_count == 1
    assert st.end is not None and st.start is not None and abs(st.end - st.start - 2.5) < 1e-6
    assert status_from_doc({"id": "u", "state": "active", "executionInfo": {}}).ran is False


def test_the_outcomes_of_a_big_job_are_built_with_no_cyclic_collection() -> None:
    """A few records a task and none in a cycle: the collector is paused while they are built
    (it ran dozens of times on 20,000 tasks, full sweeps included), and left as it was."""
    import gc

    tasks = [{"id": "a"}] + [
        {"id": f"t{i}", "dependsOn": {"taskIds": ["a"]}} for i in range(20_000)
    ]
    statuses = {"a": done(3), **{f"t{i}": WAITING for i in range(20_000)}}
    with collections_made() as collections:
        outcomes = explain_outcome(tasks, statuses, ACTIVE_JOB)
    assert gc.isenabled()
    assert len(outcomes) == 20_001
    assert all(o.reason is not None and o.reason.kind == "blocked" for o in outcomes[1:])
    # At most the young generation once the collector is back; unpaused, dozens of times.
    assert len(collections) <= 2 and 2 not in collections, collections
