"""`dagbatch run` as a user runs it: real and simulated runs, the report, the exit codes."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from dagbatch.cli.main import main

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["run", *args])
    return result.exit_code, result.stdout, result.stderr


def report_of(path: Path) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    report = json.loads(path.read_text())
    return report, {t["id"]: t for t in report["tasks"]}


def test_the_pipeline_example_runs_for_real(tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    work = tmp_path / "work"
    code, stdout, stderr = run(
        str(ROOT / "examples" / "pipeline.py"), "--workdir", str(work), "--report", str(out)
    )
    # Every task that ran succeeded; the rollback was not needed: it is terminated at the end
    # and reported skipped.
    assert code == 0, stdout + stderr
    assert "job pipeline-nightly: active" in stdout
    assert "rollback" in stdout and "skipped: rollback waits on publish, which exited 0" in stdout
    assert "completed" in stderr  # live progress
    report, tasks = report_of(out)
    assert report["verdict"] == "ok"
    assert report["counts"]["succeeded"] == 7 and report["counts"]["skipped"] == 1
    assert report["counts"]["neverRan"] == 0 and report["counts"]["failed"] == 0
    assert tasks["rollback"]["skipped"] is True and not tasks["rollback"]["ran"]
    for name in ("fetch", "clean-emea", "clean-apac", "clean-amer", "train", "evaluate", "publish"):
        assert tasks[name]["ran"] and tasks[name]["exitCode"] == 0, name
    assert tasks["rollback"]["neverRan"]["kind"] == "blocked"
    assert tasks["rollback"]["neverRan"]["parent"] == "publish"
    publish = Path(tasks["publish"]["outputDir"])
    assert (publish / "stdout.txt").read_text() == "published run 2026-11-28\n"
    evaluate = Path(tasks["evaluate"]["outputDir"])
    assert (evaluate / "stdout.txt").read_text().strip() == "3"  # one line per region
    assert (evaluate / "wd").is_dir() and (work / "node" / "shared" / "model.txt").is_file()

    # The same run directory is replaced by the next run; --fail makes publish fail without
    # running it: the rollback runs, then every task is complete (the example's job is not
    # set to terminate on completion, so it stays active).
    code, stdout, _ = run(
        str(ROOT / "examples" / "pipeline.py"),
        "--workdir",
        str(work),
        "--fail",
        "publish=7",
        "--report",
        str(out),
        "-q",
    )
    assert code == 4, stdout
    report, tasks = report_of(out)
    assert tasks["publish"]["exitCode"] == 7 and "outputDir" not in tasks["publish"]
    assert tasks["rollback"]["ran"] and tasks["rollback"]["exitCode"] == 0
    assert report["job"] == {
        "state": "active",
        "terminateReason": None,
        "terminatedBy": None,
        "jobAction": None,
    }


def test_mapreduce_simulated_with_a_failing_shard(tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    code, stdout, _ = run(
        str(ROOT / "examples" / "mapreduce.py"),
        "--simulate",
        "--fail",
        "17",
        "--workdir",
        str(tmp_path / "w"),
        "--report",
        str(out),
    )
    assert code == 4, stdout
    assert "job mapreduce: active" in stdout
    assert "blocked: parent 17 failed with exit code 1" in stdout
    report, tasks = report_of(out)
    assert report["counts"]["succeeded"] == 10_000 and report["counts"]["failed"] == 1
    assert tasks["reduce"]["state"] == "completed" and not tasks["reduce"]["ran"]
    assert tasks["reduce"]["terminatedAtEnd"]["kind"] == "stranded"  # by the finish at the end
    assert tasks["reduce"]["neverRan"]["parent"] == "17"
    assert tasks["17"]["exitCode"] == 1 and tasks["17"]["result"] == "failure"


def test_an_exit_code_the_workflow_counts_as_success_is_not_a_failure(tmp_path: Path) -> None:
    # pipeline.py: train has satisfy_exit_codes=[3] ("converged early": still fine). Batch
    # records exit 3 as a failure; the run counts it as the success the workflow says it is.
    out = tmp_path / "r.json"
    code, stdout, stderr = run(
        str(ROOT / "examples" / "pipeline.py"),
        "--simulate",
        "--fail",
        "train=3",
        "--workdir",
        str(tmp_path / "w"),
        "--report",
        str(out),
    )
    assert code == 0, stdout
    assert "exit code 3 counts as success" in stdout
    assert "(0 failed)" in stderr and "(1 failed)" not in stderr  # the live progress too
    report, tasks = report_of(out)
    assert report["verdict"] == "ok" and report["counts"]["failed"] == 0
    assert tasks["train"]["result"] == "failure"  # Batch's own record, kept
    assert tasks["train"]["countsAsSuccess"] is True
    assert tasks["evaluate"]["ran"] and tasks["evaluate"]["result"] == "success"
    # Any other non-zero code is still a failure.
    code, _, _ = run(
        str(ROOT / "examples" / "pipeline.py"),
        "--simulate",
        "--fail",
        "train=4",
        "--workdir",
        str(tmp_path / "w"),
        "-q",
    )
    assert code == 4


def test_a_what_if_id_the_plan_does_not_hold_is_a_usage_error(tmp_path: Path) -> None:
    """A mistyped --fail or --exit-codes id would leave its task succeeding: the run would
    answer another question than the one asked. Refused before anything runs, every unknown
    id named, with the task it probably meant; ids match ignoring case, as in Batch."""
    codes = tmp_path / "codes.json"
    codes.write_text(json.dumps({"evaluat": 3, "TRAIN": 2}))
    work = tmp_path / "w"
    # A previous run's directory: the refusal comes before it is replaced.
    code, stdout, stderr = run(
        str(ROOT / "examples" / "pipeline.py"), "--simulate", "--workdir", str(work), "-q"
    )
    assert code == 0, stdout + stderr
    before = {p: p.stat().st_mtime_ns for p in work.rglob("*")}
    code, _, stderr = run(
        str(ROOT / "examples" / "pipeline.py"),
        "--simulate",
        "--exit-codes",
        str(codes),
        "--fail",
        "nosuch",
        "--workdir",
        str(work),
    )
    assert code == 2, stderr
    assert {p: p.stat().st_mtime_ns for p in work.rglob("*")} == before  # untouched
    assert "2 task(s) the plan does not hold" in stderr
    assert "'evaluat' (did you mean 'evaluate'?)" in stderr and "'nosuch'" in stderr
    assert "TRAIN" not in stderr  # train, in other case: a task of the plan
    # Many unknown ids: ten named, the rest counted.
    many = [arg for n in range(12) for arg in ("--fail", f"nosuch{n}")]
    code, _, stderr = run(
        str(ROOT / "examples" / "pipeline.py"), "--simulate", *many, "--workdir", str(work)
    )
    assert code == 2 and "12 task(s) the plan does not hold" in stderr
    assert "'nosuch9'" in stderr and "'nosuch10'" not in stderr and "and 2 more" in stderr
    # The same ids spelt right: the what-if runs.
    codes.write_text(json.dumps({"evaluate": 3, "TRAIN": 2}))
    code, stdout, stderr = run(
        str(ROOT / "examples" / "pipeline.py"),
        "--simulate",
        "--exit-codes",
        str(codes),
        "--workdir",
        str(work),
        "-q",
    )
    assert code == 4, stdout + stderr


def test_an_output_file_that_cannot_be_written_is_refused_before_the_run(tmp_path: Path) -> None:
    """Found only at the end, an unwritable --report or --picture came after all the run's
    work, with a warning and exit 0: a CI job then had no report and no failure."""
    work = tmp_path / "w"
    for option, path in (
        ("--report", tmp_path / "no-such-dir" / "r.json"),
        ("--picture", tmp_path / "no-such-dir" / "p.svg"),
        ("--report", tmp_path),
    ):
        code, stdout, stderr = run(
            str(ROOT / "examples" / "pipeline.py"),
            "--simulate",
            option,
            str(path),
            "--workdir",
            str(work),
            "-q",
        )
        assert code == 2, stdout + stderr
        assert str(path) in stderr and option in stderr
        assert "cannot write" in stderr or "is a directory" in stderr
        assert stdout == ""  # refused before anything ran: no report printed
        assert not work.exists()


def test_a_fault_in_drawing_the_picture_keeps_the_report_and_the_verdict(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A drawing fault (once: a banded picture with barriers) ended the command with a
    traceback and exit 1, after the run: no report printed, and the run's verdict lost."""
    import dagbatch.show.render

    def broken(*args: object, **kwargs: object) -> None:
        raise AssertionError("the folded picture has a cycle")

    monkeypatch.setattr(dagbatch.show.render, "write_picture", broken)
    picture = tmp_path / "p.svg"
    code, stdout, stderr = run(
        str(ROOT / "examples" / "pipeline.py"),
        "--simulate",
        "--picture",
        str(picture),
        "--workdir",
        str(tmp_path / "w"),
    )
    assert code == 0, stdout + stderr
    assert "succeeded" in stdout
    assert f"could not draw {picture}: AssertionError: the folded picture has a cycle" in stderr
    assert not picture.exists()


WORKFLOW = """
import networkx as nx
graph = nx.DiGraph()
graph.graph["job"] = {{"id": "chain", "pool_id": "p"}}
{body}
"""


def write_workflow(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "wf.py"
    path.write_text(WORKFLOW.format(body=body))
    return path


def test_job_action_terminate_is_named_as_the_reason(tmp_path: Path) -> None:
    wf = write_workflow(
        tmp_path,
        'graph.add_node("gate", command_line="/bin/true", job_action="terminate")\n'
        'graph.add_node("next", command_line="/bin/true")\n'
        'graph.add_node("last", command_line="/bin/true")\n'
        'graph.add_edge("gate", "next", when="always")\n'
        'graph.add_edge("next", "last")\n',
    )
    out = tmp_path / "r.json"
    code, stdout, _ = run(
        str(wf),
        "--simulate",
        "--fail",
        "gate=2",
        "--workdir",
        str(tmp_path / "w"),
        "--report",
        str(out),
    )
    assert code == 4, stdout
    report, tasks = report_of(out)
    assert report["job"]["state"] == "completed"
    assert report["job"]["terminateReason"] == "TaskFailed"
    assert report["job"]["terminatedBy"] == "gate"
    assert tasks["next"]["neverRan"]["kind"] == "job-ended"
    assert tasks["next"]["neverRan"]["by"] == "gate"
    assert tasks["last"]["neverRan"]["kind"] == "waiting"
    assert "job ended (TaskFailed) by task gate" in stdout


def test_a_job_a_task_disabled_then_completed_still_names_the_task(tmp_path: Path) -> None:
    """``bad``'s jobAction disables the job when every other task has completed: a
    terminatejob job whose tasks are all completed ends, also while disabled (batch-shipyard
    issue 227). The report says both: how it ended and which task disabled it."""
    wf = write_workflow(
        tmp_path,
        'graph.graph["job"]["on_all_tasks_complete"] = "terminatejob"\n'
        'graph.add_node("first", command_line="/bin/true")\n'
        'graph.add_node("bad", command_line="/bin/true", job_action="disable")\n'
        'graph.add_edge("first", "bad")\n',
    )
    out = tmp_path / "r.json"
    code, stdout, _ = run(
        str(wf),
        "--simulate",
        "--fail",
        "bad=3",
        "--workdir",
        str(tmp_path / "w"),
        "--report",
        str(out),
    )
    assert code == 4, stdout  # bad failed
    report, tasks = report_of(out)
    assert report["verdict"] == "tasks-failed"
    assert report["job"] == {
        "state": "completed",
        "terminateReason": "AllTasksComplete",
        "terminatedBy": "bad",
        "jobAction": "disable",
    }
    assert tasks["bad"]["exitCode"] == 3 and tasks["first"]["exitCode"] == 0
    assert report["counts"]["neverRan"] == 0
    assert "job chain: completed (AllTasksComplete), after task bad's jobAction disabled it" in (
        stdout
    )


def test_a_task_retried_for_ever_shows_its_retries_in_the_live_progress(tmp_path: Path) -> None:
    """maxTaskRetryCount -1 retries a failing task "without limit" [BATCH_FACTS 3]: the run
    never ends by itself, and the progress line showed no retries, so nothing told why."""
    wf = write_workflow(
        tmp_path,
        'graph.add_node("flaky", command_line="/bin/true",'
        ' constraints={"max_task_retry_count": -1})\n',
    )
    code, stdout, stderr = run(
        str(wf),
        "--simulate",
        "--fail",
        "flaky",
        "--timeout",
        "1.5",
        "--workdir",
        str(tmp_path / "w"),
    )
    assert code == 6, stdout + stderr  # only the --timeout ends it
    shown = [line for line in stderr.splitlines() if "retries " in line]
    assert shown, stderr
    assert int(shown[-1].rsplit("retries ", 1)[1]) > 1
    # The task ran: the timeout line tells whether it was caught running or between tries.
    caught = ", cut off by the --timeout 1," in stdout
    assert (
        "the --timeout was reached: running tasks were terminated"
        if caught
        else "the --timeout was reached while no task was running"
    ) in stdout, stdout


def test_a_timeout_reached_before_any_task_started_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The --timeout counts from the run's start: compiling and adding the tasks count. A
    run it ends before the pool starts says that, and how long the preparation took, not
    that running tasks were terminated (none was). Here the loading and compiling are let
    finish, as they are outside the main thread (no alarm), so the timeout passes after them."""
    monkeypatch.setattr("dagbatch.signals.alarm_at", lambda deadline: contextlib.nullcontext())
    wf = write_workflow(
        tmp_path,
        "for i in range(1, 2001):\n"
        "    graph.add_edge('prepare', i)\n"
        "    graph.add_node(i, command_line='/bin/true')\n"
        "graph.add_node('prepare', command_line='/bin/true')\n",
    )
    code, stdout, stderr = run(
        str(wf), "--simulate", "--timeout", "0.001", "--workdir", str(tmp_path / "w")
    )
    assert code == 6, stdout + stderr
    assert "succeeded 0, failed 0, never ran 2,001" in stdout
    line = next(x for x in stdout.splitlines() if x.startswith("the --timeout was reached"))
    assert line.startswith(
        "the --timeout was reached before any task started: compiling the workflow and adding "
        "its 2,001 tasks took "
    ), line
    assert line.endswith(" s (give a longer --timeout)"), line
    assert float(line.split(" took ")[1].split(" s ")[0]) >= 0  # the preparation, in seconds
    assert "running tasks were terminated" not in stdout


def test_a_timeout_reached_while_the_workflow_loads_stops_the_loading(tmp_path: Path) -> None:
    """The --timeout also cuts short the workflow's own code: a workflow that takes a
    minute to build its graph is stopped near the timeout, not after its minute, and says
    what it was still doing; no run directory is made."""
    wf = tmp_path / "wf.py"
    wf.write_text(
        "import time\nimport networkx as nx\ntime.sleep(60)\ngraph = nx.DiGraph()\n"
        "graph.add_node('a', command_line='/bin/true')\n"
    )
    out = tmp_path / "r.json"
    started = time.monotonic()
    code, stdout, stderr = run(
        str(wf), "--timeout", "1", "--workdir", str(tmp_path / "w"), "--report", str(out)
    )
    assert time.monotonic() - started < 20  # not the workflow's 60 s
    assert code == 6, stdout + stderr
    line = next(x for x in stdout.splitlines() if x.startswith("the --timeout was reached"))
    assert line.startswith(
        "the --timeout was reached while the workflow was still loading: stopped after "
    ), line
    assert line.endswith(
        " s, before any task was added; the run directory was left as it was "
        "(give a longer --timeout)"
    ), line
    assert 1 <= float(line.split("stopped after ")[1].split(" s,")[0]) < 20
    assert not (tmp_path / "w").exists()
    report = json.loads(out.read_text())
    assert report["verdict"] == "timeout" and report["stoppedWhile"] == "loading"
    assert report["job"] is None and report["tasks"] == []


def test_kill_while_the_workflow_loads_under_a_timeout_ends_the_run(tmp_path: Path) -> None:
    """`kill` (SIGTERM) still ends a run whose loading the --timeout watches: 143, at once."""
    marker = tmp_path / "loading"
    wf = tmp_path / "wf.py"
    wf.write_text(
        f"import pathlib, time\npathlib.Path({str(marker)!r}).write_text('x')\ntime.sleep(60)\n"
    )
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "dagbatch", "run", str(wf), "-q", "--timeout", "50"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
        cwd=tmp_path,
    )
    try:
        deadline = time.monotonic() + 30
        while not marker.is_file():
            assert time.monotonic() < deadline, "the workflow did not start loading"
            assert proc.poll() is None, "the run ended before its workflow loaded"
            time.sleep(0.05)
        proc.terminate()
        assert proc.wait(20) == 128 + 15
        assert proc.stderr is not None and b"Traceback" not in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(15)
        if proc.stderr is not None:
            proc.stderr.close()


def test_timeout_terminates_running_tasks(tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    wf = write_workflow(
        tmp_path,
        f"graph.add_node('slow', command_line=\"/bin/sh -c 'echo $$ > {pidfile}; sleep 60'\")\n"
        "graph.add_node('after', command_line='/bin/true')\n"
        "graph.add_node('later', command_line='/bin/true')\n"
        "graph.add_edge('slow', 'after')\n"
        "graph.add_edge('after', 'later')\n",
    )
    out = tmp_path / "r.json"
    started = time.monotonic()
    picture = tmp_path / "pic.txt"
    code, stdout, _ = run(
        str(wf),
        "--timeout",
        "1.5",
        "--workdir",
        str(tmp_path / "w"),
        "--report",
        str(out),
        "--picture",
        str(picture),
        "-q",
    )
    assert code == 6, stdout
    assert time.monotonic() - started < 20
    report, tasks = report_of(out)
    assert tasks["slow"]["state"] == "completed"
    assert tasks["slow"]["failure"]["code"] == "TaskEnded"
    # Cut off by the timeout, not failed; its dependents are told so, not "exit code 137".
    assert tasks["slow"]["endedByTimeout"] is True
    assert report["counts"]["failed"] == 0 and report["counts"]["endedByTimeout"] == 1
    assert tasks["after"]["neverRan"] == {
        "kind": "cut-off",
        "text": "parent slow was still running when the --timeout ended the run",
        "parent": "slow",
    }
    assert tasks["later"]["neverRan"]["cause"]["kind"] == "cut-off"
    assert "failed 0, cut off by the --timeout 1, never ran 2" in stdout
    assert "the --timeout was reached: running tasks were terminated" in stdout
    assert "cut off by the --timeout (TaskEnded)" in stdout
    # The picture shows the run as the timeout found it: slow running, not failed.
    state_line = next(ln for ln in picture.read_text().splitlines() if ln.startswith("state:"))
    assert "1 running" in state_line and "failed" not in state_line
    pid = int(pidfile.read_text())
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.killpg(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    else:
        raise AssertionError("the task's process group outlived the run")


def test_all_succeeded_exits_0_and_usage_errors_exit_2(tmp_path: Path) -> None:
    wf = write_workflow(tmp_path, 'graph.add_node("a", command_line="/bin/true")\n')
    code, stdout, _ = run(str(wf), "--workdir", str(tmp_path / "w"), "--slots", "1")
    assert code == 0, stdout
    assert "succeeded 1, failed 0, never ran 0" in stdout
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "keep.txt").write_text("mine")
    code, _, stderr = run(str(wf), "--workdir", str(busy))
    assert code == 2 and "not empty" in stderr
    assert (busy / "keep.txt").read_text() == "mine"
    bad = tmp_path / "codes.json"
    bad.write_text(
        '{"a": "one", "b": {"exitCode": 1.5}, "c": {"duration": -1}, "d": 0, "e": 2147483648,'
        ' "f": {"exitcode": 3}, "g": {"duration": NaN}, "h": {"duration": Infinity}}'
    )
    code, _, stderr = run(
        str(wf), "--simulate", "--exit-codes", str(bad), "--workdir", str(tmp_path / "x")
    )
    # Every wrong entry is named, not only the first.
    assert code == 2 and "task 'a': the exit code must be an integer, not 'one'" in stderr
    assert "task 'b': the exit code must be an integer, not 1.5" in stderr
    assert "task 'c': duration must be seconds >= 0, not -1" in stderr
    assert "'d'" not in stderr
    # Batch records an int32: a code beyond it was taken and reported as it was given.
    assert "task 'e': the exit code 2147483648 is not an int32" in stderr
    # A mistyped key left the task succeeding: the run rehearsed another question.
    assert "task 'f': unknown key 'exitcode' (did you mean 'exitCode'?)" in stderr
    # A NaN or infinite duration: a task that would never end.
    assert "task 'g': duration must be seconds >= 0, not nan" in stderr
    assert "task 'h': duration must be seconds >= 0, not inf" in stderr
    code, _, _ = run(str(wf), "--fail", "a=x")
    assert code == 2
    # One task named twice: one of the two would be dropped without a word.
    code, _, stderr = run(str(wf), "--simulate", "--fail", "a=2", "--fail", "a=0")
    assert code == 2 and "'a' is given twice, with exit codes 2 and 0" in stderr
    twice = tmp_path / "twice.json"
    twice.write_text('{"a": 1, "A": 0}')
    code, _, stderr = run(str(wf), "--simulate", "--exit-codes", str(twice))
    assert code == 2 and "name one task twice" in stderr and "'a' and 'A'" in stderr
    code, _, stderr = run(str(wf), "--fail", "a=-2147483649")
    assert code == 2 and "task 'a': the exit code -2147483649 is not an int32" in stderr
    good = tmp_path / "good.json"
    good.write_text('{"a": {"exitCode": 3, "duration": 0.2}}')
    out = tmp_path / "r.json"
    code, _, _ = run(
        str(wf),
        "--simulate",
        "--exit-codes",
        str(good),
        "--workdir",
        str(tmp_path / "y"),
        "--report",
        str(out),
    )
    assert code == 4
    _, tasks = report_of(out)
    assert tasks["a"]["exitCode"] == 3 and tasks["a"]["duration"] >= 0.2


def test_a_task_needing_more_slots_than_the_node_has_never_runs(tmp_path: Path) -> None:
    wf = write_workflow(
        tmp_path,
        'graph.add_node("small", command_line="/bin/true")\n'
        'graph.add_node("big", command_line="/bin/true", required_slots=4)\n',
    )
    out = tmp_path / "r.json"
    code, stdout, _ = run(
        str(wf), "--slots", "2", "--workdir", str(tmp_path / "w"), "--report", str(out), "-q"
    )
    assert code == 5, stdout
    _, tasks = report_of(out)
    assert tasks["small"]["exitCode"] == 0
    assert tasks["big"]["neverRan"]["kind"] == "too-many-slots"
    assert "needs 4 task slots" in stdout


HANDLER = (
    'graph.graph["job"]["on_all_tasks_complete"] = "terminatejob"\n'
    'graph.add_node("prep", command_line="/bin/true")\n'
    'graph.add_node("work", command_line="/bin/true")\n'
    'graph.add_node("alert", command_line="/bin/true")\n'
    'graph.add_node("after", command_line="/bin/true")\n'
    'graph.add_edge("prep", "work")\n'
    'graph.add_edge("work", "alert", when="failure")\n'
    'graph.add_edge("alert", "after")\n'
)


def test_a_handler_not_needed_is_skipped_and_the_job_completes(tmp_path: Path) -> None:
    wf = write_workflow(tmp_path, HANDLER)
    out = tmp_path / "r.json"
    code, stdout, _ = run(str(wf), "--workdir", str(tmp_path / "w"), "--report", str(out), "-q")
    assert code == 0, stdout
    report, tasks = report_of(out)
    assert report["verdict"] == "ok"
    assert report["job"]["state"] == "completed"
    assert report["job"]["terminateReason"] == "AllTasksComplete"
    assert report["counts"]["skipped"] == 2 and report["counts"]["neverRan"] == 0
    for name in ("alert", "after"):
        assert tasks[name]["skipped"] is True and not tasks[name]["ran"], name
        assert tasks[name]["state"] == "completed"
    # The strand keeps what neverRan does not say; the chain (after, alert, work) is neverRan's.
    assert tasks["after"]["terminatedAtEnd"] == {
        "kind": "skipped",
        "root": "work",
        "condition": "exitCodes",
    }
    assert tasks["after"]["neverRan"]["parent"] == "alert"
    assert tasks["after"]["neverRan"]["cause"]["parent"] == "work"
    assert tasks["alert"]["neverRan"]["kind"] == "blocked"
    assert report["finish"]["verdictBefore"] == "stuck"
    assert report["finish"]["terminated"] == ["alert", "after"]  # by id: detail in the tasks
    assert "skipped 2, never ran 0" in stdout
    assert "skipped: alert waits on work, which exited 0" in stdout

    # --no-finish leaves them active: the job stays open, and they count as never ran.
    code, stdout, _ = run(
        str(wf), "--workdir", str(tmp_path / "w"), "--report", str(out), "-q", "--no-finish"
    )
    assert code == 5, stdout
    report, tasks = report_of(out)
    assert report["job"]["state"] == "active" and report["finish"] is None
    assert tasks["alert"]["state"] == "active" and "skipped" not in tasks["alert"]


def test_a_real_failure_ends_with_the_stranded_tasks_terminated(tmp_path: Path) -> None:
    wf = write_workflow(tmp_path, HANDLER)
    out = tmp_path / "r.json"
    code, stdout, _ = run(
        str(wf),
        "--simulate",
        "--fail",
        "prep=3",
        "--workdir",
        str(tmp_path / "w"),
        "--report",
        str(out),
        "-q",
    )
    assert code == 4, stdout
    report, tasks = report_of(out)
    assert report["job"]["state"] == "completed"
    assert report["counts"]["failed"] == 1  # prep only: the terminated tasks are not failures
    assert report["counts"]["neverRan"] == 3 and report["counts"]["skipped"] == 0
    for name in ("work", "alert", "after"):
        assert tasks[name]["state"] == "completed" and not tasks[name]["ran"], name
        assert tasks[name]["skipped"] is False
        assert tasks[name]["terminatedAtEnd"]["kind"] == "stranded"
        assert tasks[name]["terminatedAtEnd"]["root"] == "prep"
    assert tasks["work"]["neverRan"] == {
        "kind": "blocked",
        "parent": "prep",
        "parentEnd": "failed with exit code 3",
        "text": "blocked: parent prep failed with exit code 3, and its dependencyAction for "
        "that is block",
    }
    assert tasks["after"]["neverRan"]["cause"]["parent"] == "work"
    assert "never ran (terminated at the end): blocked: parent prep failed" in stdout


def test_the_picture_of_the_outcome(tmp_path: Path) -> None:
    wf = write_workflow(tmp_path, HANDLER)
    for suffix in ("html", "svg", "txt"):
        picture = tmp_path / f"outcome.{suffix}"
        code, stdout, _ = run(
            str(wf),
            "--simulate",
            "--workdir",
            str(tmp_path / "w"),
            "--picture",
            str(picture),
            "-q",
        )
        assert code == 0, stdout
        assert f"picture: {picture}" in stdout
        drawn = picture.read_text(encoding="utf-8")
        # prep and work ran; alert and after were skipped.
        assert "state: 2 done · 2 skipped" in drawn, drawn
    assert "[n3] alert\n        1 skipped" in drawn  # the text form: each node says so
    assert "<svg xmlns=" in (tmp_path / "outcome.svg").read_text()
    assert (tmp_path / "outcome.html").read_text().startswith("<!DOCTYPE html>")
    # A failure: the failed task and the three that never ran.
    picture = tmp_path / "failed.txt"
    code, stdout, _ = run(
        str(wf),
        "--simulate",
        "--fail",
        "prep",
        "--workdir",
        str(tmp_path / "w"),
        "--picture",
        str(picture),
        "-q",
    )
    assert code == 4, stdout
    drawn = picture.read_text(encoding="utf-8")
    assert "state: 1 failed · 3 never runs" in drawn, drawn


@pytest.mark.parametrize(
    ("signum", "code"), [(signal.SIGTERM, 128 + 15), (signal.SIGHUP, 128 + 1)], ids=["kill", "hup"]
)
def test_kill_ends_a_run_with_its_tasks(tmp_path: Path, signum: int, code: int) -> None:
    # `kill` (SIGTERM) of `dagbatch run`, e.g. a CI job's timeout, and a hangup (SIGHUP: the
    # terminal or the ssh session closed; the tasks, each in a session of its own, hear none
    # themselves): the tasks' processes go with it, as on Ctrl-C, instead of running on
    # without a parent.
    pidfile = tmp_path / "pid"
    wf = write_workflow(
        tmp_path,
        f"graph.add_node('slow', command_line=\"/bin/sh -c 'echo $$ > {pidfile}; sleep 60'\")\n",
    )
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": f"{root}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "dagbatch", "run", str(wf), "-q", "--workdir", str(tmp_path / "w")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
        # As a terminal starts it: a hangup heard, also when the tests run under nohup (a
        # run that starts with SIGHUP ignored keeps ignoring it, as nohup asks).
        preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_DFL),
    )
    try:
        deadline = time.monotonic() + 30
        while not (pidfile.is_file() and pidfile.read_text().strip()):
            assert time.monotonic() < deadline, "the task did not start"
            assert proc.poll() is None, "the run ended before its task started"
            time.sleep(0.05)
        proc.send_signal(signum)
        assert proc.wait(30) == code
        assert proc.stderr is not None and b"Traceback" not in proc.stderr.read()
        pid = int(pidfile.read_text())
        deadline = time.monotonic() + 10
        while True:
            try:
                os.killpg(pid, 0)
            except ProcessLookupError:
                break
            assert time.monotonic() < deadline, "the task's process group outlived the run"
            time.sleep(0.05)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(15)
        if proc.stderr is not None:
            proc.stderr.close()


def test_the_barriers_dagbatch_added_are_counted_apart(tmp_path: Path) -> None:
    """The summary counts the workflow's own tasks, the barriers apart, as `status` and the
    finish line do: one failed part strands the child (and one barrier), and every count
    says one."""
    work = tmp_path / "work"
    code, stdout, _ = run(
        str(ROOT / "examples" / "wide_fanin.py"), "--simulate", "--workdir", str(work)
    )
    assert code == 0 and "tasks 3,001 (+2 barrier): succeeded 3,001, failed 0" in stdout
    part = json.loads((work / "plan" / "batches" / "000001.json").read_text())["value"][0]["id"]
    again = tmp_path / "again"
    report = tmp_path / "r.json"
    code, stdout, stderr = run(
        str(work / "plan"),
        "--simulate",
        "--fail",
        part,
        "--workdir",
        str(again),
        "--report",
        str(report),
    )
    assert code != 0
    assert "tasks 3,001 (+2 barrier): succeeded 2,999, failed 1, never ran 1;" in stdout
    assert "terminated the 1 task(s) left waiting that could never run" in stdout
    # The end's steps are said before they take their seconds (9 s at 200,000 tasks).
    assert "every task that could run has ended; 1 left waiting: finding why" in stderr
    # The report counts as the screen does (it counted the barriers with the tasks).
    counts = json.loads(report.read_text())["counts"]
    assert (counts["succeeded"], counts["failed"], counts["neverRan"]) == (2999, 1, 1)
    assert counts["barriers"] == 2 and counts["completed"] == 3001


def test_what_a_local_run_does_not_do_is_said(tmp_path: Path) -> None:
    """A task with containerSettings ran on the host, one with a userIdentity as the user
    running dagbatch, a multi-instance task once: all succeeded without a word, as if the
    pool had run them. Each is said (stderr and the report), and nothing else."""
    wf = tmp_path / "wf.py"
    wf.write_text(
        "import networkx as nx\n"
        "graph = nx.DiGraph()\n"
        "graph.add_node('c', command_line='/bin/true', "
        "container_settings={'image_name': 'ubuntu:22.04'})\n"
        "graph.add_node('u', command_line='/bin/true', user_identity={'username': 'x'})\n"
        "graph.add_node('kept', command_line='/bin/true', "
        "constraints={'retention_time': 'PT1S'})\n"
        "graph.add_node('plain', command_line='/bin/true')\n"
    )
    report = tmp_path / "r.json"
    code, _, stderr = run(str(wf), "-q", "--workdir", str(tmp_path / "w"), "--report", str(report))
    assert code == 0
    assert "note: 1 task(s) set containerSettings (c): they run here as plain processes" in stderr
    assert "note: 1 task(s) set userIdentity (u): they run as the user running dagbatch" in stderr
    assert "note: 1 task(s) set constraints.retentionTime (kept): they keep their" in stderr
    assert stderr.count("note: ") == 3 and "(plain)" not in stderr
    assert len(json.loads(report.read_text())["notEmulated"]) == 3


def test_a_renumbered_plan_runs_in_the_workflows_names(tmp_path: Path) -> None:
    """A plan compiled with `--over-limit renumber` holds integer ids: the run's table showed
    only those, and `--fail NAME` was refused ("the plan does not hold ..."). The table now
    names each task as the workflow does, with its id, and --fail takes either."""
    plan = tmp_path / "plan"
    example = str(ROOT / "examples" / "wide_fanin.py")
    compiled = CliRunner().invoke(
        main, ["compile", example, "--over-limit", "renumber", "-o", str(plan), "-q"]
    )
    assert compiled.exit_code == 0, compiled.output
    names = json.loads((plan / "plan.json").read_text())["idMap"]
    frame = names["6"]
    assert frame.startswith("render-frame-000005-")
    for what_if in (frame, frame.upper(), "6"):
        code, stdout, stderr = run(
            str(plan), "--simulate", "--fail", what_if, "--workdir", str(tmp_path / "w")
        )
        assert code == 4, stderr
        rows = stdout.split("\nTASK")[1].splitlines()
        width = len(f"{frame} (6)") + 4  # the column fits the longest label: aligned
        assert rows[1].startswith(f"{frame} (6)    completed      1 ")
        assert rows[2].startswith("assemble (3001)".ljust(width) + "completed      - ")
    code, _, stderr = run(str(plan), "--simulate", "--fail", "render-frame-9")
    assert code == 2 and "render-frame-9" in stderr


def test_an_ascii_terminal_gets_escapes_not_a_traceback(tmp_path: Path) -> None:
    """With PYTHONIOENCODING=ascii the report's "→" ended the run with a UnicodeEncodeError
    (exit 1, the code of an invalid workflow) after every task had run."""
    workflow = str(ROOT / "examples" / "pipeline.py")
    args = ["run", workflow, "--simulate", "-q", "--workdir", str(tmp_path / "w")]
    done = subprocess.run(
        [sys.executable, "-m", "dagbatch", *args],
        capture_output=True,
        env={**os.environ, "PYTHONIOENCODING": "ascii", "PYTHONPATH": str(ROOT)},
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert b"Traceback" not in done.stderr
    assert b"exited 0 \\u2192 dependencyAction: block" in done.stdout


def test_a_run_directory_with_a_space_is_said(tmp_path: Path) -> None:
    """`touch $AZ_BATCH_NODE_SHARED_DIR/x` in a shell split a path with a space (and made a
    stray file): it failed here and would not on Batch, whose paths hold none."""
    wf = write_workflow(tmp_path, 'graph.add_node("t", command_line="/bin/true")\n')
    code, _, stderr = run(str(wf), "-q", "--workdir", str(tmp_path / "with space"))
    assert code == 0
    assert "which holds a space, as no Batch node's path does" in stderr
    code, _, stderr = run(str(wf), "-q", "--workdir", str(tmp_path / "w"))
    assert code == 0 and "holds a space" not in stderr
