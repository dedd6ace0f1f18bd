"""build_status and plan_rerun: the pure computations over a plan view and task records."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from dagbatch.errors import ConfigError, RefusedError
from dagbatch.observe.model import Dependencies, FailureInfo, TaskDefinition, TaskRecord
from dagbatch.observe.status import Snapshot, WorkflowView, build_status
from dagbatch.observe.steer import plan_rerun

T0 = datetime(2026, 1, 1, tzinfo=UTC)
HANDLER_PARENT = {
    "exitCodes": [{"code": 0, "exitOptions": {"dependencyAction": "block"}}],
    "default": {"dependencyAction": "satisfy"},
}


def d(tid: str, *ids: str, ec: Any = None) -> TaskDefinition:
    return TaskDefinition(tid, Dependencies(tuple(ids)), ec)


def rec(tid: str, state: str, code: int | None = None, *, start: int | None = None) -> TaskRecord:
    completed = state == "completed"
    failed = completed and code != 0
    return TaskRecord(
        tid,
        state,  # type: ignore[arg-type]
        exit_code=code,
        result=("failure" if failed else "success") if completed else None,
        failure=FailureInfo("usererror", "FailureExitCode", "exited") if failed else None,
        started=(T0 + timedelta(seconds=start)).isoformat() if start is not None else None,
        ended=(T0 + timedelta(seconds=100)).isoformat() if completed else None,
    )


def view(defs: list[TaskDefinition], **kw: Any) -> WorkflowView:
    return WorkflowView("job", {x.id: x for x in defs}, planned=True, **kw)


def snap(recs: list[TaskRecord], job: dict[str, Any] | None = None) -> Snapshot:
    return Snapshot(
        job or {"id": "job", "state": "active"},
        {r.id: r for r in recs},
        {},
        T0 + timedelta(seconds=200),
    )


MAPREDUCE = [d("1"), d("2"), d("3", "1", "2"), d("4", "3")]
NAMES = {"1": "prep", "2": "shard", "3": "reduce", "4": "publish"}
WAVES = {"1": 1, "2": 1, "3": 2, "4": 3}


def test_stuck_after_a_failure_names_the_chain_by_the_users_names() -> None:
    v = view(MAPREDUCE, names=NAMES, waves=WAVES)
    s, _ = build_status(
        v,
        snap(
            [
                rec("1", "completed", 0, start=0),
                rec("2", "completed", 2, start=0),
                rec("3", "active"),
                rec("4", "active"),
            ]
        ),
    )
    assert s.verdict == "stuck"
    assert [x.explain() for x in s.stranded] == [
        "reduce waits on shard, which exited 2 → dependencyAction: block "
        "(Batch's default for that ending)",
        "publish waits on reduce, which waits on shard, which exited 2 → dependencyAction: "
        "block (Batch's default for that ending)",
    ]
    assert [f.name for f in s.failed] == ["shard"] and s.failed[0].exit_code == 2
    assert s.outcomes["stranded"] == 2 and s.outcomes["succeeded"] == 1
    assert [(w.wave, w.counts["stranded"]) for w in s.waves] == [(1, 0), (2, 1), (3, 1)]
    assert s.finishable
    assert s.to_dict()["stranded"][0]["chain"] == ["reduce", "shard"]


def test_running_longest_first_and_verdict_running() -> None:
    v = view([d("a"), d("b"), d("c", "a")])
    s, _ = build_status(
        v, snap([rec("a", "running", start=50), rec("b", "running", start=10), rec("c", "active")])
    )
    assert s.verdict == "running"
    assert [r.id for r in s.running] == ["b", "a"] and s.running[0].seconds == 190


def test_complete_and_terminated_by_a_task() -> None:
    v = view([d("a"), d("b")])
    s, _ = build_status(
        v, snap([rec("a", "completed", 0, start=0), rec("b", "completed", 0, start=0)])
    )
    assert s.verdict == "complete"
    job = {
        "id": "job",
        "state": "completed",
        "onTaskFailure": "performexitoptionsjobaction",
        "executionInfo": {"terminateReason": "TaskFailed"},
    }
    s, _ = build_status(
        view([d("a"), d("b")], names={"b": "load"}),
        snap([rec("a", "completed", 0, start=0), rec("b", "completed", 3, start=0)], job),
    )
    assert (s.verdict, s.terminated_by) == ("terminated", "load")


def test_handler_skipped_then_terminated_counts_as_skipped_not_failed() -> None:
    v = view([d("work", ec=HANDLER_PARENT), d("alert", "work")])
    s, _ = build_status(v, snap([rec("work", "completed", 0, start=0), rec("alert", "active")]))
    assert s.verdict == "stuck" and [x.kind for x in s.stranded] == ["skipped"]
    ended = _terminated_while_waiting("alert")
    s, _ = build_status(v, snap([rec("work", "completed", 0, start=0), ended]))
    assert s.verdict == "complete"
    assert s.outcomes["skipped"] == 1 and s.outcomes["failed"] == 0 and not s.failed


def test_an_exit_code_the_task_counts_as_success_is_not_a_failure() -> None:
    # satisfy_exit_codes=[3] (compiled to an exitCodes entry): Batch records exit 3 as a
    # failure, the workflow counts it as a success, so the job is complete without failures
    # and rerun --failed has nothing to do. A failure only 'default' satisfies stays one.
    satisfy_3 = {"exitCodes": [{"code": 3, "exitOptions": {"dependencyAction": "satisfy"}}]}
    v = view([d("train", ec=satisfy_3), d("evaluate", "train"), d("side", ec=satisfy_3)])
    records = [
        rec("train", "completed", 3, start=0),
        rec("evaluate", "completed", 0, start=1),
        rec("side", "completed", 4, start=0),
    ]
    s, _ = build_status(v, snap(records))
    assert s.verdict == "complete"
    assert s.outcomes["succeeded"] == 2 and [f.name for f in s.failed] == ["side"]
    # Batch's task counts call train failed: said beside the counts, and in the JSON.
    assert s.succeeded_by_exit_code == 1 and s.to_dict()["succeededByExitCode"] == 1
    from dagbatch.observe.render import render_status

    assert (
        "  of the succeeded, 1 by an exit code their exit conditions count as a success "
        "(Batch's task counts call them failed)\n" in render_status(s)
    )
    assert plan_rerun(v, snap(records), failed=True).reactivate == ("side",)
    # Named, it is refused as a success is (exit 8), not reactivated: its dependents ran.
    named = plan_rerun(v, snap(records), tasks=["train"])
    assert named.reactivate == ()
    assert [(p.id, p.reason) for p in named.refused] == [
        (
            "train",
            "succeeded: its exit code 3 counts as a success (satisfy_exit_codes), and its "
            "dependents already ran on it",
        )
    ]
    on_failure_satisfy = {"default": {"dependencyAction": "satisfy"}}
    s, _ = build_status(
        view([d("train", ec=on_failure_satisfy), d("evaluate", "train")]), snap(records[:2])
    )
    assert [f.name for f in s.failed] == ["train"]
    assert s.succeeded_by_exit_code == 0 and "of the succeeded" not in render_status(s)


def test_barriers_are_folded_out_of_the_counts() -> None:
    defs = [d("a"), d("b"), d("dagbatch-barrier-z-1", "a", "b"), d("c", "dagbatch-barrier-z-1")]
    v = view(defs, barriers={"dagbatch-barrier-z-1": "c"})
    s, _ = build_status(
        v,
        snap(
            [
                rec("a", "completed", 0, start=0),
                rec("b", "completed", 1, start=0),
                rec("dagbatch-barrier-z-1", "active"),
                rec("c", "active"),
            ]
        ),
    )
    assert (s.total, s.barriers) == (3, 1)
    assert [x.name for x in s.stranded] == ["c"] and s.stranded[0].chain == ("c", "b")
    # A barrier that itself failed (its command line cannot run on the pool's OS) is listed,
    # and the heading's count agrees with the counts line, which leaves barriers out.
    from dagbatch.observe.render import render_status

    s, _ = build_status(
        v,
        snap(
            [
                rec("a", "completed", 0, start=0),
                rec("b", "completed", 1, start=0),
                rec("dagbatch-barrier-z-1", "completed", 127, start=1),
                rec("c", "active"),
            ]
        ),
    )
    assert s.outcomes["failed"] == 1 and len(s.failed) == 2
    assert "failed (1, and 1 barrier task(s) dagbatch added):" in render_status(s)


def test_rerun_plan_says_what_resumes_and_what_stays_stuck() -> None:
    defs = [d("a"), d("b"), d("c", "a"), d("e", "b"), d("f", "c", "e")]
    v = view(defs)
    records = [
        rec("a", "completed", 2, start=0),
        rec("b", "completed", 3, start=0),
        rec("c", "active"),
        rec("e", "active"),
        rec("f", "active"),
    ]
    # A name no task has is a usage error before anything is done, with the closest name.
    with pytest.raises(ConfigError, match=r"^--task: job job holds no task 'B2'$"):
        plan_rerun(v, snap(records), tasks=["a", "B2", "c"])
    with pytest.raises(ConfigError, match=r"'load2' \(did you mean 'load'\?\)"):
        plan_rerun(view(defs, names={"b": "load"}), snap(records), tasks=["load2"])
    # A name two tasks share (a child's barriers) is refused: the id says which.
    twins = view(defs, names={"a": "twin", "b": "twin"})
    with pytest.raises(ConfigError, match=r"--task 'twin' names 2 tasks \(a, b\)"):
        plan_rerun(twins, snap(records), tasks=["twin"])
    plan = plan_rerun(v, snap(records), tasks=["a", "c"])
    assert plan.reactivate == ("a",)
    assert plan.resumes == ("c",)
    assert {s.task_id for s in plan.still_stuck} == {"e", "f"}
    assert {p.name: p.reason.split(":")[0] for p in plan.refused} == {"c": "is active"}
    from dagbatch.observe.render import render_rerun_plan

    # c waits on its parents again; whether it then runs is theirs to say (a failure
    # handler's parent that succeeds leaves it skipped), so no more is promised.
    assert "then waiting again for their parents (1): c" in render_rerun_plan(plan)
    # A long list is cut, and says so.
    assert (
        "then waiting again for their parents (1):  ... and 1 more (all of them in --json)\n"
        in render_rerun_plan(plan, shown=0)
    )
    every = plan_rerun(v, snap(records), failed=True)
    assert every.reactivate == ("a", "b") and set(every.resumes) == {"c", "e", "f"}
    assert not every.still_stuck


def test_rerun_refuses_a_succeeded_task_and_a_completed_job() -> None:
    v = view([d("a")])
    plan = plan_rerun(v, snap([rec("a", "completed", 0, start=0)]), tasks=["a"])
    assert plan.reactivate == () and "exit code 0" in plan.refused[0].reason
    job = {"id": "job", "state": "completed"}
    with pytest.raises(RefusedError, match="submit the plan again into a new job"):
        plan_rerun(v, snap([rec("a", "completed", 1, start=0)], job), failed=True)


def test_rerun_brings_back_tasks_finish_terminated() -> None:
    v = view([d("a"), d("c", "a"), d("e", "c")])
    # a failed (it ends at 100 s); finish terminated c and e behind it afterwards.
    behind = [_terminated_while_waiting("c"), _terminated_while_waiting("e")]
    plan = plan_rerun(v, snap([rec("a", "completed", 2, start=0), *behind]), failed=True)
    assert plan.reactivate == ("a", "c", "e") and plan.resumes == ("c", "e")


def test_rerun_refuses_a_never_run_task_whose_parent_still_blocks_it() -> None:
    """`rerun --task c`, c terminated by finish behind b which failed and is not rerun:
    reactivated alone, c would be stranded again at once. Refused with the fix (rerun b);
    with b it comes back. A skipped failure handler is refused too: not needed."""
    v = view([d("a"), d("b", "a"), d("c", "b")])
    records = [
        rec("a", "completed", 0, start=0),
        rec("b", "completed", 3, start=1),
        _terminated_while_waiting("c"),
    ]
    plan = plan_rerun(v, snap(records), tasks=["c"])
    assert plan.reactivate == ()
    (problem,) = plan.refused
    assert problem.name == "c" and "its parent b exited 3, for which its dependencyAction" in (
        problem.reason
    )
    assert "Rerun b (--task it, or --failed): c comes back with it" in problem.reason
    assert plan_rerun(v, snap(records), tasks=["b", "c"]).reactivate == ("b", "c")
    # c still active (no finish yet): stranded behind b; the refusal names b.
    waiting = [*records[:2], rec("c", "active")]
    (problem,) = plan_rerun(v, snap(waiting), tasks=["c"]).refused
    assert problem.reason == (
        "is active: only a completed task can be rerun; it waits on b, which failed: rerun "
        "that (--task b, or --failed) and it runs"
    )
    handled = view([d("work", ec=HANDLER_PARENT), d("alert", "work")])
    skipped = [rec("work", "completed", 0, start=0), _terminated_while_waiting("alert")]
    (problem,) = plan_rerun(handled, snap(skipped), tasks=["alert"]).refused
    assert "is not needed: nothing to rerun" in problem.reason


def test_rerun_leaves_a_task_the_user_cancelled_while_its_parent_ran() -> None:
    """The README promises --failed leaves "a task a user terminated while it could run":
    c, terminated at 50 s while a still ran (a failed at 100 s), is not brought back with
    a, nor is e behind it; one finish terminated after a's failure is."""
    v = view([d("a"), d("c", "a"), d("e", "c"), d("f", "a")])
    records = [
        rec("a", "completed", 2, start=0),
        _terminated_while_waiting("c", at=50),
        _terminated_while_waiting("e", at=60),
        _terminated_while_waiting("f", at=200),
    ]
    plan = plan_rerun(v, snap(records), failed=True)
    assert plan.reactivate == ("a", "f")


def test_rerun_of_a_plan_task_that_is_not_in_the_job_is_refused_by_name() -> None:
    v = view([d("1"), d("2")], names={"1": "prep", "2": "late"})
    plan = plan_rerun(v, snap([rec("1", "completed", 3, start=0)]), tasks=["late", "prep"])
    assert plan.reactivate == ("1",)
    assert [(p.name, p.reason) for p in plan.refused] == [
        ("late", "is not in the job (not submitted?)")
    ]


def test_a_disabled_job_says_why_nothing_starts() -> None:
    from dagbatch.observe.render import verdict_line

    # Nothing runs and nothing will until someone enables the job: stuck (watch stops).
    s, _ = build_status(
        view([d("a")]), snap([rec("a", "active")], {"id": "job", "state": "disabled"})
    )
    assert s.verdict == "stuck"
    line = verdict_line(s, "plan")
    assert "STUCK: the job is disabled, so no task starts until it is enabled" in line
    assert "az batch job enable --job-id job" in line and "dagbatch finish" not in line
    # A task still running in it (disableTasks=wait) will end: running until then.
    s, _ = build_status(
        view([d("a"), d("b")]),
        snap([rec("a", "active"), rec("b", "running", start=0)], {"id": "j", "state": "disabled"}),
    )
    assert s.verdict == "running"
    assert "but the job is disabled: no task starts until it is enabled" in verdict_line(s, "p")
    # Disabled by a task's jobAction: named.
    disable_on_3 = {"exitCodes": [{"code": 3, "exitOptions": {"jobAction": "disable"}}]}
    job = {"id": "job", "state": "disabled", "onTaskFailure": "performexitoptionsjobaction"}
    s, _ = build_status(
        view([d("gate", ec=disable_on_3), d("next")]),
        snap([rec("gate", "completed", 3, start=0), rec("next", "active")], job),
    )
    assert (s.verdict, s.disabled_by) == ("stuck", "gate")
    assert "disabled by task gate (jobAction disable)" in verdict_line(s, "plan")
    # gate also blocks a dependent, while other tasks wait only for the job to be enabled:
    # not "only tasks that can never run remain" (a review read that of runnable tasks).
    s, _ = build_status(
        view([d("gate", ec=disable_on_3), d("after", "gate"), d("r"), d("s")]),
        snap(
            [
                rec("gate", "completed", 3, start=0),
                rec("after", "active"),
                rec("r", "active"),
                rec("s", "active"),
            ],
            job,
        ),
    )
    line = verdict_line(s, "plan")
    assert s.verdict == "stuck" and "only tasks that can never run remain" not in line
    # rerun of gate in the disabled job says the job must be enabled for anything to start
    from dagbatch.observe.render import render_rerun_plan

    again = plan_rerun(
        view([d("gate", ec=disable_on_3), d("after", "gate"), d("r"), d("s")]),
        snap(
            [rec("gate", "completed", 3, start=0), rec("after", "active"), rec("r", "active")],
            job,
        ),
        failed=True,
    )
    assert again.reactivate == ("gate",) and again.job_disabled
    assert "the job is disabled: they start only once it is enabled" in render_rerun_plan(again)
    assert line.startswith(
        "job job: STUCK: the job is disabled by task gate (jobAction disable), so no task "
        "starts until it is enabled (`az batch job enable --job-id job`, once the cause is "
        "fixed); 1 task(s) can never run even then; fix the cause and `dagbatch rerun plan"
    )


def test_tasks_behind_a_task_the_job_does_not_hold_are_stuck_not_running() -> None:
    from dagbatch.observe.render import verdict_line

    # load waits on extract, which the job does not hold; alert waits on load, and 7 on a
    # range holding load's integer twin: none of them can start, so the job is stuck.
    v = view([d("extract"), d("load", "extract"), d("alert", "load"), d("8"), d("9", "8")])
    s, _ = build_status(
        v,
        snap(
            [rec("load", "active"), rec("alert", "active"), rec("8", "active"), rec("9", "active")]
        ),
    )
    assert s.verdict == "running"  # 8 can still run
    s, _ = build_status(v, snap([rec("load", "active"), rec("alert", "active")]))
    assert s.verdict == "stuck"
    line = verdict_line(s, "plan")
    assert "the tasks left wait on tasks the job does not hold" in line
    assert "only tasks that can never run remain" not in line
    ranged = [d("a"), d("5", "a"), TaskDefinition("c", Dependencies((), ((1, 9),)))]
    s, _ = build_status(view(ranged), snap([rec("5", "active"), rec("c", "active")]))
    assert s.verdict == "stuck"


def test_a_plan_the_job_holds_only_part_of_is_not_complete() -> None:
    from dagbatch.observe.render import verdict_line

    # The job holds a and it completed; b never reached it (a submission cut short).
    v = view([d("a"), d("b", "a")], plan_dir="plan")
    s, _ = build_status(v, snap([rec("a", "completed", 0, start=0)]))
    assert s.verdict == "stuck" and s.not_in_job == ("b",)
    line = verdict_line(s, "plan")
    assert "1 task(s) of the plan are not in it" in line
    assert "`dagbatch submit plan --resume`" in line


def test_complete_with_failures_in_a_job_still_active_points_at_rerun() -> None:
    """A job left active (onAllTasksComplete noaction) whose tasks all completed, some
    failed: Batch still reactivates them, so the verdict says how; a completed job's
    failures are final and nothing is offered."""
    from dagbatch.observe.render import verdict_line

    v = view([d("a"), d("b")])
    records = [rec("a", "completed", 0, start=0), rec("b", "completed", 2, start=0)]
    s, _ = build_status(v, snap(records))
    line = verdict_line(s, "plan")
    assert s.verdict == "complete" and "COMPLETE WITH FAILURES: 1 task(s) failed" in line
    assert "the job is still active: fix the cause and `dagbatch rerun plan --failed`" in line
    done = {
        "id": "job",
        "state": "completed",
        "executionInfo": {"terminateReason": "AllTasksComplete"},
    }
    s, _ = build_status(v, snap(records, done))
    assert "COMPLETE WITH FAILURES" in verdict_line(s, "plan")
    assert "rerun" not in verdict_line(s, "plan")


def test_a_job_that_also_holds_other_tasks_is_not_resumed_blindly() -> None:
    """A job of the same name made by another workflow shares some ids with the plan (1, 2,
    3): the plan's other tasks are missing from it, but resuming the plan's submission would
    add them to a job that was never the plan's. The fix says to check the job id first."""
    from dagbatch.observe.render import verdict_line

    v = view([d("prepare"), d("1", "prepare"), d("2", "prepare"), d("9", "prepare")], plan_dir="p")
    records = [rec(t, "completed", 0, start=0) for t in ("prep", "1", "2")]
    s, _ = build_status(v, snap(records))
    assert s.verdict == "stuck" and s.not_in_plan == ("prep",)
    line = verdict_line(s, "p")
    assert "2 task(s) of the plan are not in it (the job also holds 1 task(s) the plan " in line
    assert "does not (prep), so it may not be this plan's job: check the job id" in line
    assert "only if it is, `dagbatch submit p --resume` adds the missing ones" in line
    assert "finishes it" not in line
    # Tasks left waiting on tasks the job lacks: the same caution.
    s, _ = build_status(v, snap([*records[:1], rec("1", "active"), rec("2", "active")]))
    assert s.verdict == "stuck" and s.missing
    assert "so it may not be this plan's job" in verdict_line(s, "p")


def test_a_job_that_holds_none_of_the_plans_tasks_is_refused() -> None:
    # Another workflow's job (a wrong --job-id): no verdict about it could be true.
    v = view([d("a"), d("b", "a")], plan_dir="plan")
    with pytest.raises(ConfigError, match=r"holds none of the plan's 2 tasks .* not submitted"):
        build_status(v, snap([rec("x", "completed", 0, start=0), rec("y", "active")]))
    s, _ = build_status(v, snap([]))  # an empty job: the submission has not started yet
    assert s.verdict == "running"


def test_a_terminated_jobs_active_tasks_are_cancelled_not_waiting() -> None:
    # w fails and its jobAction terminates the job: the handler rb can no longer run, and
    # 'other', killed by the termination, is told as terminated, not as an exit code.
    job = {
        "id": "job",
        "state": "completed",
        "onTaskFailure": "performexitoptionsjobaction",
        "executionInfo": {"terminateReason": "TaskFailed"},
    }
    # rb is a failure handler of w: w satisfies it on failure, and terminates the job.
    terminate_on_fail = {"default": {"dependencyAction": "satisfy", "jobAction": "terminate"}}
    killed = TaskRecord(
        "other",
        "completed",
        exit_code=137,
        result="failure",
        failure=FailureInfo("usererror", "TaskEnded", "The task ended."),
        started=T0.isoformat(),
        ended=T0.isoformat(),
    )
    v = view([d("w", ec=terminate_on_fail), d("rb", "w"), d("other"), d("next", "other")])
    s, _ = build_status(
        v,
        snap(
            [rec("w", "completed", 4, start=0), rec("rb", "active"), killed, rec("next", "active")],
            job,
        ),
    )
    assert (s.verdict, s.terminated_by) == ("terminated", "w")
    # next is blocked by other's ending too, but the job's end is why it never runs: Batch
    # leaves it active and starts nothing of an ended job, and neither rerun nor finish can
    # act on it. Cancelled, as rb is, not stranded.
    assert s.outcomes["waiting"] == 0 and s.outcomes["stranded"] == 0
    assert s.outcomes["cancelled"] == 2 and set(s.cancelled) == {"rb", "next"}
    assert not s.stranded and s.to_dict()["cancelled"] == list(s.cancelled)
    # other was killed by the job's termination, not by a failure of its own: said so.
    from dagbatch.observe.render import render_status

    shown = render_status(s)
    killed_line = "other  exit 137  usererror TaskEnded: The task ended. (it was running when "
    assert killed_line + "the job was terminated)" in shown, shown


def _terminated_while_waiting(tid: str, at: int = 200) -> TaskRecord:
    """A task `finish` terminated before it ran: ``at`` seconds after T0, after the tasks
    ``rec`` completes (at 100 s) ended."""
    ended = FailureInfo("usererror", "TaskEnded", "The task ended.")
    return TaskRecord(
        tid,
        "completed",
        result="failure",
        failure=ended,
        ended=(T0 + timedelta(seconds=at)).isoformat(),
    )


def _stranded_handler_chain() -> tuple[WorkflowView, Snapshot]:
    """shard failed, so reduce and its failure handler alert were stranded, and finish
    terminated both."""
    v = view([d("shard"), d("reduce", "shard", ec=HANDLER_PARENT), d("alert", "reduce")])
    s = snap(
        [
            rec("shard", "completed", 1, start=0),
            _terminated_while_waiting("reduce"),
            _terminated_while_waiting("alert"),
        ]
    )
    return v, s


def test_rerun_refuses_a_handler_whose_guarded_parent_never_ran() -> None:
    # Reactivating alert alone would run it on reduce's termination, although reduce never
    # ran: refused, saying what to rerun instead.
    v, s = _stranded_handler_chain()
    plan = plan_rerun(v, s, tasks=["alert"])
    assert plan.reactivate == ()
    ((name, reason),) = [(p.name, p.reason) for p in plan.refused]
    assert name == "alert" and "neither did its parent reduce" in reason
    # The failed root brings the whole chain back, parents first.
    assert plan_rerun(v, s, failed=True).reactivate == ("shard", "reduce", "alert")


def test_a_task_terminated_behind_a_parent_rerun_by_hand_is_named_and_rerun() -> None:
    # a failed, finish terminated b behind it, then a was reactivated by hand and succeeded:
    # nothing holds b back now, but nothing would bring it back either.
    from dagbatch.observe.render import render_status

    b = _terminated_while_waiting("b", at=2)
    v = view([d("a"), d("b", "a")], names={"b": "load"})
    s = snap([rec("a", "completed", 0, start=5), b])  # a ran again after b was terminated
    status, _ = build_status(v, s)
    assert status.cancelled == ("load",) and status.to_dict()["cancelled"] == ["load"]
    assert "cancelled: never ran, will not run (1):\n  load" in render_status(status)
    assert plan_rerun(v, s, failed=True).reactivate == ("b",)
    # A user who terminated b while it could run (a had already succeeded) meant it, and so
    # did one who terminated a task without parents: --failed leaves both alone.
    later = b._replace(ended=(T0 + timedelta(seconds=9)).isoformat())  # a started at T0
    before = snap([rec("a", "completed", 0, start=0), later])
    assert plan_rerun(v, before, failed=True).reactivate == ()
    root = TaskRecord("a", "completed", result="failure", failure=b.failure, ended=T0.isoformat())
    assert plan_rerun(view([d("a")]), snap([root]), failed=True).reactivate == ()


def test_finish_on_a_job_that_holds_no_task_says_so() -> None:
    from dagbatch.observe.model import FinishReport
    from dagbatch.observe.render import render_finish

    empty = render_finish(FinishReport("j", "running", (), (), 0))
    assert empty == "job j holds no task yet: nothing to terminate"
    busy = render_finish(FinishReport("j", "running", (), (), 3), target="plan")
    assert "still running (3 task(s) can still run)" in busy
    # Every task completed, the job perhaps still active: its tasks, not the job, are done.
    done = render_finish(FinishReport("j", "complete", (), (), 0))
    assert done == "every task of job j has completed: nothing to terminate"
    ended = render_finish(FinishReport("j", "terminated", (), (), 0))
    assert ended == "job j is terminated: nothing to terminate"


def test_a_task_the_job_holds_beyond_the_plan_is_counted_and_can_be_rerun() -> None:
    from dagbatch.observe.render import render_status

    # 03 was added to the job by hand; the plan's range 1..3 selects it (leading zeros are
    # ignored), and it failed: it holds reduce back, so it must be seen and be rerun.
    ranged = TaskDefinition("reduce", Dependencies((), ((1, 3),)))
    v = view([d("1"), d("2"), ranged])
    s = snap(
        [
            rec("1", "completed", 0, start=0),
            rec("2", "completed", 0, start=0),
            rec("03", "completed", 1, start=0),
            rec("reduce", "active"),
        ]
    )
    status, _ = build_status(v, s)
    assert status.not_in_plan == ("03",)
    assert status.outcomes["failed"] == 1 and [f.name for f in status.failed] == ["03"]
    assert "1 task(s) of the job are not in the plan" in render_status(status)
    assert plan_rerun(v, s, failed=True).reactivate == ("03",)


def test_rerun_of_a_parent_and_its_handler_together_brings_both_back_parents_first() -> None:
    # Named together with the failed root of its chain, alert comes back after reduce.
    v, s = _stranded_handler_chain()
    plan = plan_rerun(v, s, tasks=["alert", "shard"])
    assert plan.refused == ()
    assert plan.reactivate == ("shard", "reduce", "alert")


def test_rerun_takes_a_name_before_an_id() -> None:
    # A renumbered plan: the user's task '1' is Batch's task 7, and Batch's task 1 is
    # 'prep'. `status` shows the user's names, so '1' means the user's task.
    v = view([d("1"), d("7")], names={"1": "prep", "7": "1"})
    s = snap([rec("1", "completed", 0, start=0), rec("7", "completed", 2, start=0)])
    assert plan_rerun(v, s, tasks=["1"]).reactivate == ("7",)


def test_without_a_plan_the_missing_parent_fix_names_no_plan_command() -> None:
    from dagbatch.observe.render import verdict_line

    # status --job-id alone reads the definitions from the service: no plan to resubmit.
    v = WorkflowView("job", {x.id: x for x in [d("load", "extract")]})
    s, _ = build_status(v, snap([rec("load", "active")]))
    line = verdict_line(s, "--job-id job")
    assert s.verdict == "stuck" and "add them to the job" in line
    assert "dagbatch submit" not in line
    # A disabling job with nothing running is stuck as a disabled one is.
    s, _ = build_status(
        view([d("a")]), snap([rec("a", "active")], {"id": "job", "state": "disabling"})
    )
    assert s.verdict == "stuck"


def test_many_stranded_tasks_are_told_by_the_task_that_holds_them_back() -> None:
    """More stranded tasks than the text shows: one line per task whose ending holds them
    back, with one chain and a few names, instead of a screen of near-identical lines."""
    from dagbatch.observe.render import render_status

    kids = [d(f"k{i:02d}", "bad") for i in range(30)]
    defs = [d("bad"), d("worse"), *kids, d("grandkid", "k00"), d("lone", "worse")]
    records = [rec("bad", "completed", 2, start=0), rec("worse", "completed", 3, start=0)]
    records += [rec(x.id, "active") for x in defs[2:]]
    s, _ = build_status(view(defs), snap(records))
    assert len(s.stranded) == 32
    text = render_status(s, shown=20)
    assert text.count("[stranded]") == 2
    assert (
        "[stranded] 31 tasks behind bad, e.g. k00 waits on bad, which exited 2 → "
        "dependencyAction: block (Batch's default for that ending); also k01, k02, k03, k04, "
        "k05 and 25 more" in text
    )
    assert "[stranded] lone waits on worse, which exited 3" in text
    # As many as the text shows: each on its own line, as before.
    few = render_status(s, shown=40)
    assert few.count("[stranded]") == 32 and "tasks behind" not in few


def test_a_failed_tasks_retries_are_said_in_the_text_too() -> None:
    """Only --json had retryCount: a task that failed three times read as one failure."""
    from dagbatch.observe.render import render_status

    v = view([d("r"), d("once")])
    records = [
        rec("r", "completed", 7, start=0)._replace(retry_count=2),
        rec("once", "completed", 1, start=0),
    ]
    text = render_status(build_status(v, snap(records))[0])
    assert "  r  exit 7 (tried 3 times)  usererror FailureExitCode: exited\n" in text
    assert "  once  exit 1  usererror" in text


def test_a_failed_tasks_stderr_reaches_the_screen_escaped() -> None:
    """`dagbatch status` printed a task's stderr as it was: ESC[2J cleared the reader's
    screen, an OSC sequence set the terminal's title."""
    import dataclasses

    from dagbatch.observe.render import render_status

    v = view(MAPREDUCE, names=NAMES, waves=WAVES)
    s, _ = build_status(
        v,
        snap(
            [
                rec("1", "completed", 0, start=0),
                rec("2", "completed", 3, start=0),
                rec("3", "active"),
                rec("4", "active"),
            ]
        ),
    )
    tail = "\x1b[2J\x1b]0;pwned\x07boom\n"
    s = dataclasses.replace(s, failed=[dataclasses.replace(s.failed[0], stderr_tail=tail)])
    text = render_status(s)
    assert "\x1b" not in text and "\x07" not in text
    assert "stderr | \\x1b[2J\\x1b]0;pwned\\x07boom" in text
