"""Golden output for the examples: plan.json pins every request body by sha256.

Regenerate after an intended change with ``DAGBATCH_UPDATE_GOLDEN=1 python -m pytest
tests/test_examples.py`` and review the diff.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import orjson
import pytest
from spec_schema import validate_job, validate_task_collection

from dagbatch.compiler.export import write_plan
from dagbatch.compiler.loader import load_workflow
from dagbatch.compiler.pipeline import CompileOptions, compile_graph
from dagbatch.limits import MAX_BODY_BYTES, MAX_TASKS_PER_REQUEST

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).parents[1] / "golden"

CASES = {
    "mapreduce": ("mapreduce.py", CompileOptions()),
    "pipeline": ("pipeline.py", CompileOptions()),
    "wide_fanin": ("wide_fanin.py", CompileOptions()),
    "wide_fanin_renumber": ("wide_fanin.py", CompileOptions(over_limit="renumber")),
    "legacy_2017": ("legacy_2017.py", CompileOptions(api_version="2017-09-01.6.0")),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_example_matches_golden(name: str, tmp_path: Path) -> None:
    file, options = CASES[name]
    plan = compile_graph(load_workflow(ROOT / "examples" / file).graph, options)
    out = write_plan(plan, tmp_path / "plan")
    files = ["plan.json", "job.json"]
    if len(plan.batches) <= 2:  # small plans also pin the readable bodies themselves
        files += [f"batches/{r.index:06d}.json" for r in plan.batches]
    for fname in files:
        golden = GOLDEN / name / fname
        actual = (out / fname).read_bytes()
        if os.environ.get("DAGBATCH_UPDATE_GOLDEN"):
            golden.parent.mkdir(parents=True, exist_ok=True)
            golden.write_bytes(actual)
        assert actual == golden.read_bytes(), f"{name}/{fname} differs from the golden file"


@pytest.mark.parametrize("name", sorted(CASES))
def test_example_bodies_are_valid_and_within_limits(name: str, tmp_path: Path) -> None:
    file, options = CASES[name]
    plan = compile_graph(load_workflow(ROOT / "examples" / file).graph, options)
    out = write_plan(plan, tmp_path / "plan")
    manifest = json.loads((out / "plan.json").read_text())
    assert validate_job(json.loads((out / "job.json").read_text()), plan.api_version) == []
    seen: set[str] = set()
    for entry in manifest["batches"]:
        raw = (out / entry["file"]).read_bytes()
        assert len(raw) == entry["bytes"] < MAX_BODY_BYTES[plan.api_version]
        body = orjson.loads(raw)
        assert len(body["value"]) == entry["tasks"] <= MAX_TASKS_PER_REQUEST
        assert validate_task_collection(body, plan.api_version) == []
        for task in body["value"]:
            assert task["id"].lower() not in seen
            seen.add(task["id"].lower())
    assert len(seen) == manifest["counts"]["tasks"]


def test_compile_is_deterministic(tmp_path: Path) -> None:
    graph = load_workflow(ROOT / "examples" / "pipeline.py").graph
    a = write_plan(compile_graph(graph), tmp_path / "a")
    b = write_plan(
        compile_graph(load_workflow(ROOT / "examples" / "pipeline.py").graph), tmp_path / "b"
    )
    for f in sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file()):
        assert (a / f).read_bytes() == (b / f).read_bytes(), f
