"""plan_exit_conditions: each task's ``exitConditions``, from the failure intent.

- the parent's dependencyAction follows what its dependents want (edge ``when``) and its own
  ``on_failure`` / ``satisfy_exit_codes``; Batch's default is satisfy for exit 0 and block for
  anything else, so nothing is emitted where the default is meant;
- ``job_action`` makes the job use ``onTaskFailure: performexitoptionsjobaction``; under that
  setting Batch's default jobAction for a failure is *terminate*, so every task that does not
  ask for one gets an explicit ``jobAction: none`` (BATCH_FACTS.md, exit conditions). A job
  the user set to that mode themselves means Batch's default: a failure the task names no
  job action for terminates the job (``failure_job_action``);
- raw ``exit_conditions`` pass through; a derived setting that contradicts one of them is an
  ``exit-conditions-clash`` error.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, NamedTuple

from dagbatch.compiler.dependencies import PlannedTasks
from dagbatch.compiler.models import JobSettings
from dagbatch.compiler.spec import Intent, special_intents
from dagbatch.errors import Diagnostic

_DEFAULT_KEYS = ("preProcessingError", "schedulingError", "fileUploadError")


@dataclass(frozen=True)
class ExitPlan:
    """What ``plan_exit_conditions`` decided for the final task set."""

    #: the job uses ``onTaskFailure: performexitoptionsjobaction``
    job_actions: bool
    #: ``exitConditions`` wire dicts of the tasks that need one (the rest get none)
    exits: Mapping[int, Mapping[str, Any]]


#: A task's mode by whether it has dependents: "success" (Batch's default) or None.
_SUCCESS_IF: Mapping[bool, str | None] = {True: "success", False: None}


def dependent_modes(planned: PlannedTasks) -> tuple[str | None, ...]:
    """What each task's dependents want: None (no dependents) or the agreed ``when``."""
    parents = set().union(*planned.preds)
    modes: list[str | None] = list(
        map(_SUCCESS_IF.__getitem__, map(parents.__contains__, range(len(planned.ids))))
    )
    intents = planned.intents
    for (u, _v), w in planned.when.items():
        # validate guaranteed one `when` per parent, except that under on_failure="satisfy"
        # "success" and "always" agree: then any "always" child makes it "always"
        if w != "success" or intents[u].on_failure != "satisfy":
            modes[u] = w
    return tuple(modes)


def uses_job_actions(planned: PlannedTasks, job: JobSettings) -> bool:
    """Whether the job needs ``onTaskFailure: performexitoptionsjobaction``: the user asked
    for it, or some task sets a job action (by intent or in raw exit conditions)."""
    intents = planned.intents
    return job.on_task_failure == "performexitoptionsjobaction" or any(
        intents[i].job_action not in (None, "none") or sets_job_action(intents[i].exit_conditions)
        for i in special_intents(intents)
    )


def failure_job_action(job: JobSettings) -> str:
    """The jobAction of a failure a task names none for, when the job uses job actions: the
    user who set ``on_task_failure="performexitoptionsjobaction"`` means Batch's default,
    *terminate* [S ExitOptions.jobAction]; a job dagbatch put in that mode for some tasks'
    ``job_action`` keeps the others as they were under ``noaction``: *none*."""
    return "terminate" if job.on_task_failure == "performexitoptionsjobaction" else "none"


def plan_exit_conditions(
    planned: PlannedTasks, job: JobSettings
) -> tuple[ExitPlan, list[Diagnostic]]:
    """``exitConditions`` for the tasks whose intent or dependents differ from Batch's
    defaults (every task when dagbatch put the job in job-action mode: each gets
    ``jobAction: none``); the rest get none."""
    diags: list[Diagnostic] = []
    job_actions = uses_job_actions(planned, job)
    unnamed = failure_job_action(job)
    intents = planned.intents
    ids = planned.ids
    own = special_intents(intents)
    if not job_actions and not own and not planned.when:
        # The common case: every task keeps Batch's defaults.
        return ExitPlan(job_actions=False, exits={}), diags
    modes = dependent_modes(planned)
    # The barriers dagbatch adds never end the job, whatever the user's tasks do.
    barriers = set(planned.barriers) if job_actions else set()
    special: Sequence[int] = (
        range(len(ids))
        if job_actions and unnamed == "none"
        else sorted(
            # the tasks with an intent of their own, the parents whose dependents want
            # something else than success (their edges have an explicit ``when``), and the
            # barriers under job actions
            {*own, *(u for u, _ in planned.when if modes[u] != "success"), *barriers}
        )
    )
    exits: dict[int, dict[str, Any]] = {}
    success_said = {u for (u, _), w in planned.when.items() if w == "success"}
    for i in special:
        ec = derive_exit_conditions(
            intents[i],
            mode=modes[i],
            job_actions=job_actions,
            task_id=ids[i],
            diags=diags,
            failure_action="none" if i in barriers else unnamed,
            success_said=i in success_said,
        )
        if ec is not None:
            exits[i] = ec
    return ExitPlan(job_actions=job_actions, exits=exits), diags


def derive_exit_conditions(
    intent: Intent,
    *,
    mode: str | None,
    job_actions: bool,
    task_id: str,
    diags: list[Diagnostic],
    failure_action: str = "none",
    success_said: bool = False,
) -> dict[str, Any] | None:
    """The task's ``exitConditions`` wire dict, or None when Batch's defaults are meant.
    ``success_said``: an edge from the task says ``when="success"`` (``_wants``).

    ``mode`` is what the task's dependents want (``success``/``failure``/``always``), None for
    a task without dependents; ``job_actions`` says the job uses performexitoptionsjobaction,
    and ``failure_action`` what a failure the task names no job action for does then
    (``failure_job_action``: Batch's *terminate* is left to Batch, not written).
    """
    codes: dict[int, dict[str, str]] = {}
    spans: dict[tuple[int, int], dict[str, str]] = {}
    default: dict[str, str] = {}
    # The codes the user calls success get exit code 0's action, listed even where no
    # dependent tells them apart (none, or all under "always"): the listing is what tells
    # `dagbatch run` and `status` they count as success (wireshape.counts_as_success).
    success_action = "block" if mode == "failure" else "satisfy"
    for c in intent.satisfy_exit_codes:
        target = {"dependencyAction": success_action}
        if isinstance(c, tuple):
            spans[c] = target
        elif c != 0:
            codes[c] = target
    if mode is not None:
        failure_satisfies = mode in ("failure", "always") or intent.on_failure == "satisfy"
        if mode == "failure":
            codes[0] = {"dependencyAction": "block"}
        if failure_satisfies:
            default["dependencyAction"] = "satisfy"
    if job_actions:
        # Codes the user calls success never end the job; failures do what job_action says.
        for c in intent.satisfy_exit_codes:
            if isinstance(c, tuple):
                spans.setdefault(c, {})["jobAction"] = "none"
            elif c != 0:
                codes.setdefault(c, {})["jobAction"] = "none"
        if 0 in codes:
            codes[0]["jobAction"] = "none"
        if intent.job_action or failure_action == "none":
            default["jobAction"] = intent.job_action or "none"

    raw = intent.exit_conditions
    if raw is None and not codes and not spans and not default:
        return None
    out: dict[str, Any] = {}
    if raw is not None:
        out = _checked_raw(
            raw, intent, mode, job_actions, task_id, diags, failure_action, success_said
        )

    # Derived entries go where the raw ones leave room: a raw entry for the same code or
    # span already carries the derived actions (``_checked_raw`` filled or checked them).
    if raw is not None:
        _overlap_clashes(out, {"exitCodes": codes, "exitCodeRanges": spans}, task_id, diags)
    for key, derived in (("exitCodes", codes), ("exitCodeRanges", spans)):
        if derived:
            out[key] = _with_derived(out.get(key, []), key, derived)
    if default:
        out["default"] = {**default, **out.get("default", {})}
    return out


class _CodeList(NamedTuple):
    """How an entry of one of exitConditions' two code lists names the codes it covers."""

    key_of: Callable[[Mapping[str, Any]], Any]  # an entry's code, or (start, end)
    span: Callable[[Mapping[str, Any]], tuple[int, int]]  # the first and last code covered
    entry: Callable[[Any], dict[str, Any]]  # a new entry's fields for a code or span


#: ``exitCodes`` entries cover one code, ``exitCodeRanges`` entries a span of them.
_CODE_LISTS: Final[Mapping[str, _CodeList]] = {
    "exitCodes": _CodeList(
        key_of=lambda e: e["code"],
        span=lambda e: (e["code"], e["code"]),
        entry=lambda code: {"code": code},
    ),
    "exitCodeRanges": _CodeList(
        key_of=lambda e: (e["start"], e["end"]),
        span=lambda e: (e["start"], e["end"]),
        entry=lambda span: {"start": span[0], "end": span[1]},
    ),
}


def _with_derived(
    entries: list[dict[str, Any]], key: str, derived: Mapping[Any, Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """``entries`` (the raw list ``key`` of exitConditions) with the derived exit options of
    each code or span added: to the raw entry for it if there is one (its own options win),
    else as a new entry, in the order of the codes."""
    kind = _CODE_LISTS[key]
    by_key = {kind.key_of(e): e for e in entries}
    for k in sorted(derived):
        found = by_key.get(k)
        if found is None:
            entries.append({**kind.entry(k), "exitOptions": dict(derived[k])})
        else:
            found["exitOptions"] = {**derived[k], **found["exitOptions"]}
    return entries


def _effect(options: Mapping[str, Any], lo: int, hi: int) -> set[tuple[str, str]]:
    """What ``options`` do for the exit codes ``lo..hi``: (dependencyAction, jobAction) per
    kind of code covered, an unset action read as Batch's default for it (satisfy / none for
    exit code 0, block / terminate for the others)."""
    found: set[tuple[str, str]] = set()
    if lo <= 0 <= hi:
        found.add(
            (options.get("dependencyAction") or "satisfy", options.get("jobAction") or "none")
        )
    if lo != 0 or hi != 0:
        found.add(
            (options.get("dependencyAction") or "block", options.get("jobAction") or "terminate")
        )
    return found


def _overlap_clashes(
    out: Mapping[str, Any],
    derived: Mapping[str, Mapping[Any, Mapping[str, str]]],
    task_id: str,
    diags: list[Diagnostic],
) -> None:
    """A raw entry that covers some of the derived codes (``satisfy_exit_codes``, exit code
    0 under failure handlers) without being their own entry, and does something else with
    them: the task would have two entries with different actions for those codes, and which
    one Batch applies is not documented [BATCH_FACTS 5], so it is an
    ``exit-conditions-clash`` (the same rule the task model applies to what a user lists
    twice). A raw entry for exactly that code or span is not one: the derived actions merge
    into it (``_with_derived``). One report per raw entry, none for an entry already
    reported."""
    clashes: dict[tuple[str, int], list[tuple[int, int, Mapping[str, str]]]] = {}
    for key, wanted in derived.items():
        kind = _CODE_LISTS[key]
        own = {kind.key_of(e): e for e in out.get(key, ())}
        for k, actions in wanted.items():
            lo, hi = kind.span(kind.entry(k))
            exact = own.get(k)
            final = {**actions, **exact["exitOptions"]} if exact is not None else actions
            for other_key, other_kind in _CODE_LISTS.items():
                for n, e in enumerate(out.get(other_key, ())):
                    a, b = other_kind.span(e)
                    start, end = max(a, lo), min(b, hi)
                    if e is exact or start > end:
                        continue
                    opts = e.get("exitOptions") or {}
                    if _effect(opts, start, end) != _effect(final, start, end):
                        clashes.setdefault((other_key, n), []).append((start, end, final))
    reported = {d.field for d in diags if d.task_id == task_id and d.field}
    for (key, n), found in sorted(clashes.items()):
        field = f"exitConditions.{key}[{n}]"
        if any(f == field or f.startswith(field + ".") for f in reported):
            continue
        named = ", ".join(
            f"{start} ({_actions(final)})" if start == end else f"{start}-{end} ({_actions(final)})"
            for start, end, final in sorted(found, key=lambda f: f[:2])
        )
        diags.append(
            Diagnostic(
                code="exit-conditions-clash",
                message=f"exit_conditions.{key}[{n}] covers exit codes that the task's failure "
                f"intent gives an entry of their own with other actions: {named}; which entry "
                "Batch applies to such a code is not documented",
                task_id=task_id,
                field=field,
                hint="leave those codes out of the raw entry, or give each an entry of its own "
                "in exit_conditions with the actions you want",
            )
        )


def _actions(options: Mapping[str, str]) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in sorted(options.items()))


# Classes of exit outcomes, for what the intent wants of an entry that covers them.
_ZERO, _SATISFY, _FAILURE = "exit code 0", "a satisfy exit code", "a failure"
_CLASH_HINT = (
    "express it one way: either the raw exit_conditions or on_failure / satisfy_exit_codes / "
    "job_action / edge `when` (split a raw range that covers codes with different meanings)"
)


def _classes(lo: int, hi: int, intent: Intent) -> set[str]:
    """Which outcome classes the exit codes ``lo..hi`` hold under ``intent``."""
    found: set[str] = set()
    covered: list[tuple[int, int]] = []
    if lo <= 0 <= hi:
        found.add(_ZERO)
        covered.append((0, 0))
    for c in intent.satisfy_exit_codes:
        a, b = c if isinstance(c, tuple) else (c, c)
        if a <= hi and lo <= b:
            found.add(_ZERO if (a, b) == (0, 0) else _SATISFY)
            covered.append((max(a, lo), min(b, hi)))
    pos = lo  # the first code not yet known to be covered by 0 or a satisfy code
    for a, b in sorted(covered):
        if a > pos:
            break
        pos = max(pos, b + 1)
    if pos <= hi:
        found.add(_FAILURE)
    return found


def _wants(
    intent: Intent,
    mode: str | None,
    job_actions: bool,
    cls: str,
    failure_action: str = "none",
    success_said: bool = False,
) -> dict[str, tuple[str, bool]]:
    """What the failure intent wants of an entry covering outcomes of class ``cls``: per
    action, (value, strong). Strong wishes come from something the user said (an edge
    ``when``, ``on_failure``, ``satisfy_exit_codes``, ``job_action``); a raw entry that
    contradicts one is a clash. Weak ones are Batch's defaults, which raw entries may change:
    exit code 0 satisfying the dependents is one, unless an edge says ``when="success"``
    (``success_said``).
    """
    out: dict[str, tuple[str, bool]] = {}
    if mode == "always":
        out["dependencyAction"] = ("satisfy", True)
    elif mode == "failure":
        out["dependencyAction"] = ("satisfy" if cls == _FAILURE else "block", True)
    elif mode == "success":
        if cls == _SATISFY:
            out["dependencyAction"] = ("satisfy", True)
        elif cls == _ZERO:
            out["dependencyAction"] = ("satisfy", success_said)
        elif intent.on_failure == "satisfy":
            out["dependencyAction"] = ("satisfy", True)
        else:
            out["dependencyAction"] = ("block", False)
    if job_actions:
        # Under performexitoptionsjobaction an entry without jobAction terminates the job on
        # a failure, so every entry gets one: the task's job action, else ``failure_action``.
        strong = intent.job_action is not None
        action = (intent.job_action or failure_action) if cls == _FAILURE else "none"
        out["jobAction"] = (action, strong)
    return out


def _checked_raw(
    raw: Mapping[str, Any],
    intent: Intent,
    mode: str | None,
    job_actions: bool,
    task_id: str,
    diags: list[Diagnostic],
    failure_action: str = "none",
    success_said: bool = False,
) -> dict[str, Any]:
    """The raw ``exit_conditions`` with every entry checked against the failure intent and
    completed by it (``success_said``: see ``_wants``).

    Each raw entry covers some outcomes (its codes, or failures for ``default``,
    ``preProcessingError`` and ``fileUploadError``). An action the entry names must agree with
    every strong wish for those outcomes, else ``exit-conditions-clash``; an action it leaves
    out gets the intent's value, so a raw entry never silently falls back to Batch's default
    (a missing jobAction terminates the job, a missing dependencyAction blocks on failure).
    """

    def check(opts: Mapping[str, Any] | None, classes: set[str], where: str) -> dict[str, Any]:
        merged = dict(opts or {})
        wishes: dict[str, set[tuple[str, bool]]] = {}
        for cls in classes:
            wanted = _wants(intent, mode, job_actions, cls, failure_action, success_said)
            for key, wish in wanted.items():
                wishes.setdefault(key, set()).add(wish)
        for key, found in wishes.items():
            strong = {v for v, is_strong in found if is_strong}
            values = {v for v, _ in found}
            have = merged.get(key)
            if have is not None:
                bad = strong - {have}
            elif strong and len(values) > 1:
                bad = values  # the entry covers outcomes that need different actions
            else:
                bad = set()
                if strong or key == "jobAction":
                    merged[key] = next(iter(strong or values))
            if bad:
                said = f"says {key}={have!r}" if have is not None else f"names no {key}"
                need = " or ".join(repr(v) for v in sorted(bad if have is None else strong))
                diags.append(
                    Diagnostic(
                        code="exit-conditions-clash",
                        message=f"exit_conditions.{where} {said}, but it covers "
                        f"{' and '.join(sorted(classes))}, for which the task's failure "
                        f"intent needs {key}={need}",
                        task_id=task_id,
                        field=f"exitConditions.{where}.{key}",
                        hint=_CLASH_HINT,
                    )
                )
        if not job_actions and merged.get("jobAction") == "none":
            # Batch refuses any jobAction under onTaskFailure noaction; "none" means no action.
            del merged["jobAction"]
        return merged

    out: dict[str, Any] = {}
    for key, value in raw.items():
        if key in _CODE_LISTS:
            span_of = _CODE_LISTS[key].span
            out[key] = [
                {
                    **e,
                    "exitOptions": check(
                        e.get("exitOptions"),
                        _classes(*span_of(e), intent),
                        f"{key}[{n}].exitOptions",
                    ),
                }
                for n, e in enumerate(value)
            ]
        elif key in ("default", *_DEFAULT_KEYS):
            out[key] = check(value, {_FAILURE}, key)
        else:
            out[key] = value
    return out


def exit_options_of(ec: Mapping[str, Any] | None) -> list[Mapping[str, Any]]:
    """Every exitOptions object of a wire ``exitConditions`` dict."""
    if not ec:
        return []
    found = [ec.get("default"), *(ec.get(k) for k in _DEFAULT_KEYS)]
    found += [e.get("exitOptions") for e in ec.get("exitCodes", ())]
    found += [e.get("exitOptions") for e in ec.get("exitCodeRanges", ())]
    return [o for o in found if o]


def sets_job_action(ec: Mapping[str, Any] | None) -> bool:
    """True when some exit condition asks Batch to disable or terminate the job."""
    return any(o.get("jobAction") not in (None, "none") for o in exit_options_of(ec))


def sets_dependency_action(ec: Mapping[str, Any] | None) -> bool:
    return any("dependencyAction" in o for o in exit_options_of(ec))
