"""validate: each diagnostic code, and every problem reported at once."""

from __future__ import annotations

import itertools

import networkx as nx
import orjson
import pytest
from dag_strategies import batch_exit_options, check_plan

from dagbatch import check_graph, compile_graph
from dagbatch.compiler.pipeline import CompileOptions
from dagbatch.compiler.spec import normalize
from dagbatch.compiler.validate import validate
from dagbatch.errors import Diagnostic, InvalidWorkflow


def graph(*nodes: str, edges: list[tuple[str, str, dict[str, str]]] | None = None) -> nx.DiGraph:
    g = nx.DiGraph()
    for n in nodes:
        g.add_node(n, command_line=f"run {n}")
    for u, v, d in edges or []:
        g.add_edge(u, v, **d)
    return g


def codes(diags: list[Diagnostic]) -> list[tuple[str, str | None]]:
    return sorted((d.code, d.task_id) for d in diags)


def only(diags: list[Diagnostic], code: str) -> Diagnostic:
    found = [d for d in diags if d.code == code]
    assert len(found) == 1, diags
    return found[0]


def test_a_valid_graph_has_no_diagnostics() -> None:
    g = graph("a", "b", "c", edges=[("a", "b", {}), ("b", "c", {"when": "always"})])
    assert check_graph(g) == []


def test_invalid_id_for_a_space() -> None:
    d = only(check_graph(graph("has space")), "invalid-id")
    assert d.task_id == "has space" and d.field == "id" and d.severity == "error"
    assert "' '" in d.message


def test_id_too_long_at_65_characters() -> None:
    assert check_graph(graph("a" * 64)) == []
    d = only(check_graph(graph("a" * 65)), "id-too-long")
    assert "65" in d.message


def test_duplicate_ids_ignoring_case() -> None:
    d = only(check_graph(graph("Align", "align")), "duplicate-id")
    assert d.task_id == "align"
    assert "'Align'" in d.message


def test_int_id_alias_is_a_warning() -> None:
    g = graph("7", "007", edges=[("7", "007", {})])
    diags = check_graph(g)
    d = only(diags, "int-id-alias")
    assert d.severity == "warning"
    assert "'7'" in d.message and "'007'" in d.message
    plan = compile_graph(g)  # a warning does not stop the compiler
    assert [w.code for w in plan.warnings] == ["int-id-alias"]


def test_the_int_and_the_str_of_one_number_are_a_duplicate_not_an_alias() -> None:
    """5 and "5" become one task id: duplicate-id says so; int-id-alias repeated it ("ids
    '5', '5'") when a padded id elsewhere made it look."""
    g = nx.DiGraph()
    for key in (5, "5", "007"):
        g.add_node(key, command_line="x")
    assert codes(check_graph(g)) == [("duplicate-id", "5")]


def test_self_loop() -> None:
    d = only(check_graph(graph("a", edges=[("a", "a", {})])), "self-loop")
    assert d.task_id == "a" and d.field == "dependsOn"


def test_cycle_with_its_path() -> None:
    g = graph(
        "start",
        "x",
        "y",
        "z",
        "after",
        edges=[
            ("start", "x", {}),
            ("x", "y", {}),
            ("y", "z", {}),
            ("z", "x", {}),
            ("z", "after", {}),
        ],
    )
    d = only(check_graph(g), "cycle")
    path = d.message.split(": ", 1)[1].split(" -> ")
    assert path[0] == path[-1]
    assert sorted(path[:-1]) == ["x", "y", "z"]
    for u, v in itertools.pairwise(path):
        assert g.has_edge(u, v), (u, v)


def test_every_cycle_is_reported_and_a_long_one_by_its_ends() -> None:
    """Only the first cycle was reported, so fixing it showed the next one; and a cycle of
    5,000 tasks was one line of 44 KB."""
    g = nx.DiGraph()
    for u, v in [("a", "b"), ("b", "a"), ("x", "y"), ("y", "x"), ("b", "behind")]:
        g.add_edge(u, v)
    ring = [f"r{k}" for k in range(5_000)]
    nx.add_cycle(g, ring)
    for n in g:
        g.nodes[n]["command_line"] = "x"
    cycles = [d for d in check_graph(g) if d.code == "cycle"]
    assert [d.task_id for d in cycles] == ["a", "x", "r0"]
    assert cycles[0].message.endswith(": a -> b -> a")
    assert cycles[1].message.endswith(": x -> y -> x")
    assert cycles[2].message.endswith("r8 -> ... (5,000 tasks) ... -> r4999 -> r0")
    assert len(cycles[2].message) < 200
    assert all("5,005 task(s) are on or behind a cycle, of 3 cycles" in d.hint for d in cycles)


def test_when_conflict() -> None:
    g = graph("p", "ok", "bad", edges=[("p", "ok", {}), ("p", "bad", {"when": "failure"})])
    d = only(check_graph(g), "when-conflict")
    assert d.task_id == "p"
    # Each side named, the child with no `when` too (it read "(others, default)").
    assert "(when='failure': bad; when='success': ok (no when given))" in d.message
    assert d.hint is not None and "the outcome of 'p' themselves" in d.hint  # not "'p''s"


def test_explicit_success_next_to_default_children_is_no_conflict() -> None:
    g = graph("p", "a", "b", edges=[("p", "a", {"when": "success"}), ("p", "b", {})])
    assert check_graph(g) == []


def test_explicit_success_on_a_satisfy_parent_is_accepted() -> None:
    # when='success' is the default; under on_failure='satisfy' it means "after the parent
    # ends", like the default edges next to it (rejected as intent-conflict before)
    g = graph("p", "c", "d", edges=[("p", "c", {"when": "success"}), ("p", "d", {})])
    g.nodes["p"]["on_failure"] = "satisfy"
    assert check_graph(g) == []
    plan = compile_graph(g)
    check_plan(g, plan)


def test_satisfy_parent_with_default_and_always_children_is_accepted() -> None:
    g = graph("p", "c", "d", edges=[("p", "c", {"when": "always"}), ("p", "d", {})])
    g.nodes["p"]["on_failure"] = "satisfy"
    assert check_graph(g) == []
    plan = compile_graph(g)
    check_plan(g, plan)
    ec = next(t for r in plan.batches for t in orjson.loads(r.body)["value"] if t["id"] == "p")[
        "exitConditions"
    ]
    for code in (0, 1, 7, None):
        assert batch_exit_options(ec, code, job_actions=False, ranges_cover_zero=True)[0] == (
            "satisfy"
        )


def test_a_block_parent_with_default_and_always_children_still_conflicts() -> None:
    g = graph("p", "c", "d", edges=[("p", "c", {"when": "always"}), ("p", "d", {})])
    assert codes(check_graph(g)) == [("when-conflict", "p")]


def test_the_when_conflict_hint_gives_a_workflow_that_compiles() -> None:
    g = graph(
        "publish",
        "notify",
        "rollback",
        edges=[("publish", "notify", {}), ("publish", "rollback", {"when": "failure"})],
    )
    d = only(check_graph(g), "when-conflict")
    assert "cannot start some children when 'publish' succeeds and others when it fails" in (
        d.message
    )
    assert d.hint is not None and "when='always'" in d.hint
    # following the hint: every edge out of publish becomes when='always'
    for _, _child, data in g.out_edges("publish", data=True):
        data["when"] = "always"
    assert check_graph(g) == []
    # the old hint (a gate task in between) still conflicts: the gate is one more child
    old = graph(
        "publish",
        "notify",
        "gate",
        "rollback",
        edges=[
            ("publish", "notify", {}),
            ("publish", "gate", {"when": "failure"}),
            ("gate", "rollback", {}),
        ],
    )
    assert codes(check_graph(old)) == [("when-conflict", "publish")]


def test_on_failure_satisfy_with_default_edges_is_fine() -> None:
    g = graph("p", "c", edges=[("p", "c", {})])
    g.nodes["p"]["on_failure"] = "satisfy"
    assert check_graph(g) == []


def test_job_action_needs_the_job_setting() -> None:
    g = graph("a")
    g.nodes["a"]["job_action"] = "terminate"
    assert check_graph(g) == []  # dagbatch sets performexitoptionsjobaction itself
    g.graph["job"] = {"on_task_failure": "noaction"}
    d = only(check_graph(g), "job-action-needs-job-setting")
    assert d.task_id == "a"
    g.nodes["a"]["job_action"] = "none"
    assert check_graph(g) == []


def test_task_too_large() -> None:
    g = graph("small")
    g.add_node(
        "huge",
        command_line="x",
        environment_settings=[{"name": "A", "value": "x" * (1024 * 1024)}],
    )
    d = only(check_graph(g), "task-too-large")
    assert d.task_id == "huge"
    # the same task fits the 4 MB limit of the 2017 api-version
    assert check_graph(g, CompileOptions(api_version="2017-09-01.6.0")) == []


def test_every_problem_is_reported_at_once() -> None:
    g = graph(
        "bad id",
        "Dup",
        "dup",
        "a" * 65,
        "s",
        "x",
        "y",
        "p",
        "c1",
        "c2",
        edges=[
            ("s", "s", {}),
            ("x", "y", {}),
            ("y", "x", {}),
            ("p", "c1", {"when": "failure"}),
            ("p", "c2", {"when": "always"}),
        ],
    )
    with pytest.raises(InvalidWorkflow) as info:
        compile_graph(g)
    found = {d.code for d in info.value.errors}
    assert found == {
        "invalid-id",
        "duplicate-id",
        "id-too-long",
        "self-loop",
        "cycle",
        "when-conflict",
    }
    text = str(info.value)
    assert "6 error(s)" in text


def test_validate_works_on_the_spec() -> None:
    spec, diags = normalize(graph("a", "b", edges=[("a", "b", {})]), api_version="2025-06-01")
    assert diags == [] and validate(spec) == []


# ---- jobs that never complete, handlers that never run (issue 8, point 5)


def test_a_failure_handler_in_a_terminatejob_job_warns_that_it_never_completes() -> None:
    # the shape of examples/pipeline.py before it was fixed
    g = graph("publish", "rollback", edges=[("publish", "rollback", {"when": "failure"})])
    g.graph["job"] = {"on_all_tasks_complete": "terminatejob"}
    found = [d for d in check_graph(g) if d.code == "never-completes"]
    assert [(d.task_id, d.severity) for d in found] == [("publish", "warning")]
    assert "if 'publish' succeeds, 'rollback' (when='failure') never runs and stays" in (
        found[0].message
    )
    assert found[0].hint is not None and "dagbatch finish" in found[0].hint
    # without terminatejob nobody waits for the job to complete: no warning
    del g.graph["job"]
    assert check_graph(g) == []


def test_raw_exit_conditions_that_block_on_exit_0_warn_too() -> None:
    """A raw entry blocking the dependents on exit code 0 strands them on success: the
    warning spoke of failure only."""
    g = graph("a", "b", edges=[("a", "b", {})])
    g.graph["job"] = {"on_all_tasks_complete": "terminatejob"}
    block = {"dependency_action": "block"}
    for raw in (
        {"exit_codes": [{"code": 0, "exit_options": block}]},
        {"exit_code_ranges": [{"start": -1, "end": 2, "exit_options": block}]},
    ):
        g.nodes["a"]["exit_conditions"] = raw
        found = [d for d in check_graph(g) if d.field == "exit_conditions"]
        assert [(d.code, d.task_id) for d in found] == [("never-completes", "a")], raw
        assert found[0].message.startswith("if 'a' exits 0, its exit_conditions block 'b'")
    g.nodes["a"]["exit_conditions"] = {"exit_codes": [{"code": 3, "exit_options": block}]}
    assert [d for d in check_graph(g) if d.field == "exit_conditions"] == []


def test_a_blocking_failure_in_a_terminatejob_job_warns_too() -> None:
    g = graph("a", "b", "c", edges=[("a", "b", {}), ("b", "c", {})])
    g.graph["job"] = {"on_all_tasks_complete": "terminatejob"}
    (d,) = check_graph(g)
    assert d.code == "never-completes" and "if any of 'a', 'b' fails" in d.message
    g.nodes["a"]["on_failure"] = "satisfy"
    (d,) = check_graph(g)
    assert "if 'b' fails, its dependents are blocked" in d.message  # one task: no "any of"
    # a failure that satisfies, or one that terminates the job, strands nothing
    g.nodes["b"]["job_action"] = "terminate"
    assert check_graph(g) == []


@pytest.mark.parametrize(
    ("action", "words"), [("terminate", "terminates"), ("disable", "disables")]
)
def test_a_job_action_that_makes_a_failure_handler_unreachable_warns(
    action: str, words: str
) -> None:
    g = graph("publish", "rollback", edges=[("publish", "rollback", {"when": "failure"})])
    g.nodes["publish"]["job_action"] = action
    (d,) = check_graph(g)
    assert (d.code, d.task_id, d.severity) == ("handler-unreachable", "publish", "warning")
    assert words in d.message and "'rollback'" in d.message


def test_the_pipeline_example_compiles_without_warnings() -> None:
    from pathlib import Path

    from dagbatch.compiler.loader import load_workflow

    example = Path(__file__).resolve().parents[2] / "examples" / "pipeline.py"
    assert compile_graph(load_workflow(example).graph).warnings == ()


def test_a_job_setting_the_api_version_lacks_is_reported_not_dropped() -> None:
    g = graph("a")
    g.graph["job"] = {"id": "j", "max_parallel_tasks": 4}
    opts = CompileOptions(api_version="2017-09-01.6.0")
    with pytest.raises(InvalidWorkflow) as info:
        compile_graph(g, opts)
    assert [(d.code, d.field) for d in info.value.errors] == [
        ("unsupported-property", "job.maxParallelTasks")
    ]
    assert compile_graph(g).job["maxParallelTasks"] == 4  # 2025-06-01 has it


def test_an_empty_workflow_is_a_warning_not_silence() -> None:
    from dagbatch.compiler.pipeline import compile_graph

    plan = compile_graph(nx.DiGraph())
    assert plan.task_count == 0
    assert [w.code for w in plan.warnings] == ["empty-workflow"]


@pytest.mark.parametrize(
    ("line", "operator"),
    [
        ("echo hi > out.txt && cat out.txt", ">"),
        ("ls | wc -l", "|"),
        ("make; make install", ";"),
        ("python x.py >out.txt", ">"),
        ("python x.py 2>err.txt", "2>"),
        ("python a.py 2>&1", "2>&1"),
        ("train && evaluate", "&&"),
    ],
)
def test_a_shell_operator_outside_quotes_is_warned_of(line: str, operator: str) -> None:
    """Batch runs a command line without a shell: `echo hi > out.txt` prints "hi > out.txt"
    and writes no file, the most common mistake in a Batch command line."""
    g = nx.DiGraph()
    g.add_node("t", command_line=line, environment_settings={"A": "1"})  # the model's path
    g.add_node("bare", command_line=line)  # the quick path of a bare command line
    warned = [d for d in check_graph(g) if d.code == "shell-syntax"]
    assert [d.task_id for d in warned] == ["t", "bare"]
    assert all(d.severity == "warning" and d.field == "command_line" for d in warned)
    assert warned[0].message == (
        f"the command line uses the shell operator {operator!r}, but Batch runs a command "
        "line without a shell: the program gets it as an argument"
    )
    escaped = line.replace("'", "'\\''")
    assert warned[0].hint == (
        f"run it under a shell: \"/bin/sh -c '{escaped}'\" (on Windows: cmd /c ...)"
    )
    # Following the hint, the line is not warned of.
    g.nodes["bare"]["command_line"] = f"/bin/sh -c '{escaped}'"
    assert [d.task_id for d in check_graph(g) if d.code == "shell-syntax"] == ["t"]


@pytest.mark.parametrize(
    "line",
    [
        "/bin/sh -c 'echo hi > out.txt && cat out.txt'",
        'bash -c "ls | wc -l"',
        "/bin/sh -c 'first\nsecond > out.txt'",  # a script of two lines
        "curl -o page.html https://example.com/?a=1&b=2",  # no operator to a program
        "java -cp a.jar;b.jar Main",
        'python filter.py --expr "a>b" --name "it\'s"',
        "grep a\\|b file.txt",
        "python shard.py 17",
        # Windows' shell reads the rest of the line as its own.
        "cmd /c dir > x.txt",
        'CMD.EXE /S /C "build && test"',
        "C:\\Windows\\System32\\cmd.exe /c a & b",
        'powershell -NoProfile -Command "a; b"',
    ],
)
def test_operators_a_program_gets_as_they_are_written_are_not_warned_of(line: str) -> None:
    g = nx.DiGraph()
    g.add_node("t", command_line=line)
    g.add_node("u", command_line="/bin/true")
    assert [d for d in check_graph(g) if d.code == "shell-syntax"] == []


@pytest.mark.parametrize(
    ("line", "said"),
    [
        ("python3 $AZ_BATCH_TASK_DIR/run.py", "uses the shell variable $AZ_BATCH_TASK_DIR"),
        ("echo ${HOME}", "uses the shell variable ${HOME}"),
        ("FOO=1 python3 run.py", "starts by setting FOO, as a shell would"),
        ("make;", "uses the shell operator ';'"),
        ("echo a\necho b", "holds a line break"),
    ],
)
def test_more_of_what_only_a_shell_does_is_warned_of(line: str, said: str) -> None:
    """A variable, a first word that sets one, a line ending in ';' and a line break all
    reached the program as they were written, without a word at compile."""
    g = nx.DiGraph()
    g.add_node("t", command_line=line)
    (d,) = [d for d in check_graph(g) if d.code == "shell-syntax"]
    assert said in d.message and d.hint is not None and "/bin/sh -c" in d.hint
    if line.startswith("FOO="):
        assert d.hint.startswith("environment_settings={'FOO': ...}, or run it under a shell")


@pytest.mark.parametrize(
    "line",
    [
        "python3 run.py --shard=3",  # '=' inside a later word: an argument
        "/bin/sh -c 'echo $HOME'",
        "python3 -c \"import os; print(os.environ['HOME'])\"",
        "find . -name x -exec rm {} \\;",
        "price \\$5",
    ],
)
def test_what_a_program_takes_as_written_is_not_warned_of(line: str) -> None:
    g = nx.DiGraph()
    g.add_node("t", command_line=line)
    assert [d for d in check_graph(g) if d.code == "shell-syntax"] == []


def test_on_a_windows_pool_a_dollar_is_no_variable() -> None:
    g = nx.DiGraph()
    g.graph["job"] = {"id": "w", "pool_os": "windows"}
    g.add_node("t", command_line="app.exe $5")
    assert [d for d in check_graph(g) if d.code == "shell-syntax"] == []


def test_on_a_windows_pool_the_hint_is_cmd() -> None:
    """A pool declared Windows was told to wrap the line in /bin/sh."""
    g = nx.DiGraph()
    g.graph["job"] = {"id": "w", "pool_os": "windows"}
    g.add_node("t", command_line="dir > x.txt")
    (d,) = [d for d in check_graph(g) if d.code == "shell-syntax"]
    assert d.hint == 'run it under a shell: "cmd /c dir > x.txt"'


def test_an_unclosed_quote_is_warned_of_and_a_blank_line_refused() -> None:
    """Both passed validate, and `dagbatch run` then failed the task (CommandLaunchFailed):
    an unclosed quote cannot be split into words, a blank line names no program."""
    g = nx.DiGraph()
    g.add_node("quote", command_line="echo 'unbalanced")
    g.add_node("fine", command_line='echo "it\'s"')
    (d,) = [d for d in check_graph(g) if d.code == "shell-syntax"]
    assert d.task_id == "quote" and d.message.startswith("the command line opens a quote (')")
    g.add_node("blank", command_line="   ")
    errors = [d for d in check_graph(g) if d.severity == "error"]
    assert codes(errors) == [("invalid-value", "blank")]
    assert errors[0].field == "command_line" and "blank" in errors[0].message
