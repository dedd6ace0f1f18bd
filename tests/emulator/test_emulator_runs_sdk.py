"""Batch's run-time rules in the emulator, each checked with real processes through the
official azure-batch 15.x SDK (docs/BATCH_FACTS.md, run-time rules, sections in brackets)."""

from __future__ import annotations

import datetime
import http.server
import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from dagbatch.emulator.runner import RealRunner
from dagbatch.emulator.server import EmulatorServer

batch = pytest.importorskip("azure.batch")
models = batch.models
from azure.core.credentials import AzureNamedKeyCredential  # noqa: E402
from azure.core.exceptions import HttpResponseError  # noqa: E402

WAIT = 30.0  # seconds: the bound of every wait below


@pytest.fixture
def running(emulator_factory: Any, tmp_path: Path) -> EmulatorServer:
    """An emulator that runs tasks as processes under tmp_path, 2 slots."""
    server: EmulatorServer = emulator_factory(runner=RealRunner(tmp_path / "node"), slots=2)
    return server


@pytest.fixture
def client(running: EmulatorServer) -> Iterator[Any]:
    credential = AzureNamedKeyCredential(running.account, running.key)
    with batch.BatchClient(running.endpoint, credential) as c:
        yield c


#: A storage URL on loopback where nothing listens (port 9, discard): every transfer fails at
#: once, and no test reaches beyond 127.0.0.1.
CLOSED_PORT_URL = "http://127.0.0.1:9"


def wait_for(check: Callable[[], bool], what: str, timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def new_job(client: Any, job_id: str, **options: Any) -> None:
    client.create_job(
        models.BatchJobCreateOptions(
            id=job_id,
            pool_info=models.BatchPoolInfo(pool_id="local"),
            uses_task_dependencies=True,
            **options,
        )
    )


def task(task_id: str, command: str, **options: Any) -> Any:
    return models.BatchTaskCreateOptions(id=task_id, command_line=command, **options)


def sh(script: str) -> str:
    return f"/bin/sh -c '{script}'"


def after(*ids: str, ranges: tuple[tuple[int, int], ...] = ()) -> Any:
    return models.BatchTaskDependencies(
        task_ids=list(ids) or None,
        task_id_ranges=[models.BatchTaskIdRange(start=s, end=e) for s, e in ranges] or None,
    )


def add(client: Any, job_id: str, *tasks: Any) -> None:
    result = client.create_task_collection(job_id, models.BatchTaskGroup(task_values=list(tasks)))
    assert {r.status for r in result.result_values} == {"success"}, result


def states(client: Any, job_id: str) -> dict[str, str]:
    return {t.id: t.state for t in client.list_tasks(job_id)}


def wait_done(client: Any, job_id: str, ids: list[str]) -> None:
    wait_for(
        lambda: all(states(client, job_id).get(i) == "completed" for i in ids),
        f"{ids} to complete",
    )


def settle(client: Any, job_id: str) -> None:
    """Wait until nothing of the job runs (what is left waits for ever)."""

    def idle() -> bool:
        counts = client.get_job_task_counts(job_id).task_counts
        return counts.running == 0

    wait_for(idle, "the job to settle")
    time.sleep(0.3)
    wait_for(idle, "the job to settle")


def opts(dependency: str | None = None, job: str | None = None) -> Any:
    return models.ExitOptions(dependency_action=dependency, job_action=job)


# --- states, execution info, layout [1, 2] ---


def test_a_task_runs_as_on_a_node(client: Any, running: EmulatorServer) -> None:
    new_job(
        client,
        "layout",
        common_environment_settings=[
            models.EnvironmentSetting(name="SHARED", value="job"),
            models.EnvironmentSetting(name="OVERRIDE", value="job"),
        ],
    )
    script = (
        'echo "$AZ_BATCH_TASK_ID $AZ_BATCH_JOB_ID $SHARED $OVERRIDE"; pwd; '
        'echo "$AZ_BATCH_TASK_WORKING_DIR $AZ_BATCH_TASK_DIR $AZ_BATCH_NODE_SHARED_DIR"; '
        "echo oops >&2"
    )
    add(
        client,
        "layout",
        task(
            "t1",
            sh(script),
            environment_settings=[models.EnvironmentSetting(name="OVERRIDE", value="task")],
        ),
        task("literal", "echo $HOME 'two words'"),
    )
    wait_done(client, "layout", ["t1", "literal"])
    got = client.get_task("layout", "t1")
    assert got.state == "completed" and got.previous_state == "running"
    info = got.execution_info
    assert info.exit_code == 0 and info.result == "success" and info.failure_info is None
    assert info.retry_count == 0 and info.requeue_count == 0
    assert info.start_time <= info.end_time
    assert got.node_info.pool_id == "local" and got.node_info.node_id
    # The defaults the service fills in.
    assert got.required_slots == 1
    assert got.constraints.max_task_retry_count == 0
    assert got.user_identity.auto_user.scope == "pool"

    out = b"".join(client.download_task_file("layout", "t1", "stdout.txt")).decode()
    first, wd, dirs = out.splitlines()
    assert first == "t1 layout job task"
    assert wd.endswith("/workitems/layout/job-1/t1/wd")
    work, task_dir, shared = dirs.split()
    assert work == wd and task_dir == wd[: -len("/wd")] and Path(shared).is_dir()
    assert b"".join(client.download_task_file("layout", "t1", "stderr.txt")) == b"oops\n"

    # ocp-range: inclusive, open-ended, clamped to the file; a malformed one is a 400.
    def part(wanted: str) -> bytes:
        return b"".join(client.download_task_file("layout", "t1", "stderr.txt", ocp_range=wanted))

    assert part("bytes=1-2") == b"op"
    assert part("bytes=2-") == b"ps\n"
    assert part("bytes=3-99") == b"s\n"
    with pytest.raises(HttpResponseError) as bad:
        part("lines=1-2")
    assert bad.value.status_code == 400
    assert json.loads(bad.value.response.read())["code"] == "InvalidHeaderValue"
    names = {f.name for f in client.list_task_files("layout", "t1")}
    assert {"stdout.txt", "stderr.txt", "wd"} <= names
    # Not under a shell: no variable expansion, quotes only split words.
    literal = b"".join(client.download_task_file("layout", "literal", "stdout.txt"))
    assert literal == b"$HOME two words\n"


def test_program_not_found_is_a_preprocessing_failure(client: Any) -> None:
    new_job(client, "launch")
    conditions = models.ExitConditions(pre_processing_error=opts("satisfy"))
    add(
        client,
        "launch",
        task("missing", "no-such-program-here --flag", exit_conditions=conditions),
        task("child", "/bin/true", depends_on=after("missing")),
        task("plain", "no-such-program-here"),
        task("blocked", "/bin/true", depends_on=after("plain")),
    )
    wait_done(client, "launch", ["missing", "child", "plain"])
    info = client.get_task("launch", "missing").execution_info
    assert info.result == "failure" and info.exit_code is None
    assert info.failure_info.category == "usererror"
    assert info.failure_info.code == "CommandProgramNotFound"
    assert client.get_task("launch", "child").execution_info.exit_code == 0
    settle(client, "launch")
    assert client.get_task("launch", "blocked").state == "active"


# --- dependencies [4] ---


def test_a_failed_parent_blocks_its_dependents_for_ever(client: Any) -> None:
    new_job(client, "block")
    add(
        client,
        "block",
        task("parent", sh("exit 3")),
        task("child", "/bin/true", depends_on=after("parent")),
        task("grandchild", "/bin/true", depends_on=after("child")),
        task("ok", "/bin/true"),
        task("after-ok", "/bin/true", depends_on=after("ok")),
    )
    wait_done(client, "block", ["parent", "ok", "after-ok"])
    settle(client, "block")
    got = states(client, "block")
    assert got["child"] == "active" and got["grandchild"] == "active"
    parent = client.get_task("block", "parent").execution_info
    assert parent.exit_code == 3 and parent.failure_info.code == "FailureExitCode"
    counts = client.get_job_task_counts("block")
    assert counts.task_counts.active == 2 and counts.task_counts.failed == 1
    assert counts.task_counts.succeeded == 2 and counts.task_counts.running == 0
    assert client.get_job("block").state == "active"


def test_exit_conditions_codes_then_ranges_then_default(client: Any) -> None:
    new_job(client, "exits")
    listed = models.ExitConditions(
        exit_codes=[models.ExitCodeMapping(code=3, exit_options=opts("satisfy"))],
        exit_code_ranges=[
            models.ExitCodeRangeMapping(start=2, end=6, exit_options=opts("block")),
            models.ExitCodeRangeMapping(start=7, end=9, exit_options=opts("satisfy")),
        ],
        default=opts("satisfy"),
    )
    zero_blocks = models.ExitConditions(
        exit_codes=[models.ExitCodeMapping(code=0, exit_options=opts("block"))],
        default=opts("satisfy"),
    )
    cases = {"code3": 3, "range5": 5, "range8": 8, "default11": 11}
    parents = [
        task(name, sh(f"exit {code}"), exit_conditions=listed) for name, code in cases.items()
    ]
    children = [task(f"{name}-child", "/bin/true", depends_on=after(name)) for name in cases]
    add(
        client,
        "exits",
        *parents,
        *children,
        task("zero", "/bin/true", exit_conditions=zero_blocks),
        task("zero-child", "/bin/true", depends_on=after("zero")),
        task("fails", sh("exit 1"), exit_conditions=zero_blocks),
        task("fails-child", "/bin/true", depends_on=after("fails")),
    )
    wait_done(client, "exits", [*cases, "zero", "fails", "code3-child", "range8-child"])
    settle(client, "exits")
    got = states(client, "exits")
    assert got["code3-child"] == "completed"  # exitCodes wins over the range 2-6
    assert got["range5-child"] == "active"  # the range's block
    assert got["range8-child"] == "completed"
    assert got["default11-child"] == "completed"  # default covers unlisted non-zero codes
    assert got["zero-child"] == "active"  # exit 0 changes only when listed
    assert got["fails-child"] == "completed"
    assert client.get_task("exits", "zero").execution_info.result == "success"


def test_ranges_select_integer_ids_added_in_any_order(client: Any) -> None:
    new_job(client, "ranges")
    # The dependents first, their parents in later requests; "04" is task 4.
    add(
        client,
        "ranges",
        task("all", "/bin/true", depends_on=after(ranges=((1, 5),))),
        task("by-name", "/bin/true", depends_on=after("4")),
    )
    add(client, "ranges", *[task(str(i), "/bin/true") for i in (1, 2, 3)])
    time.sleep(0.5)
    assert states(client, "ranges")["all"] == "active"  # 4 and 5 do not exist yet
    add(client, "ranges", task("04", "/bin/true"), task("5", sh("sleep 0.3")))
    wait_done(client, "ranges", ["all", "04", "5"])
    assert client.get_task("ranges", "all").execution_info.start_time >= (
        client.get_task("ranges", "5").execution_info.end_time
    )
    settle(client, "ranges")
    assert states(client, "ranges")["by-name"] == "active"  # taskIds are exact: "4" never came


def test_a_range_with_a_failed_member_blocks(client: Any) -> None:
    new_job(client, "range-block")
    add(
        client,
        "range-block",
        *[task(str(i), sh("exit 2" if i == 17 else "true")) for i in range(10, 21)],
        task("reduce", "/bin/true", depends_on=after(ranges=((10, 20),))),
    )
    wait_done(client, "range-block", [str(i) for i in range(10, 21)])
    settle(client, "range-block")
    assert states(client, "range-block")["reduce"] == "active"


# --- job actions and onAllTasksComplete [5, 6] ---


def test_job_action_terminate_ends_the_job(client: Any, tmp_path: Path) -> None:
    new_job(client, "jobaction", task_failure_mode="performexitoptionsjobaction")
    pidfile = tmp_path / "sleeper.pid"
    none = models.ExitConditions(default=opts(job="none"))
    add(
        client,
        "jobaction",
        task("sleeper", sh(f"echo $$ > {pidfile}; sleep 60 & sleep 60"), exit_conditions=none),
        task("survivor", sh("exit 4"), exit_conditions=none),
    )
    wait_for(lambda: pidfile.is_file() and pidfile.read_text().strip() != "", "the sleeper")
    wait_done(client, "jobaction", ["survivor"])
    assert client.get_job("jobaction").state == "active"  # jobAction none
    add(
        client,
        "jobaction",
        task("fatal", sh("exit 1")),
        task("waiting", "/bin/true", depends_on=after("fatal")),
    )
    wait_for(lambda: client.get_job("jobaction").state == "completed", "the job to end")
    job = client.get_job("jobaction")
    assert job.execution_info.termination_reason == "TaskFailed"
    sleeper = client.get_task("jobaction", "sleeper")
    assert sleeper.state == "completed" and sleeper.execution_info.result == "failure"
    assert sleeper.execution_info.failure_info.code == "TaskEnded"
    assert states(client, "jobaction")["waiting"] == "active"  # active tasks stay active
    pgid = int(pidfile.read_text())
    # The whole process group is gone, the background child included.
    wait_for(lambda: _group_gone(pgid), "the process group to go", 10)


def _group_gone(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return True
    return False


def test_job_action_disable(client: Any) -> None:
    new_job(client, "disable", task_failure_mode="performexitoptionsjobaction")
    disable = models.ExitConditions(default=opts(job="disable"))
    add(client, "disable", task("bad", sh("exit 9"), exit_conditions=disable))
    wait_for(lambda: client.get_job("disable").state == "disabled", "the job to be disabled")
    add(client, "disable", task("later", "/bin/true"))
    time.sleep(0.5)
    assert states(client, "disable")["later"] == "active"  # nothing starts while disabled
    client.begin_enable_job("disable", polling_interval=0).result()
    wait_done(client, "disable", ["later"])


def terminate_when_all_complete(client: Any, job_id: str) -> None:
    """Set terminatejob "once you have finished adding Tasks" [6]."""
    client.update_job(job_id, models.BatchJobUpdateOptions(all_tasks_complete_mode="terminatejob"))


def test_all_tasks_complete_terminates_the_job(client: Any) -> None:
    """Set after the tasks were added (the spec's advice [6]), terminatejob ends the job once
    they have all completed, not before."""
    new_job(client, "atc")
    add(client, "atc", task("a", sh("sleep 0.5")), task("b", "/bin/true", depends_on=after("a")))
    terminate_when_all_complete(client, "atc")
    assert client.get_job("atc").state == "active"  # a and b have not completed yet
    wait_for(lambda: client.get_job("atc").state == "completed", "the job to complete")
    assert client.get_job("atc").execution_info.termination_reason == "AllTasksComplete"
    assert set(states(client, "atc").values()) == {"completed"}


def test_a_job_created_with_terminatejob_and_no_tasks_completes(client: Any) -> None:
    """Batch: "If a Job contains no Tasks, then all Tasks are considered complete" [6]: a job
    created with terminatejob ends at once and takes no task (users hit this race:
    azure-sdk-for-net issue 8764)."""
    new_job(client, "atc-empty", all_tasks_complete_mode="terminatejob")
    job = client.get_job("atc-empty")
    assert job.state == "completed"
    assert job.execution_info.termination_reason == "AllTasksComplete"
    with pytest.raises(HttpResponseError) as refused:
        add(client, "atc-empty", task("a", "/bin/true"))
    assert refused.value.status_code == 409


def disable(client: Any, job_id: str, mode: str) -> None:
    options = models.BatchJobDisableOptions(disable_tasks=mode)
    client.begin_disable_job(job_id, options, polling_interval=0).result()


def enable(client: Any, job_id: str) -> None:
    client.begin_enable_job(job_id, polling_interval=0).result()


@pytest.mark.parametrize("mode", ["wait", "terminate"])
def test_tasks_completed_while_disabled_end_a_terminatejob_job(client: Any, mode: str) -> None:
    """onAllTasksComplete fires "when all Tasks in the Job are in the completed state" [6],
    whatever the job's state: also when they completed while the job was disabled (the
    maintainer of batch-shipyard, issue 227: "Job auto-completion takes precedence"). The
    job ends from disabled, without being enabled."""
    new_job(client, "atc-off")
    add(client, "atc-off", task("a", sh("sleep 0.5" if mode == "wait" else "sleep 30")))
    terminate_when_all_complete(client, "atc-off")
    wait_for(lambda: states(client, "atc-off")["a"] == "running", "the task to start")
    disable(client, "atc-off", mode)
    wait_done(client, "atc-off", ["a"])
    wait_for(lambda: client.get_job("atc-off").state == "completed", "the job to complete")
    job = client.get_job("atc-off")
    assert job.execution_info.termination_reason == "AllTasksComplete"
    assert job.previous_state == "disabled"
    with pytest.raises(HttpResponseError) as refused:
        enable(client, "atc-off")
    assert refused.value.status_code == 409


def test_tasks_requeued_by_disable_keep_a_terminatejob_job_disabled(client: Any) -> None:
    """``requeue`` makes the running task active again [S DisableBatchJobOption]: not every
    task is completed, so the job stays disabled, and completes once enabled and done."""
    new_job(client, "atc-requeue")
    add(client, "atc-requeue", task("a", sh("sleep 30")), task("b", "/bin/true"))
    terminate_when_all_complete(client, "atc-requeue")
    wait_done(client, "atc-requeue", ["b"])
    wait_for(lambda: states(client, "atc-requeue")["a"] == "running", "a to start")
    disable(client, "atc-requeue", "requeue")
    time.sleep(0.3)
    assert states(client, "atc-requeue")["a"] == "active"
    assert client.get_job("atc-requeue").state == "disabled"
    # Back in the queue: no startTime ("present only for Tasks that are in the running or
    # completed state"), and lastRequeueTime, "set only if the requeueCount is nonzero"
    # [spec-2025 BatchTaskExecutionInfo]; nodeInfo says where it ran.
    info = client.get_task("atc-requeue", "a").execution_info
    assert info.requeue_count == 1 and info.last_requeue_time is not None
    assert info.start_time is None
    assert client.get_task("atc-requeue", "b").execution_info.last_requeue_time is None
    client.terminate_task("atc-requeue", "a")  # its last task completed: the job ends
    wait_for(lambda: client.get_job("atc-requeue").state == "completed", "the job to complete")
    assert client.get_job("atc-requeue").execution_info.termination_reason == "AllTasksComplete"


def test_a_job_a_tasks_job_action_disabled_completes_when_its_tasks_are_done(
    client: Any,
) -> None:
    """The case of batch-shipyard issue 227: a task's jobAction disables the job, and the
    job, set to terminatejob, moves to completed once every task is completed."""
    new_job(client, "atc-action", task_failure_mode="performexitoptionsjobaction")
    disabling = models.ExitConditions(default=opts(job="disable"))
    add(
        client,
        "atc-action",
        task("bad", sh("sleep 0.3; exit 9"), exit_conditions=disabling),
        task("ok", "/bin/true"),
    )
    terminate_when_all_complete(client, "atc-action")
    wait_for(lambda: client.get_job("atc-action").state == "completed", "the job to complete")
    job = client.get_job("atc-action")
    assert job.execution_info.termination_reason == "AllTasksComplete"
    assert job.previous_state == "disabled"  # bad's jobAction disabled it first
    assert states(client, "atc-action") == {"bad": "completed", "ok": "completed"}


def test_tasks_ended_by_disable_terminate_release_their_dependents(client: Any) -> None:
    """A task that disableTasks=terminate completes is resolved through its exit conditions
    like any completed task ([4], [5]; as terminate task does): ``default: satisfy`` lets its
    dependents run after enable; without exit conditions they are blocked."""
    new_job(client, "dis-term")
    add(
        client,
        "dis-term",
        task("p", sh("sleep 30"), exit_conditions=models.ExitConditions(default=opts("satisfy"))),
        task("q", sh("sleep 30")),
        task("pc", "/bin/true", depends_on=after("p")),
        task("qc", "/bin/true", depends_on=after("q")),
    )
    wait_for(
        lambda: states(client, "dis-term")["p"] == states(client, "dis-term")["q"] == "running",
        "both parents to start",
    )
    disable(client, "dis-term", "terminate")
    wait_done(client, "dis-term", ["p", "q"])
    assert client.get_task("dis-term", "p").execution_info.failure_info.code == "TaskEnded"
    enable(client, "dis-term")
    wait_done(client, "dis-term", ["pc"])
    settle(client, "dis-term")
    assert states(client, "dis-term")["qc"] == "active"  # q's default for a failure: block


# --- constraints [3] ---


def test_retries_rerun_a_failing_task(client: Any, tmp_path: Path) -> None:
    new_job(client, "retry")
    log = tmp_path / "runs.log"
    constraints = models.BatchTaskConstraints(max_task_retry_count=2)
    add(
        client,
        "retry",
        task("flaky", sh(f"echo run >> {log}; exit 5"), constraints=constraints),
        task(
            "second",
            sh(f"test -f {log}.ok && exit 0; touch {log}.ok; exit 1"),
            constraints=models.BatchTaskConstraints(max_task_retry_count=3),
        ),
    )
    wait_done(client, "retry", ["flaky", "second"])
    flaky = client.get_task("retry", "flaky").execution_info
    assert flaky.retry_count == 2 and flaky.exit_code == 5 and flaky.result == "failure"
    assert log.read_text().splitlines() == ["run"] * 3  # 1 + maxTaskRetryCount runs
    second = client.get_task("retry", "second").execution_info
    assert second.retry_count == 1 and second.result == "success"


def test_wall_clock_limits(client: Any) -> None:
    new_job(client, "wall")
    limit = models.BatchTaskConstraints(max_wall_clock_time=datetime.timedelta(seconds=1))
    started = time.monotonic()
    add(client, "wall", task("slow", "sleep 30", constraints=limit))
    wait_done(client, "wall", ["slow"])
    assert time.monotonic() - started < 15
    info = client.get_task("wall", "slow").execution_info
    assert info.result == "failure" and info.exit_code == 137
    assert info.failure_info.code == "TaskEnded"

    new_job(
        client,
        "jobwall",
        constraints=models.BatchJobConstraints(max_wall_clock_time=datetime.timedelta(seconds=1)),
    )
    add(client, "jobwall", task("long", "sleep 30"))
    wait_for(lambda: client.get_job("jobwall").state == "completed", "the job's wall clock")
    assert client.get_job("jobwall").execution_info.termination_reason == "MaxWallClockTimeExpiry"
    assert client.get_task("jobwall", "long").state == "completed"


def test_slots_and_max_parallel_tasks(client: Any) -> None:
    new_job(client, "slots", max_parallel_tasks=1)
    lock = '"$AZ_BATCH_NODE_SHARED_DIR/lock"'
    script = f"mkdir {lock} || exit 9; sleep 0.2; rmdir {lock}"
    add(
        client,
        "slots",
        *[task(f"t{i}", sh(script)) for i in range(4)],
        task("huge", "/bin/true", required_slots=3),  # more than the node has: never runs
    )
    wait_done(client, "slots", [f"t{i}" for i in range(4)])
    for i in range(4):
        assert client.get_task("slots", f"t{i}").execution_info.exit_code == 0  # never two at once
    settle(client, "slots")
    assert states(client, "slots")["huge"] == "active"
    counts = client.get_job_task_counts("slots")
    assert counts.task_slot_counts.active == 3 and counts.task_slot_counts.completed == 4


# --- resource files ---


class _Files(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path.startswith("/script.sh"):
            body = b"#!/bin/sh\necho downloaded\n"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        else:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def file_server() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Files)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join(5)


def test_resource_files(client: Any, file_server: str) -> None:
    new_job(client, "files")
    add(
        client,
        "files",
        task(
            "get",
            "./bin/script.sh",
            resource_files=[
                models.ResourceFile(
                    http_url=f"{file_server}/script.sh?sig=SECRET",
                    file_path="bin/script.sh",
                    file_mode="0755",
                )
            ],
        ),
        task(
            "missing",
            "/bin/true",
            resource_files=[
                models.ResourceFile(http_url=f"{file_server}/nope?sig=SECRET", file_path="x")
            ],
        ),
        task(
            "container",
            "/bin/true",
            resource_files=[
                models.ResourceFile(storage_container_url=f"{CLOSED_PORT_URL}/c", file_path="d")
            ],
        ),
    )
    wait_done(client, "files", ["get", "missing", "container"])
    assert b"".join(client.download_task_file("files", "get", "stdout.txt")) == b"downloaded\n"
    missing = client.get_task("files", "missing").execution_info
    assert missing.result == "failure" and missing.exit_code is None
    assert missing.failure_info.code == "BlobNotFound"
    assert "SECRET" not in str(missing.failure_info.as_dict())
    container = client.get_task("files", "container").execution_info.failure_info
    assert container.code == "ResourceContainerListMiscError"  # nothing listens there


# --- the operations users call ---


def test_terminate_reactivate_delete_and_lists(client: Any, tmp_path: Path) -> None:
    new_job(client, "ops")
    marker = tmp_path / "fixed"
    add(
        client,
        "ops",
        task("parent", sh(f"test -f {marker}")),
        task("child", "/bin/true", depends_on=after("parent")),
        task("sleeper", "sleep 60"),
        task("gone", "/bin/true", depends_on=after("never")),
    )
    wait_done(client, "ops", ["parent"])
    wait_for(lambda: states(client, "ops")["sleeper"] == "running", "the sleeper")
    client.terminate_task("ops", "sleeper")
    sleeper = client.get_task("ops", "sleeper")
    assert sleeper.state == "completed" and sleeper.execution_info.failure_info.code == "TaskEnded"
    settle(client, "ops")
    assert states(client, "ops")["child"] == "active"
    # Reactivate the failed parent: it runs again and now succeeds; the child follows.
    marker.touch()
    client.reactivate_task("ops", "parent")
    wait_done(client, "ops", ["parent", "child"])
    assert client.get_task("ops", "parent").execution_info.retry_count == 0
    with pytest.raises(HttpResponseError) as err:
        client.reactivate_task("ops", "child")  # succeeded: not reactivatable
    assert err.value.status_code == 409
    client.delete_task("ops", "gone")
    assert "gone" not in states(client, "ops")

    failed = [t.id for t in client.list_tasks("ops", filter="executionInfo/result eq 'failure'")]
    assert failed == ["sleeper"]
    done = client.list_tasks(
        "ops", filter="state eq 'completed' and (id eq 'child' or id eq 'parent')"
    )
    assert sorted(t.id for t in done) == ["child", "parent"]
    assert [t.id for t in client.list_tasks("ops", filter="state ne 'completed'")] == []
    slim = list(client.list_tasks("ops", select=["id", "state"]))
    assert slim and all(t.command_line is None and t.state for t in slim)
    with pytest.raises(HttpResponseError) as bad:
        list(client.list_tasks("ops", filter="startswith(id, 'p')"))
    assert bad.value.status_code == 400
    assert "ops" in [j.id for j in client.list_jobs()]

    # (azure-batch 15.1 cannot send a terminate without options: it sets no content type.)
    terminate = models._models.BatchJobTerminateOptions(  # not exported by 15.1
        termination_reason="enough"
    )
    client.begin_terminate_job("ops", terminate, polling_interval=0).result()
    assert client.get_job("ops").state == "completed"
    assert client.get_job("ops").execution_info.termination_reason == "enough"
    assert [j.id for j in client.list_jobs(filter="state eq 'completed'")] == ["ops"]
    assert [j.id for j in client.list_jobs(filter="state eq 'active'")] == []
    client.begin_delete_job("ops", polling_interval=0).result()
    assert "ops" not in [j.id for j in client.list_jobs()]


def test_shutdown_leaves_no_process(emulator_factory: Any, tmp_path: Path) -> None:
    server = emulator_factory(runner=RealRunner(tmp_path / "node"), slots=1)
    pidfile = tmp_path / "pid"
    credential = AzureNamedKeyCredential(server.account, server.key)
    with batch.BatchClient(server.endpoint, credential) as c:
        new_job(c, "stop")
        add(c, "stop", task("sleeper", sh(f"echo $$ > {pidfile}; sleep 60 & sleep 60")))
        wait_for(lambda: pidfile.is_file() and pidfile.read_text().strip() != "", "the sleeper")
    server.stop()
    wait_for(lambda: _group_gone(int(pidfile.read_text())), "the process group to go", 10)


def test_output_files_fail_as_an_upload_error(client: Any) -> None:
    new_job(client, "outputs")
    output = models.OutputFile(
        file_pattern="*.txt",
        destination=models.OutputFileDestination(
            container=models.OutputFileBlobContainerDestination(
                container_url=f"{CLOSED_PORT_URL}/out?sig=SECRET"
            )
        ),
        upload_options=models.OutputFileUploadConfiguration(upload_condition="taskcompletion"),
    )
    upload_satisfies = models.ExitConditions(file_upload_error=opts("satisfy"))
    add(
        client,
        "outputs",
        task(
            "writer",
            sh("echo hi > out.txt"),
            output_files=[output],
            exit_conditions=upload_satisfies,
        ),
        task("reader", "/bin/true", depends_on=after("writer")),
        task("plain", sh("echo hi > out.txt"), output_files=[output]),
        task("blocked", "/bin/true", depends_on=after("plain")),
    )
    wait_done(client, "outputs", ["writer", "reader", "plain"])
    info = client.get_task("outputs", "writer").execution_info
    # The command ran (exit code 0), then the upload failed: the task failed [BATCH_FACTS 9].
    assert info.exit_code == 0 and info.result == "failure"
    assert info.failure_info.code == "FileUploadMiscError"  # nothing listens there
    assert "SECRET" not in str(info.failure_info.as_dict())
    settle(client, "outputs")
    assert states(client, "outputs")["blocked"] == "active"  # default: block
