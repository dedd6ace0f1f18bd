"""`dagbatch emulator` runs tasks (for real, or simulated) and the official SDK drives them."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from dagbatch.emulator import DEV_ACCOUNT, DEV_KEY

batch = pytest.importorskip("azure.batch")
models = batch.models
from azure.core.credentials import AzureNamedKeyCredential  # noqa: E402


def wait_for(check: Callable[[], bool], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def python(*args: str, stderr: int = subprocess.DEVNULL) -> subprocess.Popen[str]:
    """``python ARGS`` with this checkout first on the path, its standard output piped."""
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": f"{root}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    return subprocess.Popen(
        [sys.executable, *args], stdout=subprocess.PIPE, stderr=stderr, text=True, env=env
    )


@contextlib.contextmanager
def serve(*options: str) -> Iterator[Any]:
    proc = python("-m", "dagbatch", "emulator", "--port", "0", *options)
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        endpoint = first.split("listening on ")[1].split()[0]
        lines = [proc.stdout.readline() for _ in range(5)]
        assert lines[-1].startswith("Tasks: "), lines
        port = int(endpoint.rsplit(":", 1)[1])
        wait_for(lambda: _listening(port), "the emulator to listen", 15)
        credential = AzureNamedKeyCredential(DEV_ACCOUNT, DEV_KEY)
        with batch.BatchClient(endpoint, credential) as client:
            yield client
    finally:
        proc.terminate()
        proc.wait(15)
        if proc.stdout:
            proc.stdout.close()


def job(client: Any, job_id: str) -> None:
    client.create_job(
        models.BatchJobCreateOptions(
            id=job_id, pool_info=models.BatchPoolInfo(pool_id="p"), uses_task_dependencies=True
        )
    )


def test_sdk_against_dagbatch_emulator(tmp_path: Path) -> None:
    marker = tmp_path / "second-time"
    pidfile = tmp_path / "pid"
    with serve("--workdir", str(tmp_path / "node"), "--slots", "2") as client:
        job(client, "j")
        client.create_task_collection(
            "j",
            models.BatchTaskGroup(
                task_values=[
                    models.BatchTaskCreateOptions(
                        id="flaky", command_line=f"/bin/sh -c 'test -f {marker}'"
                    ),
                    models.BatchTaskCreateOptions(
                        id="after",
                        command_line="/bin/true",
                        depends_on=models.BatchTaskDependencies(task_ids=["flaky"]),
                    ),
                    models.BatchTaskCreateOptions(
                        id="sleeper", command_line=f"/bin/sh -c 'echo $$ > {pidfile}; sleep 60'"
                    ),
                ]
            ),
        )
        wait_for(lambda: client.get_task("j", "flaky").state == "completed", "flaky")
        assert client.get_task("j", "flaky").execution_info.exit_code == 1
        counts = client.get_job_task_counts("j").task_counts
        assert counts.failed == 1 and counts.active == 1 and counts.running == 1
        marker.touch()
        client.reactivate_task("j", "flaky")
        wait_for(lambda: client.get_task("j", "after").state == "completed", "after")
        listed = {t.id: t.state for t in client.list_tasks("j")}
        assert listed == {"flaky": "completed", "after": "completed", "sleeper": "running"}
        terminate = models._models.BatchJobTerminateOptions(termination_reason="stop")
        client.begin_terminate_job("j", terminate, polling_interval=0).result()
        assert client.get_job("j").state == "completed"
        assert client.get_task("j", "sleeper").execution_info.failure_info.code == "TaskEnded"
    pid = int(pidfile.read_text())
    wait_for(lambda: _gone(pid), "the sleeper's group to go", 10)


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _gone(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return True
    return False


def test_simulated_emulator_uses_what_if_codes(tmp_path: Path) -> None:
    codes = tmp_path / "codes.json"
    codes.write_text('{"b": 4}')
    with serve("--simulate", "--exit-codes", str(codes)) as client:
        job(client, "sim")
        client.create_task_collection(
            "sim",
            models.BatchTaskGroup(
                task_values=[
                    models.BatchTaskCreateOptions(id="a", command_line="does-not-exist"),
                    models.BatchTaskCreateOptions(id="b", command_line="does-not-exist"),
                    models.BatchTaskCreateOptions(
                        id="c",
                        command_line="x",
                        depends_on=models.BatchTaskDependencies(task_ids=["b"]),
                    ),
                ]
            ),
        )
        wait_for(lambda: client.get_job_task_counts("sim").task_counts.completed == 2, "a and b")
        assert client.get_task("sim", "a").execution_info.exit_code == 0
        assert client.get_task("sim", "b").execution_info.exit_code == 4
        assert client.get_task("sim", "c").state == "active"


#: Runs `python -m dagbatch ARGS...` as a terminal would start it: Ctrl-C raising
#: KeyboardInterrupt and a hangup heard even when the test runs where SIGINT is ignored (a
#: background job) or SIGHUP is (under nohup).
LAUNCH = (
    "import runpy, signal, sys\n"
    "signal.signal(signal.SIGINT, signal.default_int_handler)\n"
    "signal.signal(signal.SIGHUP, signal.SIG_DFL)\n"
    "sys.argv = ['dagbatch', *sys.argv[1:]]\n"
    "runpy.run_module('dagbatch', run_name='__main__')\n"
)


@pytest.mark.parametrize(
    ("signum", "code", "said"),
    [
        (signal.SIGTERM, 128 + 15, ""),
        (signal.SIGHUP, 128 + 1, ""),  # the terminal or the ssh session closed
        (
            signal.SIGINT,
            130,
            "interrupted: the emulator stopped; no task process is left running\n",
        ),
    ],
    ids=["kill", "hup", "ctrl-c"],
)
def test_a_stop_kills_running_tasks_and_removes_the_temporary_workdir(
    tmp_path: Path, signum: int, code: int, said: str
) -> None:
    # `kill PID` (SIGTERM, what the README's `kill %1` sends) and Ctrl-C (SIGINT; the banner
    # says "Ctrl-C to stop") stop the emulator alike: its running tasks killed, not left
    # running without a parent, and the temporary work directory it made for them removed;
    # Ctrl-C exits 130 with one line (it was click's "Aborted!" and 1).
    pidfile = tmp_path / "pid"
    with emulator_process(LAUNCH, "emulator", "--port", "0") as proc:
        assert proc.stdout is not None and proc.stderr is not None
        endpoint = proc.stdout.readline().split("listening on ")[1].split()[0]
        tasks_line = next(line for line in proc.stdout if line.startswith("Tasks: "))
        workdir = Path(tasks_line.split("under ")[1].split()[0])
        assert workdir.is_dir() and "removed when the emulator stops" in tasks_line
        wait_for(lambda: _listening(int(endpoint.rsplit(":", 1)[1])), "the emulator", 15)
        credential = AzureNamedKeyCredential(DEV_ACCOUNT, DEV_KEY)
        with batch.BatchClient(endpoint, credential) as client:
            job(client, "j")
            sleeper = f"/bin/sh -c 'echo $$ > {pidfile}; sleep 60'"
            client.create_task("j", models.BatchTaskCreateOptions(id="s", command_line=sleeper))
            wait_for(lambda: client.get_task("j", "s").state == "running", "the task to run")
        wait_for(lambda: pidfile.is_file() and pidfile.read_text().strip() != "", "its pid")
        proc.send_signal(signum)
        assert proc.wait(15) == code
        assert proc.stderr.read() == said
        pid = int(pidfile.read_text())
        wait_for(lambda: _gone(pid), "the task's process group to go", 10)
        assert not workdir.exists()


def test_a_background_emulator_keeps_an_ignored_sigint_ignored() -> None:
    """A background job of a non-interactive shell starts with SIGINT ignored (`cmd &` in a
    script). uvicorn's own handler took it over, so a stray SIGINT stopped the emulator
    with exit 0 and nothing said; it stays ignored, and `kill` still stops it (143)."""
    ignoring = LAUNCH.replace("signal.default_int_handler", "signal.SIG_IGN")
    with emulator_process(ignoring, "emulator", "--port", "0", "--simulate") as proc:
        assert proc.stdout is not None
        endpoint = proc.stdout.readline().split("listening on ")[1].split()[0]
        port = int(endpoint.rsplit(":", 1)[1])
        wait_for(lambda: _answers(endpoint), "the emulator to answer", 15)  # uvicorn's up
        proc.send_signal(signal.SIGINT)
        time.sleep(1.0)
        assert proc.poll() is None and _listening(port)  # still serving
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 128 + 15


def _answers(endpoint: str) -> bool:
    """Whether the server answers HTTP (any status): its signal handlers are in place."""
    import urllib.error
    import urllib.request

    try:
        urllib.request.urlopen(f"{endpoint}/_emulator/stats", timeout=2).close()
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False
    return True


@contextlib.contextmanager
def emulator_process(script: str, *args: str) -> Iterator[subprocess.Popen[str]]:
    """``python -c SCRIPT ARGS...`` with this checkout on the path, its output piped; killed
    at the end if it still runs."""
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": f"{root}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    proc = subprocess.Popen(
        [sys.executable, "-c", script, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(15)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


def test_a_scheduler_that_stops_on_an_error_stops_the_emulator(tmp_path: Path) -> None:
    """The standalone emulator went on answering after its scheduler thread died: the tasks
    it took stayed active for ever, and only a traceback said why. It now stops, exit 3."""
    # A defect in the runner, the way one would surface: the scheduler thread raises.
    code = (
        "from dagbatch.emulator.simulate import SimulatedRunner\n"
        "def broken(*args):\n    raise TypeError('a defect in a runner')\n"
        "SimulatedRunner.start = broken\n"
        "from dagbatch.cli.main import main\n"
        "main(['emulator', '--port', '0', '--simulate'], prog_name='dagbatch')\n"
    )
    proc = python("-c", code, stderr=subprocess.PIPE)
    try:
        assert proc.stdout is not None
        endpoint = proc.stdout.readline().split("listening on ")[1].split()[0]
        wait_for(lambda: _listening(int(endpoint.rsplit(":", 1)[1])), "the emulator", 15)
        client = batch.BatchClient(endpoint, AzureNamedKeyCredential(DEV_ACCOUNT, DEV_KEY))
        with client:
            job(client, "j")
            client.create_task("j", models.BatchTaskCreateOptions(id="a", command_line="/bin/true"))
        returncode = proc.wait(15)
        stderr = proc.stderr.read() if proc.stderr else ""
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(15)
        for stream in (proc.stdout, proc.stderr):
            if stream:
                stream.close()
    assert returncode == 3, stderr
    assert "TypeError: a defect in a runner" in stderr  # the thread's traceback
    assert stderr.rstrip().endswith(
        "error: the emulator's scheduler stopped on an unexpected error, so the emulator "
        "stopped (no task it holds could start or end any more): TypeError: a defect in a "
        "runner"
    )


def test_a_second_emulator_on_the_same_workdir_is_refused(tmp_path: Path) -> None:
    """Two emulators on one --workdir ran tasks of the same ids in the same directories."""
    shared = tmp_path / "shared"
    with emulator_process(LAUNCH, "emulator", "--port", "0", "--workdir", str(shared)) as first:
        assert first.stdout is not None
        assert "listening on" in first.stdout.readline()
        with emulator_process(
            LAUNCH, "emulator", "--port", "0", "--workdir", str(shared)
        ) as second:
            assert second.wait(30) == 2
            assert second.stderr is not None
            said = second.stderr.read()
        assert "another dagbatch emulator (or run) uses" in said and "--workdir" in said
        assert first.poll() is None  # the first goes on
