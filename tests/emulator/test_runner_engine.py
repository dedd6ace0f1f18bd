"""The real runner under the engine, without HTTP: how a worker thread goes from one task to
the next, what every task gets (stdin, environment, directory), and how its end is awaited
(``runner.ends_within``)."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dagbatch.emulator.runner import PASSED_THROUGH, RealRunner, ends_within, split_command_line
from dagbatch.emulator.scheduler import Engine
from dagbatch.emulator.simulate import WhatIfRunner
from dagbatch.emulator.store import EmulatorStore, Job
from dagbatch.emulator.strays import MARKER
from tests.engine_pool import WAIT, Pool


class Node(Pool):
    """An engine with a real runner under ``root``; ``run`` adds tasks and waits for them."""

    def __init__(self, root: Path, slots: int) -> None:
        self.runner = RealRunner(root)
        super().__init__(self.runner, slots)

    def run(self, job: Job, *tasks: dict[str, Any]) -> None:
        self.add(job, *tasks)
        self.wait(job)

    def result(self, job: Job, task_id: str) -> tuple[int, str | None]:
        """(exit code, failureInfo code or None) of a completed task."""
        with self.store.lock:
            pos = job.task_ids.index(task_id)
            failure = job.task_failure.get(pos)
            return job.task_exit[pos], None if failure is None else failure["code"]

    def stdout(self, job: Job, task_id: str) -> str:
        return (
            self.runner.root / "workitems" / job.id / "job-1" / task_id / "stdout.txt"
        ).read_text()


@pytest.fixture
def node(tmp_path: Path) -> Iterator[Node]:
    """A node of 2 slots."""
    n = Node(tmp_path / "node", slots=2)
    yield n
    n.engine.stop()


@pytest.fixture
def node1(tmp_path: Path) -> Iterator[Node]:
    """A node of 1 slot: its one worker thread goes from each task to the next."""
    n = Node(tmp_path / "node", slots=1)
    yield n
    n.engine.stop()


def sh(script: str) -> str:
    return f"/bin/sh -c '{script}'"


def test_an_end_that_readies_two_tasks_runs_both_at_once(node: Node) -> None:
    # The parent's worker thread keeps one child for itself; the other must still start at
    # once on a thread of its own: each child waits (bounded) for the other to have started.
    shared = '"$AZ_BATCH_NODE_SHARED_DIR"'
    rendezvous = (
        "touch {s}/$AZ_BATCH_TASK_ID; i=0; "
        "while [ ! -e {s}/{other} ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done; "
        "[ -e {s}/{other} ]"
    )
    job = node.job("pair")
    node.run(
        job,
        {"id": "parent", "commandLine": "/bin/true"},
        {
            "id": "a",
            "commandLine": sh(rendezvous.format(s=shared, other="b")),
            "dependsOn": {"taskIds": ["parent"]},
        },
        {
            "id": "b",
            "commandLine": sh(rendezvous.format(s=shared, other="a")),
            "dependsOn": {"taskIds": ["parent"]},
        },
    )
    assert [node.result(job, t) for t in ("parent", "a", "b")] == [(0, None)] * 3


def test_a_chain_on_one_slot_runs_in_order_each_in_its_directory(node1: Node) -> None:
    node = node1
    log = '"$AZ_BATCH_NODE_SHARED_DIR/log"'
    tasks = [
        {
            "id": f"c{i}",
            "commandLine": sh(f'echo "$AZ_BATCH_TASK_ID $(pwd)" >> {log}; exit {i % 3}'),
            "exitConditions": {"default": {"dependencyAction": "satisfy"}},
            **({"dependsOn": {"taskIds": [f"c{i - 1}"]}} if i else {}),
        }
        for i in range(8)
    ]
    job = node.job("chain", usesTaskDependencies=True)
    node.run(job, *reversed(tasks))  # added children first: order comes from dependencies
    lines = (node.runner.root / "shared" / "log").read_text().splitlines()
    workitems = node.runner.root / "workitems" / "chain" / "job-1"
    assert lines == [f"c{i} {workitems / f'c{i}' / 'wd'}" for i in range(8)]
    for i in range(8):
        code, failure = node.result(job, f"c{i}")
        assert code == i % 3
        assert failure == (None if i % 3 == 0 else "FailureExitCode")
        assert {p.name for p in (workitems / f"c{i}").iterdir()} == {
            "wd",
            "stdout.txt",
            "stderr.txt",
        }


def test_every_task_reads_an_empty_stdin(node1: Node) -> None:
    node = node1
    # One /dev/null descriptor serves every task: each reads end-of-file at once.
    job = node.job("stdin")
    node.run(job, *[{"id": f"s{i}", "commandLine": sh("cat; echo done")} for i in range(3)])
    for i in range(3):
        assert node.result(job, f"s{i}") == (0, None)
        assert node.stdout(job, f"s{i}") == "done\n"


def test_the_environment_is_the_node_s_and_follows_the_account_url(node: Node) -> None:
    job = node.job(
        "env",
        poolInfo={"poolId": "p1"},
        commonEnvironmentSettings=[{"name": "A", "value": "job"}, {"name": "B", "value": "job"}],
    )
    own = [{"name": "B", "value": "task"}]
    node.run(job, {"id": "e1", "commandLine": "/usr/bin/env", "environmentSettings": own})
    node.runner.account_url = "http://127.0.0.1:1234"
    node.run(job, {"id": "e2", "commandLine": "/usr/bin/env"})
    root = node.runner.root
    task_dir = root / "workitems" / "env" / "job-1" / "e1"
    expected = {k: os.environ[k] for k in PASSED_THROUGH if k in os.environ}
    expected.update(
        {
            "AZ_BATCH_ACCOUNT_NAME": "devaccount",
            "AZ_BATCH_ACCOUNT_URL": "http://127.0.0.1",
            "AZ_BATCH_CERTIFICATES_DIR": str(root / "certs"),
            "AZ_BATCH_NODE_ID": "tvmps_dagbatch_local_node_0",
            "AZ_BATCH_NODE_IS_DEDICATED": "true",
            "AZ_BATCH_NODE_MOUNTS_DIR": str(root / "fsmounts"),
            "AZ_BATCH_NODE_ROOT_DIR": str(root),
            "AZ_BATCH_NODE_SHARED_DIR": str(root / "shared"),
            "AZ_BATCH_NODE_STARTUP_DIR": str(root / "startup"),
            "AZ_BATCH_POOL_ID": "p1",
            "AZ_BATCH_TASK_DIR": str(task_dir),
            "AZ_BATCH_TASK_WORKING_DIR": str(task_dir / "wd"),
            "AZ_BATCH_TASK_RESERVED_EPHEMERAL_DISK_SPACE_BYTES": "0",
            "AZ_BATCH_JOB_ID": "env",
            "AZ_BATCH_TASK_ID": "e1",
            "A": "job",
            "B": "task",
        }
    )
    seen = dict(line.split("=", 1) for line in node.stdout(job, "e1").splitlines())
    # How the task's processes are found (emulator.strays): this node's, then the directory.
    node_mark, _, marked_dir = seen.pop(MARKER).partition(":")
    assert marked_dir == str(task_dir) and node_mark.startswith(f"{os.getpid()}-")
    assert seen == expected
    second = dict(line.split("=", 1) for line in node.stdout(job, "e2").splitlines())
    assert second["AZ_BATCH_ACCOUNT_URL"] == "http://127.0.0.1:1234"
    assert second["AZ_BATCH_TASK_ID"] == "e2" and second["B"] == "job"


def test_a_task_dir_that_cannot_be_made_is_a_preprocessing_failure(node: Node) -> None:
    (node.runner.root / "workitems" / "blocked").write_text("a file where the job's dir goes")
    job = node.job("blocked")
    node.run(job, {"id": "t", "commandLine": "/bin/true"})
    assert node.result(job, "t")[1] == "ResourceDirectoryCreateFailed"


def test_what_no_process_can_be_given_fails_the_launch_not_the_worker(node: Node) -> None:
    """A NUL in the command line or the environment, a '=' in a variable's name: Popen
    raises ValueError, which ended the worker thread and left the task running for ever
    (`dagbatch run` waited until killed). Each task fails to launch, as a missing program
    does, and the next one runs."""
    job = node.job("unstartable")
    node.run(
        job,
        {"id": "nul", "commandLine": "echo a\x00b"},
        {"id": "name", "commandLine": "/bin/true", "environmentSettings": [{"name": "A=B"}]},
        {
            "id": "value",
            "commandLine": "/bin/true",
            "environmentSettings": [{"name": "A", "value": "x\x00y"}],
        },
        {"id": "fine", "commandLine": "/bin/true"},
    )
    for task in ("nul", "name", "value"):
        assert node.result(job, task)[1] == "CommandLaunchFailed", task
    assert node.result(job, "fine") == (0, None)


def test_an_unforeseen_fault_ends_the_task_not_the_worker(
    node: Node, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An error no handler named (the storage SDK's AttributeError on an access tier) ended
    up in the thread pool's future, unseen: the task stayed running for ever and `dagbatch
    run` never ended. Each task ends failed, saying what happened, and the next one runs."""
    from dagbatch.emulator import blobstore

    def fault(*args: object, **kwargs: object) -> None:
        raise AttributeError("'str' object has no attribute 'value'")

    monkeypatch.setattr(blobstore, "download_resource_files", fault)
    monkeypatch.setattr(blobstore, "upload_output_files", fault)
    upload = {"filePattern": "x", "destination": {"container": {"containerUrl": "http://h/c"}}}
    job = node.job("faults")
    node.run(
        job,
        {"id": "down", "commandLine": "/bin/true", "resourceFiles": [{"httpUrl": "http://h/b"}]},
        {"id": "up", "commandLine": sh("exit 3"), "outputFiles": [upload]},
    )
    assert node.result(job, "down")[1] == "BlobDownloadMiscError"
    assert node.result(job, "up") == (3, "FileUploadMiscError")  # the process's code kept

    monkeypatch.setattr(RealRunner, "environment", fault)
    node.run(job, {"id": "env", "commandLine": "/bin/true"})
    assert node.result(job, "env")[1] == "CommandLaunchFailed"
    with node.store.lock:
        failure = job.task_failure[job.task_ids.index("env")]
    assert "AttributeError" in failure["message"]


def test_wall_clock_limits_end_a_task_or_let_its_own_code_through(node: Node) -> None:
    job = node.job("walls")
    node.run(
        job,
        {"id": "quick", "commandLine": sh("exit 4"), "constraints": {"maxWallClockTime": "PT30S"}},
        {"id": "ok", "commandLine": "/bin/true", "constraints": {"maxWallClockTime": "PT30S"}},
        {"id": "slow", "commandLine": "sleep 30", "constraints": {"maxWallClockTime": "PT0.3S"}},
    )
    assert node.result(job, "quick") == (4, "FailureExitCode")
    assert node.result(job, "ok") == (0, None)
    assert node.result(job, "slow") == (137, "TaskEnded")


@pytest.mark.parametrize("pidfd", [True, False], ids=["pidfd", "polling"])
def test_ends_within(pidfd: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    if not pidfd:

        def no_pidfd(pid: int) -> int:
            raise OSError(38, "Function not implemented")

        monkeypatch.setattr(os, "pidfd_open", no_pidfd, raising=False)
    with subprocess.Popen(["sh", "-c", "exit 3"]) as done:
        assert ends_within(done, 10.0) is True and done.returncode == 3
    with subprocess.Popen(["sleep", "30"]) as slow:
        try:
            assert ends_within(slow, 0.2) is False and slow.returncode is None
        finally:
            slow.kill()
        assert ends_within(slow, 10.0) is True and slow.returncode == -9
    with subprocess.Popen(["/bin/true"]) as unlimited:
        assert ends_within(unlimited, 0.0) is True and unlimited.returncode == 0


def test_ends_within_a_process_already_reaped() -> None:
    with subprocess.Popen(["/bin/true"]) as process:
        process.wait()  # reaped by someone else first (a kill's poll does that)
        assert ends_within(process, 5.0) is True and process.returncode == 0


def test_a_closed_runner_starts_nothing(tmp_path: Path) -> None:
    runner = RealRunner(tmp_path / "node")
    store = EmulatorStore()
    engine = Engine(store, runner, slots=1)
    t = time.time()
    job = Job(id="late", spec={"id": "late"}, created=t, modified=t, serial=0)
    with store.lock:
        store.jobs["late"] = job
        engine.job_created(job)
        store.add_task(job, "t", b'{"id": "t", "commandLine": "/bin/true"}', t)
        engine.tasks_added(job, [(0, {"id": "t", "commandLine": "/bin/true"})])
    runner.close()
    runner.close()  # twice is harmless
    with pytest.raises(RuntimeError, match="closed"):
        runner.start(engine, job, 0, 1)


def test_what_if_tasks_between_real_ones_end_with_their_given_codes(tmp_path: Path) -> None:
    # A real end starts a simulated task (its end goes on the engine's due queue, for the
    # engine thread), whose end starts a real one (on a pool thread), and so on.
    real = RealRunner(tmp_path / "node")
    codes: dict[str, tuple[int, float | None]] = {
        "w1": (0, None),
        "w3": (5, None),
        "w5": (0, None),
        "w7": (5, None),
    }
    store = EmulatorStore()
    engine = Engine(store, WhatIfRunner(real, codes), slots=1)
    engine.start()
    try:
        t = time.time()
        job = Job(id="mixed", spec={"id": "mixed"}, created=t, modified=t, serial=0)
        satisfy = {"default": {"dependencyAction": "satisfy"}}
        tasks: list[dict[str, Any]] = [
            {
                "id": f"w{i}",
                "commandLine": sh('echo "$AZ_BATCH_TASK_ID" >> "$AZ_BATCH_NODE_SHARED_DIR/log"'),
                "exitConditions": satisfy,
                **({"dependsOn": {"taskIds": [f"w{i - 1}"]}} if i else {}),
            }
            for i in range(8)
        ]
        with store.lock:
            store.jobs["mixed"] = job
            engine.job_created(job)
            for task in tasks:
                store.add_task(job, task["id"], json.dumps(task).encode(), t)
            engine.tasks_added(job, list(enumerate(tasks)))
            engine.wake()
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            with store.lock:
                if job.completed_tasks == len(tasks):
                    break
            time.sleep(0.01)
        with store.lock:
            assert job.completed_tasks == len(tasks)
            exits = list(job.task_exit)
        assert exits == [0, 0, 0, 5, 0, 0, 0, 5]
        log = (real.root / "shared" / "log").read_text().split()
        assert log == ["w0", "w2", "w4", "w6"]  # only the real ones ran
    finally:
        engine.stop()


_LINE_CHARS = " \t\r\n\x0b\x0c\xa0\u2003'\"\\ab#$;|&*~="


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=_LINE_CHARS, max_size=24) | st.text(max_size=24))
def test_split_command_line_gives_shlex_s_words(line: str) -> None:
    try:
        expected: list[str] | type[ValueError] = shlex.split(line)
    except ValueError:
        expected = ValueError
    try:
        got: list[str] | type[ValueError] = split_command_line(line)
    except ValueError:
        got = ValueError
    assert got == expected
