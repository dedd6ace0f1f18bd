"""The pipeline reads as its list of passes: ``PASSES`` is what ``compile_graph`` runs."""

from __future__ import annotations

import inspect

from dagbatch.compiler import pipeline
from dagbatch.compiler.pipeline import PASSES


def test_compile_calls_every_pass_in_the_listed_order() -> None:
    source = inspect.getsource(pipeline._compile)
    positions = [source.find(fn.__name__ + "(") for fn in PASSES]
    missing = [fn.__name__ for fn, p in zip(PASSES, positions, strict=True) if p < 0]
    assert not missing, missing
    assert positions == sorted(positions)


def test_every_pass_has_a_docstring() -> None:
    for fn in PASSES:
        assert fn.__doc__ and len(fn.__doc__.strip()) > 20, fn.__name__
