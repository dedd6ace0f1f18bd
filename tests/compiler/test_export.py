"""The plan directory contract: manifest fields, hashes, replacement, and no debris."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import networkx as nx
import pytest

from dagbatch.compiler.export import (
    finish_command,
    iter_jsonl,
    manifest,
    needs_finish,
    summary,
    write_plan,
)
from dagbatch.compiler.pipeline import CompileOptions, compile_graph
from dagbatch.errors import ConfigError


def small_graph() -> nx.DiGraph:
    g = nx.DiGraph()
    g.graph["job"] = {"id": "j1", "pool_id": "p", "on_all_tasks_complete": "terminatejob"}
    for i in range(1, 251):
        g.add_node(i, command_line=f"echo {i}")
    g.add_node("sum", command_line="sum")
    for i in range(1, 251):
        g.add_edge(i, "sum")
    return g


def test_manifest_describes_every_batch_file(tmp_path: Path) -> None:
    plan = compile_graph(small_graph())
    out = write_plan(plan, tmp_path / "plan")
    data = json.loads((out / "plan.json").read_text())
    assert data["format"] == 1
    assert data["apiVersion"] == "2025-06-01"
    assert data["jobId"] == "j1"
    assert data["onAllTasksComplete"] == "terminatejob"
    assert data["counts"] == {
        "tasks": 251,
        "userTasks": 251,
        "barriers": 0,
        "edges": 250,
        "requests": 3,
        "waves": 2,
        "ranges": 1,
        "maxTaskIdsChars": 0,
    }
    files = sorted(p.name for p in (out / "batches").iterdir())
    assert files == ["000001.json", "000002.json", "000003.json"]
    waves = [b["wave"] for b in data["batches"]]
    assert waves == sorted(waves)
    for b in data["batches"]:
        raw = (out / b["file"]).read_bytes()
        assert hashlib.sha256(raw).hexdigest() == b["sha256"]
        assert len(raw) == b["bytes"]
        assert len(json.loads(raw)["value"]) == b["tasks"]
    job = json.loads((out / "job.json").read_text())
    assert job == {
        "id": "j1",
        "poolInfo": {"poolId": "p"},
        "usesTaskDependencies": True,
        "onTaskFailure": "noaction",
        "onAllTasksComplete": "noaction",  # terminatejob only after the last task is added
    }


def test_jsonl_matches_the_batch_files(tmp_path: Path) -> None:
    plan = compile_graph(small_graph())
    out = write_plan(plan, tmp_path / "plan")
    lines = list(iter_jsonl(plan))
    files = [(out / b["file"]).read_bytes() for b in manifest(plan)["batches"]]
    assert [line.rstrip(b"\n") for line in lines] == files


def test_replacing_a_plan_removes_stale_batches_and_leaves_no_debris(tmp_path: Path) -> None:
    out = tmp_path / "plan"
    write_plan(compile_graph(small_graph()), out)
    g = nx.DiGraph()
    g.add_node("only", command_line="x")
    write_plan(compile_graph(g), out)
    assert sorted(p.name for p in (out / "batches").iterdir()) == ["000001.json"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plan"]


def test_unwritable_destination_leaves_nothing_behind(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(ConfigError, match=f"{blocker} is not a directory"):
        write_plan(compile_graph(small_graph()), blocker / "plan")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


def test_refuses_a_foreign_directory(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match="not a dagbatch plan directory"):
        write_plan(compile_graph(small_graph()), tmp_path)


def test_summary_mentions_renumbering_and_warnings() -> None:
    g = nx.DiGraph()
    for i in range(30):
        g.add_node(f"parent-with-a-long-name-{i:03d}", command_line="x")
        g.add_edge(f"parent-with-a-long-name-{i:03d}", "child")
    g.add_node("child", command_line="y")
    plan = compile_graph(g, CompileOptions(over_limit="renumber", taskids_margin=63_500))
    text = summary(plan)
    assert "renumbered" in text and "31" in text
    plan = compile_graph(g, CompileOptions(taskids_margin=63_500, pool_os="linux"))
    assert "warnings           1" in summary(plan)
    assert plan.counts["barriers"] == 2


def test_summary_says_when_the_job_needs_finish_and_prints_the_command(tmp_path: Path) -> None:
    g = nx.DiGraph()
    g.graph["job"] = {"id": "guarded", "on_all_tasks_complete": "terminatejob"}
    g.add_node("prep", command_line="x")
    g.add_node("work", command_line="x")
    g.add_node("alert", command_line="x")
    g.add_edge("prep", "work")
    g.add_edge("work", "alert", when="failure")
    plan = compile_graph(g)
    assert needs_finish(plan)
    text = summary(plan, tmp_path / "plan")
    assert "never-completes" in text
    assert f"`dagbatch finish {tmp_path / 'plan'}`" in text
    # Without a job id in the workflow, the command asks for it.
    del g.graph["job"]["id"]
    plan = compile_graph(g)
    assert finish_command(plan, "plan") == "dagbatch finish plan --job-id JOB"
    # A job that is not set to terminatejob does not need it.
    g.graph["job"] = {"id": "open"}
    plan = compile_graph(g)
    assert not needs_finish(plan) and "finish" not in summary(plan, "plan")
