"""Live state: the task listing through observe's service reader (paged, against the
emulator), and which tasks can never run given their parents' outcomes (observe's analysis,
mapped to show's states)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import networkx as nx
import orjson
from show_helpers import view_of

from dagbatch.emulator import DEV_ACCOUNT, DEV_KEY
from dagbatch.emulator.server import EmulatorServer
from dagbatch.observe.model import FailureInfo, TaskRecord
from dagbatch.show.fold import fold_plan
from dagbatch.show.live import fetch_task_states, live_states, state_of
from dagbatch.show.model import TaskState
from dagbatch.show.render import write_picture
from dagbatch.submit.client import BatchClient, SharedKeyAuth


def test_list_tasks_follows_every_page(emulator: EmulatorServer) -> None:
    graph = nx.DiGraph()
    for i in range(23):
        graph.add_node(f"t{i:02d}", command_line="x")
    view = view_of(graph)

    async def scenario() -> tuple[list[str], dict[str, TaskState]]:
        async with BatchClient(emulator.endpoint, SharedKeyAuth(DEV_ACCOUNT, DEV_KEY)) as client:
            await client.create_job({"id": "j", "poolInfo": {"poolId": "p"}})
            tasks = [{"id": f"t{i:02d}", "commandLine": "x"} for i in range(23)]
            await client.add_task_collection("j", orjson.dumps({"value": tasks}))
            listed = [t["id"] async for t in client.list_tasks("j", max_results=5)]
            return listed, await fetch_task_states(client, "j", view)

    listed, states = asyncio.run(scenario())
    assert sorted(listed) == [f"t{i:02d}" for i in range(23)] and len(listed) == 23
    assert set(states) == set(listed)
    assert {s.kind for s in states.values()} == {"waiting"}


def test_state_of_reads_the_record() -> None:
    done = state_of(
        TaskRecord.from_wire(
            {"id": "a", "state": "completed", "executionInfo": {"exitCode": 3, "result": "failure"}}
        )
    )
    assert (done.state, done.exit_code, done.result, done.kind) == (
        "completed",
        3,
        "failure",
        "failed",
    )
    assert state_of(TaskRecord("b", "running")).kind == "running"
    assert state_of(TaskRecord("c", "preparing")).kind == "running"


def handler_graph() -> nx.DiGraph:
    g = nx.DiGraph()
    for tid in ("build", "test", "deploy", "alert", "notify"):
        g.add_node(tid, command_line=tid)
    g.add_edge("build", "test")
    g.add_edge("test", "deploy")
    g.add_edge("deploy", "notify")
    g.add_node("fixup", command_line="fixup")
    g.add_edge("build", "fixup")
    g.add_node("publish", command_line="p")
    g.add_edge("publish", "alert", when="failure")
    return g


def rec(tid: str, state: str, code: int | None = None, result: str | None = None) -> TaskRecord:
    """A task's record; one that ended with an exit code ran (Batch records its startTime:
    a completed task that never started was terminated while it waited)."""
    started = "2026-01-01T00:00:00Z" if code is not None else None
    return TaskRecord(tid, state, code, result, started=started)  # type: ignore[arg-type]


def test_never_runs_follows_the_parents_exit_conditions() -> None:
    view = view_of(handler_graph())
    records = {
        "build": rec("build", "completed", 2, "failure"),  # blocks test and fixup
        "test": rec("test", "active"),
        "deploy": rec("deploy", "active"),  # blocked through test
        "notify": rec("notify", "active"),
        "fixup": rec("fixup", "active"),
        "publish": rec("publish", "completed", 0, "success"),  # its failure route never runs
        "alert": rec("alert", "active"),
    }
    marked = live_states(view, records)
    never = sorted(t for t, s in marked.items() if s.never_runs)
    assert never == ["alert", "deploy", "fixup", "notify", "test"]
    # alert is held back by a parent that succeeded: a handler not needed, drawn skipped.
    assert [t for t, s in marked.items() if s.kind == "skipped"] == ["alert"]
    # A failed publish is what alert waits for.
    records["publish"] = rec("publish", "completed", 1, "failure")
    assert not live_states(view, records)["alert"].never_runs
    picture = fold_plan(view, states=live_states(view, records))
    assert picture.totals() == {"failed": 2, "never": 4, "waiting": 1}


def test_tasks_terminated_while_they_waited_are_drawn_as_never_ran() -> None:
    """After `dagbatch finish` (or the end of `dagbatch run`), the terminated tasks are
    completed with a failure: drawn as never ran / skipped, not as failed."""
    view = view_of(handler_graph())
    ended = FailureInfo("usererror", "TaskEnded", "terminated")
    records = {
        "build": rec("build", "completed", 2, "failure"),
        "test": TaskRecord("test", "completed", None, "failure", ended),
        "deploy": TaskRecord("deploy", "completed", None, "failure", ended),
        "notify": TaskRecord("notify", "completed", None, "failure", ended),
        "fixup": TaskRecord("fixup", "completed", None, "failure", ended),
        "publish": rec("publish", "completed", 0, "success"),
        "alert": TaskRecord("alert", "completed", None, "failure", ended),
    }
    picture = fold_plan(view, states=live_states(view, records))
    assert picture.totals() == {"completed": 1, "failed": 1, "never": 4, "skipped": 1}


def test_tasks_missing_from_the_job_are_counted() -> None:
    view = view_of(handler_graph())
    picture = fold_plan(view, states={"build": TaskState("completed", 0, "success")})
    assert picture.totals() == {"completed": 1, "missing": 6}


def test_write_picture_of_an_outcome(tmp_path: Path) -> None:
    view = view_of(handler_graph())
    states = {t: TaskState("completed", 0, "success") for t in view.ids}
    picture = write_picture(view, tmp_path / "outcome.html", states=states)
    html = (tmp_path / "outcome.html").read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>") and picture.live
    assert "state: 7 done" in html
    write_picture(view, tmp_path / "outcome.txt", states=states)
    assert "state: 7 done" in (tmp_path / "outcome.txt").read_text(encoding="utf-8")
