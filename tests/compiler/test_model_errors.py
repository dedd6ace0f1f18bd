"""First contact with the Python API: a bad ``Task(...)`` reads like compile's diagnostics,
every independent problem of a task shows in one compile, a satisfy exit code 0 is said to
do nothing, and an environment variable name given twice is an error."""

from __future__ import annotations

import traceback
from pathlib import Path
from typing import Any

import networkx as nx
import orjson
import pytest
from pydantic import ValidationError

import dagbatch
from dagbatch import CompileOptions, check_graph, compile_graph
from dagbatch.compiler.loader import load_workflow
from dagbatch.compiler.models import JobSettings, ResourceFile, Task
from dagbatch.errors import (
    DagbatchError,
    Diagnostic,
    InvalidProperties,
    InvalidWorkflow,
    WorkflowLoadError,
)

URL = "https://acct.blob.core.windows.net/c/in.txt"
CONTAINER = "https://acct.blob.core.windows.net/c"


def found(diags: list[Diagnostic]) -> set[tuple[str, str | None, str | None]]:
    """(code, task, field) of every diagnostic."""
    return {(d.code, d.task_id, d.field) for d in diags}


def node_diagnostics(**attrs: Any) -> list[Diagnostic]:
    g = nx.DiGraph()
    g.add_node("x", command_line="run", **attrs)
    return check_graph(g)


# --------------------------------------------------------------------------- Task(...) errors


def test_a_bad_task_reads_like_compile_diagnostics() -> None:
    with pytest.raises(InvalidProperties) as info:
        Task(comand_line="x", display_name=5, constraints={"max_task_retry_count": -4})
    exc = info.value
    assert isinstance(exc, ValueError) and isinstance(exc, DagbatchError)
    assert isinstance(exc, InvalidWorkflow) and exc.model == "Task"
    assert found(exc.diagnostics) == {
        ("missing-property", None, "command_line"),
        ("unknown-property", None, "comand_line"),
        ("invalid-type", None, "display_name"),
        ("out-of-range", None, "constraints.max_task_retry_count"),
    }
    text = str(exc)
    assert text.startswith("invalid Task(...): 4 error(s)\n")
    assert "error unknown-property (field 'comand_line'): unknown property 'comand_line'" in text
    assert "hint: did you mean 'command_line'?" in text
    assert "error out-of-range (field 'constraints.max_task_retry_count')" in text
    # What a user sees, the traceback included: no pydantic dump, no links to its site.
    shown = "".join(traceback.format_exception(exc))
    assert "pydantic.dev" not in shown and "validation error" not in shown
    assert "For further information" not in shown and "input_value" not in shown


def test_a_bad_task_is_still_a_value_error() -> None:
    with pytest.raises(ValueError, match="did you mean 'environment_settings'"):
        dagbatch.Task(command_line="x", enviroment_settings={"A": "1"})


@pytest.mark.parametrize(
    ("given", "meant"),
    [
        ("commandline", "command_line"),  # no style of its own: the README's snake_case
        ("displayname", "display_name"),
        ("comand_line", "command_line"),
        ("comandLine", "commandLine"),  # a capital: camelCase, the wire's spelling
        ("environmentSetings", "environmentSettings"),
    ],
)
def test_the_suggestion_is_spelt_in_the_users_style(given: str, meant: str) -> None:
    """``commandline`` got "did you mean 'commandLine'?": a name with neither a capital nor
    an underscore gets the snake_case the README writes."""
    g = nx.DiGraph()
    g.add_node("a", command_line="x", **{given: "y"})
    (d,) = [d for d in dagbatch.check_graph(g) if d.code == "unknown-property"]
    assert d.hint == f"did you mean {meant!r}?"


def test_bad_job_settings_read_like_compile_diagnostics() -> None:
    with pytest.raises(InvalidProperties) as info:
        dagbatch.JobSettings(prioity=3, max_parallel_tasks=0)
    assert info.value.model == "JobSettings"
    assert found(info.value.diagnostics) == {
        ("unknown-property", None, "prioity"),
        ("invalid-max-parallel-tasks", None, "max_parallel_tasks"),
    }
    assert "did you mean 'priority'?" in str(info.value)


def test_a_model_inside_a_task_built_directly_says_which() -> None:
    with pytest.raises(InvalidProperties) as info:
        ResourceFile(http_url=URL, file_path="/etc/passwd")
    assert info.value.model == "ResourceFile"
    assert found(info.value.diagnostics) == {("path-escapes-task-dir", None, "file_path")}


def test_model_validate_still_raises_pydantics_error() -> None:
    """The compiler validates node attributes with model_validate and catches
    ValidationError: that stays as it was."""
    with pytest.raises(ValidationError):
        Task.model_validate({"comand_line": "x"})
    with pytest.raises(ValidationError):
        JobSettings.model_validate({"prioity": 1})
    (d,) = node_diagnostics(constraints={"max_task_retry_count": -4})
    assert (d.code, d.task_id, d.field) == ("out-of-range", "x", "constraints.max_task_retry_count")


def test_good_tasks_built_directly_still_compile() -> None:
    g = nx.DiGraph()
    g.add_node(
        "a",
        task=Task(command_line="x", resource_files=[ResourceFile(http_url=URL, file_path="in")]),
    )
    g.add_node("b", task=Task(command_line="y"), display_name="B")
    g.add_edge("a", "b")
    plan = compile_graph(g)
    tasks = {t["id"]: t for r in plan.batches for t in orjson.loads(r.body)["value"]}
    assert tasks["a"]["resourceFiles"] == [{"httpUrl": URL, "filePath": "in"}]
    assert tasks["b"]["displayName"] == "B"


@pytest.mark.parametrize(
    ("line", "model", "expected"),
    [
        ("graph.graph['job'] = JobSettings(prioity=1).model_dump()", "JobSettings", "priority"),
        ("graph.add_node('a', task=Task(comand_line='x'))", "Task", "command_line"),
        (
            "graph.add_node('a', task=Task.model_validate({'comand_line': 'x'}))",
            "Task",
            "command_line",
        ),
    ],
)
def test_a_bad_model_in_a_workflow_file_names_the_line(
    tmp_path: Path, line: str, model: str, expected: str
) -> None:
    wf = tmp_path / "wf.py"
    wf.write_text(
        "import networkx as nx\nfrom dagbatch import JobSettings, Task\n\n"
        f"graph = nx.DiGraph()\n{line}\n"
    )
    with pytest.raises(WorkflowLoadError) as info:
        load_workflow(wf)
    text = str(info.value)
    assert info.value.line == 5
    assert f"invalid {model}(...) while running the workflow" in text
    assert f"did you mean {expected!r}?" in text
    assert "pydantic.dev" not in text


# --------------------------------------------------------------------------- every problem at once


def test_a_resource_file_with_two_sources_and_a_path_outside_shows_both() -> None:
    rf = {"http_url": URL, "storage_container_url": CONTAINER, "file_path": "../x"}
    assert found(node_diagnostics(resource_files=[rf])) == {
        ("path-escapes-task-dir", "x", "resource_files[0].file_path"),
        ("resource-file-source", "x", "resource_files[0]"),
    }


def test_an_http_resource_file_without_a_path_and_with_a_prefix_shows_both() -> None:
    diags = node_diagnostics(resource_files=[{"http_url": URL, "blob_prefix": "in/"}])
    assert [d.code for d in diags] == ["resource-file-source", "resource-file-source"]
    assert "needs filePath" in diags[0].message and "blobPrefix" in diags[1].message


def test_two_sources_are_not_also_blamed_for_the_url_rules() -> None:
    diags = node_diagnostics(resource_files=[{"http_url": URL, "storage_container_url": CONTAINER}])
    (d,) = diags
    assert d.code == "resource-file-source" and "got httpUrl, storageContainerUrl" in d.message


def test_a_user_identity_with_both_and_a_bad_enum_shows_both() -> None:
    ui = {"username": "u", "auto_user": {"elevation_level": "root"}}
    assert found(node_diagnostics(user_identity=ui)) == {
        ("invalid-enum", "x", "user_identity.auto_user.elevation_level"),
        ("user-identity-exclusive", "x", "user_identity"),
    }


def test_a_reversed_exit_code_range_with_a_bad_action_shows_both() -> None:
    ec = {"exit_code_ranges": [{"start": 9, "end": 3, "exit_options": {"job_action": "explode"}}]}
    assert found(node_diagnostics(exit_conditions=ec)) == {
        ("invalid-enum", "x", "exit_conditions.exit_code_ranges[0].exit_options.job_action"),
        ("invalid-exit-code-range", "x", "exit_conditions.exit_code_ranges[0]"),
    }


def test_multi_instance_slots_and_a_bad_instance_count_show_both() -> None:
    mi = {"number_of_instances": 0, "coordination_command_line": "c"}
    assert found(node_diagnostics(multi_instance_settings=mi, required_slots=2)) == {
        ("out-of-range", "x", "multi_instance_settings.number_of_instances"),
        ("multi-instance-slots", "x", "multi_instance_settings"),
    }


def test_an_invalid_slot_count_is_not_also_a_multi_instance_problem() -> None:
    mi = {"coordination_command_line": "c"}
    (d,) = node_diagnostics(multi_instance_settings=mi, required_slots=0)
    assert (d.code, d.field) == ("out-of-range", "required_slots")


def test_every_bad_satisfy_exit_code_is_named() -> None:
    assert found(node_diagnostics(satisfy_exit_codes=[3, (9, 4), "5", 7])) == {
        ("invalid-exit-codes", "x", "satisfy_exit_codes[1]"),
        ("invalid-exit-codes", "x", "satisfy_exit_codes[2]"),
    }


def test_problems_of_several_fields_and_entries_come_together() -> None:
    diags = node_diagnostics(
        resource_files=[
            {"http_url": URL, "storage_container_url": CONTAINER, "file_path": "/abs"},
            {"auto_storage_container_name": "c", "file_mode": "999"},
        ],
        user_identity={},
        constraints={"retention_time": "7 days"},
    )
    assert {(d.code, d.field) for d in diags} == {
        ("path-escapes-task-dir", "resource_files[0].file_path"),
        ("resource-file-source", "resource_files[0]"),
        ("invalid-file-mode", "resource_files[1].file_mode"),
        ("user-identity-exclusive", "user_identity"),
        ("invalid-duration", "constraints.retention_time"),
    }


@pytest.mark.parametrize(
    "attrs",
    [
        {"resource_files": [{"http_url": URL, "file_path": "a", "file_mode": "0755"}]},
        {"resource_files": [{"storage_container_url": CONTAINER, "blob_prefix": "in/"}]},
        {"resource_files": [ResourceFile(auto_storage_container_name="c")]},
        {"user_identity": {"username": "u"}},
        {"user_identity": {"auto_user": {"scope": "pool"}}},
        {"exit_conditions": {"exit_code_ranges": [{"start": 3, "end": 3, "exit_options": {}}]}},
        {"multi_instance_settings": {"coordination_command_line": "c"}, "required_slots": 1},
        {"satisfy_exit_codes": {3, 4}},
        {"satisfy_exit_codes": 3},
        {"environment_settings": [{"name": "A", "value": "1"}, {"name": "a", "value": "2"}]},
    ],
)
def test_what_was_accepted_still_is(attrs: dict[str, Any]) -> None:
    assert node_diagnostics(**attrs) == []


# --------------------------------------------------------------------------- exit code 0


def _bodies(codes: Any) -> tuple[list[bytes], dict[str, Any]]:
    g = nx.DiGraph()
    g.add_node("a", command_line="x", satisfy_exit_codes=codes, job_action="terminate")
    g.add_node("b", command_line="y")
    g.add_edge("a", "b")
    plan = compile_graph(g, CompileOptions(job={"id": "j"}))
    return [r.body for r in plan.batches], plan.job


@pytest.mark.parametrize(
    ("codes", "shown", "hint"),
    [
        ([0, 3], "satisfy_exit_codes lists exit code 0", "=[3]"),
        ([0], "satisfy_exit_codes lists exit code 0", "leave satisfy_exit_codes out"),
        ([(0, 5)], "covers exit code 0 ((0, 5))", "=[(1, 5)]"),
        ([3, (-2, 1)], "covers exit code 0 ((-2, 1))", "=[(-2, -1), 1, 3]"),
        # Every entry that covers 0 is named, and the hint keeps every other code.
        ([(-5, 5), 7], "covers exit code 0 ((-5, 5))", "=[(-5, -1), (1, 5), 7]"),
        ([(0, 3), 0], "covers exit code 0 (0, (0, 3))", "=[(1, 3)]"),
    ],
)
def test_a_satisfy_exit_code_0_is_a_warning(codes: Any, shown: str, hint: str) -> None:
    (d,) = node_diagnostics(satisfy_exit_codes=codes)
    assert (d.code, d.severity, d.task_id, d.field) == (
        "redundant-exit-code",
        "warning",
        "x",
        "satisfy_exit_codes",
    )
    assert shown in d.message and "changes nothing" in d.message
    assert d.hint is not None and hint in d.hint


def test_a_satisfy_exit_code_0_compiles_to_the_same_requests() -> None:
    assert _bodies([0, 3]) == _bodies([3])
    g = nx.DiGraph()
    g.add_node("a", command_line="x", satisfy_exit_codes=[0, 3])
    plan = compile_graph(g)
    assert [d.code for d in plan.warnings] == ["redundant-exit-code"]
    assert node_diagnostics(satisfy_exit_codes=[3, (1, 4)]) == []


# --------------------------------------------------------------------------- environment names


@pytest.mark.parametrize("name", [["A"], {"n": 1}, ""])
def test_an_environment_name_of_the_wrong_type_or_empty_is_one_error(name: Any) -> None:
    """Not a crash (a list is no set member) and not also a duplicate: the name's own error."""
    env = [{"name": name, "value": "v"}, {"name": name}, {"name": "B"}]
    diags = node_diagnostics(environment_settings=env)
    assert diags and all(d.code != "duplicate-environment-name" for d in diags), diags
    assert {d.field for d in diags} == {
        "environment_settings[0].name",
        "environment_settings[1].name",
    }, diags


def test_what_no_process_can_be_given_is_refused_before_the_run() -> None:
    """A NUL in a command line, an environment name or value or a file path, and a '=' in
    an environment name: validate took them, and `dagbatch run` then waited for ever on a
    task the operating system would not start. Each is an error naming the field; a
    secret value is not repeated."""
    g = nx.DiGraph()
    g.add_node("bare", command_line="echo a\x00b")  # the compiler's quick path
    g.add_node("full", command_line="echo a\x00b", display_name="d")  # the model's
    g.add_node("eq", command_line="run", environment_settings={"A=B": "1"})
    g.add_node("val", command_line="run", environment_settings={"A": "s3cret\x00"})
    rf = [{"http_url": "http://127.0.0.1:1/x", "file_path": "a\x00b"}]
    g.add_node("path", command_line="run", resource_files=rf)
    g.add_node("fine", command_line="echo a\tb")
    diags = check_graph(g)
    found = {(d.task_id, d.field) for d in diags if d.code == "invalid-value"}
    assert found == {
        ("bare", "command_line"),
        ("full", "command_line"),
        ("eq", "environment_settings['A=B'].name"),
        ("val", "environment_settings['A'].value"),
        ("path", "resource_files[0].file_path"),
    }, diags
    assert all("s3cret" not in d.message for d in diags)
    assert all("could never start" in d.message for d in diags)


@pytest.mark.parametrize(
    ("key", "said"),
    [
        ("Job", "holds job settings"),
        ("job_settings", "holds job settings"),
        ("pool_id", "is a job setting"),
        ("onAllTasksComplete", "is a job setting"),
    ],
)
def test_job_settings_under_another_key_are_said_to_be_unread(key: str, said: str) -> None:
    """graph.graph["Job"] (or the settings at the top) passed validate without a word, and
    the job was made without them, also beside graph.graph["job"]. A graph's own
    attributes are left alone."""
    g = nx.DiGraph()
    g.graph[key] = {"id": "nightly"} if "job" in key.lower() else "terminatejob"
    g.add_node("a", command_line="x")
    (d,) = check_graph(g)
    assert (d.code, d.severity, d.field) == ("unknown-property", "warning", f"graph.graph[{key!r}]")
    assert said in d.message and "graph.graph['job'] only" in d.message
    g.graph = {"name": "mine", "id": 3, "job": {"id": "nightly"}}
    assert check_graph(g) == []  # a graph's own attributes
    # Beside graph.graph["job"] too, each misplaced one is said (they were all silent).
    g.graph = {"job": {"id": "nightly"}, "Job": {"priority": 100}, "pool_id": "q", "id": 3}
    assert sorted(str(d.field) for d in check_graph(g)) == [
        "graph.graph['Job']",
        "graph.graph['pool_id']",
    ]


def test_resource_files_that_fail_only_at_run_time_are_refused_at_compile() -> None:
    """An empty, non-URL or ftp:// source, and a directory as the file to download to,
    passed validate and failed the task when it ran (an empty httpUrl even by the very
    one-source rule compile checks). A SAS token in a bad URL is not repeated."""
    bad = [
        ({"http_url": "", "file_path": "f"}, "http_url", "invalid-value"),
        ({"http_url": "not a url", "file_path": "f"}, "http_url", "invalid-value"),
        ({"http_url": "ftp://h/f", "file_path": "f"}, "http_url", "invalid-value"),
        ({"storage_container_url": "not-a-url"}, "storage_container_url", "invalid-value"),
        ({"auto_storage_container_name": " "}, "auto_storage_container_name", "invalid-value"),
        ({"http_url": "https://h/f", "file_path": "."}, "file_path", "resource-file-source"),
        ({"http_url": "https://h/f", "file_path": "d/"}, "file_path", "resource-file-source"),
    ]
    for rf, field, code in bad:
        (d,) = node_diagnostics(resource_files=[rf])
        assert (d.code, d.field) == (code, f"resource_files[0].{field}"), (rf, d)
    for rf in (
        {"http_url": "https://127.0.0.1:10000/c/f?sv=1", "file_path": "ok"},
        {"http_url": "HTTP://h/f", "file_path": "sub/f"},
        {"storage_container_url": "https://h/c", "file_path": "."},
    ):
        assert node_diagnostics(resource_files=[rf]) == [], rf
    (d,) = node_diagnostics(
        resource_files=[{"http_url": "htps://h/x?sig=S3cretSig", "file_path": "f"}]
    )
    assert "S3cretSig" not in d.message


def test_a_value_without_its_name_and_wrong_types_read_in_the_files_words() -> None:
    """Task("echo hi") was Python's TypeError naming pydantic's base class; a string for
    resource_files asked for "a valid tuple", for constraints "a valid dictionary or
    instance of TaskConstraints": words of the code, not of the workflow file."""
    with pytest.raises(InvalidProperties) as info:
        Task("echo hi")  # type: ignore[misc]
    (d,) = info.value.diagnostics
    assert "takes its properties by name" in d.message
    assert d.hint == "e.g. Task(command_line='echo hi')"
    with pytest.raises(InvalidProperties, match="JobSettings\\(id='nightly'\\)"):
        JobSettings("nightly")  # type: ignore[misc]
    (d,) = node_diagnostics(resource_files="fetch.py")
    assert d.message == "Input should be a list, not 'fetch.py'"
    (d,) = node_diagnostics(constraints="PT1H")
    assert d.message == "Input should be a dict of its properties, not 'PT1H'"


def test_an_int_key_of_thousands_of_digits_is_an_id_too_long_not_a_traceback() -> None:
    """10**5000 as a node key stopped the compile with Python's ValueError (an int of more
    than 4,300 digits is not written out by default); the diagnostic shows the id cut."""
    huge = 10**5000
    for keys in ((huge, "a"), (huge, 1), (huge, 1.5)):  # str beside it, int, an odd key
        g = nx.DiGraph()
        for key in keys:
            g.add_node(key, command_line="x")
        found = {d.code: d for d in check_graph(g) if d.task_id and d.task_id.startswith("1000")}
        assert found["id-too-long"].message == (
            "task id is 5001 characters; Batch allows at most 64"
        ), keys
        shown = found["id-too-long"].format()
        assert "...'0000000000' (5,001 characters)" in shown and len(shown) < 300
    with pytest.raises(ValueError):  # the process's own limit is as it was
        str(huge)


def test_a_pool_id_in_the_job_settings_is_checked_as_pool_id_is() -> None:
    """`--pool-id 'bad pool!'` was refused, the same value in graph.graph["job"] written into
    job.json (and refused by Batch at job creation)."""
    for pool, code in (("bad pool!", "invalid-id"), ("p" * 65, "id-too-long"), ("", "invalid-id")):
        g = nx.DiGraph()
        g.graph["job"] = {"id": "x", "pool_id": pool}
        g.add_node("a", command_line="x")
        (d,) = check_graph(g)
        assert (d.code, d.field, d.severity) == (code, "job.pool_id", "error")
        assert d.message.startswith("pool id ")


def test_hints_point_where_a_misplaced_name_goes() -> None:
    """`when` on a node and `id` got "check the spelling"; a '_' name inside a setting was
    refused with the hint that '_' names are ignored."""
    g = nx.DiGraph()
    g.graph["job"] = {"id": "t", "_mine": 1, "pool_info": {"pool_id": "x"}}
    g.add_node("a", command_line="x", when="failure", constraints={"_note": 1})
    g.add_node("b", command_line="x", id="b", _own=3)  # _own: a node's own, ignored
    hints = {(d.task_id, d.field): d.hint for d in check_graph(g)}
    assert hints == {
        ("a", "when"): "did you mean the edge attribute when ('success', 'failure' or "
        "'always'), graph.add_edge(parent, task, when='failure')?",
        ("b", "id"): "did you mean the node's key (graph.add_node('my-task', ...) makes task "
        "'my-task')?",
        ("a", "constraints._note"): "check the spelling; only a node's own attributes "
        "starting with '_' are ignored, not names inside a setting",
        (None, "job._mine"): "check the spelling; only a node's own attributes starting "
        "with '_' are ignored, not names inside a setting",
        (None, "job.pool_info"): "did you mean pool_id in graph.graph['job']?",
    }


def test_values_are_said_as_the_user_wrote_them() -> None:
    """A negative timedelta read "-1 day, 23:59:55"; a '..' in a file path "would leave the
    task working directory" (a/../b does not); a range of exit codes was refused."""
    from datetime import timedelta

    g = nx.DiGraph()
    g.add_node("a", command_line="x", constraints={"max_wall_clock_time": timedelta(seconds=-5)})
    g.add_node(
        "b", command_line="x", resource_files=[{"http_url": "https://h/f", "file_path": "a/../b"}]
    )
    g.add_node("c", command_line="x", satisfy_exit_codes=range(3, 6))
    messages = {d.task_id: d.message for d in check_graph(g)}
    assert messages["a"] == "duration -5 s is negative"
    assert "contains a '..' component, which Batch refuses in a file path" in messages["b"]
    assert "c" not in messages  # range(3, 6): codes 3 to 5
    plan = compile_graph(g.subgraph(["c"]).copy())
    (task,) = orjson.loads(plan.batches[0].body)["value"]
    assert task["exitConditions"]["exitCodeRanges"][0] == {
        "start": 3,
        "end": 5,
        "exitOptions": {"dependencyAction": "satisfy"},
    }


def test_a_bad_id_gets_every_problem_and_a_free_spelling() -> None:
    """'a b' beside 'a-b' was offered 'a-b', a duplicate; 'ünï' was offered 'n'; an id too
    long with a '.' was said to be too long only, the '.' found on the next run."""
    g = nx.DiGraph()
    for tid in ("a b", "a-b", "ünï", "x" * 70 + ".y"):
        g.add_node(tid, command_line="x")
    diags = {(d.task_id, d.code): d for d in check_graph(g)}
    assert diags[("a b", "invalid-id")].hint.endswith("e.g. 'a-b-2'")
    assert diags[("ünï", "invalid-id")].hint.endswith("e.g. 'uni'")
    assert {code for tid, code in diags if tid.endswith(".y")} == {"id-too-long", "invalid-id"}
    g = nx.DiGraph(job={"id": "bad job!"})
    g.add_node("a", command_line="x")
    (d,) = check_graph(g)
    assert (d.code, d.field) == ("invalid-id", "job.id")
    assert "job id has characters Batch does not allow: ' ', '!'" in d.message


def test_an_exit_code_with_two_fates_is_an_error() -> None:
    """Code 1 listed twice with satisfy and block, or two overlapping ranges with other
    actions, passed silently; which entry Batch applies is not documented, and the run
    took the first. The same entry twice changes nothing and stays allowed."""

    def entry(action: str, **where: int) -> dict[str, Any]:
        return {**where, "exit_options": {"dependency_action": action}}

    ec = {
        "exit_codes": [entry("satisfy", code=1), entry("block", code=1), entry("block", code=2)],
        "exit_code_ranges": [
            entry("satisfy", start=10, end=15),
            entry("block", start=14, end=19),
            entry("block", start=20, end=30),
        ],
    }
    diags = node_diagnostics(exit_conditions=ec)
    assert [(d.code, d.field) for d in diags] == [
        ("invalid-exit-codes", "exit_conditions.exit_codes[1]"),
        ("invalid-exit-codes", "exit_conditions.exit_code_ranges[1]"),
    ], diags
    assert "exit code 1 is listed again (entry 0)" in diags[0].message
    same = {"exit_codes": [entry("satisfy", code=1), entry("satisfy", code=1)]}
    assert node_diagnostics(exit_conditions=same) == []
    # Batch's default for a non-zero code is block: unset and "block" are the same fate.
    unset = {"exit_codes": [entry("block", code=1), {"code": 1, "exit_options": {}}]}
    assert node_diagnostics(exit_conditions=unset) == []


def test_an_environment_name_given_twice_is_an_error() -> None:
    env = [{"name": "A", "value": "s3cret-1"}, {"name": "B"}, {"name": "A", "value": "s3cret-2"}]
    (d,) = node_diagnostics(environment_settings=env)
    assert (d.code, d.severity, d.task_id, d.field) == (
        "duplicate-environment-name",
        "error",
        "x",
        "environment_settings",
    )
    assert "'A' is set by entries 0 and 2" in d.message
    assert "s3cret" not in d.message  # values may be secrets: never shown
    g = nx.DiGraph()
    g.add_node("x", command_line="run", environment_settings=env)
    with pytest.raises(InvalidWorkflow, match="duplicate-environment-name"):
        compile_graph(g)


def test_every_repeated_name_is_named_with_other_problems() -> None:
    env = [
        {"name": "A", "value": "1"},
        {"name": "B", "value": "1"},
        {"value": "no name"},
        {"name": "B", "value": "2"},
        {"name": "A", "value": "2"},
        {"name": "A", "value": "3"},
    ]
    diags = node_diagnostics(environment_settings=env)
    assert found(diags) == {
        ("missing-property", "x", "environment_settings[2].name"),
        ("duplicate-environment-name", "x", "environment_settings"),
    }
    (dup,) = [d for d in diags if d.code == "duplicate-environment-name"]
    assert "'A' is set by entries 0, 4 and 5" in dup.message
    assert "'B' is set by entries 1 and 3" in dup.message


def test_a_repeated_name_in_settings_built_directly() -> None:
    from dagbatch.compiler.models import EnvironmentSetting

    env = [EnvironmentSetting(name="A", value="1"), EnvironmentSetting(name="A", value="2")]
    with pytest.raises(InvalidProperties) as info:
        Task(command_line="x", environment_settings=env)
    assert found(info.value.diagnostics) == {
        ("duplicate-environment-name", None, "environment_settings")
    }


def test_a_repeated_name_in_the_jobs_common_environment() -> None:
    g = nx.DiGraph()
    g.add_node("x", command_line="run", environment_settings={"A": "task wins"})
    g.graph["job"] = {"common_environment_settings": [{"name": "A"}, {"name": "A", "value": "2"}]}
    # A task's own setting overriding the job's is documented [spec BatchJob
    # commonEnvironmentSettings] and fine; the job's list naming A twice is not.
    (d,) = check_graph(g)
    assert (d.code, d.task_id, d.field) == (
        "duplicate-environment-name",
        None,
        "job.common_environment_settings",
    )


def test_the_readme_shows_what_a_bad_task_prints() -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    with pytest.raises(InvalidProperties) as info:
        Task(comand_line="x")
    shown = f"dagbatch.errors.InvalidProperties: {info.value}\n"
    assert "```\n" + shown + "```" in readme
    for code in ("redundant-exit-code", "duplicate-environment-name"):
        assert f"| `{code}`" in readme


def test_an_exit_code_range_bound_beyond_int32_is_one_error() -> None:
    """The bound's own out-of-range error, not also "start is greater than end"."""
    ranges = [{"start": 2**31, "end": 0, "exit_options": {"job_action": "none"}}]
    (d,) = node_diagnostics(exit_conditions={"exit_code_ranges": ranges})
    assert (d.code, d.field) == ("out-of-range", "exit_conditions.exit_code_ranges[0].start")


def test_the_error_survives_pickling_and_copying() -> None:
    """Raised in a process pool's worker (tasks built in parallel), the error reaches the
    parent whole: it is rebuilt from its fields, not from its message."""
    import copy
    import pickle

    with pytest.raises(InvalidProperties) as info:
        Task(command_line="x", required_slots=0)
    error = info.value
    for again in (pickle.loads(pickle.dumps(error)), copy.copy(error)):
        assert type(again) is InvalidProperties
        assert (again.model, again.diagnostics, str(again)) == (
            error.model,
            error.diagnostics,
            str(error),
        )


def test_job_settings_built_in_python_go_where_a_mapping_does() -> None:
    """``graph.graph["job"]`` and ``CompileOptions(job=...)`` take a ``JobSettings`` as they
    take a mapping: its settings as given, the options' over the graph's."""
    g = nx.DiGraph()
    g.graph["job"] = dagbatch.JobSettings(id="nightly", pool_id="p", priority=5)
    g.add_node("a", command_line="x")
    job = compile_graph(g).job
    assert (job["id"], job["priority"], job["poolInfo"]) == ("nightly", 5, {"poolId": "p"})
    job = compile_graph(g, CompileOptions(job=dagbatch.JobSettings(id="other"))).job
    assert (job["id"], job["priority"]) == ("other", 5)


@pytest.mark.parametrize("shape", [list, tuple, "deque", "generator"])
def test_an_environment_name_given_twice_is_found_in_any_sequence(shape: Any) -> None:
    """Whatever iterable pydantic takes for the settings, a name given twice is found (the
    shortcut that skips the task's rules skips only what cannot repeat a name)."""
    import collections

    env = [{"name": "A", "value": "1"}, {"name": "A", "value": "2"}]
    given = {
        "deque": lambda: collections.deque(env),
        "generator": lambda: (e for e in env),
    }.get(shape, lambda: shape(env))()
    with pytest.raises(ValidationError) as info:
        Task.model_validate({"command_line": "x", "environment_settings": given})
    assert "duplicate-environment-name" in {e["type"] for e in info.value.errors()}


def test_a_job_override_wins_whatever_name_the_graph_gives_the_setting() -> None:
    """The graph's ``poolId`` and the command line's (or a JobSettings') ``pool_id`` are one
    setting: the override's, not an unknown-property error."""
    g = nx.DiGraph()
    g.graph["job"] = {"id": "nightly", "poolId": "graphpool"}
    g.add_node("a", command_line="x")
    for override in ({"pool_id": "other"}, dagbatch.JobSettings(pool_id="other")):
        job = compile_graph(g, CompileOptions(job=override)).job
        assert job["poolInfo"] == {"poolId": "other"}
    assert compile_graph(g).job["poolInfo"] == {"poolId": "graphpool"}


def test_the_error_keeps_its_notes_through_pickling() -> None:
    import pickle

    with pytest.raises(InvalidProperties) as info:
        Task(command_line="x", required_slots=0)
    info.value.add_note("built in a worker")
    assert pickle.loads(pickle.dumps(info.value)).__notes__ == ["built in a worker"]


# ------------------------------------------------- fields named as the user wrote them


def test_a_field_is_named_as_the_user_wrote_it() -> None:
    """Python names and Batch's wire names are both accepted, so each error names the field
    the way its input spelt it, level by level (it said camelCase for all before, where
    compile's own checks say snake_case); snake_case where the input does not say."""
    snake = found(
        node_diagnostics(
            constraints={"max_task_retry_count": -5},
            exit_conditions={"exit_codes": [{"code": "x", "exit_options": {}}]},
        )
    )
    assert snake == {
        ("out-of-range", "x", "constraints.max_task_retry_count"),
        ("invalid-type", "x", "exit_conditions.exit_codes[0].code"),
    }
    camel = found(
        node_diagnostics(
            constraints={"maxTaskRetryCount": -5},
            exitConditions={"exitCodes": [{"code": "x", "exitOptions": {}}]},
        )
    )
    assert camel == {
        ("out-of-range", "x", "constraints.maxTaskRetryCount"),
        ("invalid-type", "x", "exitConditions.exitCodes[0].code"),
    }
    # Mixed levels; a property that is missing, in the style of the keys beside it.
    mixed = found(node_diagnostics(resourceFiles=[{"http_url": URL}]))
    assert mixed == {("resource-file-source", "x", "resourceFiles[0]")}
    g = nx.DiGraph()
    g.add_node("y", displayName="no command")
    g.add_node("z", display_name="no command")
    assert found(check_graph(g)) == {
        ("missing-property", "y", "commandLine"),
        ("missing-property", "z", "command_line"),
    }
    # A key with characters pydantic uses for its own tags, and an environment given as a
    # mapping (named by the variable, not by its place in the list it becomes).
    odd = found(
        node_diagnostics(
            constraints={"max-task-retry-count": 1}, environment_settings={"A": "1", "B": 5}
        )
    )
    assert odd == {
        ("unknown-property", "x", "constraints.max-task-retry-count"),
        ("invalid-type", "x", "environment_settings['B'].value"),
    }
    with pytest.raises(InvalidProperties) as info:
        JobSettings(maxParallelTasks=0)
    assert found(info.value.diagnostics) == {
        ("invalid-max-parallel-tasks", None, "maxParallelTasks")
    }


def test_a_property_given_in_both_spellings_says_so() -> None:
    """``command_line`` beside ``commandLine`` read "unknown property 'command_line'", with
    the hint "did you mean 'command_line'?": it is one error saying the property is given
    twice, naming both keys as given, at any depth and in ``Task(...)``."""
    both = node_diagnostics(commandLine="y", user_identity={"user_name": "a", "username": "b"})
    assert found(both) == {
        ("property-given-twice", "x", "command_line"),
        ("property-given-twice", "x", "user_identity.user_name"),
    }
    named = {d.field: (d.message, d.hint) for d in both}
    assert named["command_line"] == (
        "the property is given twice, as 'commandLine' and 'command_line'",
        "keep one of 'commandLine' and 'command_line' (both name one property)",
    )
    assert "'username' and 'user_name'" in named["user_identity.user_name"][0]
    with pytest.raises(InvalidProperties) as info:
        Task(command_line="x", commandLine="y")
    assert found(info.value.diagnostics) == {("property-given-twice", None, "command_line")}


def test_attributes_beside_a_task_replace_its_values_under_either_spelling() -> None:
    """``task=Task(command_line="x")`` with ``commandLine="y"`` beside it was "given twice"
    (the task's value under one spelling, the attribute's under the other): the attribute
    replaces the task's value, as ``command_line="y"`` does."""
    g = nx.DiGraph()
    g.add_node("a", task=Task(command_line="x", display_name="A"), commandLine="y")
    g.add_node("b", task=Task(command_line="x"), command_line="z")
    (batch,) = compile_graph(g).batches
    tasks = {t["id"]: t for t in orjson.loads(batch.body)["value"]}
    assert (tasks["a"]["commandLine"], tasks["a"]["displayName"]) == ("y", "A")
    assert tasks["b"]["commandLine"] == "z"


def test_a_refused_value_is_said_with_what_was_given() -> None:
    """pydantic's message says what a field accepts; the value given is added when it is
    short and cannot be a secret (an environment value, a URL's signature)."""
    by_field = {
        d.field: d.message
        for d in node_diagnostics(on_failure="skip", constraints={"max_task_retry_count": -5})
    }
    assert by_field["on_failure"] == "Input should be 'block' or 'satisfy', not 'skip'"
    assert by_field["constraints.max_task_retry_count"].endswith(
        "greater than or equal to -1, not -5"
    )
    # dagbatch's own message already quotes the value: not twice.
    (duration,) = node_diagnostics(constraints={"max_wall_clock_time": "1 hour"})
    assert duration.message.count("'1 hour'") == 1
    # Never a value that may be a secret, nor a long one.
    (env,) = node_diagnostics(environment_settings={"TOKEN": 12345})
    assert "12345" not in env.message and env.field is not None and "environment" in env.field
    (long,) = node_diagnostics(on_failure="x" * 100)
    assert "xxxx" not in long.message


@pytest.mark.parametrize(
    ("attributes", "code", "field"),
    [
        ({"command_line": "x", 5: "v"}, "invalid-type", "5"),
        ({None: "v"}, "invalid-type", "None"),
        ({"command_line": "x", "exit_conditions": {"exitCodes": 5}}, "invalid-type", None),
        ({"command_line": "x", "exit_conditions": {"exitCodeRanges": 7}}, "invalid-type", None),
    ],
)
def test_odd_attributes_are_diagnostics_not_a_crash(
    attributes: dict[Any, Any], code: str, field: str | None
) -> None:
    """An attribute name that is no str, and a number where exit codes are a list, stopped
    compile with an AttributeError or TypeError from deep inside."""
    g = nx.DiGraph()
    g.add_node("a")
    g.nodes["a"].update(attributes)
    with pytest.raises(InvalidWorkflow) as caught:
        compile_graph(g)
    found = [(d.code, d.field) for d in caught.value.diagnostics if d.code == code]
    assert found, caught.value.diagnostics
    if field is not None:
        assert (code, field) in found
    else:
        assert any(f and f.startswith("exit_conditions.") for _, f in found), found


def test_a_number_for_exit_codes_in_a_task_is_invalid_properties() -> None:
    with pytest.raises(InvalidProperties):
        Task(command_line="x", exit_conditions={"exitCodes": 5})
