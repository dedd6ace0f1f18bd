"""`dagbatch compile` / `dagbatch validate` as a user runs them: exit codes and output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from dagbatch.cli.main import main

ROOT = Path(__file__).resolve().parents[2]
BROKEN = Path(__file__).parents[1] / "fixtures" / "broken"


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize(
    ("fixture", "code", "task"),
    [
        ("cycle.py", "cycle", "extract"),
        ("case_duplicate.py", "duplicate-id", "align"),
        ("id_with_space.py", "invalid-id", "build docs"),
        ("id_too_long.py", "id-too-long", "t" * 65),
        ("misspelt_property.py", "unknown-property", "fetch"),
        ("missing_command_line.py", "missing-property", "orphan"),
        ("when_conflict.py", "when-conflict", "train"),
        ("task_too_large.py", "task-too-large", "huge"),
        ("path_escapes.py", "path-escapes-task-dir", "fetch"),
    ],
)
def test_broken_workflow_exits_1_naming_the_task(
    fixture: str, code: str, task: str, tmp_path: Path
) -> None:
    out = tmp_path / "plan"
    status, _, err = run("compile", str(BROKEN / fixture), "--out", str(out))
    assert status == 1, err
    assert f"error {code} (task {task!r}" in err
    assert not out.exists(), "an invalid workflow must not leave a plan behind"
    assert run("validate", str(BROKEN / fixture))[0] == 1


def test_cycle_message_prints_the_path() -> None:
    _, _, err = run("validate", str(BROKEN / "cycle.py"))
    assert "extract -> transform -> load -> extract" in err


def test_misspelt_property_suggests_the_right_name() -> None:
    _, _, err = run("validate", str(BROKEN / "misspelt_property.py"))
    assert "did you mean 'environment_settings'?" in err


def test_every_problem_is_reported_at_once() -> None:
    status, _, err = run("validate", str(BROKEN / "everything.py"))
    assert status == 1
    for expected in ("duplicate-id", "invalid-id", "unknown-property", "missing-property", "cycle"):
        assert f"error {expected}" in err, expected
    assert "5 error(s)" in err


def test_compile_writes_plan_and_summary(tmp_path: Path) -> None:
    out = tmp_path / "plan"
    status, _, err = run("compile", str(ROOT / "examples" / "mapreduce.py"), "--out", str(out))
    assert status == 0, err
    manifest = json.loads((out / "plan.json").read_text())
    assert manifest["counts"]["requests"] == len(manifest["batches"]) == 101
    assert len(list((out / "batches").iterdir())) == 101
    assert "requests         101  in 3 wave(s)" in err
    assert "ranges             1" in err


def test_compile_replaces_previous_plan_but_refuses_foreign_dir(tmp_path: Path) -> None:
    out = tmp_path / "plan"
    wf = str(ROOT / "examples" / "pipeline.py")
    assert run("compile", wf, "--out", str(out))[0] == 0
    assert run("compile", wf, "--out", str(out))[0] == 0
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    status, _, _ = run("compile", wf, "--out", str(foreign))
    assert status == 2
    assert (foreign / "notes.txt").read_text() == "keep me"


def test_jsonl_writes_one_body_a_line(tmp_path: Path) -> None:
    status, out, _ = run("compile", str(ROOT / "examples" / "mapreduce.py"), "--format", "jsonl")
    assert status == 0
    lines = out.splitlines()
    assert len(lines) == 101
    assert sum(len(json.loads(line)["value"]) for line in lines) == 10_002
    # --out with jsonl would be silently ignored (nothing is written there): refused instead
    out_dir = tmp_path / "p"
    status, out, err = run(
        "compile",
        str(ROOT / "examples" / "mapreduce.py"),
        "--format",
        "jsonl",
        "--out",
        str(out_dir),
    )
    assert status == 2 and "standard output, not to --out" in err and out == ""
    assert not out_dir.exists()


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    assert run("compile", str(tmp_path / "absent.py"))[0] == 2
    assert run("compile", str(ROOT / "examples" / "mapreduce.py"), "--over-limit", "nope")[0] == 2
    assert run("frobnicate")[0] == 2


def test_load_error_exits_1_with_file_and_line() -> None:
    status, _, err = run("validate", str(Path(__file__).parents[1] / "fixtures/loader/raises.py"))
    assert status == 1
    assert "raises.py:7:" in err


def test_over_limit_error_strategy() -> None:
    status, _, err = run(
        "validate", str(ROOT / "examples" / "wide_fanin.py"), "--over-limit", "error"
    )
    assert status == 1
    assert "error task-ids-too-long (task 'assemble'" in err


def test_python_dash_m_entry_point() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "dagbatch", "validate", str(ROOT / "examples" / "pipeline.py")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "ok: 8 tasks in 1 request(s)" in proc.stderr


def test_recompile_refuses_to_drop_a_submission_journal(tmp_path: Path) -> None:
    out = tmp_path / "plan"
    wf = str(ROOT / "examples" / "pipeline.py")
    assert run("compile", wf, "--out", str(out))[0] == 0
    (out / "journal-nightly.jsonl").write_text('{"t": "header"}\n')
    status, _, err = run("compile", wf, "--out", str(out))
    assert status == 2
    assert "submission journal" in err
    # A finished submission's journal blocks it too: the message says what to do then, not
    # only how to finish an unfinished one.
    assert "--resume" in err and "compile to another --out" in err
    assert "delete the journal" in err
    assert (out / "journal-nightly.jsonl").exists()


# ---- --out never deletes what is not a dagbatch plan


def _tree(path: Path) -> dict[str, bytes]:
    return {str(p.relative_to(path)): p.read_bytes() for p in path.rglob("*") if p.is_file()}


def test_out_refuses_a_directory_with_another_tools_plan_json(tmp_path: Path) -> None:
    other = tmp_path / "other"
    other.mkdir()
    (other / "plan.json").write_text('{"steps": ["terraform"]}')
    (other / "main.tf").write_text("resource {}")
    before = _tree(other)
    status, _, err = run("compile", str(ROOT / "examples" / "pipeline.py"), "--out", str(other))
    assert status == 2
    assert "not a dagbatch plan directory" in err and "main.tf" in err
    assert _tree(other) == before


def test_out_refuses_a_plan_directory_with_a_file_of_the_users(tmp_path: Path) -> None:
    wf = str(ROOT / "examples" / "pipeline.py")
    out = tmp_path / "plan"
    assert run("compile", wf, "--out", str(out))[0] == 0
    (out / "notes.md").write_text("mine")
    (out / "batches" / "extra.json").write_text("{}")
    before = _tree(out)
    status, _, err = run("compile", wf, "--out", str(out))
    assert status == 2
    assert "notes.md" in err and "batches/extra.json" in err
    assert _tree(out) == before


def test_out_dot_is_refused_in_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "keep.txt").write_text("keep")
    for target in (".", str(tmp_path.parent)):
        status, _, err = run("compile", str(ROOT / "examples" / "pipeline.py"), "--out", target)
        assert status == 2
        assert err.count("\n") == 1 and err.startswith("error: ") and "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.txt"]


def test_replacing_a_plan_swaps_in_the_new_one_and_leaves_nothing_beside(tmp_path: Path) -> None:
    out = tmp_path / "plan"
    assert run("compile", str(ROOT / "examples" / "mapreduce.py"), "--out", str(out))[0] == 0
    assert run("compile", str(ROOT / "examples" / "pipeline.py"), "--out", str(out))[0] == 0
    assert json.loads((out / "plan.json").read_text())["jobId"] == "pipeline-nightly"
    assert len(list((out / "batches").iterdir())) == 1
    assert [p.name for p in tmp_path.iterdir()] == ["plan"]


# ---- workflow files that exit, odd values: a message and a documented code, no traceback


def _workflow(tmp_path: Path, source: str) -> str:
    path = tmp_path / "wf.py"
    path.write_text("import sys\nimport networkx as nx\n" + source)
    return str(path)


@pytest.mark.parametrize(
    ("source", "line"),
    [
        ("graph = nx.DiGraph()\nsys.exit(0)\n", 4),
        ("def build():\n    g = nx.DiGraph()\n    sys.exit(0)\n", 5),
        ("def build():\n    raise SystemExit\n", 4),
    ],
)
def test_sys_exit_in_a_workflow_is_exit_1_with_file_and_line(
    source: str, line: int, tmp_path: Path
) -> None:
    wf = _workflow(tmp_path, source)
    for args in (["compile", wf, "--out", str(tmp_path / "plan")], ["validate", wf]):
        status, _, err = run(*args)
        assert status == 1, err
        assert f"wf.py:{line}:" in err and "sys.exit" in err
        assert "Traceback" not in err


@pytest.mark.parametrize(
    ("source", "code"),
    [
        ('graph = nx.DiGraph()\ngraph.add_node("a\\ud800", command_line="x")\n', "invalid-id"),
        ('graph = nx.DiGraph()\ngraph.add_node("a", command_line="x\\ud800")\n', "invalid-value"),
        (
            'graph = nx.DiGraph()\ngraph.add_node("a", command_line="x", display_name="\\udcff")\n',
            "invalid-value",
        ),
        (
            'graph = nx.DiGraph()\ngraph.graph["job"] = "nightly"\n'
            'graph.add_node("a", command_line="x")\n',
            "invalid-type",
        ),
        (
            'graph = nx.DiGraph()\ngraph.add_node("a", command_line="x" * 2_000_000)\n',
            "task-too-large",
        ),
    ],
)
def test_odd_values_get_a_diagnostic_not_a_traceback(
    source: str, code: str, tmp_path: Path
) -> None:
    status, _, err = run("compile", _workflow(tmp_path, source), "--out", str(tmp_path / "p"))
    assert status == 1, err
    assert f"error {code}" in err
    assert "Traceback" not in err


def test_a_huge_property_is_reported_before_it_is_serialized(tmp_path: Path) -> None:
    source = (
        'graph = nx.DiGraph()\ngraph.add_node("a", command_line="x", '
        'environment_settings=[{"name": "BLOB", "value": "v" * 5_000_000}])\n'
    )
    status, _, err = run("validate", _workflow(tmp_path, source))
    assert status == 1
    assert "error task-too-large (task 'a')" in err and "properties hold 5,000,0" in err


def test_compile_says_the_job_needs_finish_and_prints_the_command(tmp_path: Path) -> None:
    wf = tmp_path / "guarded.py"
    wf.write_text(
        "import networkx as nx\n"
        "graph = nx.DiGraph()\n"
        'graph.graph["job"] = {"id": "guarded", "on_all_tasks_complete": "terminatejob"}\n'
        'graph.add_node("work", command_line="/bin/true")\n'
        'graph.add_node("alert", command_line="/bin/true")\n'
        'graph.add_edge("work", "alert", when="failure")\n'
    )
    out = tmp_path / "plan"
    status, _, err = run("compile", str(wf), "--out", str(out))
    assert status == 0, err
    assert "warning never-completes" in err
    assert f"end it with `dagbatch finish {out}`" in err
    # A workflow that always completes says nothing of the kind.
    status, _, err = run("compile", str(ROOT / "examples" / "mapreduce.py"), "--out", str(out))
    assert status == 0 and "dagbatch finish" not in err


def test_a_command_runs_with_full_collections_rarer_and_restores_the_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The graph and the plan are walked by every full collection of the cyclic collector:
    the whole command runs with them ten times rarer (dagbatch.gcpause)."""
    import gc

    import dagbatch.compiler.pipeline as pipeline
    from dagbatch.gcpause import FULL_COLLECTION_EVERY

    seen: list[tuple[int, ...]] = []
    compile_graph = pipeline.compile_graph

    def spy(*args: object, **kwargs: object) -> pipeline.CompiledPlan:
        seen.append(gc.get_threshold())  # after the workflow file's code ran
        return compile_graph(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(pipeline, "compile_graph", spy)
    before = gc.get_threshold()
    code, out, _ = run("compile", str(ROOT / "examples" / "mapreduce.py"), "--out", str(tmp_path))
    assert code == 0, out
    assert seen == [(before[0], before[1], FULL_COLLECTION_EVERY)]
    assert gc.get_threshold() == before


def test_a_reader_that_stops_early_ends_the_command_quietly_with_141() -> None:
    # `dagbatch compile ... --format jsonl | head -c 100`: the reader goes after 100 bytes
    # of about a megabyte. The command must neither print a traceback nor claim exit 1 (an
    # invalid workflow), but end as a shell reports any tool cut off by SIGPIPE.
    wide = str(ROOT / "examples" / "wide_fanin.py")
    proc = subprocess.Popen(
        [sys.executable, "-m", "dagbatch", "compile", wide, "--format", "jsonl"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    first = proc.stdout.read(100)
    proc.stdout.close()
    err = proc.stderr.read().decode()
    proc.stderr.close()
    assert proc.wait(timeout=120) == 141, err
    assert first.startswith(b"{")
    assert "Traceback" not in err and "BrokenPipe" not in err
    assert "barriers-inserted" in err  # the warnings still reached stderr


def test_stdout_closed_tells_a_gone_reader_from_an_open_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from dagbatch.cli.main import _stdout_closed

    read_end, write_end = os.pipe()
    with os.fdopen(write_end, "w") as out:
        monkeypatch.setattr(sys, "stdout", out)
        try:
            assert not _stdout_closed()  # a reader is there: a broken pipe is not ours
        finally:
            os.close(read_end)
        assert _stdout_closed()


@pytest.mark.parametrize("command", ["compile", "validate", "submit"])
@pytest.mark.parametrize("option", ["--job-id", "--pool-id"])
def test_an_id_batch_would_refuse_is_a_usage_error_before_any_work(
    tmp_path: Path, command: str, option: str
) -> None:
    """`compile --job-id 'bad id'` exited 1 (an invalid workflow) with pydantic's pattern, and
    `submit --job-id 'bad id' --create-job` went to the service for a 400 (exit 3)."""
    wf = str(ROOT / "examples" / "pipeline.py")
    args = [command, wf, option, "bad id"]
    if command == "submit":
        args += ["--create-job", "--endpoint", "http://127.0.0.1:9"]
    status, _, err = run(*args)
    assert status == 2, err
    assert "a Batch id is 1 to 64 letters, digits, '-' and '_'" in err


def test_a_wrong_out_is_said_first_and_alone(tmp_path: Path) -> None:
    """--out naming a directory dagbatch would not replace was refused only after the whole
    compile, under its warnings: it is refused before the workflow is even loaded."""
    wf = tmp_path / "wf.py"
    wf.write_text(
        "import networkx as nx\n"
        "graph = nx.DiGraph()\n"
        "graph.add_node('a', command_line='x', satisfy_exit_codes=[0, 3])\n"
        "print('LOADED')\n"
    )
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    status, out, err = run("compile", str(wf), "--out", str(other))
    assert status == 2
    assert "not a dagbatch plan directory" in err
    assert "redundant-exit-code" not in err and "LOADED" not in out + err
    assert (other / "notes.txt").read_text() == "mine"
