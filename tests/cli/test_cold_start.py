"""The command line starts without importing the compiler (networkx, pydantic models)."""

from __future__ import annotations

import importlib
import inspect
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


#: Libraries that only running a command needs, never its help.
HEAVY_LIBRARIES = ("httpx", "httpcore", "pydantic", "pydantic_core", "rich", "networkx")
HEAVY_LIBRARIES += ("starlette", "uvicorn")
COMMANDS = ("compile", "validate", "submit", "status", "watch", "rerun", "finish", "emulator")
COMMANDS += ("run", "show")


def test_python_m_dagbatch_help_imports_no_heavy_library() -> None:
    """`python -m dagbatch --help` and `python -m dagbatch <command> --help`, each in a fresh
    interpreter: the help is printed and none of the heavy libraries is imported."""
    probe = (
        "import runpy, sys\n"
        "sys.argv = ['dagbatch', *sys.argv[1:], '--help']\n"
        "try:\n"
        "    runpy.run_module('dagbatch', run_name='__main__')\n"
        "except SystemExit as exc:\n"
        "    assert exc.code in (0, None), exc.code\n"
        f"heavy = {HEAVY_LIBRARIES!r}\n"
        "print('IMPORTED:', sorted({m.split('.')[0] for m in sys.modules} & set(heavy)))\n"
    )
    for command in ("", *COMMANDS):
        done = subprocess.run(
            [sys.executable, "-c", probe, *command.split()],
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
        )
        assert "Usage: dagbatch" in done.stdout, done.stdout
        assert done.stdout.rstrip().splitlines()[-1] == "IMPORTED: []", (command, done.stdout)
    # The module the entry point imports, as the command line starts.
    done = subprocess.run(
        [sys.executable, "-m", "dagbatch", "--help"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    assert done.stdout.startswith("Usage: ") and "submit" in done.stdout, done.stdout
    code = (
        "import sys, dagbatch.cli.main\n"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY_LIBRARIES!r}))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert done.stdout.strip() == "[]"


def test_the_help_defaults_are_the_library_defaults() -> None:
    """The light module the help reads holds the values the library uses."""
    from dagbatch import defaults
    from dagbatch.submit import client

    status = importlib.import_module("dagbatch.observe.status")  # the package has status()

    timeout = inspect.signature(client.BatchClient).parameters["timeout"].default
    assert timeout == defaults.DEFAULT_TIMEOUT
    stderr = inspect.signature(status.read_snapshot).parameters["stderr_tasks"].default
    assert stderr == defaults.STDERR_TASKS
