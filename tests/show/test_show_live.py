"""Live state: the task listing through the REST client (paged, against the emulator), and
which tasks can never run given their parents' outcomes."""

from __future__ import annotations

import asyncio
from pathlib import Path

import networkx as nx
import orjson
from show_helpers import view_of

from dagbatch.emulator import DEV_ACCOUNT, DEV_KEY
from dagbatch.emulator.server import EmulatorServer
from dagbatch.show.fold import fold_plan
from dagbatch.show.live import fetch_task_states, mark_never_runs, task_state_of
from dagbatch.show.model import TaskState
from dagbatch.show.render import write_picture
from dagbatch.submit.client import BatchClient, SharedKeyAuth


def test_list_tasks_follows_every_page(emulator: EmulatorServer) -> None:
    async def scenario() -> tuple[list[str], dict[str, TaskState]]:
        async with BatchClient(emulator.endpoint, SharedKeyAuth(DEV_ACCOUNT, DEV_KEY)) as client:
            await client.create_job({"id": "j", "poolInfo": {"poolId": "p"}})
            tasks = [{"id": f"t{i:02d}", "commandLine": "x"} for i in range(23)]
            await client.add_task_collection("j", orjson.dumps({"value": tasks}))
            listed = [t["id"] async for t in client.list_tasks("j", max_results=5)]
            return listed, await fetch_task_states(client, "j")

    listed, states = asyncio.run(scenario())
    assert sorted(listed) == [f"t{i:02d}" for i in range(23)] and len(listed) == 23
    assert set(states) == set(listed)
    assert {s.kind for s in states.values()} == {"waiting"}


def test_task_state_of_reads_execution_info() -> None:
    done = task_state_of(
        {"id": "a", "state": "completed", "executionInfo": {"exitCode": 3, "result": "failure"}}
    )
    assert (done.state, done.exit_code, done.result, done.kind) == (
        "completed",
        3,
        "failure",
        "failed",
    )
    assert task_state_of({"id": "b", "state": "running"}).kind == "running"
    assert task_state_of({"id": "c", "state": "preparing"}).kind == "running"


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


def test_never_runs_follows_the_parents_exit_conditions() -> None:
    view = view_of(handler_graph())
    states = {
        "build": TaskState("completed", 2, "failure"),  # blocks test and fixup
        "test": TaskState("active"),
        "deploy": TaskState("active"),  # blocked through test
        "notify": TaskState("active"),
        "fixup": TaskState("active"),
        "publish": TaskState("completed", 0, "success"),  # its failure route never runs
        "alert": TaskState("active"),
    }
    marked = mark_never_runs(view, states)
    never = sorted(t for t, s in marked.items() if s.never_runs)
    assert never == ["alert", "deploy", "fixup", "notify", "test"]
    # A failed publish is what alert waits for.
    states["publish"] = TaskState("completed", 1, "failure")
    assert not mark_never_runs(view, states)["alert"].never_runs
    picture = fold_plan(view, states=mark_never_runs(view, states))
    assert picture.totals() == {"failed": 2, "never": 4, "waiting": 1}


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
