"""What a newcomer meets: validate's options, grouped diagnostics, hints that help, values
accepted in the form people write them (issue 8, point 8)."""

from __future__ import annotations

import json
from pathlib import Path

import networkx as nx
import orjson
import pytest
from click.testing import CliRunner

from dagbatch import Task, check_graph, compile_graph
from dagbatch.cli.main import main
from dagbatch.compiler.pipeline import CompileOptions
from dagbatch.errors import ConfigError
from dagbatch.limits import TASK_IDS_CHAR_LIMIT

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def workflow(tmp_path: Path, body: str) -> str:
    path = tmp_path / "wf.py"
    path.write_text(
        "import networkx as nx\nfrom pathlib import Path\nfrom dagbatch import Task\n" + body
    )
    return str(path)


def test_validate_quiet_prints_nothing_for_a_clean_workflow() -> None:
    status, out, err = run("validate", "-q", str(ROOT / "examples" / "pipeline.py"))
    assert (status, out, err) == (0, "", "")


def test_validate_json_is_one_object_a_diagnostic(tmp_path: Path) -> None:
    wf = workflow(
        tmp_path,
        "graph = nx.DiGraph()\n"
        "graph.add_node('a b', command_line='x')\n"
        "graph.add_node('c', comand_line='x')\n",
    )
    status, out, err = run("validate", wf, "--format", "json")
    assert status == 1 and err == ""
    records = [json.loads(line) for line in out.splitlines()]
    assert {(r["code"], r["task_id"]) for r in records} >= {
        ("invalid-id", "a b"),
        ("unknown-property", "c"),
    }
    assert all(r["severity"] == "error" and r["message"] for r in records)
    # Every object has the six keys the README lists, null where there is nothing.
    keys = ["code", "severity", "message", "task_id", "field", "hint"]
    assert all(list(r) == keys for r in records), records
    ok, out, _ = run("validate", str(ROOT / "examples" / "pipeline.py"), "--format", "json")
    assert (ok, out) == (0, "")


def test_validate_json_reports_a_load_error_as_an_object(tmp_path: Path) -> None:
    wf = workflow(tmp_path, "raise RuntimeError('boom')\n")
    status, out, _ = run("validate", wf, "--format", "json")
    assert status == 1
    (record,) = [json.loads(line) for line in out.splitlines()]
    assert record["code"] == "load-error" and record["line"] == 4 and "boom" in record["message"]
    assert record["task_id"] is None and record["field"] is None and record["hint"] is None
    # A fault no line is to blame for still has the key, null (it was left out).
    empty = workflow(tmp_path, "x = 1\n")
    status, out, _ = run("validate", empty, "--format", "json")
    (record,) = [json.loads(line) for line in out.splitlines()]
    assert status == 1 and record["code"] == "load-error" and "found no graph" in record["message"]
    assert record["line"] is None and record["file"] == empty


def test_one_mistake_over_many_tasks_is_grouped(tmp_path: Path) -> None:
    wf = workflow(
        tmp_path,
        "graph = nx.DiGraph()\n"
        "for k in range(20000):\n"
        "    graph.add_node(f't{k}', command_line='x', retries=3)\n",
    )
    status, _, err = run("validate", wf)
    assert status == 1
    lines = err.splitlines()
    assert len(lines) <= 5, lines
    assert "19,999 more unknown-property" in err and "'t1', 't2'" in err
    assert "20,000 error(s)" in err
    status, _, err = run("validate", wf, "--all")
    assert err.count("error unknown-property") == 20000


def test_a_typo_inside_task_gets_did_you_mean(tmp_path: Path) -> None:
    wf = workflow(
        tmp_path, "graph = nx.DiGraph()\ngraph.add_node('a', task=Task(comand_line='x'))\n"
    )
    status, _, err = run("validate", wf)
    assert status == 1
    assert "wf.py:5:" in err and "did you mean 'command_line'?" in err
    assert "Traceback" not in err


def test_retries_points_to_the_retry_count_not_resource_files() -> None:
    g = nx.DiGraph()
    g.add_node("a", command_line="x", retries=3)
    (d,) = check_graph(g)
    assert d.code == "unknown-property"
    assert d.hint is not None and "max_task_retry_count" in d.hint
    assert "resource" not in d.hint.lower()


def test_an_int_and_a_str_of_one_number_are_named_as_such() -> None:
    g = nx.DiGraph()
    g.add_node(1, command_line="x")
    g.add_node("1", command_line="y")
    (d,) = check_graph(g)
    assert d.code == "duplicate-id"
    assert "the int 1 and the str '1'" in d.message
    assert "ignoring case" not in d.message


def test_environment_settings_may_be_a_dict() -> None:
    g = nx.DiGraph()
    g.add_node("a", command_line="x", environment_settings={"MODE": "fast", "LEVEL": "2"})
    g.add_node("b", task=Task(command_line="y", environment_settings={"X": "1"}))
    g.graph["job"] = {"common_environment_settings": {"RUN": "nightly"}}
    plan = compile_graph(g)
    tasks = {t["id"]: t for r in plan.batches for t in orjson.loads(r.body)["value"]}
    assert tasks["a"]["environmentSettings"] == [
        {"name": "MODE", "value": "fast"},
        {"name": "LEVEL", "value": "2"},
    ]
    assert tasks["b"]["environmentSettings"] == [{"name": "X", "value": "1"}]
    assert plan.job["commonEnvironmentSettings"] == [{"name": "RUN", "value": "nightly"}]


def test_a_path_is_accepted_where_a_path_string_belongs() -> None:
    g = nx.DiGraph()
    g.add_node(
        "a",
        command_line="x",
        resource_files=[{"http_url": "https://h/x.csv", "file_path": Path("data") / "x.csv"}],
    )
    plan = compile_graph(g)
    (task,) = orjson.loads(plan.batches[0].body)["value"]
    assert task["resourceFiles"] == [{"httpUrl": "https://h/x.csv", "filePath": "data/x.csv"}]


def test_a_dotted_id_gets_a_valid_spelling() -> None:
    g = nx.DiGraph()
    g.add_node("extract.orders", command_line="x")
    (d,) = check_graph(g)
    assert d.code == "invalid-id"
    assert d.hint is not None and "'extract-orders'" in d.hint


def test_a_directory_given_as_the_workflow_says_so(tmp_path: Path) -> None:
    (tmp_path / "flow.py").write_text("")
    for command in ("compile", "validate"):
        status, _, err = run(command, str(tmp_path))
        assert status == 2
        assert "is a directory, not a workflow file" in err and "flow.py" in err


def test_submit_says_a_mistyped_source_before_missing_credentials(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Without the AZURE_BATCH_* variables, `submit nosuch.py` spoke of the endpoint; the
    file is the first thing to fix."""
    for name in ("AZURE_BATCH_ENDPOINT", "AZURE_BATCH_ACCOUNT", "AZURE_BATCH_ACCESS_KEY"):
        monkeypatch.delenv(name, raising=False)
    status, _, err = run("submit", "nosuch.py")
    assert status == 2 and "no such workflow file: nosuch.py" in err, err
    status, _, err = run("submit", "notaplan")
    assert status == 2 and "neither a plan directory nor a workflow .py file" in err, err
    Path("emptydir").mkdir()
    status, _, err = run("submit", "emptydir")
    assert status == 2 and "emptydir is not a plan directory (no plan.json)" in err, err


def test_a_plans_own_file_points_at_its_directory(tmp_path: Path) -> None:
    """`show PLAN/plan.json` said only that a workflow must be a .py file: every command
    that takes a plan now says to give the plan's directory, and the commands that take only
    a workflow say it is a compiled plan's file. Each exits 2, a usage error, as for a
    missing file (`show` and `compile` exited 1, an invalid workflow)."""
    plan = tmp_path / "plan"
    assert run("compile", str(ROOT / "examples" / "pipeline.py"), "--out", str(plan))[0] == 0
    given = str(plan / "plan.json")
    for args in (("show", given), ("run", given, "--simulate"), ("submit", given)):
        status, _, err = run(*args)
        assert status == 2, (args, status, err)
        assert f"is a plan's plan.json: give its directory ({plan})" in err, (args, err)
    for args in (
        ("compile", given, "--out", str(tmp_path / "other")),
        ("validate", given),
        ("validate", given, "--format", "json"),
    ):
        status, out, err = run(*args)
        assert status == 2, (args, status, err)
        said = out if "json" in args else err
        assert "is a compiled plan's plan.json, not a workflow" in said, (args, said)
        assert f"take its directory ({plan})" in said, (args, said)
    (tmp_path / "notes.txt").write_text("x\n")
    for command in ("show", "compile", "validate"):
        status, _, err = run(command, str(tmp_path / "notes.txt"))
        assert status == 2 and "notes.txt" in err, (command, status, err)


def test_a_mistyped_workflow_is_said_before_the_plan_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`compile` checks --out (default ./plan) before compiling; a ./plan holding a
    submission's journal made a mistyped workflow path read as a plan directory problem."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "plan").mkdir()
    (tmp_path / "plan" / "journal-nightly.jsonl").write_text('{"t":"run"}\n')
    status, _, err = run("compile", "nosuch.py")
    assert status == 2
    assert "no such workflow file: nosuch.py" in err and "journal" not in err
    status, _, err = run("compile", str(tmp_path))
    assert status == 2 and "is a directory, not a workflow file" in err


def fan_in() -> nx.DiGraph:
    g = nx.DiGraph()
    g.add_node("sink", command_line="reduce")
    for k in range(60):
        g.add_node(f"parent-{k:03d}", command_line="map")
        g.add_edge(f"parent-{k:03d}", "sink")
    return g


def _barrier_commands(plan: object) -> set[str]:
    return {
        t["commandLine"]
        for r in plan.batches  # type: ignore[attr-defined]
        for t in orjson.loads(r.body)["value"]
        if t["id"] in plan.barriers  # type: ignore[attr-defined]
    }


def test_the_pool_os_picks_the_barrier_command() -> None:
    small = {"taskids_margin": TASK_IDS_CHAR_LIMIT - 250}
    g = fan_in()
    plan = compile_graph(g, CompileOptions(**small))  # type: ignore[arg-type]
    assert _barrier_commands(plan) == {"/bin/true"}
    assert [w.code for w in plan.warnings] == ["barriers-inserted", "barrier-os-unknown"]
    g.graph["job"] = {"pool_os": "windows"}
    plan = compile_graph(g, CompileOptions(**small))  # type: ignore[arg-type]
    assert _barrier_commands(plan) == {"cmd /c exit 0"}
    assert "poolOs" not in plan.job and [w.code for w in plan.warnings] == ["barriers-inserted"]
    plan = compile_graph(g, CompileOptions(pool_os="linux", **small))  # type: ignore[arg-type]
    assert _barrier_commands(plan) == {"/bin/true"}


def test_an_empty_barrier_command_is_refused(tmp_path: Path) -> None:
    """`--barrier-command ''` wrote barriers that fail to launch, and the task they serve
    never ran: refused, as a task's own empty command line is."""
    wf = str(ROOT / "examples" / "wide_fanin.py")
    for blank in ("", "  "):
        status, _, err = run("compile", wf, "--barrier-command", blank, "--out", str(tmp_path))
        assert status == 2 and "an empty command line runs nothing" in err, err
        with pytest.raises(ConfigError, match="barrier_command is empty"):
            CompileOptions(barrier_command=blank)


def test_pool_os_option_on_the_command_line(tmp_path: Path) -> None:
    wf = str(ROOT / "examples" / "wide_fanin.py")
    out = tmp_path / "plan"
    # Any case, as graph.graph["job"]["pool_os"] takes it ("Windows" was refused here only).
    status, _, err = run("compile", wf, "--out", str(out), "--pool-os", "Windows", "-q")
    assert status == 0, err
    bodies = [orjson.loads(p.read_bytes()) for p in sorted((out / "batches").iterdir())]
    manifest = json.loads((out / "plan.json").read_text())
    commands = {
        t["commandLine"] for b in bodies for t in b["value"] if t["id"] in manifest["barriers"]
    }
    assert commands == {"cmd /c exit 0"}


def test_a_plan_with_sas_tokens_says_so_without_printing_them(tmp_path: Path) -> None:
    secret = "sv=2024-01-01&sr=b&sig=c2VjcmV0LXNpZ25hdHVyZQ%3D"
    wf = workflow(
        tmp_path,
        "graph = nx.DiGraph()\n"
        "graph.add_node('fetch', command_line='x', resource_files=[{'http_url': "
        f"'https://acct.blob.core.windows.net/c/x?{secret}', 'file_path': 'x'}}])\n"
        "graph.add_node('other', command_line='y')\n",
    )
    status, _, err = run("compile", wf, "--out", str(tmp_path / "plan"))
    assert status == 0
    assert "warning plan-holds-secrets (task 'fetch')" in err and "do not commit" in err
    assert "c2VjcmV0" not in err
    manifest = json.loads((tmp_path / "plan" / "plan.json").read_text())
    assert [w["code"] for w in manifest["warnings"]] == ["plan-holds-secrets"]


def test_a_url_password_is_a_secret_in_the_plan_and_never_printed(tmp_path: Path) -> None:
    """A resource file's URL with a password (``http://user:password@host/``) was printed
    by `run` and in its report, and the plan was not said to hold a secret."""
    from dagbatch.redact import redact

    g = nx.DiGraph()
    url = "http://user:S3cretPass@127.0.0.1:9/c/f.txt"
    g.add_node("fetch", command_line="x", resource_files=[{"http_url": url, "file_path": "f"}])
    g.add_node("mail", command_line="send to someone@example.org")  # an @ is no secret
    (warning,) = compile_graph(g).warnings
    assert warning.code == "plan-holds-secrets" and warning.task_id == "fetch"
    assert "1 task(s) ('fetch') carry URL passwords (user:password@)" in warning.message
    assert "SAS" not in warning.message
    assert redact(f"downloading {url} failed") == (
        "downloading http://user:REDACTED@127.0.0.1:9/c/f.txt failed"
    )
    for kept in ("send to someone@example.org", "ftp://anonymous@h/x", "a://b:c/d@e"):
        assert redact(kept) == kept


@pytest.mark.parametrize("words", ["config sig=1", "design=3"])
def test_a_sig_that_is_no_url_parameter_is_no_secret(words: str) -> None:
    g = nx.DiGraph()
    g.add_node("a", command_line=f"run --{words}")
    assert compile_graph(g).warnings == ()


def test_validate_json_escapes_a_lone_surrogate_in_an_id(tmp_path: Path) -> None:
    wf = workflow(tmp_path, "graph = nx.DiGraph()\ngraph.add_node('a\\ud800', command_line='x')\n")
    status, out, _ = run("validate", wf, "--format", "json")
    assert status == 1
    (record,) = [json.loads(line) for line in out.splitlines()]
    assert record["code"] == "invalid-id" and record["task_id"] == "a\ud800"
