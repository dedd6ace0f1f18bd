"""``run_local``'s timeout stops a workflow still loading or compiling (in the main thread, a
SIGALRM timer): the run ends near its timeout, with no job and the run directory untouched,
and the process's own SIGALRM handler and timer are as they were."""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path
from types import FrameType
from typing import Any

import pytest

from dagbatch.local.run import RunOptions, RunReport, run_local

GRAPH = (
    "import networkx as nx\ngraph = nx.DiGraph()\ngraph.add_node('a', command_line='/bin/true')\n"
)


def _workflow(tmp_path: Path, before: str) -> Path:
    path = tmp_path / "wf.py"
    path.write_text("import signal, time\n" + before + GRAPH)
    return path


def _run(wf: Path, tmp_path: Path, timeout: float) -> tuple[RunReport, float]:
    started = time.monotonic()
    report = run_local(str(wf), RunOptions(simulate=True, workdir=tmp_path / "w", timeout=timeout))
    return report, time.monotonic() - started


def test_a_workflow_still_loading_is_stopped_and_the_alarm_put_back(tmp_path: Path) -> None:
    heard: list[int] = []

    def mine(signum: int, frame: FrameType | None) -> None:
        heard.append(signum)

    before = signal.signal(signal.SIGALRM, mine)
    timer = signal.setitimer(signal.ITIMER_REAL, 300.0)
    try:
        report, took = _run(_workflow(tmp_path, "time.sleep(60)\n"), tmp_path, 0.5)
        assert took < 20  # not the workflow's 60 s
        assert report.timed_out and report.verdict == "timeout"
        assert report.stopped_while == "loading" and report.outcomes == []
        assert 0.5 <= report.elapsed < 20
        assert not (tmp_path / "w").exists()  # nothing made: no plan, no run directory
        data = report.to_dict()
        assert data["stoppedWhile"] == "loading" and data["job"] is None
        # The handler and the timer that were there before are back, the timer with what it
        # had left; the run's own alarm is gone.
        assert signal.getsignal(signal.SIGALRM) is mine
        left, _ = signal.getitimer(signal.ITIMER_REAL)
        assert 250 < left <= 300
        assert heard == []
    finally:
        signal.setitimer(signal.ITIMER_REAL, *timer)
        signal.signal(signal.SIGALRM, before)


def test_a_workflow_that_swallows_the_stop_is_stopped_all_the_same(tmp_path: Path) -> None:
    # It catches the first and sleeps on: the alarm comes again.
    wf = _workflow(
        tmp_path, "try:\n    time.sleep(60)\nexcept BaseException:\n    pass\ntime.sleep(60)\n"
    )
    report, took = _run(wf, tmp_path, 0.5)
    assert took < 20 and report.stopped_while == "loading"


def test_the_workflows_own_alarm_is_not_left_pending(tmp_path: Path) -> None:
    """A workflow that sets an alarm of its own and returns: the run goes on, and no alarm
    of the workflow's can end the process later (SIGALRM's default ends it)."""
    before = signal.getsignal(signal.SIGALRM)
    timer = signal.getitimer(signal.ITIMER_REAL)
    wf = _workflow(tmp_path, "signal.signal(signal.SIGALRM, lambda *a: None)\nsignal.alarm(1)\n")
    report, _ = _run(wf, tmp_path, 30)
    assert report.verdict == "ok" and report.stopped_while is None
    assert signal.getsignal(signal.SIGALRM) is before
    left, _ = signal.getitimer(signal.ITIMER_REAL)
    assert (left == 0) if timer[0] == 0 else left > 1  # pytest-timeout's own, if armed


def test_a_workflow_still_compiling_is_stopped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import dagbatch.compiler.pipeline as pipeline

    compile_graph = pipeline.compile_graph

    def slow(*args: Any, **kwargs: Any) -> Any:
        time.sleep(60)
        return compile_graph(*args, **kwargs)

    monkeypatch.setattr(pipeline, "compile_graph", slow)
    report, took = _run(_workflow(tmp_path, ""), tmp_path, 0.5)
    assert took < 20 and report.stopped_while == "compiling"
    assert not (tmp_path / "w").exists()


def test_outside_the_main_thread_the_loading_runs_to_its_end(tmp_path: Path) -> None:
    """No signal can reach another thread: the workflow loads whole, and the run stops
    before any task starts, as it says."""
    wf = _workflow(tmp_path, "time.sleep(1.5)\n")
    out: list[RunReport] = []
    thread = threading.Thread(target=lambda: out.append(_run(wf, tmp_path, 0.5)[0]))
    thread.start()
    thread.join(60)
    (report,) = out
    assert report.timed_out and report.stopped_while is None
    assert report.elapsed >= 1.5 and not any(o.status.ran for o in report.outcomes)


def test_ctrl_c_while_loading_still_stops_the_run(tmp_path: Path) -> None:
    # Ctrl-C as an interactive Python has it (a test run in the background ignores SIGINT).
    previous_int = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        before = signal.getsignal(signal.SIGALRM)
        wf = _workflow(tmp_path, "import os\nos.kill(os.getpid(), signal.SIGINT)\ntime.sleep(60)\n")
        started = time.monotonic()
        with pytest.raises(KeyboardInterrupt):
            _run(wf, tmp_path, 30)
        assert time.monotonic() - started < 20
        assert signal.getsignal(signal.SIGALRM) is before
    finally:
        signal.signal(signal.SIGINT, previous_int)
