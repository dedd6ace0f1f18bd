"""The compiler: a workflow graph in, the exact Batch request bodies out (pure passes)."""

from dagbatch.compiler.pipeline import CompiledPlan, CompileOptions, check_graph, compile_graph

__all__ = ["CompileOptions", "CompiledPlan", "check_graph", "compile_graph"]
