"""The command line starts without importing the compiler (networkx, pydantic models)."""

from __future__ import annotations

import subprocess
import sys

import pytest

import dagbatch
import dagbatch.compiler

HEAVY = ("networkx", "dagbatch.compiler.pipeline", "dagbatch.compiler.spec")


def _imported_after(code: str) -> list[str]:
    probe = f"import sys\n{code}\nprint(' '.join(m for m in {HEAVY!r} if m in sys.modules))"
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120
    )
    return done.stdout.split()


def test_help_does_not_import_the_compiler() -> None:
    code = (
        "from click.testing import CliRunner\n"
        "from dagbatch.cli import main\n"
        "result = CliRunner().invoke(main, ['--help'])\n"
        "assert result.exit_code == 0 and 'compile' in result.output, result.output\n"
        "for command in ('compile', 'validate', 'submit', 'show'):\n"
        "    result = CliRunner().invoke(main, [command, '--help'])\n"
        "    assert result.exit_code == 0 and '--' in result.output, result.output\n"
    )
    assert _imported_after(code) == []


def test_the_package_imports_its_public_names_on_first_use() -> None:
    assert _imported_after("import dagbatch, dagbatch.compiler") == []
    assert _imported_after("import dagbatch\ndagbatch.compile_graph") == list(HEAVY)
    from dagbatch.compiler.pipeline import compile_graph

    assert dagbatch.compile_graph is compile_graph
    assert dagbatch.compiler.compile_graph is compile_graph
    for name in dagbatch.__all__:
        assert getattr(dagbatch, name) is not None
    with pytest.raises(AttributeError, match="no_such_name"):
        dagbatch.no_such_name  # noqa: B018
    with pytest.raises(AttributeError, match="no_such_name"):
        dagbatch.compiler.no_such_name  # noqa: B018
