"""dagbatch.plan.load_plan checks every file and the manifest against itself."""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings

from dagbatch import compile_graph
from dagbatch.compiler.export import write_plan as write_plan_dir_of
from dagbatch.errors import PlanError
from dagbatch.plan import load_plan
from tests.dag_strategies import DagCase, dag_cases
from tests.plan_factory import write_plan


def _fan(n: int) -> list[dict[str, object]]:
    return [{"id": str(i), "commandLine": "x"} for i in range(1, n + 1)]


def test_a_range_parent_in_the_same_wave_and_another_batch_is_refused(tmp_path: Path) -> None:
    join = {
        "id": "join",
        "commandLine": "x",
        "dependsOn": {"taskIdRanges": [{"start": 1, "end": 150}]},
    }
    # Parents 1..100 in batch 1 and 101..150 in batch 2, the join in batch 2 after them: fine.
    ok = write_plan(tmp_path / "ok", [(1, _fan(100)), (2, [*_fan(150)[100:], join])])
    assert load_plan(ok).total_tasks == 151
    # The join in a batch of the same wave as batch 2: it could go out before its parents.
    bad = write_plan(tmp_path / "bad", [(1, _fan(100)), (2, _fan(150)[100:]), (2, [join])])
    with pytest.raises(PlanError, match=r"depends on '101 \(in range 1-150\)'"):
        load_plan(bad)


def test_a_parent_later_in_the_same_batch_is_refused(tmp_path: Path) -> None:
    tasks = [
        {"id": "child", "commandLine": "x", "dependsOn": {"taskIds": ["parent"]}},
        {"id": "parent", "commandLine": "x"},
    ]
    with pytest.raises(PlanError, match="earlier in the same batch"):
        load_plan(write_plan(tmp_path / "p", [(1, tasks)]))


def test_the_order_check_waits_until_the_segments_are_asked_for(tmp_path: Path) -> None:
    """A command that only reads the plan (`status`) loads it with ``order=False``: the
    parents-first check, most of a large plan's load, is made only for the segments."""
    tasks = [
        {"id": "child", "commandLine": "x", "dependsOn": {"taskIds": ["parent"]}},
        {"id": "parent", "commandLine": "x"},
    ]
    plan = load_plan(write_plan(tmp_path / "p", [(1, tasks)]), order=False)
    assert plan.total_tasks == 2
    with pytest.raises(PlanError, match="earlier in the same batch"):
        plan.segments  # noqa: B018


def _child(i: int, *parents: object) -> dict[str, object]:
    return {"id": f"c{i}", "commandLine": "x", "dependsOn": {"taskIds": list(parents)}}


@pytest.mark.parametrize(
    ("later", "error"),
    [
        # Batches whose tasks name only taskIds take a quick whole-batch check; whatever it
        # does not accept goes through the task-by-task one, which names the task.
        ([_child(1, "1"), _child(2, "9")], r"task 'c2' .* depends on '9', which is not in"),
        ([_child(1, "c2"), _child(2, "1")], r"task 'c1' .* earlier in the same batch"),
        ([_child(1, "1"), _child(2, "z")], r"task 'c2' .* depends on 'z', which is in batch 2"),
    ],
)
def test_a_batch_of_taskids_only_is_checked_like_any_other(
    tmp_path: Path, later: list[dict[str, object]], error: str
) -> None:
    first = [(1, _fan(3)), (2, [{"id": "z", "commandLine": "x"}])]
    # Good: parents in earlier waves (ids any case, as Batch compares them), or none at all.
    good = [_child(1, "1", "2"), _child(2, "3"), {"id": "c3", "commandLine": "x"}]
    good.append(_child(4, "Z"))
    plan = load_plan(write_plan(tmp_path / "good", [*first, (3, good)]))
    assert [(s.batch, s.start, s.stop, s.after) for s in plan.segments] == [
        (1, 0, 3, -1),
        (2, 0, 1, -1),
        (3, 0, 4, 1),
    ]
    # An int parent is read the way Batch would (its text), through the task-by-task pass;
    # a parent earlier in the same batch cuts it there.
    plan = load_plan(write_plan(tmp_path / "int", [*first, (3, [_child(1, 2), _child(2, "c1")])]))
    assert [(s.start, s.stop, s.after) for s in plan.segments[2:]] == [(0, 1, 0), (1, 2, 2)]
    # Bad: a missing parent, a parent later in the same batch, one in the same wave.
    bad = [*first, (2 if "batch 2" in error else 3, later)]
    with pytest.raises(PlanError, match=error):
        load_plan(write_plan(tmp_path / "bad", bad))


def test_batch_indexes_must_count_up_from_one(tmp_path: Path) -> None:
    plan = write_plan(tmp_path / "p", [(1, _fan(3)), (2, [{"id": "z", "commandLine": "x"}])])
    text = (plan / "plan.json").read_text().replace('"index": 2', '"index": 3')
    (plan / "plan.json").write_text(text)
    with pytest.raises(PlanError, match="numbered 1, 2, 3"):
        load_plan(plan)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(dag_cases(big=False, max_nodes=120))
def test_every_compiled_plan_passes_the_checks_and_cuts_into_parent_first_segments(
    case: DagCase,
) -> None:
    """No false refusal: whatever compile writes, load_plan accepts; every batch's segments
    keep its order with no task depending on another of its segment; and each segment waits
    up to the newest segment holding a parent."""
    plan = compile_graph(case.graph, case.options)
    with tempfile.TemporaryDirectory() as tmp:
        loaded = load_plan(write_plan_dir_of(plan, Path(tmp) / "plan"))
    assert loaded.total_tasks == plan.counts["tasks"]
    by_batch: dict[int, list[list[dict[str, Any]]]] = {}
    for s in loaded.segments:
        tasks = list(loaded.batches[s.batch - 1].tasks[s.start : s.stop])
        by_batch.setdefault(s.batch, []).append(tasks)
    for batch in loaded.batches:
        parts = by_batch[batch.index]
        assert [t for part in parts for t in part] == list(batch.tasks)
        for part in parts:
            ids = {str(t["id"]).lower() for t in part}
            numbers = {int(t["id"]) for t in part if str(t["id"]).isdigit()}
            for task in part:
                depends = task.get("dependsOn") or {}
                assert not ids & {str(p).lower() for p in depends.get("taskIds") or ()}
                for r in depends.get("taskIdRanges") or ():
                    assert not any(r["start"] <= n <= r["end"] for n in numbers)
    # Each segment waits exactly up to the newest segment holding one of its tasks' parents.
    segment_of: dict[str, int] = {}
    for s in loaded.segments:
        for task_id in loaded.batches[s.batch - 1].task_ids[s.start : s.stop]:
            segment_of[task_id.lower()] = s.number
    numbered = {int(i): n for i, n in segment_of.items() if i.isdigit()}
    for s in loaded.segments:
        newest = -1
        for task in loaded.batches[s.batch - 1].tasks[s.start : s.stop]:
            depends = task.get("dependsOn") or {}
            for p in depends.get("taskIds") or ():
                newest = max(newest, segment_of[str(p).lower()])
            for r in depends.get("taskIdRanges") or ():
                covered = [n for i, n in numbered.items() if r["start"] <= i <= r["end"]]
                newest = max([newest, *covered])
        assert s.after == newest < s.number


@pytest.mark.parametrize(
    ("batches", "where"),
    [
        (
            [(1, [{"id": "a", "commandLine": "x"}, {"id": "A", "commandLine": "x"}])],
            "000001.json, batches/000001.json",
        ),
        (
            [(1, _fan(2)), (1, [{"id": "2", "commandLine": "x"}])],
            "000001.json, batches/000002.json",
        ),
    ],
)
def test_a_task_id_twice_is_refused_naming_both_files(
    tmp_path: Path, batches: list[tuple[int, list[dict[str, object]]]], where: str
) -> None:
    """Ids are unique ignoring case, within a batch and across batches."""
    with pytest.raises(PlanError, match=f"appears twice \\(batches/{where}\\)"):
        load_plan(write_plan(tmp_path / "p", batches))


@pytest.mark.parametrize(
    "body",
    [
        b"[]",
        b'{"value": {}}',
        b'{"value": [1]}',
        b'{"value": [{"commandLine": "x"}]}',
        b'{"value": [{"id": 7, "commandLine": "x"}]}',
        b'{"value": [{"id": "a", "commandLine": "x"}, "b"]}',
    ],
)
def test_a_batch_file_that_is_not_a_task_collection_is_refused(tmp_path: Path, body: bytes) -> None:
    """Even with a matching sha256 (the plan was written so): the file names itself."""
    plan = write_plan(tmp_path / "p", [(1, _fan(1))])
    (plan / "batches" / "000001.json").write_bytes(body)
    manifest = orjson.loads((plan / "plan.json").read_bytes())
    manifest["batches"][0]["sha256"] = hashlib.sha256(body).hexdigest()
    manifest["batches"][0]["bytes"] = len(body)
    (plan / "plan.json").write_bytes(orjson.dumps(manifest))
    with pytest.raises(PlanError, match=r"000001\.json is not a task collection body"):
        load_plan(plan)


def test_batch_files_and_folders_linked_from_outside_are_refused(tmp_path: Path) -> None:
    """The sha256 vouches for the bytes, not for where they are: a plan reads nothing outside
    its own folder."""
    outside = tmp_path / "outside"
    outside.mkdir()
    plan = write_plan(tmp_path / "p", [(1, _fan(2))])
    assert load_plan(plan).total_tasks == 2
    batch = plan / "batches" / "000001.json"
    (outside / "000001.json").write_bytes(batch.read_bytes())
    batch.unlink()
    batch.symlink_to(outside / "000001.json")
    with pytest.raises(PlanError, match=r"batch file 'batches/000001\.json' is outside"):
        load_plan(plan)
    batch.unlink()
    (plan / "batches").rmdir()
    (plan / "batches").symlink_to(outside, target_is_directory=True)
    with pytest.raises(PlanError, match="batches/ is outside the plan directory"):
        load_plan(plan)
    # A link inside the plan's own folder is fine.
    (plan / "batches").unlink()
    (plan / "real").mkdir()
    (plan / "real" / "000001.json").write_bytes((outside / "000001.json").read_bytes())
    (plan / "batches").symlink_to(plan / "real", target_is_directory=True)
    assert load_plan(plan).total_tasks == 2
    # So is a batch file linked to another file inside it.
    (plan / "batches").unlink()
    (plan / "batches").mkdir()
    (plan / "batches" / "000001.json").symlink_to(plan / "real" / "000001.json")
    assert load_plan(plan).total_tasks == 2


def test_a_batch_file_that_cannot_be_read_is_named(tmp_path: Path) -> None:
    plan = write_plan(tmp_path / "p", [(1, _fan(2))])
    batch = plan / "batches" / "000001.json"
    batch.unlink()
    with pytest.raises(PlanError, match=r"cannot read batch file batches/000001\.json"):
        load_plan(plan)
    batch.mkdir()  # a folder where the file should be
    with pytest.raises(PlanError, match=r"cannot read batch file batches/000001\.json"):
        load_plan(plan)


@pytest.mark.parametrize(
    ("manifest", "said"),
    [
        (b"{", "Invalid JSON"),
        (b'{"format": 1, "apiVersion": "x", "batches": 3}', "batches: Input should be"),
    ],
)
def test_a_damaged_manifest_is_one_line_naming_the_problem(
    tmp_path: Path, manifest: bytes, said: str
) -> None:
    """plan.json that is not JSON, or not a manifest, printed pydantic's dump (with its web
    links) in the error: it is one line naming the field and what is wrong."""
    (tmp_path / "plan.json").write_bytes(manifest)
    with pytest.raises(PlanError) as info:
        load_plan(tmp_path)
    text = str(info.value)
    assert said in text and "\n" not in text and "pydantic.dev" not in text
    assert text.endswith("compile the plan again")


def test_a_path_that_is_no_plan_says_what_it_is(tmp_path: Path) -> None:
    """ "not a plan directory: cannot read plan.json ([Errno 2] ...)" for every case: a path
    that does not exist says so, and the folder submit WORKFLOW.py keeps (.dagbatch/JOB)
    names the plan inside it."""
    with pytest.raises(PlanError, match="does not exist"):
        load_plan(tmp_path / "nosuch")
    kept = tmp_path / ".dagbatch" / "job"
    (kept / "plan").mkdir(parents=True)
    (kept / "plan" / "plan.json").write_text("{}")
    with pytest.raises(PlanError) as info:
        load_plan(kept)
    assert str(info.value) == f"{kept} is not a plan directory; the plan in it is {kept / 'plan'}"
    with pytest.raises(PlanError, match=r"holds no plan\.json"):
        load_plan(tmp_path)


def test_a_new_job_id_is_one_no_submission_of_the_plan_used(tmp_path: Path) -> None:
    """The fix rerun and submit print for a job Batch cannot take more tasks into names a
    new job: not one a journal says the plan was already submitted to (a review followed
    `--job-id s3-2` twice), counting on a trailing number, within Batch's 64 characters."""
    from dagbatch.plan import journal_file, next_job_id

    plan, beside = tmp_path / "plan", tmp_path
    plan.mkdir()
    assert next_job_id("nightly", plan, beside) == "nightly-2"
    (beside / journal_file("nightly-2")).write_text("")
    (plan / journal_file("nightly-3")).write_text("")
    assert next_job_id("nightly", plan, beside) == "nightly-4"
    assert next_job_id("s3-2", plan) == "s3-3"
    assert next_job_id("v-1-x", None) == "v-1-x-2"
    # A date's last number is not a counter, nor is a zero-padded one.
    assert next_job_id("nightly-2024-11-30") == "nightly-2024-11-30-2"
    assert next_job_id("run-05") == "run-05-2"
    long = "j" * 64
    assert next_job_id(long) == "j" * 62 + "-2" and len(next_job_id(long)) == 64
