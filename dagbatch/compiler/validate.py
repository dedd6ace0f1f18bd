"""validate: every rule of Batch that can be checked offline, all diagnostics at once.

Checks here work on the normalized spec (property-level checks ran in normalize through the
models): ids (charset, length, case-insensitive duplicates, integer aliases like "7"/"007"),
self-loops and cycles (with the cycle's path), failure intent (children of one parent that
want different things, job actions against the job's setting).
"""

from __future__ import annotations

from collections import defaultdict

from dagbatch.compiler import exits, graphs
from dagbatch.compiler.spec import WorkflowSpec
from dagbatch.errors import Diagnostic
from dagbatch.limits import ID_PATTERN, MAX_ID_LENGTH


def _id_problem(tid: str) -> Diagnostic:
    if len(tid) > MAX_ID_LENGTH:
        return Diagnostic(
            code="id-too-long",
            message=f"task id is {len(tid)} characters; Batch allows at most {MAX_ID_LENGTH}",
            task_id=tid,
            field="id",
            hint="shorten the id; put the long name in display_name",
        )
    if tid == "":
        return Diagnostic(code="invalid-id", message="task id is empty", task_id=tid, field="id")
    bad = sorted({c for c in tid if not (c.isascii() and (c.isalnum() or c in "-_"))})
    return Diagnostic(
        code="invalid-id",
        message="task id has characters Batch does not allow: " + ", ".join(map(repr, bad)),
        task_id=tid,
        field="id",
        hint="ids may use letters, digits, '-' and '_' only",
    )


def check_ids(spec: WorkflowSpec) -> list[Diagnostic]:
    ids = spec.ids
    match = ID_PATTERN.fullmatch
    diags = [_id_problem(tid) for tid in ids if not match(tid)]
    # Duplicates ignoring case: one set comparison in the common case of none.
    if len(set(map(str.lower, ids))) != len(ids):
        seen: dict[str, str] = {}
        for tid in ids:
            first = seen.setdefault(tid.lower(), tid)
            if first is not tid:
                diags.append(
                    Diagnostic(
                        code="duplicate-id",
                        message=f"task id {tid!r} equals {first!r} ignoring case; Batch ids "
                        "are unique within a job regardless of case",
                        task_id=tid,
                        field="id",
                        hint="rename one of the two tasks",
                    )
                )
    # "7", "007" and "-0"/"0" denote the same task to a range (an integer parser takes a sign
    # and leading zeros). Two ids can only alias if one of them is not canonical (equal
    # canonical ids would be duplicates), so look only then.
    by_int: dict[int, list[str]] = defaultdict(list)
    digits = [
        tid
        for tid in ids
        if (tid.isdigit() or (tid[:1] == "-" and tid[1:].isdigit())) and tid.isascii()
    ]
    if any((tid[0] == "0" and len(tid) > 1) or tid[0] == "-" for tid in digits):
        for tid in digits:
            by_int[int(tid)].append(tid)
    for n, names in by_int.items():
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
    if leftover:
        cycle = graphs.find_cycle(spec.preds, leftover)
        path = " -> ".join(spec.ids[i] for i in cycle)
        diags.append(
            Diagnostic(
                code="cycle",
                message=f"the dependencies form a cycle: {path}",
                task_id=spec.ids[cycle[0]],
                field="dependsOn",
                hint=f"remove one edge of the cycle ({len(leftover)} task(s) are on or behind "
                "a cycle)",
            )
        )
    return diags


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
        if explicit < len(spec.succ[u]):
            groups.setdefault("success", []).append(-1)
        if spec.intents[u].on_failure == "satisfy" and "success" in groups:
            groups.setdefault("always", []).extend(groups.pop("success"))
        if len(groups) > 1:
            diags.append(_when_conflict(spec, u, groups))
    job_setting = spec.job.on_task_failure
    if job_setting == "noaction":
        for i, intent in enumerate(spec.intents):
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


def validate(spec: WorkflowSpec) -> list[Diagnostic]:
    """All offline checks on the spec; property checks already ran in normalize."""
    return [*check_ids(spec), *check_structure(spec), *check_intent(spec)]


def _when_conflict(spec: WorkflowSpec, u: int, groups: dict[str, list[int]]) -> Diagnostic:
    parent = spec.ids[u]
    desc = "; ".join(
        f"when={w!r}: "
        + ", ".join(spec.ids[c] if c >= 0 else "(others, default)" for c in cs[:5])
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
        f"{parent!r}'s outcome themselves, e.g. a marker file {parent!r} uploads when it "
        "succeeds",
    )
