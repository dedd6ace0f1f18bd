"""The compiler: a workflow graph in, the exact Batch request bodies out (pure passes).

The names below are imported on first use, so that importing a light module of this
package (``dagbatch.compiler.options``) does not import every pass.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dagbatch.compiler.pipeline import CompiledPlan, CompileOptions, check_graph, compile_graph

__all__ = ["CompileOptions", "CompiledPlan", "check_graph", "compile_graph"]


def __getattr__(name: str) -> Any:
    """The names of ``__all__``, from ``dagbatch.compiler.pipeline`` on first use."""
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module("dagbatch.compiler.pipeline"), name)
    globals()[name] = value
    return value
