"""emit: exitConditions derived from the failure intent, raw pass-through and clashes."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import networkx as nx
import orjson
import pytest
from dag_strategies import NodeIntent, batch_exit_options, check_plan, wanted_action

from dagbatch import compile_graph
from dagbatch.compiler.emit import depends_on_wire, task_objects
from dagbatch.compiler.exits import (
    derive_exit_conditions,
    sets_dependency_action,
    sets_job_action,
)
from dagbatch.compiler.ranges import Dependencies
from dagbatch.compiler.spec import Intent
from dagbatch.errors import Diagnostic, InvalidWorkflow


def derive(intent: Intent, mode: str | None, job_actions: bool = False) -> dict[str, Any] | None:
    diags: list[Diagnostic] = []
    out = derive_exit_conditions(
        intent, mode=mode, job_actions=job_actions, task_id="t", diags=diags
    )
    assert diags == []
    return out


# The derivation table: what the user says -> the exact exitConditions.
TABLE: list[tuple[Intent, str | None, bool, dict[str, Any] | None]] = [
    (Intent(), None, False, None),
    (Intent(), "success", False, None),
    (Intent(), "always", False, {"default": {"dependencyAction": "satisfy"}}),
    (
        Intent(),
        "failure",
        False,
        {
            "exitCodes": [{"code": 0, "exitOptions": {"dependencyAction": "block"}}],
            "default": {"dependencyAction": "satisfy"},
        },
    ),
    (Intent(on_failure="satisfy"), "success", False, {"default": {"dependencyAction": "satisfy"}}),
    (Intent(on_failure="satisfy"), None, False, None),
    (
        Intent(satisfy_exit_codes=(3, (10, 12))),
        "success",
        False,
        {
            "exitCodes": [{"code": 3, "exitOptions": {"dependencyAction": "satisfy"}}],
            "exitCodeRanges": [
                {"start": 10, "end": 12, "exitOptions": {"dependencyAction": "satisfy"}}
            ],
        },
    ),
    (Intent(), None, True, {"default": {"jobAction": "none"}}),
    (Intent(job_action="terminate"), None, True, {"default": {"jobAction": "terminate"}}),
    (
        Intent(job_action="disable", satisfy_exit_codes=(3,)),
        "success",
        True,
        {
            "exitCodes": [
                {"code": 3, "exitOptions": {"dependencyAction": "satisfy", "jobAction": "none"}}
            ],
            "default": {"jobAction": "disable"},
        },
    ),
    (
        Intent(),
        "failure",
        True,
        {
            "exitCodes": [
                {"code": 0, "exitOptions": {"dependencyAction": "block", "jobAction": "none"}}
            ],
            "default": {"dependencyAction": "satisfy", "jobAction": "none"},
        },
    ),
]


@pytest.mark.parametrize(("intent", "mode", "job_actions", "expected"), TABLE)
def test_derivation_table(
    intent: Intent, mode: str | None, job_actions: bool, expected: dict[str, Any] | None
) -> None:
    assert derive(intent, mode, job_actions) == expected


_CODES: list[tuple[int | tuple[int, int], ...]] = [(), (3,), (3, 4), ((10, 12),), (3, (10, 12))]


@pytest.mark.parametrize(
    ("mode", "on_failure", "codes", "job_actions", "job_action"),
    list(
        itertools.product(
            ["success", "failure", "always", None],
            ["block", "satisfy"],
            _CODES,
            [False, True],
            [None, "none", "terminate", "disable"],
        )
    ),
)
def test_batch_applies_what_the_intent_says(
    mode: str | None,
    on_failure: str,
    codes: tuple[int | tuple[int, int], ...],
    job_actions: bool,
    job_action: str | None,
) -> None:
    intent = Intent(on_failure=on_failure, satisfy_exit_codes=codes, job_action=job_action)
    ec = derive(intent, mode, job_actions)
    want = NodeIntent(on_failure, codes, job_action)
    for code in want.probe_codes():
        for cover in (False, True):
            dep, jact = batch_exit_options(
                ec, code, job_actions=job_actions, ranges_cover_zero=cover
            )
            if mode is not None:
                assert dep == wanted_action(want, mode, code), (code, ec)
            expected_job = "none"
            if job_actions and not want.succeeded(code):
                expected_job = job_action or "none"
            assert jact == expected_job, (code, ec)
    if not job_actions:
        assert not sets_job_action(ec)


def test_always_with_job_actions_keeps_satisfy_codes_satisfying() -> None:
    # regression: under job actions a satisfy code gets an entry of its own, and an entry
    # without dependencyAction blocks for a non-zero code
    ec = derive(Intent(satisfy_exit_codes=(3,)), "always", job_actions=True)
    assert ec is not None
    assert batch_exit_options(ec, 3, job_actions=True, ranges_cover_zero=False) == (
        "satisfy",
        "none",
    )


def test_raw_exit_conditions_pass_through() -> None:
    raw = {"exitCodes": [{"code": 7, "exitOptions": {"dependencyAction": "satisfy"}}]}
    assert derive(Intent(exit_conditions=raw), None) == raw
    merged = derive(Intent(exit_conditions=raw), "failure")
    assert merged == {
        "exitCodes": [
            {"code": 7, "exitOptions": {"dependencyAction": "satisfy"}},
            {"code": 0, "exitOptions": {"dependencyAction": "block"}},
        ],
        "default": {"dependencyAction": "satisfy"},
    }


def test_raw_entries_get_job_action_none_under_job_actions() -> None:
    raw = {
        "exitCodes": [{"code": 7, "exitOptions": {"dependencyAction": "satisfy"}}],
        "preProcessingError": {"dependencyAction": "block"},
    }
    ec = derive(Intent(exit_conditions=raw), None, job_actions=True)
    assert ec is not None
    assert ec["exitCodes"][0]["exitOptions"] == {"jobAction": "none", "dependencyAction": "satisfy"}
    assert ec["preProcessingError"] == {"jobAction": "none", "dependencyAction": "block"}
    assert ec["default"] == {"jobAction": "none"}


@pytest.mark.parametrize(
    ("raw", "mode", "field"),
    [
        ({"default": {"dependencyAction": "block"}}, "failure", "exitConditions.default"),
        (
            {"exitCodes": [{"code": 0, "exitOptions": {"dependencyAction": "satisfy"}}]},
            "failure",
            "exitConditions.exitCodes[0].exitOptions",
        ),
        ({"default": {"dependencyAction": "block"}}, "always", "exitConditions.default"),
    ],
)
def test_clash_between_raw_and_derived(raw: dict[str, Any], mode: str, field: str) -> None:
    diags: list[Diagnostic] = []
    derive_exit_conditions(
        Intent(exit_conditions=raw), mode=mode, job_actions=False, task_id="t", diags=diags
    )
    assert [d.code for d in diags] == ["exit-conditions-clash"]
    assert diags[0].task_id == "t"
    assert diags[0].field is not None and diags[0].field.startswith(field)


def test_clash_of_job_actions() -> None:
    diags: list[Diagnostic] = []
    raw = {"default": {"jobAction": "disable"}}
    derive_exit_conditions(
        Intent(exit_conditions=raw, job_action="terminate"),
        mode=None,
        job_actions=True,
        task_id="t",
        diags=diags,
    )
    assert [d.code for d in diags] == ["exit-conditions-clash"]
    # without an explicit job_action the raw jobAction stands
    diags.clear()
    ec = derive_exit_conditions(
        Intent(exit_conditions=raw), mode=None, job_actions=True, task_id="t", diags=diags
    )
    assert diags == []
    assert ec == {"default": {"jobAction": "disable"}}


@pytest.mark.parametrize(
    ("raw", "satisfy", "field"),
    [
        # a raw range blocks codes 1-10; the intent says 3 satisfies
        (
            {
                "exitCodeRanges": [
                    {"start": 1, "end": 10, "exitOptions": {"dependencyAction": "block"}}
                ]
            },
            (3,),
            "exitConditions.exitCodeRanges[0]",
        ),
        # overlapping ranges that disagree
        (
            {
                "exitCodeRanges": [
                    {"start": 5, "end": 8, "exitOptions": {"dependencyAction": "block"}}
                ]
            },
            ((1, 6),),
            "exitConditions.exitCodeRanges[0]",
        ),
        # a raw code inside a derived range
        (
            {"exitCodes": [{"code": 4, "exitOptions": {"dependencyAction": "block"}}]},
            ((1, 6),),
            "exitConditions.exitCodes[0]",
        ),
    ],
)
def test_overlapping_raw_ranges_clash_with_satisfy_codes(
    raw: dict[str, Any], satisfy: tuple[Any, ...], field: str
) -> None:
    diags: list[Diagnostic] = []
    intent = Intent(satisfy_exit_codes=satisfy, exit_conditions=raw)
    derive_exit_conditions(intent, mode="success", job_actions=False, task_id="t", diags=diags)
    assert [(d.code, d.field) for d in diags] == [
        ("exit-conditions-clash", f"{field}.exitOptions.dependencyAction")
    ]


def test_agreeing_raw_ranges_do_not_clash() -> None:
    diags: list[Diagnostic] = []
    raw = {
        "exitCodeRanges": [{"start": 1, "end": 10, "exitOptions": {"dependencyAction": "satisfy"}}]
    }
    intent = Intent(satisfy_exit_codes=(3, (4, 6)), exit_conditions=raw)
    ec = derive_exit_conditions(intent, mode="success", job_actions=False, task_id="t", diags=diags)
    assert diags == []
    assert ec is not None and ec["exitCodeRanges"][0]["start"] == 1


def test_compile_reports_the_clash() -> None:
    g = nx.DiGraph()
    g.add_node("a", command_line="x", exit_conditions={"default": {"dependencyAction": "block"}})
    g.add_node("b", command_line="y")
    g.add_edge("a", "b", when="always")
    with pytest.raises(InvalidWorkflow) as info:
        compile_graph(g)
    assert [(d.code, d.task_id) for d in info.value.errors] == [("exit-conditions-clash", "a")]


def test_blocking_on_exit_0_clashes_with_an_edge_that_says_success() -> None:
    """A raw entry blocking the dependents on exit code 0 passed beside when="success" (the
    dependent could never run). Without a `when`, it is the raw entry's own meaning (run b
    only on the codes it satisfies): kept, as Batch's default it changes."""
    block_on_0 = {"exit_codes": [{"code": 0, "exit_options": {"dependency_action": "block"}}]}
    g = nx.DiGraph()
    g.add_node("a", command_line="x", exit_conditions=block_on_0)
    g.add_node("b", command_line="y")
    g.add_edge("a", "b", when="success")
    with pytest.raises(InvalidWorkflow) as info:
        compile_graph(g)
    ((code, task, field),) = [(d.code, d.task_id, d.field) for d in info.value.errors]
    assert (code, task) == ("exit-conditions-clash", "a")
    assert field == "exitConditions.exitCodes[0].exitOptions.dependencyAction"
    g.edges["a", "b"].pop("when")
    tasks = {t["id"]: t for r in compile_graph(g).batches for t in orjson.loads(r.body)["value"]}
    assert tasks["a"]["exitConditions"]["exitCodes"] == [
        {"code": 0, "exitOptions": {"dependencyAction": "block"}}
    ]


def test_compiled_job_uses_exit_option_job_actions_only_when_asked() -> None:
    g = nx.DiGraph()
    g.add_node("a", command_line="x", job_action="terminate")
    g.add_node("b", command_line="y")
    g.add_edge("a", "b")
    plan = compile_graph(g)
    check_plan(g, plan)
    assert plan.job["onTaskFailure"] == "performexitoptionsjobaction"
    tasks = {t["id"]: t for r in plan.batches for t in orjson.loads(r.body)["value"]}
    assert tasks["a"]["exitConditions"] == {"default": {"jobAction": "terminate"}}
    assert tasks["b"]["exitConditions"] == {"default": {"jobAction": "none"}}
    g.nodes["a"]["job_action"] = "none"
    plan = compile_graph(g)
    assert plan.job["onTaskFailure"] == "noaction"
    assert all(b"exitConditions" not in r.body for r in plan.batches)


def test_helpers() -> None:
    assert sets_job_action({"default": {"jobAction": "terminate"}})
    assert not sets_job_action({"default": {"jobAction": "none"}})
    assert not sets_job_action(None)
    assert sets_dependency_action(
        {"exitCodeRanges": [{"start": 1, "end": 2, "exitOptions": {"dependencyAction": "block"}}]}
    )
    assert not sets_dependency_action({"default": {"jobAction": "none"}})
    assert depends_on_wire(Dependencies((), ())) is None
    assert depends_on_wire(Dependencies(("a",), ((1, 3),))) == {
        "taskIds": ("a",),
        "taskIdRanges": [{"start": 1, "end": 3}],
    }
    parts = dict(
        enumerate(
            map(
                orjson.dumps,
                task_objects(
                    ["t", "u", "7"],
                    [{"commandLine": "x"}, {"commandLine": "y"}, {"commandLine": "z"}],
                    [
                        Dependencies(("u",), ()),
                        Dependencies((), ()),
                        Dependencies(("u",), ((1, 3),)),
                    ],
                    {0: {"default": {}}},
                ),
            )
        )
    )
    assert parts[0] == (
        b'{"id":"t","commandLine":"x","dependsOn":{"taskIds":["u"]},'
        b'"exitConditions":{"default":{}}}'
    )
    assert parts[1] == b'{"id":"u","commandLine":"y"}'
    assert parts[2] == (
        b'{"id":"7","commandLine":"z","dependsOn":{"taskIds":["u"],'
        b'"taskIdRanges":[{"start":1,"end":3}]}}'
    )


def test_job_setting_performexitoptionsjobaction_without_job_actions() -> None:
    """The user's own performexitoptionsjobaction keeps Batch's meaning: a failure a task
    names no job action for terminates the job [S ExitOptions.jobAction]. dagbatch wrote
    jobAction none on every task, so such a job never ended on a failure."""
    g = nx.DiGraph()
    g.graph["job"] = {"on_task_failure": "performexitoptionsjobaction"}
    g.add_node("a", command_line="x", satisfy_exit_codes=[3])
    g.add_node("b", command_line="y")
    g.add_node("c", command_line="z", job_action="none")
    g.add_node("d", command_line="w", job_action="disable")
    g.add_edge("a", "b", when="always")
    plan = compile_graph(g)
    check_plan(g, plan)
    assert plan.job["onTaskFailure"] == "performexitoptionsjobaction"
    tasks = {t["id"]: t for r in plan.batches for t in orjson.loads(r.body)["value"]}
    assert "exitConditions" not in tasks["b"]  # Batch's default: a failure terminates
    # a: its dependents run on any outcome, its code 3 is a success (never ends the job);
    # a failure is left to Batch's default jobAction, terminate.
    assert tasks["a"]["exitConditions"] == {
        "exitCodes": [
            {"code": 3, "exitOptions": {"dependencyAction": "satisfy", "jobAction": "none"}}
        ],
        "default": {"dependencyAction": "satisfy"},
    }
    assert tasks["c"]["exitConditions"] == {"default": {"jobAction": "none"}}
    assert tasks["d"]["exitConditions"] == {"default": {"jobAction": "disable"}}
    # a's failure terminates the job before b, which runs on it, can start: said.
    (warning,) = [w for w in plan.warnings if w.code == "handler-unreachable"]
    assert warning.task_id == "a" and "on_task_failure='performexitoptionsjobaction'" in (
        warning.message
    )
    assert warning.hint is not None and "job_action='none'" in warning.hint


def test_job_setting_performexitoptionsjobaction_terminates_the_job_on_a_failure(
    tmp_path: Path,
) -> None:
    """The same job run locally: b's failure ends the job (TaskFailed), as Batch does."""
    from dagbatch.local.run import RunOptions, run_local

    wf = tmp_path / "wf.py"
    wf.write_text(
        "import networkx as nx\n"
        "graph = nx.DiGraph()\n"
        "graph.graph['job'] = {'id': 'ends', 'on_task_failure': 'performexitoptionsjobaction'}\n"
        "graph.add_node('b', command_line='x')\n"
        "graph.add_node('after', command_line='x')\n"
        "graph.add_edge('b', 'after', when='always')\n"
        "graph.add_node('c', command_line='x', job_action='none')\n"
    )
    report = run_local(
        str(wf), RunOptions(simulate=True, exit_codes={"b": (2, None)}, workdir=tmp_path / "w")
    )
    assert (report.job.state, report.job.terminate_reason) == ("completed", "TaskFailed")
    assert report.terminated_by == "b"


# ---- raw exit conditions keep the user's intent (issue 8, point 2)


def _tasks(plan: Any) -> dict[str, dict[str, Any]]:
    return {t["id"]: t for r in plan.batches for t in orjson.loads(r.body)["value"]}


def test_a_raw_entry_without_job_action_still_does_the_tasks_job_action() -> None:
    g = nx.DiGraph()
    raw = {"exitCodes": [{"code": 5, "exitOptions": {"dependencyAction": "block"}}]}
    g.add_node("a", command_line="x", job_action="terminate", exit_conditions=raw)
    g.add_node("b", command_line="y")
    g.add_edge("a", "b")
    plan = compile_graph(g)
    ec = _tasks(plan)["a"]["exitConditions"]
    assert batch_exit_options(ec, 5, job_actions=True, ranges_cover_zero=False) == (
        "block",
        "terminate",
    )
    assert batch_exit_options(ec, 0, job_actions=True, ranges_cover_zero=False) == (
        "satisfy",
        "none",
    )


def test_a_raw_entry_without_dependency_action_follows_the_edge_when() -> None:
    g = nx.DiGraph()
    raw = {"preProcessingError": {"jobAction": "disable"}}
    g.add_node("a", command_line="x", exit_conditions=raw)
    g.add_node("handler", command_line="y")
    g.add_edge("a", "handler", when="failure")
    ec = _tasks(compile_graph(g))["a"]["exitConditions"]
    assert ec["preProcessingError"] == {"jobAction": "disable", "dependencyAction": "satisfy"}


@pytest.mark.parametrize(
    ("raw", "node", "edge", "field"),
    [
        # "exit 5 blocks" on a parent whose child runs on failure: the child would never run
        (
            {"exitCodes": [{"code": 5, "exitOptions": {"dependencyAction": "block"}}]},
            {},
            {"when": "failure"},
            "exitConditions.exitCodes[0].exitOptions.dependencyAction",
        ),
        # a pre-processing error blocks, but the task says its failures satisfy
        (
            {"preProcessingError": {"dependencyAction": "block"}},
            {"on_failure": "satisfy"},
            {},
            "exitConditions.preProcessingError.dependencyAction",
        ),
        # an upload error blocks a child that runs whatever happens
        (
            {"fileUploadError": {"dependencyAction": "block"}},
            {},
            {"when": "always"},
            "exitConditions.fileUploadError.dependencyAction",
        ),
        # a raw range over failures and a satisfy code, naming no dependencyAction
        (
            {"exitCodeRanges": [{"start": 1, "end": 9, "exitOptions": {"jobAction": "none"}}]},
            {"satisfy_exit_codes": [3]},
            {},
            "exitConditions.exitCodeRanges[0].exitOptions.dependencyAction",
        ),
    ],
)
def test_raw_entries_that_contradict_the_derived_intent_clash(
    raw: dict[str, Any], node: dict[str, Any], edge: dict[str, Any], field: str
) -> None:
    g = nx.DiGraph()
    g.add_node("a", command_line="x", exit_conditions=raw, **node)
    g.add_node("b", command_line="y")
    g.add_edge("a", "b", **edge)
    with pytest.raises(InvalidWorkflow) as info:
        compile_graph(g)
    assert [(d.code, d.task_id, d.field) for d in info.value.errors] == [
        ("exit-conditions-clash", "a", field)
    ]


def test_a_raw_job_action_none_is_left_out_when_the_job_uses_no_job_actions() -> None:
    g = nx.DiGraph()
    raw = {"default": {"jobAction": "none", "dependencyAction": "satisfy"}}
    g.add_node("a", command_line="x", exit_conditions=raw)
    plan = compile_graph(g)
    assert plan.job["onTaskFailure"] == "noaction"
    assert _tasks(plan)["a"]["exitConditions"] == {"default": {"dependencyAction": "satisfy"}}


@pytest.mark.parametrize(
    ("raw", "satisfy", "mode", "job_actions", "field"),
    [
        # a job-action job: the raw range ends the job on 1-10, the satisfy code must not
        (
            {
                "exitCodeRanges": [
                    {"start": 1, "end": 10, "exitOptions": {"jobAction": "terminate"}}
                ]
            },
            (5, (7, 8)),
            None,
            True,
            "exitConditions.exitCodeRanges[0]",
        ),
        # no dependents: the raw range blocks (Batch's default), the satisfy code satisfies
        (
            {"exitCodeRanges": [{"start": 1, "end": 10, "exitOptions": {}}]},
            (5,),
            None,
            False,
            "exitConditions.exitCodeRanges[0]",
        ),
        # a raw code inside a satisfy range, across the two lists
        (
            {"exitCodes": [{"code": 5, "exitOptions": {}}]},
            ((4, 6),),
            None,
            False,
            "exitConditions.exitCodes[0]",
        ),
        # children that run whatever happens, in a job-action job
        (
            {"exitCodeRanges": [{"start": 1, "end": 10, "exitOptions": {"jobAction": "disable"}}]},
            (5,),
            "always",
            True,
            "exitConditions.exitCodeRanges[0]",
        ),
    ],
)
def test_raw_entry_over_a_satisfy_code_with_other_actions_clashes(
    raw: dict[str, Any],
    satisfy: tuple[Any, ...],
    mode: str | None,
    job_actions: bool,
    field: str,
) -> None:
    """Without the check the task got two overlapping entries with different actions, the
    case Batch leaves undocumented and the task model refuses when a user writes it."""
    diags: list[Diagnostic] = []
    intent = Intent(satisfy_exit_codes=satisfy, exit_conditions=raw)
    derive_exit_conditions(intent, mode=mode, job_actions=job_actions, task_id="t", diags=diags)
    assert [(d.code, d.task_id, d.field) for d in diags] == [("exit-conditions-clash", "t", field)]
    assert "5" in diags[0].message and "satisfy" in diags[0].message


def test_raw_entry_agreeing_with_a_satisfy_code_does_not_clash() -> None:
    raw = {
        "exitCodeRanges": [
            {
                "start": 1,
                "end": 10,
                "exitOptions": {"dependencyAction": "satisfy", "jobAction": "none"},
            }
        ]
    }
    ec = derive(Intent(satisfy_exit_codes=(5,), exit_conditions=raw), None, job_actions=True)
    assert ec is not None
    assert ec["exitCodes"] == [
        {"code": 5, "exitOptions": {"dependencyAction": "satisfy", "jobAction": "none"}}
    ]


def test_compile_refuses_a_raw_range_over_a_satisfy_code_in_a_job_action_job() -> None:
    g = nx.DiGraph()
    g.add_node(
        "a",
        command_line="x",
        satisfy_exit_codes=[3],
        exit_conditions={
            "exitCodeRanges": [{"start": 1, "end": 9, "exitOptions": {"jobAction": "terminate"}}]
        },
    )
    g.add_node("b", command_line="y", job_action="disable")
    with pytest.raises(InvalidWorkflow) as info:
        compile_graph(g)
    assert [(d.code, d.task_id, d.field) for d in info.value.errors] == [
        ("exit-conditions-clash", "a", "exitConditions.exitCodeRanges[0]")
    ]
