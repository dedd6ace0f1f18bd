"""The OData ``$filter`` and ``$select`` the emulator evaluates on list operations.

Supported filters: comparisons ``FIELD eq|ne|lt|le|gt|ge LITERAL`` and the function
``startswith(FIELD, 'text')``, joined with ``and`` / ``or`` (``and`` binds tighter; written
``AND`` / ``OR`` too, as the page that lists Batch's filters names them
[odata-filters-in-batch]) and grouped
with parentheses; literals are 'quoted strings' (``''`` escapes a quote) or integers. The
fields each list accepts, and the operators, are given by the caller (for tasks: ``id``,
``state``, ``executionInfo/result``, ``executionInfo/exitCode``, ... with the comparisons; for
a task's files: ``name`` with ``startswith`` only, as Batch's table of filters says
[odata-filters-in-batch, "List task files"]). Anything else is a ``FilterError``, which the
handler answers with 400: never a silently wrong list.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any, Final

Predicate = Callable[[Mapping[str, Any]], bool]

_TOKEN: Final = re.compile(r"\s*(?:(\()|(\))|(,)|'((?:[^']|'')*)'|(-?\d+)\b|([A-Za-z_][\w/]*))")
_OPS: Final[dict[str, Callable[[Any, Any], bool]]] = {
    "eq": lambda a, b: a == b,
    "ne": lambda a, b: a != b,
    "lt": lambda a, b: a is not None and a < b,
    "le": lambda a, b: a is not None and a <= b,
    "gt": lambda a, b: a is not None and a > b,
    "ge": lambda a, b: a is not None and a >= b,
}

#: The comparison operators (what list jobs and list tasks take).
COMPARISONS: Final = frozenset(_OPS)
#: ``startswith(FIELD, 'text')``: the one operation list task files takes, on ``name``.
STARTSWITH: Final = "startswith"
#: The words that join conditions, read in either case (see the module's docstring).
_JOINS: Final = frozenset({"and", "or"})
#: How deep a ``$filter`` may nest parentheses (the parser recurses once a level).
MAX_FILTER_DEPTH: Final = 32


class FilterError(ValueError):
    """A ``$filter`` or ``$select`` the emulator cannot evaluate exactly."""


def _tokens(text: str) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None or match.end() == pos:
            raise FilterError(f"cannot read the $filter at {text[pos : pos + 20]!r}")
        lparen, rparen, comma, string, number, word = match.groups()
        symbol = lparen or rparen or comma
        if symbol:
            out.append((symbol, symbol))
        elif string is not None:
            out.append(("lit", string.replace("''", "'")))
        elif number is not None:
            out.append(("lit", int(number)))
        else:
            out.append(("word", word.lower() if word.lower() in _JOINS else word))
        pos = match.end()
    return out


def filter_fields(text: str | None) -> set[str]:
    """The top-level properties a ``$filter`` (already checked by ``parse_filter``) names."""
    if not text:
        return set()
    words = (value for kind, value in _tokens(text) if kind == "word")
    return {w.split("/")[0] for w in words if w not in _OPS and w not in _JOINS and w != STARTSWITH}


def get_path(doc: Mapping[str, Any], path: str) -> Any:
    """``a/b`` inside a document; None when absent."""
    value: Any = doc
    for part in path.split("/"):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def parse_filter(text: str, fields: frozenset[str], ops: frozenset[str] = COMPARISONS) -> Predicate:
    """A predicate over a document (the JSON the list returns) for ``text``, which may
    name the properties ``fields`` with the operators ``ops`` (comparisons, ``STARTSWITH``)."""
    tokens = _tokens(text)
    pos = 0

    def peek() -> tuple[str, Any] | None:
        return tokens[pos] if pos < len(tokens) else None

    def take() -> tuple[str, Any]:
        nonlocal pos
        if pos >= len(tokens):
            raise FilterError("the $filter ends too early")
        pos += 1
        return tokens[pos - 1]

    def expr() -> Predicate:
        left = term()
        while (tok := peek()) and tok == ("word", "or"):
            take()
            right = term()
            left = (lambda a, b: lambda d: a(d) or b(d))(left, right)
        return left

    def term() -> Predicate:
        left = factor()
        while (tok := peek()) and tok == ("word", "and"):
            take()
            right = factor()
            left = (lambda a, b: lambda d: a(d) and b(d))(left, right)
        return left

    depth = 0

    def factor() -> Predicate:
        nonlocal depth
        kind, value = take()
        if kind == "(":
            depth += 1
            if depth > MAX_FILTER_DEPTH:  # a 400, not the parser's recursion limit (a 500)
                raise FilterError(
                    f"the $filter nests parentheses more than {MAX_FILTER_DEPTH} deep"
                )
            inner = expr()
            if take()[0] != ")":
                raise FilterError("a parenthesis is not closed in the $filter")
            depth -= 1
            return inner
        if kind != "word":
            raise FilterError(f"expected a property name in the $filter, found {value!r}")
        if value == STARTSWITH and peek() == ("(", "("):
            return starts_with()
        field(value)
        op_kind, op = take()
        if op_kind != "word" or op not in _OPS or op not in ops:
            raise FilterError(f"unsupported operator {op!r} in the $filter ({allowed})")
        lit_kind, literal = take()
        if lit_kind != "lit":
            raise FilterError(f"expected a 'quoted' value or an integer after {value} {op}")
        compare = _OPS[op]
        path = value

        def predicate(doc: Mapping[str, Any]) -> bool:
            found = get_path(doc, path)
            if isinstance(literal, str) and isinstance(found, str):
                # Enum values compare case-insensitively, as the service's do.
                return bool(compare(found.lower(), literal.lower()))
            try:
                return bool(compare(found, literal))
            except TypeError:
                return False

        return predicate

    def field(name: str) -> None:
        if name not in fields:
            raise FilterError(
                f"the emulator cannot filter on {name!r} (it can on: {', '.join(sorted(fields))})"
            )

    def starts_with() -> Predicate:
        """``startswith(FIELD, 'text')``, the word already taken. Case-sensitive: file
        names on a node are."""
        if STARTSWITH not in ops:
            raise FilterError(f"unsupported function startswith in the $filter ({allowed})")
        take()  # "("
        name_kind, path = take()
        if name_kind != "word":
            raise FilterError(f"expected a property name in startswith(), found {path!r}")
        field(path)
        comma, (lit_kind, prefix), close = take(), take(), take()
        if comma[0] != "," or lit_kind != "lit" or not isinstance(prefix, str) or close[0] != ")":
            raise FilterError(f"startswith takes a property and a 'quoted' text: {text!r}")

        def predicate(doc: Mapping[str, Any]) -> bool:
            found = get_path(doc, path)
            return isinstance(found, str) and found.startswith(prefix)

        return predicate

    allowed = ", ".join(sorted(ops))
    result = expr()
    if pos != len(tokens):
        raise FilterError(f"unexpected {tokens[pos][1]!r} in the $filter")
    return result


def parse_select(text: str | None) -> list[str] | None:
    """The top-level properties ``$select`` keeps (None: all)."""
    if not text:
        return None
    names = [name.strip() for name in text.split(",") if name.strip()]
    for name in names:
        if not re.fullmatch(r"[A-Za-z][A-Za-z0-9]*", name):
            raise FilterError(f"$select can only name top-level properties, not {name!r}")
    return names


def select(doc: dict[str, Any], names: list[str] | None) -> dict[str, Any]:
    """``doc`` trimmed to ``names`` (the odata annotations stay)."""
    if names is None:
        return doc
    return {k: v for k, v in doc.items() if k in names or k.startswith("odata.")}
