"""normalize: a user's ``networkx.DiGraph`` → a frozen, index-based ``WorkflowSpec``.

Every node becomes a task id (an int key becomes its decimal string) and a validated task;
edges become parent index lists. Nothing is rejected here that can be collected: problems
are returned as diagnostics so the user sees all of them at once.

Node attributes: ``task=dagbatch.Task(...)`` or the task's properties as plain attributes
(snake_case or camelCase), plus the failure intent ``on_failure``, ``satisfy_exit_codes`` and
``job_action``. Attributes whose name starts with ``_`` are the user's own and are ignored.
Edge attribute ``when``: ``"success"`` (default), ``"failure"`` or ``"always"``.
"""

from __future__ import annotations

import difflib
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from difflib import get_close_matches
from functools import cached_property
from itertools import chain, compress, repeat
from operator import contains, is_, is_not, itemgetter, lt
from typing import Any, Final, NamedTuple

import networkx as nx
from pydantic import BaseModel, ValidationError
from pydantic.alias_generators import to_camel, to_snake

from dagbatch.compiler import graphs, models
from dagbatch.compiler.ranges import integer_like_ids
from dagbatch.errors import ConfigError, Diagnostic, a_type, safe_repr
from dagbatch.limits import MAX_BODY_BYTES, MAX_DISPLAY_NAME_LENGTH, ApiVersion

WHEN_VALUES = ("success", "failure", "always")

# Node attributes that can be checked without building a pydantic model: the common case of
# tasks that are just a command line (and perhaps a display name) skips model validation.
_SIMPLE_KEYS = {
    "command_line": "commandLine",
    "commandLine": "commandLine",
    "display_name": "displayName",
    "displayName": "displayName",
}

# pydantic error types → dagbatch diagnostic codes (custom errors carry the code as their type).
_PYDANTIC_CODES = {
    "extra_forbidden": "unknown-property",
    "missing": "missing-property",
    "literal_error": "invalid-enum",
    "enum": "invalid-enum",
    "string_too_long": "too-long",
    "string_type": "invalid-type",
    "int_type": "invalid-type",
    "int_parsing": "invalid-type",
    "list_type": "invalid-type",
    "tuple_type": "invalid-type",
    "model_type": "invalid-type",
    "dict_type": "invalid-type",
    "greater_than_equal": "out-of-range",
    "less_than_equal": "out-of-range",
    "string_pattern_mismatch": "invalid-value",
}


@dataclass(frozen=True, slots=True)
class Intent:
    """A task's failure intent, from node attributes or its Task."""

    on_failure: str = "block"
    satisfy_exit_codes: tuple[int | tuple[int, int], ...] = ()
    job_action: str | None = None
    exit_conditions: Mapping[str, Any] | None = None  # raw, already in wire form

    @property
    def is_default(self) -> bool:
        return (
            self.on_failure == "block"
            and not self.satisfy_exit_codes
            and self.job_action is None
            and self.exit_conditions is None
        )


DEFAULT_INTENT = Intent()


def special_intents(intents: Sequence[Intent]) -> list[int]:
    """The tasks whose intent is not ``DEFAULT_INTENT``, in index order; one C-level scan
    in the common case of none (``count`` tries identity before equality, and an intent
    equal to the default is the default: ``_intent_of`` returns ``DEFAULT_INTENT`` then)."""
    if intents.count(DEFAULT_INTENT) == len(intents):
        return []
    return [i for i, it in enumerate(intents) if it is not DEFAULT_INTENT]


class Topology(NamedTuple):
    """The topological order of the tasks (``graphs.topological_order``: generations, each in
    index order), and the tasks on or behind a cycle (empty for a DAG; then ``order`` holds
    every task)."""

    order: list[int]
    leftover: list[int]


#: A task's wire properties (no ``id``, ``dependsOn`` or ``exitConditions``). A task with a
#: command line and nothing else, most tasks of a big workflow, is its command line alone
#: (a ``str``): no dict is built for each of them, and ``emit`` writes the wire object at
#: once. ``props_mapping`` gives the mapping either way.
Props = Mapping[str, Any] | str


def props_mapping(props: Props) -> Mapping[str, Any]:
    """``props`` as a mapping of wire properties."""
    return {"commandLine": props} if isinstance(props, str) else props


@dataclass(frozen=True)
class WorkflowSpec:
    """The normalized workflow. Index ``i`` names the i-th node in graph order everywhere."""

    api_version: ApiVersion
    ids: tuple[str, ...]
    props: tuple[Props, ...]  # wire properties (see Props)
    intents: tuple[Intent, ...]
    preds: tuple[tuple[int, ...], ...]  # parents of each task, self-loops removed
    when: Mapping[tuple[int, int], str]  # explicit edge `when`, keyed (parent, child)
    self_loops: tuple[int, ...]
    job: models.JobSettings
    #: each task's parents' ids (the names ``preds`` points at, in that order), when every
    #: node key is a str (then ids are the keys, read straight from networkx); else None
    parent_ids: tuple[tuple[str, ...], ...] | None = None

    @cached_property
    def topological(self) -> Topology:
        """Computed once (validate needs it for cycles, the later passes for the order)."""
        return Topology(
            *graphs.topological_order(
                self.preds, lambda: self.succ, self.parent_counts, self.parents_first
            )
        )

    @cached_property
    def parents_first(self) -> bool:
        """Whether every task's parents have lower indices than it (``graphs.
        is_parents_first``); ``normalize`` finds it on its way."""
        return graphs.is_parents_first(self.preds)

    @cached_property
    def succ(self) -> list[list[int]]:
        """Children of each task, self-loops removed, each list in index order. Built on
        first use: the topological order of a graph built parents first does without."""
        return graphs.children_of(self.preds)

    @cached_property
    def parent_counts(self) -> list[int]:
        """Each task's number of parents, counted once (the topological sort, the taskIds
        budget check and the plan's edge count need them)."""
        return list(map(len, self.preds))

    @cached_property
    def id_lengths(self) -> tuple[int, int]:
        """The shortest and the longest id's length ((0, 0) without tasks), read once
        (validate checks both, plan_dependencies bounds taskIds by the longest)."""
        lengths = set(map(len, self.ids))
        return (min(lengths), max(lengths)) if lengths else (0, 0)

    @cached_property
    def joined_ids(self) -> str:
        """Every id, joined without a separator: one string for the checks that hold for
        all ids when they hold for the whole (characters, case)."""
        return "".join(self.ids)

    @cached_property
    def folded_ids(self) -> str:
        """``joined_ids`` lower-cased, made once (validate compares it for upper-case
        letters, the barriers look in it for their own prefix)."""
        return self.joined_ids.lower()

    @cached_property
    def integer_like(self) -> list[int]:
        """The tasks whose id an integer parser accepts, found once (validate looks for ids
        that alias one integer, plan_dependencies for the ids ranges may select)."""
        return integer_like_ids(self.ids)

    @cached_property
    def integer_like_texts(self) -> list[str]:
        """The ids of ``integer_like``, in that order."""
        like = self.integer_like
        return list(map(list(self.ids).__getitem__, like)) if like else []

    @cached_property
    def may_coincide(self) -> Sequence[str]:
        """The ids among which two may be equal ignoring case: all of them, unless
        ``normalize`` knew fewer (int node keys' ids are distinct decimal strings, equal to
        no str key's id unless that one is a number too: then only the str keys' ids)."""
        return self.ids

    @cached_property
    def distinct_as_given(self) -> bool:
        """Whether no two ids are equal as given (case counts): known when every node key
        is a str (``normalize`` says so: the keys of networkx's node dict are distinct, and
        they are the ids); False when not known."""
        return False

    @cached_property
    def integer_like_values(self) -> list[int]:
        """The integers ``integer_like_texts`` denote, in that order (for int node keys,
        the keys themselves: ``normalize`` fills all three in)."""
        return list(map(int, self.integer_like_texts))


def _field_path(loc: tuple[int | str, ...], given: Any = None) -> str:
    """``_walk``'s path."""
    return _walk(loc, given)[0]


def _walk(loc: tuple[int | str, ...], given: Any = None) -> tuple[str, Any]:
    """The field pydantic's ``loc`` names, spelt as the user wrote it, and the input there
    (None when not at hand): each property by
    the key the input at that level holds (Python's snake_case or Batch's camelCase: both
    are accepted); a missing property in the style of the keys beside it; snake_case where
    the input does not say (a value that is a model, no input at hand: the README's Python
    names); indices as [i],
    and an entry of a mapping given for a list (``environment_settings={"NAME": "v"}``) by
    its key."""
    out = ""
    node = given
    for part in loc:
        if isinstance(part, int):
            if isinstance(node, Mapping) and 0 <= part < len(node):
                key = list(node)[part]  # the mapping's entry, as the list's name/value item
                out += f"[{safe_repr(key)}]"
                node = {"name": key, "value": node[key]}
                continue
            out += f"[{part}]"
            inside = isinstance(node, list | tuple) and -len(node) <= part < len(node)
            node = node[part] if inside else None
            continue
        if isinstance(node, Mapping) and part in node:  # as given, whatever it holds
            name = part
        elif "[" in part or "-" in part or part.startswith("function"):
            continue  # pydantic puts function/union tags in loc; keep only field-like names
        else:
            snake, camel = to_snake(part), to_camel(part)
            name = snake
            if isinstance(node, Mapping):
                # Not given (a missing property): in the style of the keys beside it.
                camel_style = any(isinstance(k, str) and not k.islower() for k in node)
                name = next((k for k in (snake, camel) if k in node), snake)
                if name not in node and camel_style:
                    name = camel
        node = node.get(name) if isinstance(node, Mapping) else None
        out += ("." if out else "") + name
    return out, node


def _other_spelling(name: str, known: frozenset[str], given: Any) -> str:
    """The key of the input ``given`` that names the same property as ``name`` (its other
    spelling: ``commandLine`` for ``command_line``, ``username`` for ``user_name``)."""
    same = name.replace("_", "").lower()
    if isinstance(given, Mapping):
        for key in given:
            if key != name and key in known and str(key).replace("_", "").lower() == same:
                return str(key)
    return to_camel(name) if to_camel(name) != name else to_snake(name)


#: The diagnostic of a property given in both its spellings (``command_line`` and
#: ``commandLine``).
GIVEN_TWICE: Final = "property-given-twice"


def pydantic_diagnostics(
    exc: ValidationError,
    task_id: str | None,
    *,
    model: type[BaseModel] | None = None,
    given: Any = None,
) -> list[Diagnostic]:
    """Translate a pydantic ValidationError into diagnostics naming the task and the field
    (spelled as in ``given``, the input validated, when at hand: ``_field_path``); an
    unknown property of ``model`` (or of a model inside it) gets "did you mean"."""
    out: list[Diagnostic] = []
    for err in exc.errors(include_url=False):
        etype = err["type"]
        code = _PYDANTIC_CODES.get(etype, etype if "-" in etype else "invalid-value")
        field = _field_path(tuple(err["loc"]), given)
        hint = None
        message = err["msg"]
        if etype == "extra_forbidden":
            name = str(err["loc"][-1])
            message = f"unknown property {name!r}"
            known = models.accepted_names_at(model, err["loc"]) if model is not None else None
            if known is not None and name in known:
                # A name the model takes, refused because its other spelling was given too
                # (command_line and commandLine).
                other = _other_spelling(name, known, _walk(tuple(err["loc"][:-1]), given)[1])
                code = GIVEN_TWICE
                message = f"the property is given twice, as {other!r} and {name!r}"
                hint = f"keep one of {other!r} and {name!r} (both name one property)"
            elif known is not None:
                hint = suggest(name, known)
            if hint is None and len(err["loc"]) == 1 and model is models.Task:
                hint = "check the spelling; node attributes starting with '_' are ignored"
            elif hint is None:
                hint = "check the spelling" + (
                    "; only a node's own attributes starting with '_' are ignored, not "
                    "names inside a setting"
                    if name.startswith("_")
                    else ""
                )
        elif etype == "missing":
            message = f"required property {field!r} is missing"
        else:
            message = _USERS_WORDS.get(etype, message)
            message += _given_value(err.get("input"), message, field)
        out.append(Diagnostic(code=code, message=message, task_id=task_id, field=field, hint=hint))
    return out


#: pydantic's words for a wrong type, in the words of the workflow file: a list where the
#: models hold tuples, a dict where they hold a model class the user never sees.
_USERS_WORDS: Final[Mapping[str, str]] = {
    "tuple_type": "Input should be a list",
    "model_type": "Input should be a dict of its properties",
    "model_attributes_type": "Input should be a dict of its properties",
}


def _given_value(value: Any, message: str, field: str | None) -> str:
    """``, not VALUE`` for a refused value short enough to show (pydantic's message says
    what is accepted, not what was given); nothing for a container, a long value, one the
    message already quotes (dagbatch's own validators do), or one that may be a secret (an
    environment setting's value, a URL's signature): diagnostics are printed as they are."""
    secret = "environment" in (field or "").lower() or (
        isinstance(value, str)
        and ("sig=" in value.lower() or ("://" in value and "@" in value))  # a URL's password
    )
    if not secret and (value is None or isinstance(value, bool | int | float | str)):
        shown = safe_repr(value)
        if len(shown) <= _SHOWN_VALUE_CHARS and shown not in message:
            return f", not {shown}"
    return ""


#: The longest refused value a diagnostic repeats.
_SHOWN_VALUE_CHARS: Final = 60


#: What users of other workflow tools write, and where it goes in dagbatch; keys are
#: lower-case without '_' or '-'.
_ELSEWHERE: Final[Mapping[str, str]] = {
    **dict.fromkeys(
        (
            "retries",
            "retry",
            "maxretries",
            "retrycount",
            "maxretrycount",
            "maxtaskretrycount",
            "maxtaskretries",
        ),
        "constraints={'max_task_retry_count': N}",
    ),
    **dict.fromkeys(
        ("timeout", "executiontimeout", "walltime", "maxwallclocktime", "maxruntime"),
        "constraints={'max_wall_clock_time': 'PT1H'}",
    ),
    "retentiontime": "constraints={'retention_time': 'P7D'}",
    **dict.fromkeys(
        ("env", "environment", "envvars", "environ", "environmentvariables"),
        "environment_settings={'NAME': 'value'}",
    ),
    **dict.fromkeys(("cmd", "command", "bashcommand", "script"), "command_line"),
    **dict.fromkeys(("name", "label", "title", "description"), "display_name"),
    **dict.fromkeys(
        ("dependson", "dependencies", "upstream", "parents", "after"),
        "an edge: graph.add_edge(parent, task)",
    ),
    **dict.fromkeys(
        ("triggerrule", "when"),
        "the edge attribute when ('success', 'failure' or 'always'), "
        "graph.add_edge(parent, task, when='failure')",
    ),
    **dict.fromkeys(
        ("id", "taskid"), "the node's key (graph.add_node('my-task', ...) makes task 'my-task')"
    ),
    **dict.fromkeys(("pool", "poolid", "poolinfo", "queue"), "pool_id in graph.graph['job']"),
    **dict.fromkeys(("jobid", "jobname"), "id in graph.graph['job']"),
    **dict.fromkeys(("outputs", "output"), "output_files"),
    **dict.fromkeys(("inputs", "input", "files"), "resource_files"),
    **dict.fromkeys(("slots", "cpus", "cores"), "required_slots"),
    **dict.fromkeys(
        ("image", "dockerimage", "container"), "container_settings={'image_name': ...}"
    ),
}


def suggest(name: str, known: frozenset[str]) -> str | None:
    """A "did you mean" hint for an unknown property ``name``, or None.

    Another tool's word goes where dagbatch keeps that setting (``retries`` is
    ``constraints.max_task_retry_count``); a misspelling gets the closest accepted name, in
    the user's own style (camelCase when the name has a capital, else the README's
    snake_case: ``commandline`` gets ``command_line``), compared ignoring case and '_'.
    """
    key = name.lower().replace("_", "").replace("-", "")
    if key in _ELSEWHERE:
        return f"did you mean {_ELSEWHERE[key]}?"
    camel = name != name.lower()
    folded: dict[str, str] = {}
    for k in sorted(known):
        # prefer the spelling in the style the user wrote
        if (k != k.lower()) == camel or k.lower().replace("_", "") not in folded:
            folded[k.lower().replace("_", "")] = k
    close = difflib.get_close_matches(key, sorted(folded), n=1, cutoff=0.75)
    return f"did you mean {folded[close[0]]!r}?" if close else None


#: The one edge attribute dagbatch reads (others starting with '_' are the user's own).
EDGE_ATTRIBUTES: Final = frozenset({"when"})


def _unknown_edge_attribute(name: Any, parent: str, child: str) -> Diagnostic:
    """An edge attribute dagbatch does not know: an error, not ignored, since a misspelt
    ``when`` would run a failure handler on success."""
    hint = suggest(name, EDGE_ATTRIBUTES) if isinstance(name, str) else None
    return Diagnostic(
        code="unknown-property",
        message=f"edge {parent} -> {child}: unknown edge attribute {safe_repr(name)}",
        task_id=child,
        field=str(name),
        hint=(hint or "an edge takes when='success' (default), 'failure' or 'always'")
        + " (attributes of your own start with '_')",
    )


@contextmanager
def _any_int_digits() -> Iterator[None]:
    """Inside the block, an int of any length can be written out. A node key of thousands
    of digits is a task id too long for Batch (``id-too-long``), not a traceback: Python
    refuses to write out an int of more than 4,300 digits unless told otherwise."""
    limit = sys.get_int_max_str_digits()
    sys.set_int_max_str_digits(0)
    try:
        yield
    finally:
        sys.set_int_max_str_digits(limit)


def _node_id(key: Any) -> str | None:
    """The task id of a node key of a subclass of int or str, as a plain str (the int's
    decimal digits, the string's characters): the subclass's own ``__str__`` and
    ``__repr__`` are never called, so one that raises cannot stop the compile."""
    if isinstance(key, bool):
        return None
    if isinstance(key, int):
        with _any_int_digits():
            return int.__repr__(key)
    if isinstance(key, str):
        return str.__str__(key)
    return None


def _chars(value: Any) -> int:
    """The characters of every string in a wire value: a floor of its JSON size in bytes."""
    if isinstance(value, str):
        return len(value)
    if isinstance(value, Mapping):
        return sum(len(k) + _chars(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return sum(map(_chars, value))
    return 1


#: Longer command lines take the model path, where the task's size is checked.
_SIMPLE_MAX_CHARS = 100_000


#: Graph attributes that mean job settings put under another key than ``job``.
_JOB_KEY_MISSES: Final = frozenset({"jobs", "job_settings", "jobsettings", "settings", "batch"})
#: Job settings that say they are one when given as graph attributes of their own (``id``,
#: ``priority``, ``metadata`` and the like can be the user's own attributes of the graph).
_JOB_ONLY_KEYS: Final = frozenset(
    key.lower()
    for key, name in models.JOB_FIELD_BY_KEY.items()
    if name not in ("id", "display_name", "priority", "metadata", "constraints")
)


def _misplaced_job_settings(attributes: Mapping[Any, Any]) -> list[Diagnostic]:
    """A warning for job settings under a key that is not ``job`` (``graph.graph["Job"]``,
    ``["job_settings"]``, or the settings themselves at the top, ``["pool_id"]``): they are
    not read, and the job would be made without them; each one is said, also beside a
    ``job`` key. Other graph attributes are the user's own and are left alone."""
    found = []
    for key in attributes:
        if not isinstance(key, str) or key == "job":
            continue
        folded = key.lower()
        if folded == "job" or folded in _JOB_KEY_MISSES:
            what = f"graph.graph[{safe_repr(key)}] holds job settings"
        elif folded in _JOB_ONLY_KEYS:
            what = f"graph.graph[{safe_repr(key)}] is a job setting"
        else:
            continue
        found.append(
            Diagnostic(
                code="unknown-property",
                severity="warning",
                message=f"{what}, and job settings are read from graph.graph['job'] only: the "
                "job would be made without them",
                field=f"graph.graph[{safe_repr(key)}]",
                hint='graph.graph["job"] = {"id": "nightly", "pool_id": "my-pool"}',
            )
        )
    return found


def _simple_props(attrs: Mapping[str, Any]) -> Props | None:
    """Wire props for a node that has only a command line / display name, else None."""
    if len(attrs) == 1:  # the common case: just a command line
        line = attrs.get("command_line")
        if line is None:
            line = attrs.get("commandLine")
        if type(line) is str and line and len(line) < _SIMPLE_MAX_CHARS and not line.isspace():
            return line
        return None
    props: dict[str, Any] = {}
    for key, value in attrs.items():
        wire = _SIMPLE_KEYS.get(key)
        if wire is None:
            if isinstance(key, str) and key.startswith("_"):
                continue
            return None  # (a name that is no str: the model path reports it)
        if not isinstance(value, str) or wire in props:
            return None
        props[wire] = value
    line = props.get("commandLine", "")
    if len(line) >= _SIMPLE_MAX_CHARS or not line.strip() or "\x00" in line:
        return None
    if len(props.get("displayName", "")) > MAX_DISPLAY_NAME_LENGTH:
        return None
    # Same key order as the model path: displayName first, then commandLine.
    return {k: props[k] for k in ("displayName", "commandLine") if k in props}


_COMMAND_LINE_OF: Final = itemgetter("command_line")


def _bare_command_lines(node_attrs: Sequence[Mapping[str, Any]]) -> list[Props | None] | None:
    """Every task's command line when every task is just a quick one (``_simple_props``'s
    first case under its key ``command_line``: a str, not blank, under
    ``_SIMPLE_MAX_CHARS``), found by C-level passes over all tasks at once, half the time of
    a test a task; else None, and the caller looks at each task."""
    try:
        if set(map(len, node_attrs)) != {1}:
            return None
        lines: list[Props | None] = list(map(_COMMAND_LINE_OF, node_attrs))
    except (KeyError, TypeError):  # a task without command_line, or attributes no mapping
        return None
    if set(map(type, lines)) != {str}:
        return None
    lengths = set(map(len, lines))  # type: ignore[arg-type]  # all str, as just checked
    if min(lengths) == 0 or max(lengths) >= _SIMPLE_MAX_CHARS:
        return None
    if any(map(str.isspace, lines)):  # type: ignore[arg-type]
        return None
    return lines


def _task_from_attrs(
    attrs: Mapping[str, Any], task_id: str, diags: list[Diagnostic]
) -> models.Task | None:
    given = attrs.get("task")
    for key in attrs:
        if not isinstance(key, str):
            diags.append(
                Diagnostic(
                    code="invalid-type",
                    message=f"node attribute name {safe_repr(key)} ({type(key).__name__}) "
                    "is not a str",
                    task_id=task_id,
                    field=safe_repr(key),
                    hint="a node's attributes are the task's properties (command_line=...) "
                    "and your own, named with a leading '_'",
                )
            )
    extra = {
        k: v
        for k, v in attrs.items()
        if isinstance(k, str) and k != "task" and not k.startswith("_")
    }
    if given is not None:
        if isinstance(given, models.Task):
            if not extra:
                return given
            # Attributes beside the Task replace its values, whichever spelling names them.
            merged = given.model_dump(exclude_unset=True)
            field_of = models.TASK_FIELD_BY_KEY.get
            for key in extra:
                merged.pop(field_of(key, key), None)
            merged.update(extra)
            try:
                return models.Task.model_validate(merged)
            except ValidationError as exc:
                diags.extend(pydantic_diagnostics(exc, task_id, model=models.Task, given=merged))
                return None
        if isinstance(given, Mapping):
            extra = {**given, **extra}
        else:
            diags.append(
                Diagnostic(
                    code="invalid-type",
                    message=f"node attribute 'task' is {a_type(given)}, "
                    "not a dagbatch.Task or a mapping",
                    task_id=task_id,
                    field="task",
                    hint="use task=dagbatch.Task(command_line=...) or plain node attributes",
                )
            )
            return None
    try:
        return models.Task.model_validate(extra)
    except ValidationError as exc:
        diags.extend(pydantic_diagnostics(exc, task_id, model=models.Task, given=extra))
        return None


def _intent_of(task: models.Task, api_version: ApiVersion) -> Intent:
    raw = None
    if task.exit_conditions is not None:
        raw = models.exit_conditions_wire(task.exit_conditions, api_version)
    intent = Intent(
        on_failure=task.on_failure,
        satisfy_exit_codes=tuple(task.satisfy_exit_codes),
        job_action=task.job_action,
        exit_conditions=raw,
    )
    return DEFAULT_INTENT if intent.is_default else intent


def _when_hint(given: Any) -> str:
    """The hint for an edge ``when`` that is none of ``WHEN_VALUES``: the closest one, if a
    misspelling ("fail", "succes"), and the three."""
    close = get_close_matches(str(given).lower(), WHEN_VALUES, n=1, cutoff=0.5)
    mean = f"did you mean {close[0]!r}? " if close else ""
    return mean + "when='success' (default), 'failure' or 'always'"


def _overridden(job: dict[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """``job`` with ``overrides`` (those not None) in place of the settings they name, under
    whichever name each was given (``poolId`` in the graph, ``pool_id`` from the command line
    or a ``JobSettings``: one setting, the override's)."""
    field_of = models.JOB_FIELD_BY_KEY.get
    for key, value in overrides.items():
        if value is None:
            continue
        field = field_of(key)
        if field is not None:
            for given in [k for k in job if field_of(k) == field]:
                del job[given]
        job[key] = value
    return job


def normalize(
    graph: nx.DiGraph,
    *,
    api_version: ApiVersion,
    job_overrides: Mapping[str, Any] | None = None,
) -> tuple[WorkflowSpec, list[Diagnostic]]:
    """Build the WorkflowSpec; every problem found is returned, none raised."""
    diags: list[Diagnostic] = []
    if not isinstance(graph, nx.DiGraph) or graph.is_multigraph():
        what = "a multigraph" if isinstance(graph, nx.Graph) and graph.is_multigraph() else None
        raise ConfigError(
            f"a workflow is a networkx.DiGraph (one edge per pair of tasks), not "
            f"{what or 'a ' + type(graph).__name__}"
            + ("; nx.DiGraph(graph) merges parallel edges" if what else "")
        )

    node_keys = list(graph._node)
    index: dict[Any, int] = dict(zip(node_keys, range(len(node_keys)), strict=True))
    key_types = set(map(type, node_keys))
    str_keys = key_types <= {str}
    plain_keys = key_types <= {str, int}
    if str_keys:
        ids: list[str] = node_keys.copy()  # the keys are the ids
    elif plain_keys:
        # An f-string formats an int without the call of str() (a third quicker); a str
        # key is itself.
        try:
            ids = [f"{k}" for k in node_keys]
        except ValueError:  # an int beyond Python's limit for writing one out (4,300 digits)
            with _any_int_digits():
                ids = [f"{k}" for k in node_keys]
    else:
        with _any_int_digits():  # as above: no traceback for an int of thousands of digits
            ids = [
                k if type(k) is str else str(k) if type(k) is int else _node_id(k) or safe_repr(k)
                for k in node_keys
            ]
    odd_keys = () if plain_keys else (k for k in node_keys if type(k) not in (str, int))
    for key in odd_keys:
        if _node_id(key) is None:
            tid = safe_repr(key)
            diags.append(
                Diagnostic(
                    code="invalid-id",
                    message=f"node key {tid} is {a_type(key)}; task ids are str or int",
                    task_id=tid,
                    field="id",
                    hint="use a string id of letters, digits, '-' and '_', or an int",
                )
            )

    # Most tasks are a bare command line: a quick check skips the model for them.
    node_attrs = list(graph._node.values())
    quick: list[Props | None] | None = _bare_command_lines(node_attrs)
    if quick is None:  # some task has more than a quick command line: each is looked at
        quick = [
            # _simple_props's first case, inline: a node with just a command line (see Props).
            line
            if len(attrs) == 1
            and type(line := attrs.get("command_line")) is str
            and 0 < len(line) < _SIMPLE_MAX_CHARS
            and not line.isspace()
            else _simple_props(attrs)
            for attrs in node_attrs
        ]
    try:
        joined = "\n".join(quick)  # type: ignore[arg-type]  # the common case: all bare lines
    except TypeError:  # some task has more than a command line, or none that is quick
        joined = "\n".join([q for q in quick if type(q) is str])
    if "\x00" in joined:  # one search over every bare command line
        # A NUL, which no process can be given: the model says so (``models.no_nul``).
        quick = [None if type(q) is str and "\x00" in q else q for q in quick]
    props: list[Props] = quick  # type: ignore[assignment]
    intents: list[Intent] = [DEFAULT_INTENT] * len(ids)
    for i in compress(range(len(quick)), map(is_, quick, repeat(None))):
        tid = ids[i]
        task = _task_from_attrs(node_attrs[i], tid, diags)
        if task is None:
            props[i] = {}
            continue
        wire, issues = models.task_wire_properties(task, api_version)
        for issue in issues:
            diags.append(
                Diagnostic(
                    code="unsupported-property",
                    message=issue.message,
                    task_id=tid,
                    field=issue.field,
                    hint=issue.hint,
                )
            )
        size = _chars(wire)
        if size >= MAX_BODY_BYTES[api_version]:
            # Checked before anything serializes it: a value of gigabytes is an error to
            # report, not something to hand to the JSON encoder.
            diags.append(
                Diagnostic(
                    code="task-too-large",
                    message=f"the task's properties hold {size:,} characters; a request "
                    f"body must be under {MAX_BODY_BYTES[api_version]:,} bytes for "
                    f"api-version {api_version}",
                    task_id=tid,
                    hint="move large data (environment values, resource file lists) into "
                    "files fetched by the task",
                )
            )
            wire = {}
        props[i] = wire
        intents[i] = _intent_of(task, api_version)

    # networkx keeps adjacency as dicts of dicts (``_pred``/``_succ``); reading them directly
    # and mapping keys to indices with C-level ``map`` keeps this linear and quick on graphs
    # of a million edges.
    get = index.__getitem__
    adj_pred: Mapping[Any, Mapping[Any, Mapping[str, Any]]] = graph._pred
    # networkx adds a node to ``_node`` and ``_pred`` together, so both list the nodes in one
    # order: then the parent maps are read in sequence rather than looked up one by one (a
    # lookup per node touches memory all over a big graph). Checked, not assumed.
    if list(adj_pred) == node_keys:
        pred_maps = list(adj_pred.values())
    else:
        pred_maps = list(map(adj_pred.__getitem__, node_keys))
    counts = list(map(len, pred_maps))
    parents_first: bool | None = None
    # Str keys are the ids: the parents' ids are the keys of the parent maps, copied in order
    # without looking each one up (plan_dependencies needs them for taskIds).
    parent_ids: list[tuple[str, ...]] | None = None
    others = graphs.not_one(counts) if counts.count(0) * 5 < len(counts) else None
    if others is not None and 2 * len(others) <= len(counts):
        # Most tasks have one parent (a chain, a sweep's shards): every parent key in one
        # list, the 1-tuples of each run of such tasks from one zip over it, and whether
        # the graph was built parents first from one comparison of each edge's ends.
        parent_keys = list(chain.from_iterable(pred_maps))
        flat = list(map(get, parent_keys))
        preds: list[tuple[int, ...]] = graphs.split_runs(flat, counts, others)
        parents_first = all(map(lt, flat, graphs.edge_children(counts, others)))
        if str_keys:
            parent_ids = graphs.split_runs(parent_keys, counts, others)
    elif others is None:
        # Tasks without parents (a fan-in's parts) are a fifth or more: they keep the empty
        # tuple, and only the tasks with parents (found by one C-level scan) are looked at.
        preds = [()] * len(counts)
        with_parents = list(compress(range(len(counts)), counts))
        for i in with_parents:
            preds[i] = tuple(map(get, pred_maps[i]))
        parents_first = graphs.is_parents_first(preds)
        if str_keys:
            parent_ids = [()] * len(counts)
            for i in with_parents:
                parent_ids[i] = tuple(pred_maps[i])
    else:
        preds = list(map(tuple, map(map, repeat(get), pred_maps)))
        parents_first = graphs.is_parents_first(preds)
        if str_keys:
            parent_ids = list(map(tuple, pred_maps))
    when: dict[tuple[int, int], str] = {}
    # Only nodes with a self-loop or with edge attributes need a second look. Usually there
    # are none, which two C-level scans say: one over all edges' data, one for a task among
    # its own parents; else (or if the parent maps are not dicts) each node is looked at.
    unusual: list[int] = []
    values_of: Callable[[Any], Iterable[Any]] = dict.values  # networkx's maps are dicts
    try:
        edge_data = any(chain.from_iterable(map(values_of, compress(pred_maps, pred_maps))))
    except TypeError:
        edge_data = True
    # A graph built parents first has no self-loop (a task is not below itself); else a
    # task with parents is looked up among its own parents' keys (one dict lookup each).
    if edge_data or (
        not parents_first
        and any(map(contains, compress(pred_maps, counts), compress(node_keys, counts)))
    ):
        unusual = [
            i for i, m in enumerate(pred_maps) if m and (any(m.values()) or node_keys[i] in m)
        ]
    self_loops = [i for i in unusual if node_keys[i] in pred_maps[i]]
    for vi in self_loops:
        preds[vi] = tuple(u for u in preds[vi] if u != vi)
        counts[vi] = len(preds[vi])
        if parent_ids is not None:
            parent_ids[vi] = tuple(map(ids.__getitem__, preds[vi]))
    with_data = [i for i in unusual if any(pred_maps[i].values())]
    for vi in with_data:
        key = node_keys[vi]
        for u, data in pred_maps[vi].items():
            if u == key:
                continue
            ui = get(u)
            for name in data:
                if name != "when" and not (isinstance(name, str) and name.startswith("_")):
                    diags.append(_unknown_edge_attribute(name, ids[ui], ids[vi]))
            w = data.get("when")
            if w is None:
                continue
            if w not in WHEN_VALUES:
                diags.append(
                    Diagnostic(
                        code="invalid-enum",
                        message=f"edge {ids[ui]} -> {ids[vi]}: when={safe_repr(w)} is not one of "
                        + ", ".join(WHEN_VALUES),
                        task_id=ids[vi],
                        field="when",
                        hint=_when_hint(w),
                    )
                )
            else:
                when[(ui, vi)] = w

    diags.extend(_misplaced_job_settings(graph.graph))
    given_job = graph.graph.get("job") or {}
    if isinstance(given_job, models.JobSettings):  # built in Python: its settings as given
        given_job = given_job.model_dump(exclude_unset=True)
    if not isinstance(given_job, Mapping):
        diags.append(
            Diagnostic(
                code="invalid-type",
                message=f'graph.graph["job"] is {a_type(given_job)}, not a mapping of job settings',
                field="job",
                hint='graph.graph["job"] = {"id": "nightly", "pool_id": "my-pool"}',
            )
        )
        given_job = {}
    job_data: dict[str, Any] = dict(given_job)
    if job_overrides:
        job_data = _overridden(job_data, job_overrides)
    try:
        job = models.JobSettings.model_validate(job_data)
    except ValidationError as exc:
        diags.extend(
            Diagnostic(
                code=d.code,
                message=d.message,
                task_id=None,
                field="job." + (d.field or ""),
                hint=d.hint,
            )
            for d in pydantic_diagnostics(exc, None, model=models.JobSettings, given=job_data)
        )
        job = models.JobSettings()
    # Job settings the api-version lacks are reported, never dropped from job.json silently.
    diags.extend(
        Diagnostic(
            code="unsupported-property",
            message=issue.message,
            task_id=None,
            field="job." + issue.field,
            hint=issue.hint,
        )
        for issue in models.job_version_issues(job, api_version)
    )

    spec = WorkflowSpec(
        api_version=api_version,
        ids=tuple(ids),
        props=tuple(props),
        intents=tuple(intents),
        preds=tuple(preds),
        when=when,
        self_loops=tuple(self_loops),
        job=job,
        parent_ids=None if parent_ids is None else tuple(parent_ids),
    )
    spec.__dict__["parent_counts"] = counts  # counted above: the cached property, filled in
    if not self_loops:  # else the parents without the self-loops are yet to be looked at
        spec.__dict__["parents_first"] = parents_first
    if str_keys:
        spec.__dict__["distinct_as_given"] = True
    elif plain_keys:
        _fill_integer_like(spec, node_keys)
    return spec, diags


def _fill_integer_like(spec: WorkflowSpec, node_keys: list[Any]) -> None:
    """``spec``'s integer-like ids, their texts and values when some node keys are ints
    (the rest str): an int key's id is its decimal string, which an integer parser always
    accepts, and its value is the key. Only the str keys are scanned, and no id is parsed
    back. Int keys added one after another (a sweep's shards) are slices, in C."""
    n = len(node_keys)
    types = list(map(type, node_keys))
    count = types.count(int)
    first = types.index(int)
    ints: list[int]
    if types[first : first + count].count(int) == count:  # one run of int keys
        ints = list(range(first, first + count))
        others = [*range(first), *range(first + count, n)]
    else:
        ints = list(compress(range(n), map(is_, types, repeat(int))))
        others = list(compress(range(n), map(is_not, types, repeat(int))))
    found = integer_like_ids(list(map(spec.ids.__getitem__, others)))
    # str ids that are integers too ("7" beside 8), in index order with the rest
    like = sorted(ints + list(map(others.__getitem__, found))) if found else ints
    ids = list(spec.ids)
    if not found:  # no str id is a number: only they can equal one another
        spec.__dict__["may_coincide"] = list(map(ids.__getitem__, others))
    if like is ints and ints[-1] - first == count - 1:
        texts, values = ids[first : first + count], node_keys[first : first + count]
    else:
        texts = list(map(ids.__getitem__, like))
        keys = map(node_keys.__getitem__, like)
        values = [k if type(k) is int else int(k) for k in keys]
    spec.__dict__.update(integer_like=like, integer_like_texts=texts, integer_like_values=values)
