"""validate: every rule of Batch that can be checked offline, all diagnostics at once.

Checks here work on the normalized spec (property-level checks ran in normalize through the
models): ids (charset, length, case-insensitive duplicates, integer aliases like "7"/"007"
or "0"/"-0"), self-loops and cycles (with the cycle's path), failure intent (children of one
parent that want different things, job actions against the job's setting, satisfy exit
codes that name exit code 0), and outcomes
that leave tasks waiting for ever (``check_completion``).
"""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from itertools import compress, repeat
from typing import Any, Final

from dagbatch.compiler import exits, graphs
from dagbatch.compiler.ranges import may_start_with
from dagbatch.compiler.spec import WorkflowSpec, special_intents
from dagbatch.errors import Diagnostic
from dagbatch.limits import ID_CHAR_BYTES, ID_PATTERN, MAX_ID_LENGTH, refused_id_chars


def _id_problems(tid: str, taken: Callable[[str], bool]) -> list[Diagnostic]:
    """Every way ``tid`` is not a Batch id: too long, empty, characters Batch refuses (both
    said at once: the second was found only after the first was fixed). The suggested
    spelling is one no other task has (``taken``: whether an id is used, ignoring case)."""
    found = []
    if len(tid) > MAX_ID_LENGTH:
        found.append(
            Diagnostic(
                code="id-too-long",
                message=f"task id is {len(tid)} characters; Batch allows at most {MAX_ID_LENGTH}",
                task_id=tid,
                field="id",
                hint="shorten the id; put the long name in display_name",
            )
        )
    if tid == "":
        return [Diagnostic(code="invalid-id", message="task id is empty", task_id=tid, field="id")]
    bad = refused_id_chars(tid)
    if not bad:
        return found
    hint = "ids may use letters, digits, '-' and '_' only"
    spelling = suggest_id(tid, taken)
    if spelling is not None:
        hint += f", e.g. {spelling!r}"
        if "." in tid:
            hint += " (a dotted 'group.task' id, as in Airflow, needs another separator)"
    found.append(
        Diagnostic(
            code="invalid-id",
            message="task id has characters Batch does not allow: " + ", ".join(map(repr, bad)),
            task_id=tid,
            field="id",
            hint=hint,
        )
    )
    return found


def suggest_id(given: str, taken: Callable[[str], bool] = lambda _: False) -> str | None:
    """A spelling of ``given`` that Batch takes as an id, or None: accents dropped
    (``ünï`` -> ``uni``), every other run of characters it refuses as one '-', and a number
    added while the result is ``taken`` (``a b`` beside ``a-b`` -> ``a-b-2``)."""
    plain = unicodedata.normalize("NFKD", given).encode("ascii", "ignore").decode()
    spelling = re.sub(r"[^A-Za-z0-9_-]+", "-", plain).strip("-")[:MAX_ID_LENGTH]
    if not spelling or not ID_PATTERN.fullmatch(spelling):
        return None
    stem, number = spelling, 2
    while taken(spelling) and number < 100:
        spelling = f"{stem[: MAX_ID_LENGTH - 4]}-{number}"
        number += 1
    return spelling


def check_ids(spec: WorkflowSpec) -> list[Diagnostic]:
    """Id charset and length, duplicates ignoring case, ids that alias one integer."""
    ids = spec.ids
    joined = spec.joined_ids
    diags: list[Diagnostic] = []
    # One check over all ids joined in the common case that every id is good (ASCII, and
    # nothing left once the allowed characters are deleted; the lengths from the set of
    # them); the id-by-id check only when some id is not, to say which.
    shortest, longest = spec.id_lengths
    good = not ids or (
        joined.isascii()
        and not joined.encode().translate(None, ID_CHAR_BYTES)
        and shortest > 0
        and longest <= MAX_ID_LENGTH
    )
    if not good:
        match = ID_PATTERN.fullmatch
        used = {tid.lower() for tid in ids}
        taken = lambda spelling: spelling.lower() in used  # noqa: E731
        diags = [d for tid in ids if not match(tid) for d in _id_problems(tid, taken)]
    # Duplicates ignoring case: one set comparison in the common case of none. ASCII ids
    # without an upper-case letter are their own lower case (one lower-casing of them all
    # and a compare: several times quicker than a regular expression search for [A-Z]).
    # Ids that are their own lower case and distinct as given are distinct ignoring case:
    # then no set of them is made.
    lower = joined.isascii() and spec.folded_ids == joined
    pool = spec.may_coincide  # the ids among which two may be equal (all, or fewer)
    folded: Iterable[str] = pool if lower else map(str.lower, pool)
    if not (lower and spec.distinct_as_given) and len(set(folded)) != len(pool):
        seen: dict[str, str] = {}
        for tid in ids:
            first = seen.setdefault(tid.lower(), tid)
            if first is tid:
                continue
            if first == tid:
                # networkx keys are unique, so these are the int and the str of one number
                message = (
                    f"two nodes become task id {tid!r}: the int {tid} and the str {tid!r} "
                    "(an int node key becomes its decimal string)"
                )
            else:
                message = (
                    f"task id {tid!r} equals {first!r} ignoring case; Batch ids are unique "
                    "within a job regardless of case"
                )
            diags.append(
                Diagnostic(
                    code="duplicate-id",
                    message=message,
                    task_id=tid,
                    field="id",
                    hint="rename one of the two tasks",
                )
            )
    # "7", "007" and "-0"/"0" denote the same task to a range (an integer parser takes a sign
    # and leading zeros). Two ids can only alias if one of them is not canonical (equal
    # canonical ids would be duplicates), so look only then.
    by_int: dict[int, list[str]] = defaultdict(list)
    digits = spec.integer_like_texts
    padded_or_signed = (
        compress(digits, map(str.startswith, digits, repeat(("0", "-"))))
        if may_start_with(digits, "0-")
        else ()
    )
    if not set(padded_or_signed) <= {"0"}:
        for tid in digits:
            by_int[int(tid)].append(tid)
    for n, spelt in by_int.items():
        # The int 5 and the str "5" are one id spelt once: a duplicate-id, not an alias.
        names = list(dict.fromkeys(spelt))
        if len(names) > 1:
            diags.append(
                Diagnostic(
                    code="int-id-alias",
                    severity="warning",
                    message=f"task ids {', '.join(repr(x) for x in names)} all denote task {n} "
                    "in a taskIdRange (Batch reads ids as integers, sign and leading zeros "
                    "included); they are never put in ranges",
                    task_id=names[1],
                    field="id",
                    hint="avoid zero-padded or signed integer ids, or use non-numeric ids",
                )
            )
    return diags


def check_structure(spec: WorkflowSpec) -> list[Diagnostic]:
    diags: list[Diagnostic] = []
    for i in spec.self_loops:
        diags.append(
            Diagnostic(
                code="self-loop",
                message="task depends on itself",
                task_id=spec.ids[i],
                field="dependsOn",
                hint=f"remove the edge {spec.ids[i]} -> {spec.ids[i]}",
            )
        )
    leftover = spec.topological.leftover
    components = graphs.cyclic_components(spec.preds, leftover) if leftover else []
    for component in components:
        cycle = graphs.find_cycle(spec.preds, component)
        names = [spec.ids[i] for i in cycle]
        if len(names) > CYCLE_SHOWN:  # a cycle of thousands: its ends, and how long it is
            names = [*names[: CYCLE_SHOWN - 3], f"... ({len(cycle) - 1:,} tasks) ...", *names[-2:]]
        behind = f"{len(leftover):,} task(s) are on or behind a cycle"
        if len(components) > 1:
            behind += f", of {len(components)} cycles"
        diags.append(
            Diagnostic(
                code="cycle",
                message=f"the dependencies form a cycle: {' -> '.join(names)}",
                task_id=spec.ids[cycle[0]],
                field="dependsOn",
                hint=f"remove one edge of the cycle ({behind})",
            )
        )
    return diags


#: Tasks of a cycle named in its diagnostic, at most (a longer one: its ends and its length).
CYCLE_SHOWN = 12


def check_intent(spec: WorkflowSpec) -> list[Diagnostic]:
    """Failure intent Batch cannot express: children of one parent that need different
    dependencyActions, job actions against the job's setting."""
    diags: list[Diagnostic] = []
    # Batch applies one dependencyAction per parent to all its dependents: the children of a
    # parent must want the same action for every outcome. Under on_failure="satisfy" a
    # failure satisfies like a success, so the default `when` means the same as "always".
    per_parent: dict[int, dict[str, list[int]]] = {}
    for (u, v), w in spec.when.items():
        per_parent.setdefault(u, {}).setdefault(w, []).append(v)
    for u, groups in per_parent.items():
        # children without an explicit `when` mean "success"
        explicit = sum(len(c) for c in groups.values())
        defaulted: list[int] = []
        if explicit < len(spec.succ[u]):
            defaulted = [v for v in spec.succ[u] if (u, v) not in spec.when]
            groups.setdefault("success", []).extend(defaulted)
        if spec.intents[u].on_failure == "satisfy" and "success" in groups:
            groups.setdefault("always", []).extend(groups.pop("success"))
        if len(groups) > 1:
            diags.append(_when_conflict(spec, u, groups, set(defaulted)))
    job_setting = spec.job.on_task_failure
    if job_setting == "noaction":
        for i in special_intents(spec.intents):
            intent = spec.intents[i]
            wants = intent.job_action not in (None, "none") or exits.sets_job_action(
                intent.exit_conditions
            )
            if wants:
                diags.append(
                    Diagnostic(
                        code="job-action-needs-job-setting",
                        message="the task sets a job action on failure, but the job's "
                        "onTaskFailure is 'noaction', so Batch rejects the task",
                        task_id=spec.ids[i],
                        field="job_action",
                        hint="drop on_task_failure='noaction' from the job settings (dagbatch "
                        "then sets performexitoptionsjobaction) or remove the job action",
                    )
                )
    return diags


def _names(spec: WorkflowSpec, tasks: list[int]) -> str:
    shown = ", ".join(repr(spec.ids[t]) for t in tasks[:5])
    return shown + (f" and {len(tasks) - 5} more" if len(tasks) > 5 else "")


#: The warning of a workflow whose job can end with tasks that never run (needs a finish).
NEVER_COMPLETES: Final = "never-completes"


def check_completion(spec: WorkflowSpec) -> list[Diagnostic]:
    """Outcomes that leave a task waiting for ever, and failure handlers a job action makes
    unreachable.

    A task whose dependency is blocked stays active for ever: Batch never cancels dependents
    [S ExitOptions: "Batch does not yet support cancellation of dependent tasks"]. In a job
    with ``onAllTasksComplete: terminatejob`` that job then never completes
    (``never-completes``). A failure handler of a task whose failure terminates (or
    disables) the job does not run: the job action comes first and active tasks stay active
    [R Terminate Job] (``handler-unreachable``).
    """
    diags: list[Diagnostic] = []
    terminates = spec.job.on_all_tasks_complete == "terminatejob"
    # What a failure does to the job when the task names no job action: the user's
    # performexitoptionsjobaction means Batch's default, terminate (exits.failure_job_action).
    unnamed = exits.failure_job_action(spec.job)
    by_job = unnamed if unnamed != "none" else None
    finish_hint = (
        "terminate such tasks when only they remain so the job completes (`dagbatch finish` "
        "does that), or leave on_all_tasks_complete unset and terminate the job yourself"
    )
    # Only parents with an explicit edge `when` or an intent of their own can strand a
    # child on success or make a handler unreachable: look at those (the rest stay linear
    # and cheap); a terminatejob job also needs every parent whose failure blocks.
    failure_children: dict[int, list[int]] = {}
    always_parents: set[int] = set()
    for (u, v), w in spec.when.items():
        if w == "failure":
            failure_children.setdefault(u, []).append(v)
        elif w == "always":
            always_parents.add(u)
    special = set(special_intents(spec.intents))
    for u in sorted(special | set(failure_children) | always_parents):
        children = spec.succ[u]
        if not children:
            continue
        intent = spec.intents[u]
        on_failure = failure_children.get(u, [])
        satisfies_failure = (
            bool(on_failure) or u in always_parents or (intent.on_failure == "satisfy")
        )
        if terminates and _blocks_on_zero(intent.exit_conditions):
            diags.append(
                Diagnostic(
                    code=NEVER_COMPLETES,
                    severity="warning",
                    message=f"if {spec.ids[u]!r} exits 0, its exit_conditions block "
                    f"{_names(spec, list(children))}, which then "
                    + ("stays" if len(children) == 1 else "stay")
                    + " active, so the job never reaches on_all_tasks_complete='terminatejob'",
                    task_id=spec.ids[u],
                    field="exit_conditions",
                    hint=finish_hint,
                )
            )
        if terminates and on_failure:
            diags.append(
                Diagnostic(
                    code=NEVER_COMPLETES,
                    severity="warning",
                    message=f"if {spec.ids[u]!r} succeeds, {_names(spec, on_failure)} "
                    "(when='failure') "
                    + ("never runs and stays" if len(on_failure) == 1 else "never run and stay")
                    + " active, so the job never reaches on_all_tasks_complete='terminatejob'",
                    task_id=spec.ids[u],
                    field="when",
                    hint=finish_hint,
                )
            )
        action = intent.job_action or by_job
        if action in ("terminate", "disable") and satisfies_failure:
            runs = [v for v in children if spec.when.get((u, v)) in ("failure", "always")]
            runs = runs or list(children)
            effect = (
                "terminates the job first, and the job's active tasks stay active"
                if action == "terminate"
                else "disables the job first, so no task starts until it is enabled again"
            )
            whose = (
                f"its job_action={action!r}"
                if intent.job_action
                else "the job's on_task_failure='performexitoptionsjobaction' (Batch's default "
                "jobAction for a failure)"
            )
            diags.append(
                Diagnostic(
                    code="handler-unreachable",
                    severity="warning",
                    message=f"when {spec.ids[u]!r} fails, {_names(spec, runs)} should run, but "
                    f"{whose} {effect}",
                    task_id=spec.ids[u],
                    field="job_action",
                    hint="drop the job_action of this task (let its failure handler end the "
                    "job, e.g. with a job_action of its own), or drop the handler"
                    if intent.job_action
                    else "give this task job_action='none' (its failure then leaves the job "
                    "running, so the handler runs), or drop the handler",
                )
            )
    blocked_on_failure: list[int] = []
    if terminates:
        intents = spec.intents
        blocked_on_failure = [
            u
            for u, children in enumerate(spec.succ)
            if children
            and u not in failure_children
            and u not in always_parents
            and intents[u].on_failure != "satisfy"
            and (intents[u].job_action or by_job) != "terminate"
        ]
    if blocked_on_failure:
        diags.append(
            Diagnostic(
                code=NEVER_COMPLETES,
                severity="warning",
                message=("if " if len(blocked_on_failure) == 1 else "if any of ")
                + f"{_names(spec, blocked_on_failure)} fails, its dependents are blocked and "
                "stay active, so the job never reaches on_all_tasks_complete='terminatejob'",
                task_id=spec.ids[blocked_on_failure[0]],
                field="on_failure",
                hint="give tasks whose failure should end the job job_action='terminate'; "
                + finish_hint,
            )
        )
    return diags


def _blocks_on_zero(raw: Mapping[str, Any] | None) -> bool:
    """Whether raw ``exit_conditions`` (wire form) block the dependents on exit code 0: an
    ``exitCodes`` entry for 0, or an ``exitCodeRanges`` entry over it, says
    ``dependencyAction: block``."""
    if not raw:
        return False
    for entry in raw.get("exitCodes") or ():
        if entry.get("code") == 0:
            return (entry.get("exitOptions") or {}).get("dependencyAction") == "block"
    for entry in raw.get("exitCodeRanges") or ():
        if entry.get("start", 1) <= 0 <= entry.get("end", -1):
            return (entry.get("exitOptions") or {}).get("dependencyAction") == "block"
    return False


def validate(spec: WorkflowSpec) -> list[Diagnostic]:
    """All offline checks on the spec; property checks already ran in normalize."""
    return [
        *check_empty(spec),
        *check_ids(spec),
        *check_structure(spec),
        *check_intent(spec),
        *check_redundant_exit_codes(spec),
        *check_command_lines(spec),
        *check_completion(spec),
    ]


#: The warning of a satisfy exit code list that names exit code 0.
REDUNDANT_EXIT_CODE: Final = "redundant-exit-code"
#: The warning for a workflow without tasks.
EMPTY_WORKFLOW: Final = "empty-workflow"
#: The warning for a command line written for a shell, which Batch does not run it under.
SHELL_SYNTAX: Final = "shell-syntax"

#: What a shell takes as one word though it is quoted or escaped (replaced before a line is
#: read word by word). Never across a NUL, which joins the lines to read them at once (no
#: command line holds one: ``models.no_nul``).
_QUOTED: Final = re.compile(r"""'[^'\x00]*'|"(?:[^"\\\x00]|\\[^\x00])*"|\\[^\x00]""")
#: Words a shell reads as operators: pipes, lists, redirections.
_OPERATOR_WORDS: Final = frozenset(
    {"|", "||", "&&", ";", "&", ">", ">>", "<", "2>", "2>>", "2>&1", "&>", "1>", "1>>"}
)
#: A redirection written against its file (``>out.txt``, ``2>err.txt``).
_REDIRECT: Final = re.compile(r"(?:[12]?>>?|&>)[^>&\s]")
#: The characters without which a command line has none of these (one search over all).
_SHELL_CHARS: Final = "|&;<>'\"$\n"
#: A shell variable, which only a shell expands (``$HOME``, ``${AZ_BATCH_TASK_DIR}``).
_VARIABLE: Final = re.compile(r"\$(?:\{[A-Za-z_][A-Za-z0-9_]*\}|[A-Za-z_][A-Za-z0-9_]*)")
#: A variable set for the command, as a shell reads a first word ``NAME=value``.
_ASSIGNMENT: Final = re.compile(r"\s*[A-Za-z_][A-Za-z0-9_]*=")
#: The same after the NUL that joins the lines, for one search over all of them (a literal
#: first character: a tenth of the time of "at the start or after a NUL").
_JOINED_ASSIGNMENT: Final = re.compile(r"\x00\s*[A-Za-z_][A-Za-z0-9_]*=")


def _assigns(joined: str) -> bool:
    """Whether a line of ``joined`` (lines joined by NUL) starts by setting a variable."""
    return "=" in joined and bool(_ASSIGNMENT.match(joined) or _JOINED_ASSIGNMENT.search(joined))


#: A command line that hands the rest of itself to Windows' shell, which then reads its
#: operators (``cmd /c dir > x.txt``, ``powershell -Command "a; b"``): not warned.
_WINDOWS_SHELL: Final = re.compile(
    r"""^\s*"?(?:[^\s"]*[\\/])?(?:cmd(?:\.exe)?"?\s+(?:/[a-z]\s+)*/[ck]\b"""
    r"""|(?:powershell|pwsh)(?:\.exe)?"?\s+(?:-\S+\s+)*?-c(?:ommand)?\b)""",
    re.IGNORECASE,
)


def _operator(words: list[str]) -> str | None:
    """The first shell operator among ``words`` (a command line's, quotes taken out): a word
    that is one, a redirection against its file, or a ``;`` ending a word another follows."""
    for n, word in enumerate(words):
        if word in _OPERATOR_WORDS:
            return word
        if (redirect := _REDIRECT.match(word)) is not None:
            return redirect.group()[:-1]
        if word.endswith(";") and (n + 1 < len(words) or len(word) > 1):
            return ";"  # "a; b", or a line ending "make;" (the program gets "make;")
    return None


def check_command_lines(spec: WorkflowSpec) -> list[Diagnostic]:
    """``shell-syntax`` (a warning) for a command line with a shell operator as a word of its
    own outside quotes (``&&``, ``|``, ``>``, ``;``, ``2>err.txt``, ...), a line break, a
    first word that sets a variable (``FOO=1 run.py``), a shell variable (``$HOME``; not on a
    Windows pool), or a quote it never closes. (An ``&`` or ``;`` inside a word, as in a
    URL's query or a classpath, is no operator to a program run without a shell, and is
    left alone.) Batch runs a command line
    "not under a shell" [BATCH_FACTS 2]: the operator reaches the program as one more
    argument (``echo hi > out.txt`` prints ``hi > out.txt``), and a line with an open quote
    cannot be split into words (the local emulator does not start it). A line that starts a
    shell (``/bin/sh -c '...'``) keeps its operators inside the quoted script: not warned.

    All lines are read at once: quoted parts taken out of their joined text in one pass,
    and only when what is left holds an operator's or a quote's character are the lines
    read one by one (a workflow of 100,000 ``/bin/sh -c '...'`` lines: a few ms). A line
    that hands itself to Windows' shell (``cmd /c``) is not warned, and on a Windows pool
    (``pool_os``) the hint is ``cmd /c``."""
    props = spec.props
    try:
        joined = "\x00".join(props)  # type: ignore[arg-type]  # the common case: bare lines
        lines: list[str | None] = list(props)  # type: ignore[arg-type]
    except TypeError:
        lines = [p if isinstance(p, str) else p.get("commandLine") for p in props]
        joined = "\x00".join(line if isinstance(line, str) else "" for line in lines)
    if not any(c in joined for c in _SHELL_CHARS) and not _assigns(joined):
        return []  # the common case: nothing to read
    bare_all = _QUOTED.sub("_", joined)
    if not any(c in bare_all for c in _SHELL_CHARS) and not _assigns(bare_all):
        return []  # every operator inside quotes
    diags: list[Diagnostic] = []
    windows = spec.job.pool_os == "windows"
    for i, line in enumerate(lines):
        if not isinstance(line, str) or (
            not any(c in line for c in _SHELL_CHARS) and not _ASSIGNMENT.match(line)
        ):
            continue
        if _WINDOWS_SHELL.match(line):
            continue  # cmd /c (or PowerShell's -Command) reads the rest as its own
        bare = _QUOTED.sub("_", line)
        quote = next((q for q in ("'", '"') if q in bare), None)
        words = bare.split()
        operator = _operator(words)
        variable = None if windows else _VARIABLE.search(bare)
        if windows:
            shell_hint = f'run it under a shell: "cmd /c {line}"'
        else:
            wrapped = line.replace("'", "'\\''")
            shell_hint = (
                f"run it under a shell: \"/bin/sh -c '{wrapped}'\" (on Windows: cmd /c ...)"
            )
        hint = shell_hint
        if operator:
            message = (
                f"the command line uses the shell operator {operator!r}, but Batch runs a "
                "command line without a shell: the program gets it as an argument"
            )
        elif "\n" in bare:
            message = (
                "the command line holds a line break, but Batch runs a command line without "
                "a shell: the words after it are more arguments of the first program"
            )
        elif words and _ASSIGNMENT.match(words[0]):
            name = words[0].split("=", 1)[0]
            message = (
                f"the command line starts by setting {name}, as a shell would, but Batch runs "
                f"a command line without a shell: {words[0]!r} is taken as the program"
            )
            hint = f"environment_settings={{{name!r}: ...}}, or {shell_hint}"
        elif variable is not None:
            message = (
                f"the command line uses the shell variable {variable.group()}, but Batch runs "
                "a command line without a shell: the program gets it as it is written"
            )
        elif quote:
            message = (
                f"the command line opens a quote ({quote}) it never closes: it cannot be split "
                "into words (a local run does not start it)"
            )
            hint = "close the quote, or escape it with a backslash"
        else:
            continue
        diags.append(
            Diagnostic(
                code=SHELL_SYNTAX,
                severity="warning",
                message=message,
                task_id=spec.ids[i],
                field="command_line",
                hint=hint,
            )
        )
    return diags


def check_redundant_exit_codes(spec: WorkflowSpec) -> list[Diagnostic]:
    """``satisfy_exit_codes`` naming exit code 0 (alone or in a range): exit code 0 is a
    success already, its dependents are satisfied [DEP: "Satisfy for exit code 0";
    docs/BATCH_FACTS.md, Exit conditions], so naming it changes nothing. Said as a warning,
    since a 0 there usually means the user expected to have to list it; the plan behaves
    the same with or without it. One warning a task, naming every entry that covers 0, and
    the whole list without 0 as the hint."""
    diags: list[Diagnostic] = []
    for i in special_intents(spec.intents):
        codes = spec.intents[i].satisfy_exit_codes
        covering = [c for c in codes if _covers_zero(c)]
        if not covering:
            continue
        named = ", ".join(str(c) for c in covering)
        what = (
            "satisfy_exit_codes lists exit code 0"
            if covering == [0]
            else f"satisfy_exit_codes covers exit code 0 ({named})"
        )
        kept = [part for c in codes for part in _without_zero(c)]
        hint = (
            f"give satisfy_exit_codes={kept}"
            if kept
            else "leave satisfy_exit_codes out: exit code 0 needs no entry"
        )
        diags.append(
            Diagnostic(
                code=REDUNDANT_EXIT_CODE,
                severity="warning",
                message=f"{what}; exit code 0 is always a success (Batch's default), so "
                "naming it changes nothing",
                task_id=spec.ids[i],
                field="satisfy_exit_codes",
                hint=hint,
            )
        )
    return diags


def _covers_zero(entry: int | tuple[int, int]) -> bool:
    return entry == 0 or (isinstance(entry, tuple) and entry[0] <= 0 <= entry[1])


def _without_zero(entry: int | tuple[int, int]) -> list[int | tuple[int, int]]:
    """``entry`` with exit code 0 left out: nothing, the entry, or a range's two sides (a
    side of one code written as that code)."""
    if not _covers_zero(entry):
        return [entry]
    if not isinstance(entry, tuple):
        return []
    start, end = entry
    sides = [(start, -1), (1, end)]
    return [lo if lo == hi else (lo, hi) for lo, hi in sides if lo <= hi]


def check_empty(spec: WorkflowSpec) -> list[Diagnostic]:
    """A workflow without tasks compiles (to a job and no request) but is most likely a graph
    other than the one filled: said as a warning."""
    if spec.ids:
        return []
    return [
        Diagnostic(
            code=EMPTY_WORKFLOW,
            severity="warning",
            message="the workflow has no task: the plan holds the job and no request",
            hint="is the graph found (graph, workflow, dag or build(), or FILE.py:NAME) the "
            "one your code fills?",
        )
    ]


def _when_conflict(
    spec: WorkflowSpec, u: int, groups: dict[str, list[int]], defaulted: set[int]
) -> Diagnostic:
    """``when-conflict`` naming the children of each ``when`` (``defaulted``: the children
    whose edge gives none, marked as such)."""
    parent = spec.ids[u]
    desc = "; ".join(
        f"when={w!r}: "
        + ", ".join(
            spec.ids[c] + (" (no when given)" if c in defaulted else "") for c in sorted(cs)[:5]
        )
        + (" ..." if len(cs) > 5 else "")
        for w, cs in sorted(groups.items())
    )
    return Diagnostic(
        code="when-conflict",
        message=f"the children of {parent!r} want different things ({desc}); Batch applies "
        "one dependencyAction per parent to all of its dependents, so it cannot start some "
        f"children when {parent!r} succeeds and others when it fails (a no-op task in between "
        f"does not help: it would be one more child of {parent!r})",
        task_id=parent,
        field="when",
        hint=f"the closest workflow Batch can run: give every edge out of {parent!r} "
        f"when='always' (each child starts once {parent!r} has ended, whatever the outcome) "
        f"and let the children that should act only on success or only on failure check "
        f"the outcome of {parent!r} themselves, e.g. a marker file {parent!r} uploads when "
        "it succeeds",
    )
