"""The public API: what `import dagbatch` offers is pinned, and its doctest runs."""

from __future__ import annotations

import doctest

import dagbatch


def test_all_is_pinned() -> None:
    assert sorted(dagbatch.__all__) == [
        "CompileOptions",
        "CompiledPlan",
        "DagbatchError",
        "Diagnostic",
        "InvalidWorkflow",
        "JobSettings",
        "SubmitError",
        "Task",
        "WorkflowLoadError",
        "check_graph",
        "compile_graph",
        "load_workflow",
        "write_plan",
    ]
    for name in dagbatch.__all__:
        assert getattr(dagbatch, name) is not None


def test_package_doctest_runs() -> None:
    result = doctest.testmod(dagbatch, raise_on_error=False)
    assert result.attempted >= 5 and result.failed == 0
