"""dagbatch: compile networkx workflows into Azure Batch task-collection requests.

>>> import networkx as nx, dagbatch
>>> g = nx.DiGraph()
>>> g.add_node("prep", command_line="python prep.py")
>>> g.add_node("run", task=dagbatch.Task(command_line="python run.py"))
>>> g.add_edge("prep", "run")
>>> plan = dagbatch.compile_graph(g)
>>> plan.counts["requests"]
1
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dagbatch.compiler.export import write_plan
    from dagbatch.compiler.loader import load_workflow
    from dagbatch.compiler.models import JobSettings, Task
    from dagbatch.compiler.pipeline import (
        CompiledPlan,
        CompileOptions,
        check_graph,
        compile_graph,
    )
    from dagbatch.errors import (
        DagbatchError,
        Diagnostic,
        InvalidWorkflow,
        SubmitError,
        WorkflowLoadError,
    )

#: Where each public name lives; imported on first use, so that the command line starts
#: without importing the compiler (``dagbatch --help`` needs none of it).
_HOMES = {
    "write_plan": "dagbatch.compiler.export",
    "load_workflow": "dagbatch.compiler.loader",
    "JobSettings": "dagbatch.compiler.models",
    "Task": "dagbatch.compiler.models",
    "CompiledPlan": "dagbatch.compiler.pipeline",
    "CompileOptions": "dagbatch.compiler.pipeline",
    "check_graph": "dagbatch.compiler.pipeline",
    "compile_graph": "dagbatch.compiler.pipeline",
    "DagbatchError": "dagbatch.errors",
    "Diagnostic": "dagbatch.errors",
    "InvalidWorkflow": "dagbatch.errors",
    "SubmitError": "dagbatch.errors",
    "WorkflowLoadError": "dagbatch.errors",
}

__all__ = [
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


def __getattr__(name: str) -> Any:
    """A public name of dagbatch, imported from its module on first use."""
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    """The public names beside the module's own, so that ``dir(dagbatch)``, ``help`` and
    tab completion show them before their first use."""
    return sorted({*globals(), *__all__})
