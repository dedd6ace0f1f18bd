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

from dagbatch.compiler import CompiledPlan, CompileOptions, check_graph, compile_graph
from dagbatch.errors import (
    DagbatchError,
    Diagnostic,
    InvalidWorkflow,
    SubmitError,
    WorkflowLoadError,
)
from dagbatch.export import write_plan
from dagbatch.loader import load_workflow
from dagbatch.models import JobSettings, Task

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
