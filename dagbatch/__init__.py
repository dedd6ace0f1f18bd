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

from dagbatch.compiler.export import write_plan
from dagbatch.compiler.loader import load_workflow
from dagbatch.compiler.models import JobSettings, Task
from dagbatch.compiler.pipeline import CompiledPlan, CompileOptions, check_graph, compile_graph
from dagbatch.errors import (
    DagbatchError,
    Diagnostic,
    InvalidWorkflow,
    SubmitError,
    WorkflowLoadError,
)

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
