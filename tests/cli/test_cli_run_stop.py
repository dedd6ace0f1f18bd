"""`dagbatch run` in a real process: Ctrl-C (a real SIGINT) ends it with 130, one line and no
task process left; without the `emulator` extra it says how to install it."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

#: Runs `python -m dagbatch ARGS...` as a terminal would start it: Ctrl-C raising
#: KeyboardInterrupt even when the test runs where SIGINT is ignored (a background job).
LAUNCH = (
    "import runpy, signal, sys\n"
    "signal.signal(signal.SIGINT, signal.default_int_handler)\n"
    "sys.argv = ['dagbatch', *sys.argv[1:]]\n"
    "runpy.run_module('dagbatch', run_name='__main__')\n"
)

#: The same with `uvicorn` refused, as if the `emulator` extra were not installed.
WITHOUT_UVICORN = (
    "import sys\n"
    "class Refuse:\n"
    "    def find_spec(self, name, path=None, target=None):\n"
    "        if name.partition('.')[0] == 'uvicorn':\n"
    "            raise ModuleNotFoundError(f'No module named {name!r}', name=name)\n"
    "        return None\n"
    "sys.meta_path.insert(0, Refuse())\n" + LAUNCH
)


def env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}


def workflow(tmp_path: Path, pidfile: Path) -> Path:
    wf = tmp_path / "wf.py"
    wf.write_text(
        "import networkx as nx\n"
        "graph = nx.DiGraph()\n"
        'graph.graph["job"] = {"id": "slow", "pool_id": "p"}\n'
        f"graph.add_node('slow', command_line=\"/bin/sh -c 'echo $$ > {pidfile}; sleep 60'\")\n"
        "graph.add_node('after', command_line='/bin/true')\n"
        "graph.add_edge('slow', 'after')\n"
    )
    return wf


def wait_gone(pid: int, timeout: float) -> None:
    """Until no process of the group ``pid`` is left (bounded)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            os.killpg(pid, 0)
        except ProcessLookupError:
            return
        assert time.monotonic() < deadline, "the task's process group outlived the run"
        time.sleep(0.05)


@contextlib.contextmanager
def running_task(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], Path]]:
    """``dagbatch run`` of a workflow whose one task writes its pid to a file and sleeps, in a
    process group of its own (as a terminal's foreground job), once that task has started:
    (the run's process, the pid file). Killed at the end if it is still running."""
    pidfile = tmp_path / "pid"
    wf = workflow(tmp_path, pidfile)
    proc = subprocess.Popen(
        [sys.executable, "-c", LAUNCH, "run", str(wf), "-q", "--workdir", str(tmp_path / "w")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env(),
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not (pidfile.is_file() and pidfile.read_text().strip()):
            assert time.monotonic() < deadline, "the task did not start"
            assert proc.poll() is None, "the run ended before its task started"
            time.sleep(0.05)
        yield proc, pidfile
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=15)


def test_ctrl_c_ends_a_run_with_its_tasks_and_130(tmp_path: Path) -> None:
    """Ctrl-C exited 1 with click's "Aborted!"; the README promises 130. A terminal sends
    SIGINT to the foreground process group: the run's (its tasks have their own)."""
    with running_task(tmp_path) as (proc, pidfile):
        os.killpg(proc.pid, signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=30)
        assert proc.returncode == 130, stderr
        assert stderr == "interrupted: the run stopped; no task process is left running\n"
        assert stdout == ""  # no report of a run that did not end
        wait_gone(int(pidfile.read_text()), 10)


def test_ctrl_c_twice_still_leaves_no_task_behind(tmp_path: Path) -> None:
    """An impatient second Ctrl-C during the cleanup the first one started does not cut it
    short (the processes would be left running without a parent)."""
    with running_task(tmp_path) as (proc, pidfile):
        # Ctrl-C again and again while it stops, up to its end (half a second at most).
        for _ in range(25):
            if proc.poll() is not None:
                break
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGINT)
            time.sleep(0.02)
        _, stderr = proc.communicate(timeout=30)
        assert proc.returncode == 130, stderr
        assert "Traceback" not in stderr and "Aborted" not in stderr, stderr
        wait_gone(int(pidfile.read_text()), 10)


def _run_pipeline(launcher: str, workdir: Path, *more: str) -> subprocess.CompletedProcess[str]:
    """``dagbatch run examples/pipeline.py --simulate`` through ``launcher`` (python -c)."""
    example = str(ROOT / "examples" / "pipeline.py")
    return subprocess.run(
        [
            sys.executable,
            "-c",
            launcher,
            "run",
            example,
            "--simulate",
            *more,
            "--workdir",
            str(workdir),
        ],
        capture_output=True,
        text=True,
        env=env(),
        timeout=120,
    )


def test_run_without_the_emulator_extra_says_how_to_install_it(tmp_path: Path) -> None:
    """It printed a traceback (ModuleNotFoundError: uvicorn) and exited 1."""
    done = _run_pipeline(WITHOUT_UVICORN, tmp_path / "w")
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert done.stderr == (
        "dagbatch run needs starlette and uvicorn (No module named 'uvicorn'); install them "
        "with: pip install 'dagbatch[emulator]'\n"
    )
    assert done.stdout == "" and not (tmp_path / "w").exists()  # refused before anything
    # The refusal is the test's: with uvicorn there, the same command runs.
    done = _run_pipeline(LAUNCH, tmp_path / "w", "-q")
    assert done.returncode == 0, done.stderr


def test_a_second_run_into_a_running_ones_directory_is_refused(tmp_path: Path) -> None:
    """The second run of a workflow emptied the run directory under the first one's running
    task (its working directory and files gone, its report pointing at nothing). It is
    refused now, naming the process; once the first has ended the directory is taken."""
    from click.testing import CliRunner

    from dagbatch.cli.main import main

    with running_task(tmp_path) as (proc, pidfile):
        wf = tmp_path / "wf.py"
        workdir = tmp_path / "w"
        files = sorted(p.relative_to(workdir) for p in workdir.rglob("*"))
        second = CliRunner().invoke(main, ["run", str(wf), "-q", "--workdir", str(workdir)])
        assert second.exit_code == 2, second.output
        assert second.stderr == (
            f"error: another dagbatch run is using {workdir} (process {proc.pid}): wait for it "
            "to end, or give this one a directory of its own (--workdir DIR)\n"
        )
        assert sorted(p.relative_to(workdir) for p in workdir.rglob("*")) == files
        assert proc.poll() is None  # the first one runs on, its task too
        os.killpg(int(pidfile.read_text()), signal.SIGKILL)  # the task fails: the run ends
        proc.communicate(timeout=30)
    third = CliRunner().invoke(
        main, ["run", str(tmp_path / "wf.py"), "-q", "--simulate", "--workdir", str(workdir)]
    )
    assert third.exit_code == 0, third.output
