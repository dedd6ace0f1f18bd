"""A task's processes that left its process group (``dagbatch.emulator.strays``): killed with
the task at its maxWallClockTime and on terminate, and when the node closes."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from dagbatch.emulator.runner import RealRunner
from dagbatch.emulator.strays import MARKER, find_strays, kill_strays
from dagbatch.errors import ConfigError
from tests.engine_pool import WAIT, Pool

pytestmark = pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs /proc")


class Node(Pool):
    def __init__(self, root: Path) -> None:
        self.runner = RealRunner(root)
        super().__init__(self.runner, slots=3)  # the three tasks below at once


@pytest.fixture
def node(tmp_path: Path) -> Iterator[Node]:
    n = Node(tmp_path / "node")
    yield n
    n.engine.stop()
    n.runner.close()


def _alive(pid: int) -> bool:
    """Running (not a zombie waiting to be reaped)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return False
    return stat[stat.rfind(b")") + 2 :][:1] not in (b"Z", b"X")


def _pids_written(directory: Path, names: tuple[str, ...]) -> dict[str, int]:
    """The pid each escaping process wrote to ``directory/NAME`` (waited for)."""
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        texts = {n: (directory / n).read_text() if (directory / n).exists() else "" for n in names}
        if all(t.strip() for t in texts.values()):
            return {n: int(t) for n, t in texts.items()}
        time.sleep(0.02)
    raise AssertionError(f"no pid written in {directory}")


def _gone(pids: dict[str, int]) -> dict[str, bool]:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(map(_alive, pids.values())):
        time.sleep(0.02)
    return {name: not _alive(pid) for name, pid in pids.items()}


#: Writes its pid to session.pid in a session of its own, its parent gone at once: only the
#: marker ties it to the task.
ORPHAN = """(setsid /bin/sh -c "echo \\$\\$ > session.pid; exec sleep 300" &)"""
#: Three ways out of the task's process group, each writing its pid to a file of the working
#: directory: the orphan above (the task then sleeps), job control in a shell, and a child in
#: a process group of its own under a parent that waits for it.
ESCAPES = (
    f"/bin/sh -c '{ORPHAN}; sleep 300'",
    """/bin/bash -c 'set -m; /bin/sh -c "echo \\$\\$ > jobctl.pid; exec sleep 300" & wait'""",
    'python3 -c \'import subprocess; subprocess.run(["/bin/sh", "-c", '
    '"echo $$ > group.pid; exec sleep 300"], process_group=0)\'',
)


def test_the_wall_clock_kill_takes_the_processes_that_left_the_group(node: Node) -> None:
    job = node.job("walls")
    limit = {"maxWallClockTime": "PT2S"}
    node.add(
        job,
        *({"id": f"t{n}", "commandLine": c, "constraints": limit} for n, c in enumerate(ESCAPES)),
    )
    wd = node.runner.root / "workitems" / "walls" / "job-1"
    pids = {
        **_pids_written(wd / "t0" / "wd", ("session.pid",)),
        **_pids_written(wd / "t1" / "wd", ("jobctl.pid",)),
        **_pids_written(wd / "t2" / "wd", ("group.pid",)),
    }
    assert all(map(_alive, pids.values()))
    node.wait(job)
    assert _gone(pids) == {"session.pid": True, "jobctl.pid": True, "group.pid": True}


def test_terminate_takes_them_and_close_takes_those_of_tasks_that_ended(node: Node) -> None:
    job = node.job("ends")
    node.add(
        job,
        # Ends (a success) once the orphan wrote its pid.
        {
            "id": "ended",
            "commandLine": f"/bin/sh -c '{ORPHAN}; until [ -s session.pid ]; do sleep 0.05; done'",
        },
        {"id": "running", "commandLine": ESCAPES[2]},
    )
    wd = node.runner.root / "workitems" / "ends" / "job-1"
    ended = _pids_written(wd / "ended" / "wd", ("session.pid",))
    running = _pids_written(wd / "running" / "wd", ("group.pid",))
    with node.store.lock:
        node.engine.terminate_task(job, job.task_ids.index("running"))
    node.wait(job)
    assert _gone(running) == {"group.pid": True}
    # A task that ended by itself leaves its strays to the node's end (no scan per task).
    assert _alive(ended["session.pid"])
    node.engine.stop()
    node.runner.close()
    assert _gone(ended) == {"session.pid": True}


def test_find_strays_reads_the_marker_and_the_parents(tmp_path: Path) -> None:
    import subprocess

    marked = subprocess.Popen(
        ["sleep", "300"], env={**os.environ, MARKER: str(tmp_path / "a")}, start_new_session=True
    )
    other = subprocess.Popen(["sleep", "300"], env={**os.environ, MARKER: str(tmp_path / "b")})
    try:
        found = find_strays((), str(tmp_path / "a").__eq__)
        assert marked.pid in found and other.pid not in found and os.getpid() not in found
        # By parent: this process's children, whatever their marker; never itself.
        below = find_strays([os.getpid()], lambda _: False)
        assert {marked.pid, other.pid} <= below and os.getpid() not in below
        assert kill_strays((), str(tmp_path / "a").__eq__) == 1
        assert marked.wait(timeout=WAIT) == -9 and other.poll() is None
    finally:
        for p in (marked, other):
            p.kill()
            p.wait()


def test_one_node_a_directory(tmp_path: Path) -> None:
    """Two emulators on one --workdir ran tasks of the same ids in the same directories, and
    stopping one killed the other's tasks (their processes carried the same marker): the
    second is refused while the first runs."""
    first = Node(tmp_path / "shared")
    try:
        with pytest.raises(ConfigError, match=r"another dagbatch emulator \(or run\) uses"):
            RealRunner(tmp_path / "shared")
        job = first.job("j")
        first.add(job, {"id": "t", "commandLine": f"/bin/sh -c '{ORPHAN}; sleep 300'"})
        wd = tmp_path / "shared" / "workitems" / "j" / "job-1" / "t" / "wd"
        pid = _pids_written(wd, ("session.pid",))["session.pid"]
    finally:
        first.engine.stop()
        first.runner.close()
    assert _gone({"orphan": pid}) == {"orphan": True}
    RealRunner(tmp_path / "shared").close()  # free again once the first has closed


def test_a_job_terminate_scans_proc_once_for_all_its_tasks(
    node: Node, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each running task was looked for with scans of its own, under the engine's lock: a
    terminate of 100 running tasks held it for seconds."""
    from dagbatch.emulator import strays

    job = node.job("many")
    started = "/bin/sh -c 'echo $$ > started.pid; exec sleep 300'"
    node.add(job, *({"id": f"t{n}", "commandLine": started} for n in range(3)))
    wd = node.runner.root / "workitems" / "many" / "job-1"
    for n in range(3):  # each task's process is there (not only marked running)
        _pids_written(wd / f"t{n}" / "wd", ("started.pid",))
    scans = []
    real = strays.find_strays
    monkeypatch.setattr(strays, "find_strays", lambda *a: scans.append(len(a[0])) or real(*a))
    with node.store.lock:
        node.engine.terminate_job(job, "UserTerminate")
    assert scans[0] == 3 and len(scans) <= 2, scans  # the three leaders in one scan
    node.wait(job)
