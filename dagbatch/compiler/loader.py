"""Load a workflow file: ordinary Python that builds a ``networkx.DiGraph``.

``load_workflow("workflow.py")`` finds a module-level ``graph`` (or ``workflow`` or ``dag``), or
a ``build()`` function returning one, the first of these a file defines (a
``several-workflows`` warning in ``LoadedWorkflow.warnings`` names the others: an old
``graph`` left beside a new ``build()``; not for ``graph = build()``, one workflow).
``"workflow.py:name"`` names the attribute (a graph or a callable returning one). Loading
runs the file's code: it is trusted like a ``setup.py``.

Loading leaves no lasting change to the process: the module is executed under a private name,
``sys.path`` gets the file's folder only while it runs, and ``sys.modules`` entries it added
for its own sibling modules are removed afterwards. The working directory is never changed.

The workflow's code runs with full collections of the cyclic garbage collector ten times rarer
than Python's default (``dagbatch.gcpause.gc_fewer_full``; the young generations are collected
as usual, and the setting is restored afterwards): each full collection walks the whole graph
built so far, and a graph of 200,000 tasks and 950,000 edges cost a third of its build time in
them.
"""

from __future__ import annotations

import ast
import contextlib
import difflib
import importlib.util
import inspect
import os
import sys
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import networkx as nx
from pydantic import ValidationError

from dagbatch.compiler import models
from dagbatch.compiler.spec import pydantic_diagnostics
from dagbatch.errors import (
    Diagnostic,
    InvalidProperties,
    Killed,
    TimedOut,
    WorkflowLoadError,
    a_type,
    safe_repr,
    safe_str,
)
from dagbatch.gcpause import gc_fewer_full

#: Held while a workflow file loads: see ``load_workflow``.
_LOADING = threading.RLock()

DEFAULT_NAMES = ("graph", "workflow", "dag")
BUILD_NAME = "build"
#: The warning for a file that defines more than one of the names looked for.
SEVERAL_WORKFLOWS = "several-workflows"


@dataclass(frozen=True)
class LoadedWorkflow:
    """A workflow file's graph (``load_workflow``): the graph, the file, and the name it
    was found under (``graph``, ``workflow``, ``dag``, ``build``, or the one given)."""

    graph: nx.DiGraph
    path: Path
    attribute: str
    #: What the file itself gives cause to warn of (``several-workflows``); the commands
    #: show them with the compile's warnings (``CompiledPlan.warnings``).
    warnings: tuple[Diagnostic, ...] = ()
    #: When the graph found has no task: the file's other graphs that have some, by name
    #: (the ``empty-workflow`` warning names them).
    others: tuple[str, ...] = ()


def split_target(target: str) -> tuple[Path, str | None]:
    """``"dir/wf.py:name"`` → (Path("dir/wf.py"), "name"); a Windows drive colon is kept.
    After a ``.py`` file the part after the colon is the name even when it is none
    (``wf.py:``, ``wf.py:my graph``): ``name_problem`` says so, where taking the whole
    for a file name said there was no such file."""
    head, sep, tail = target.rpartition(":")
    drive = len(head) == 1 and head.isalpha()
    if sep and head and not drive and (tail.isidentifier() or head.endswith(".py")):
        return Path(head), tail
    return Path(target), None


def name_problem(name: str | None) -> str | None:
    """Why the ``NAME`` of ``FILE.py:NAME`` names nothing a file can define, or None."""
    if name is None or name.isidentifier():
        return None
    given = f"{name!r} after the ':' is not a Python name" if name else "nothing follows the ':'"
    return f"{given}: FILE.py:NAME names a graph or a function that the file defines"


def suffix_problem(path: Path) -> str | None:
    """Why ``path`` cannot be a workflow file by its name (not a ``.py`` file), or None. A
    plan's own ``plan.json`` is said to be one, with the directory the commands that take a
    plan take."""
    if path.suffix == ".py":
        return None
    if path.name == "plan.json" and (path.parent / "batches").is_dir():
        return (
            f"is a compiled plan's plan.json, not a workflow; the commands that take a plan "
            f"(run, submit, show) take its directory ({path.parent})"
        )
    return "a workflow file must be a Python file ending in .py"


def load_workflow(target: str | Path) -> LoadedWorkflow:
    """Run a workflow file (``wf.py``, or ``wf.py:NAME`` for a graph or function of another
    name) and return its graph, as every command reads it: the module-level ``graph``,
    ``workflow`` or ``dag``, or what ``build()`` returns. What the file prints goes to
    standard error; the working directory, ``sys.path``, ``sys.modules`` and the collector's
    settings are as they were afterwards. One file loads at a time in a process (the state
    it changes is the process's). Raises ``WorkflowLoadError`` naming the file and line."""
    path, attr = split_target(str(target))
    if path.is_dir():
        raise WorkflowLoadError("is a directory, not a workflow file", path=str(path))
    if not path.is_file():
        raise WorkflowLoadError("no such workflow file", path=str(path))
    if (why := suffix_problem(path)) is not None:
        raise WorkflowLoadError(why, path=str(path))
    if (why := name_problem(attr)) is not None:  # before the workflow's code runs
        raise WorkflowLoadError(why, path=str(path))
    called = False
    # The graph being built is walked by every full collection: fewer of them. What the
    # workflow prints goes to standard error, where it cannot corrupt what a command writes
    # on standard output (`validate --format json`, `compile --format jsonl`, `show`); and a
    # workflow that changes the working directory has it changed back, so the paths the
    # command was given (--out, --workdir) keep their meaning.
    # All of it is the process's own state (the collector's thresholds, sys.stdout, the
    # working directory, sys.path, sys.modules): one load at a time, or two threads' saves
    # and restores interleave and leave, say, sys.stdout on standard error for good.
    with _LOADING:
        cwd = os.getcwd()
        with gc_fewer_full(), contextlib.redirect_stdout(sys.stderr):
            module = None
            try:
                module = _exec_module(path)
                value, name, warnings = _find_graph(module, attr, path)
                if callable(value) and not isinstance(value, nx.Graph):
                    value = _call_user(value, path, name)
                    called = True
            finally:
                # Unconditionally: the workflow may have removed the directory it moved to
                # (a temporary one), where os.getcwd() itself fails.
                os.chdir(cwd)
                if module is not None:
                    sys.modules.pop(module.__name__, None)
    # What was found: the attribute, or what calling it returned.
    what = f"{name}() returned" if called else f"{name!r} is"
    if isinstance(value, nx.MultiDiGraph | nx.MultiGraph):
        raise WorkflowLoadError(
            f"{what} a multigraph; use a networkx.DiGraph (one edge per pair)", path=str(path)
        )
    if not isinstance(value, nx.DiGraph):
        shown = "None (a missing return?)" if value is None else a_type(value)
        raise WorkflowLoadError(f"{what} {shown}, not a networkx.DiGraph", path=str(path))
    others: tuple[str, ...] = ()
    if not len(value):  # the wrong graph, most likely: name those that hold tasks
        others = tuple(
            sorted(
                other
                for other, held in vars(module).items()
                if isinstance(held, nx.DiGraph)
                and len(held)
                and held is not value
                and not other.startswith("_")
            )
        )
    return LoadedWorkflow(graph=value, path=path, attribute=name, warnings=warnings, others=others)


def _user_frame(exc: BaseException, path: Path) -> int | None:
    """The line of the deepest frame of the traceback that lies in the workflow file."""
    line = None
    resolved = str(path.resolve())
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename == resolved or frame.filename == str(path):
            line = frame.lineno
    if isinstance(exc, SyntaxError) and exc.lineno is not None:
        line = exc.lineno
    return line


def _load_error(exc: BaseException, path: Path, where: str) -> WorkflowLoadError:
    """``exc`` raised by the workflow's code as a load error with the file and line. A
    ``SystemExit`` (``sys.exit(0)`` included) is an error too: the workflow gave no graph."""
    line = _user_frame(exc, path)
    if isinstance(exc, SystemExit):
        return WorkflowLoadError(
            f"the workflow called sys.exit({safe_repr(exc.code)}) {where}; a workflow file must "
            "define its graph and return",
            path=str(path),
            line=line,
        )
    diagnostics = None
    if isinstance(exc, InvalidProperties):  # Task(...) or JobSettings(...) given bad values
        diagnostics, model = exc.diagnostics, exc.model
    elif isinstance(exc, ValidationError) and exc.title in ("Task", "JobSettings"):
        # Task.model_validate(...) in the workflow's code
        model = exc.title
        diagnostics = pydantic_diagnostics(exc, None, model=getattr(models, model))
    if diagnostics is not None:
        return WorkflowLoadError(
            f"invalid {model}(...) {where}: "
            + "; ".join(
                (f"{d.field}: " if _field_adds(d) else "")
                + d.message
                + (f" ({d.hint})" if d.hint else "")
                for d in diagnostics
            ),
            path=str(path),
            line=line,
        )
    return WorkflowLoadError(
        f"error {where}: {type(exc).__name__}: {safe_str(exc)}", path=str(path), line=line
    )


def _field_adds(d: Diagnostic) -> bool:
    """Whether naming ``d``'s field says more than its message does (the field of an
    unknown top-level property is that name again)."""
    if not d.field or d.field in d.message:
        return False
    return d.code != "unknown-property" or "." in d.field or "[" in d.field


def _exec_module(path: Path) -> Any:
    resolved = path.resolve()
    mod_name = f"_dagbatch_workflow_{abs(hash(str(resolved)))}"
    spec = importlib.util.spec_from_file_location(mod_name, resolved)
    if spec is None or spec.loader is None:  # pragma: no cover - only for odd suffixes
        raise WorkflowLoadError("cannot be loaded as a Python module", path=str(path))
    module = importlib.util.module_from_spec(spec)
    folder = str(resolved.parent)
    path_before = list(sys.path)
    # In sys.modules while the workflow runs, as an imported module is: what looks its
    # module up there works (a @dataclass under `from __future__ import annotations`).
    # ``load_workflow`` removes it once the graph is found.
    sys.modules[mod_name] = module
    modules_before = set(sys.modules)
    sys.path.insert(0, folder)
    try:
        spec.loader.exec_module(module)
    except BaseException as exc:
        sys.modules.pop(mod_name, None)
        if isinstance(exc, KeyboardInterrupt | Killed | TimedOut):  # Ctrl-C, `kill`, --timeout
            raise
        raise _load_error(exc, path, "while running the workflow") from exc
    finally:
        sys.path[:] = path_before
        # Modules imported from the workflow's own folder go: a second load sees fresh copies.
        for name in set(sys.modules) - modules_before:
            file = getattr(sys.modules[name], "__file__", None) or ""
            if file.startswith(folder + "/") or file.startswith(folder + "\\"):
                del sys.modules[name]
    return module


def _find_graph(
    module: Any, attr: str | None, path: Path
) -> tuple[Any, str, tuple[Diagnostic, ...]]:
    """(the graph or the function to call, its name, the ``several-workflows`` warning when
    the file defines more than one of the names looked for)."""
    if attr is not None:
        if not hasattr(module, attr):
            # The names it could have meant: the file's graphs and functions.
            candidates = [
                name
                for name, value in vars(module).items()
                if not name.startswith("_")
                and (isinstance(value, nx.Graph) or inspect.isfunction(value))
            ]
            close = difflib.get_close_matches(attr, candidates, n=1)
            if close:
                hint = f"; did you mean {path}:{close[0]}?"
            elif candidates:
                shown = ", ".join(candidates[:10]) + (", ..." if len(candidates) > 10 else "")
                hint = f"; it defines these graphs and functions: {shown}"
            else:
                hint = "; it defines no graph or function at the top level"
            raise WorkflowLoadError(f"the workflow defines no {attr!r}{hint}", path=str(path))
        return getattr(module, attr), attr, ()
    defined: dict[int, str] = {}  # by the object: `workflow = graph` is one graph, not two
    for name in DEFAULT_NAMES:
        if isinstance(value := getattr(module, name, None), nx.Graph):
            defined.setdefault(id(value), name)
    build = getattr(module, BUILD_NAME, None)
    # `graph = build()` is one workflow (what build() returned), told from the file's code.
    if callable(build) and not (defined and _built_by_build(path, set(defined.values()))):
        defined.setdefault(id(build), BUILD_NAME)
    if defined:
        name = next(iter(defined.values()))
        return getattr(module, name), name, _several_workflows(path, list(defined.values()))
    # Graphs the file holds under other names (``g = nx.DiGraph()``): named in the error, so
    # the fix is one word away. Only those a workflow can be (no Graph, no multigraph).
    others = sorted(
        name
        for name, value in vars(module).items()
        if isinstance(value, nx.DiGraph) and not value.is_multigraph() and not name.startswith("_")
    )
    # A name looked for that holds something else (``graph = nx.DiGraph``, the class; a dict
    # of edges): that is what to say, not that no graph is defined; unless the file holds
    # graphs under other names, which the error below names (``workflow = "etl"`` beside
    # ``g = nx.DiGraph()``: ``g`` is the fix).
    for name in () if others else DEFAULT_NAMES:
        value = getattr(module, name, None)
        if value is None or inspect.isfunction(value):
            continue
        if isinstance(value, type) and issubclass(value, nx.Graph):
            what = (
                f"the class networkx.{value.__name__} itself, not a graph: call it "
                f"(`{name} = nx.{value.__name__}()`)"
            )
        else:
            what = f"{a_type(value)}, not a networkx.DiGraph"
        raise WorkflowLoadError(f"{name!r} is {what}", path=str(path))
    found = ""
    functions = [name for name in DEFAULT_NAMES if inspect.isfunction(getattr(module, name, None))]
    if functions and not others:
        # ``def graph(): ...``: a function of a graph's name, which is not looked for.
        found = f"; it defines a function {functions[0]!r}: pass {path}:{functions[0]}"
    elif len(others) == 1:
        found = f"; it holds one named {others[0]!r}: pass {path}:{others[0]}"
    elif others:
        names = ", ".join(map(repr, others[:5])) + (", ..." if len(others) > 5 else "")
        found = f"; it holds graphs named {names}: pass {path}:{others[0]}, for example"
    raise WorkflowLoadError(
        "found no graph: define a module-level `graph` (or `workflow`, `dag`) networkx.DiGraph, "
        "a `build()` function returning one, or name it as FILE.py:NAME" + found,
        path=str(path),
    )


def _several_workflows(path: Path, names: list[str]) -> tuple[Diagnostic, ...]:
    """The warning for a file that defines more than one of ``names`` (none for one): an
    old `graph` left beside a new `build()`, which only the user can tell apart. The first
    is taken, as the contract says; the hint names each as ``FILE.py:NAME``."""
    if len(names) < 2:
        return ()
    listed = [f"`{n}()`" if n == BUILD_NAME else f"`{n}`" for n in names]
    picks = " or ".join(f"{path}:{n}" for n in names)
    return (
        Diagnostic(
            code=SEVERAL_WORKFLOWS,
            severity="warning",
            message=(
                f"{path} defines more than one workflow: {', '.join(listed[:-1])} and "
                f"{listed[-1]}; using {listed[0]}, the first of graph, workflow, dag, build()"
            ),
            hint=f"name the one meant to silence this: {picks}",
        ),
    )


def _built_by_build(path: Path, names: set[str]) -> bool:
    """Whether the file's own code assigns one of ``names`` the result of calling
    ``build`` (``graph = build()``, at module level, under an ``if`` or ``with`` too): then
    the variable and the function are one workflow. Read from the file's syntax, so build()
    is not called a second time; a file that cannot be read again counts as not."""
    try:
        tree = ast.parse(path.read_bytes(), filename=str(path))
    except (OSError, SyntaxError, ValueError):
        return False
    stack: list[ast.stmt] = list(tree.body)
    while stack:
        node = stack.pop()
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            continue  # code that runs later, if ever
        if isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            call = node.value
            if (
                isinstance(call, ast.Call)
                and isinstance(call.func, ast.Name)
                and call.func.id == BUILD_NAME
                and any(isinstance(t, ast.Name) and t.id in names for t in targets)
            ):
                return True
        for field in ("body", "orelse", "finalbody", "handlers"):
            stack.extend(getattr(node, field, ()))
    return False


def _call_user(fn: Callable[[], Any], path: Path, name: str) -> Any:
    folder = str(path.resolve().parent)
    path_before = list(sys.path)
    sys.path.insert(0, folder)
    try:
        return fn()
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt | Killed | TimedOut):
            raise
        raise _load_error(exc, path, f"in {name}()") from exc
    finally:
        sys.path[:] = path_before
