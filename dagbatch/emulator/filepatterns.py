"""Batch's output file patterns (docs/BATCH_FACTS.md section 9): which files of a task's
directory an ``outputFiles`` entry uploads, and under which blob names. Pure rules over the
file system, no storage."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

_WILDCARD_RE = re.compile(r"[*?]|\[!?\]?[^\]/]*\]")
_ENV_RE = re.compile(r"\$(?:\{(\w+)\}|(\w+))")


def expand_env(text: str, env: Mapping[str, str]) -> str:
    """Expand ``$var`` and ``${var}`` from ``env`` (Linux rules: "Environment variables
    (%var% on Windows or $var on Linux) are expanded prior to the pattern being applied");
    an unknown variable is left as written."""

    def sub(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(2)
        return env.get(name, m.group(0))

    return _ENV_RE.sub(sub, text)


def has_wildcard(pattern: str) -> bool:
    """Whether a file pattern has a wildcard (``*``, ``?`` or a ``[...]`` class)."""
    return _WILDCARD_RE.search(pattern) is not None


def _class_end(segment: str, start: int) -> int:
    """The index of the "]" closing the class that opens at ``start``, or -1 (then the "["
    is literal). A "]" right after "[" or "[!" belongs to the class."""
    j = start + 1
    if segment[j : j + 1] == "!":
        j += 1
    if segment[j : j + 1] == "]":
        j += 1
    return segment.find("]", j)


def _segment_regex(segment: str) -> str:
    """The regex of one path segment of a pattern. ``*`` is 0 or more characters, ``?`` one,
    ``[abc]``/``[a-c]``/``[!abc]`` one of (not of) a class, and a name starting with "." is
    matched only by a segment that starts with a literal "." ("*.gif will not match .a.gif,
    but .*.gif will")."""
    out = [] if segment.startswith(".") else [r"(?!\.)"]
    i = 0
    while i < len(segment):
        c = segment[i]
        if c == "*":
            while i + 1 < len(segment) and segment[i + 1] == "*":
                i += 1
            out.append(r"[^/]*")
        elif c == "?":
            out.append(r"[^/]")
        elif c == "[" and _class_end(segment, i) > 0:
            end = _class_end(segment, i)
            body = segment[i + 1 : end]
            negate = body.startswith("!")
            if negate:
                body = body[1:]
            # Every character literal but the range dash (escaping also avoids the "possible
            # nested set" warnings of re for "[", "&&", "||", "~~").
            escaped = "".join(ch if ch == "-" else re.escape(ch) for ch in body)
            out.append(f"[^/{escaped}]" if negate else f"[{escaped}]")
            i = end
        else:
            out.append(re.escape(c))
        i += 1
    return "".join(out)


def compile_file_pattern(relative_pattern: str) -> re.Pattern[str]:
    """The regex of a wildcard pattern relative to its base directory, matched against a
    file's ``/``-separated path relative to that directory. ``**`` matches any number of
    directories (zero included); a final ``**`` matches any file below. Only ``/``
    separates (Linux)."""
    segments = [s for s in relative_pattern.split("/") if s]
    parts: list[str] = []
    for index, segment in enumerate(segments):
        last = index == len(segments) - 1
        if segment == "**":
            parts.append(r"(?!\.)[^/]+(?:/(?!\.)[^/]+)*" if last else r"(?:(?!\.)[^/]+/)*")
        else:
            parts.append(_segment_regex(segment) + ("" if last else "/"))
    return re.compile("".join(parts))


def _split_base(pattern: str) -> tuple[str, str]:
    """Split a pattern into its wildcard-free leading directory and the rest."""
    segments = pattern.split("/")
    for index, segment in enumerate(segments):
        if has_wildcard(segment):
            base = "/".join(segments[:index])
            if not base and pattern.startswith("/"):
                base = "/"
            return base, "/".join(segments[index:])
    return pattern, ""


def _join_blob_name(path: str | None, name: str) -> str:
    if not path:
        return name
    return f"{path.rstrip('/')}/{name}"


def expand_file_pattern(
    pattern: str,
    working_dir: Path,
    env: Mapping[str, str] | None = None,
    path: str | None = None,
) -> list[tuple[Path, str]]:
    """The files an ``outputFiles`` entry uploads, as ``(local file, blob name)``, sorted.

    Batch's rules (BATCH_FACTS section 9, [S OutputFile], [S OutputFileBlobContainerDestination]):
    ``$var`` is expanded from ``env`` first; a relative pattern is relative to
    ``working_dir`` (``../std*.txt`` reaches the task directory), an absolute one (e.g.
    ``$AZ_BATCH_TASK_DIR/stdout.txt``) is taken as is. Without a wildcard the pattern names
    one file and ``path`` is its blob name (the file's name when ``path`` is omitted). With
    wildcards, every file below the pattern's wildcard-free leading directory that matches
    is taken, and its blob name is its path relative to that directory with ``path``
    prepended as a virtual directory (the container root when omitted): ``../std*.txt`` with
    path ``logs`` gives ``logs/stdout.txt`` and ``logs/stderr.txt``. Only regular files
    match; a pattern that matches nothing yields ``[]`` ("may match zero files" [OUT]).
    """
    expanded = expand_env(pattern, env or {})
    if not has_wildcard(expanded):
        file = Path(expanded) if expanded.startswith("/") else working_dir / expanded
        if not file.is_file():
            return []
        return [(file, path if path else file.name)]
    base, rest = _split_base(expanded)
    base_dir = Path(base) if base.startswith("/") else working_dir / base
    if not base_dir.is_dir():
        return []
    regex = compile_file_pattern(rest)
    found: list[tuple[Path, str]] = []
    for root, _dirs, files in os.walk(base_dir):
        rel_root = Path(root).relative_to(base_dir).as_posix()
        for name in files:
            rel = name if rel_root == "." else f"{rel_root}/{name}"
            local = Path(root) / name
            if regex.fullmatch(rel) and local.is_file():
                found.append((local, _join_blob_name(path, rel)))
    found.sort(key=lambda item: item[1])
    return found


__all__ = ["compile_file_pattern", "expand_env", "expand_file_pattern", "has_wildcard"]
