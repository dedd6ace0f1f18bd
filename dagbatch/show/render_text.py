"""The text picture: nodes by level with their incoming edges, then the widest level and the
critical path (the longest chain of tasks in a row)."""

from __future__ import annotations

from dagbatch.show.model import Picture, state_counts


def _plural(n: int, word: str) -> str:
    """``1 task``, ``2 tasks``."""
    return f"{n:,} {word}" + ("" if n == 1 else "s")


def describe_intent(key: str) -> str:
    """An ``Intent.key`` in words: what its dependents wait for."""
    head, _, job = key.partition("; ")
    kind, *parts = head.split(" ")
    codes = next((p for p in parts if p[:1] in "+-"), "")
    errors = dict(p.split(":", 1) for p in parts if ":" in p)
    words = {
        "success": "dependents run after exit 0",
        "failure": "dependents run only if it fails",
        "always": "dependents run however it ends",
        "never": "dependents never run",
        "mixed": "tasks of different intents",
    }.get(kind, kind)
    if codes.startswith("+"):
        words += f", or after exit {codes[1:]}"
    elif codes.startswith("-"):
        words += f", except after exit {codes[1:]}"
    for name, what in (("pre", "a failed download or launch"), ("upload", "failed output files")):
        if errors.get(name) == "satisfy":
            words += f", and also after {what}"
        elif errors.get(name) == "block":
            words += f", but not after {what}"
    if job:
        words += f"; a failure makes the {job}"
    return words


def summary_lines(picture: Picture) -> list[str]:
    """The summary shared by every format: widest level and critical path."""
    level, width = picture.widest_level
    path = picture.critical_path
    shown = " → ".join(path) if len(path) <= 8 else " → ".join([*path[:3], "…", *path[-3:]])
    if not picture.tasks:
        return ["no tasks"]
    # The widest level is no bound on how many tasks run at once: a task of another level
    # (an independent one, or one beside a slow sibling) can run beside them. That bound is
    # the largest set of mutually independent tasks, too costly to compute for a picture.
    lines = [
        f"widest level: {_plural(width, 'task')} at level {level}"
        # (A widest level of one task: every level holds one, each the child of the one
        # before, and nothing runs beside anything.)
        + (
            " (tasks of other levels can run beside them)"
            if picture.levels > 1 and width > 1
            else ""
        ),
        f"critical path: {_plural(len(path), 'task')} in a row when every task succeeds"
        + (f" ({shown})" if path else ""),
    ]
    if picture.live:
        lines.append("state: " + (state_counts(picture.totals()) or "no tasks"))
    return lines


def folded(picture: Picture) -> bool:
    """Whether any drawn node holds more than one task."""
    return any(node.count > 1 for node in picture.nodes)


def header_lines(picture: Picture) -> list[str]:
    """What the plan is: job, sizes, submit waves, drawn nodes and folding notes."""
    lines = [
        f"job {picture.job_id or '(no id)'}: {_plural(picture.tasks, 'task')} "
        f"({_plural(picture.barriers, 'barrier')}), {_plural(picture.edges, 'dependency')}".replace(
            "dependencys", "dependencies"
        )
        + f"; {_plural(picture.requests, 'request')} in "
        f"{_plural(picture.submit_waves, 'submit wave')}; {_plural(picture.levels, 'level')}",
        f"drawn: {_plural(len(picture.nodes), 'node')}"
        + (" (tasks that play the same role folded into one)" if folded(picture) else ""),
    ]
    lines += [f"note: {n}" for n in picture.notes]
    return lines


def render_text(picture: Picture) -> str:
    """The whole text picture."""
    out = header_lines(picture)
    out.append("")
    incoming: dict[int, list[str]] = {}
    for link in picture.links:
        source = picture.nodes[link.source]
        words = [link.label] if link.label else []
        mark = " *" if link.critical else ""
        text = f"<- [{source.key}] {source.label}" + (f": {', '.join(words)}" if words else "")
        incoming.setdefault(link.target, []).append(text + mark)
    level = None
    for node in picture.nodes:
        if node.level != level:
            level = node.level
            out.append(f"level {level}")
        shape = "barrier " if node.barrier and not node.title.startswith("barrier") else ""
        mark = " *" if node.critical else ""
        out.append(f"  [{node.key}] {shape}{node.lines[0]}{mark}")
        for extra in node.lines[1:]:
            out.append(f"        {extra}")
        if node.intent != "success":
            out.append(f"        ends: {node.intent} ({describe_intent(node.intent)})")
        for text in incoming.get(node.index, []):
            out.append(f"        {text}")
    out.append("")
    if picture.critical_path:
        out.append("(* on the critical path)")
    out += summary_lines(picture)
    return "\n".join(out) + "\n"
