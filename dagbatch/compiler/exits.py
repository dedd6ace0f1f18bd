"""plan_exit_conditions: each task's ``exitConditions``, from the failure intent.

- the parent's dependencyAction follows what its dependents want (edge ``when``) and its own
  ``on_failure`` / ``satisfy_exit_codes``; Batch's default is satisfy for exit 0 and block for
  anything else, so nothing is emitted where the default is meant;
- ``job_action`` makes the job use ``onTaskFailure: performexitoptionsjobaction``; under that
  setting Batch's default jobAction for a failure is *terminate*, so every task that does not
  ask for one gets an explicit ``jobAction: none`` (BATCH_FACTS.md, exit conditions);
- raw ``exit_conditions`` pass through; a derived setting that contradicts one of them is an
  ``exit-conditions-clash`` error.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from dagbatch.compiler.dependencies import PlannedTasks
from dagbatch.compiler.models import JobSettings
from dagbatch.compiler.spec import DEFAULT_INTENT, Intent
from dagbatch.errors import Diagnostic

_DEFAULT_KEYS = ("preProcessingError", "schedulingError", "fileUploadError")


@dataclass(frozen=True)
class ExitPlan:
    """What ``plan_exit_conditions`` decided for the final task set."""

    #: the job uses ``onTaskFailure: performexitoptionsjobaction``
    job_actions: bool
    #: per task, what its dependents want: None (no dependents) or the agreed edge ``when``
    modes: tuple[str | None, ...]
    #: ``exitConditions`` wire dicts of the tasks that need one (the rest get none)
    exits: Mapping[int, Mapping[str, Any]]


def dependent_modes(planned: PlannedTasks) -> tuple[str | None, ...]:
    """What each task's dependents want: None (no dependents) or the agreed ``when``."""
    modes: list[str | None] = [None] * len(planned.ids)
    for p in set().union(*planned.preds):
        modes[p] = "success"
    for (u, _v), w in planned.when.items():
        modes[u] = w  # validate guaranteed one `when` per parent
    return tuple(modes)


def uses_job_actions(planned: PlannedTasks, job: JobSettings) -> bool:
    """Whether the job needs ``onTaskFailure: performexitoptionsjobaction``: the user asked
    for it, or some task sets a job action (by intent or in raw exit conditions)."""
    return job.on_task_failure == "performexitoptionsjobaction" or any(
        i.job_action not in (None, "none") or sets_job_action(i.exit_conditions)
        for i in planned.intents
        if i is not DEFAULT_INTENT
    )


def plan_exit_conditions(
    planned: PlannedTasks, job: JobSettings
) -> tuple[ExitPlan, list[Diagnostic]]:
    """``exitConditions`` for the tasks whose intent or dependents differ from Batch's
    defaults (every task when the job uses job actions); the rest get none."""
    diags: list[Diagnostic] = []
    job_actions = uses_job_actions(planned, job)
    modes = dependent_modes(planned)
    intents = planned.intents
    ids = planned.ids
    special: Sequence[int] = (
        range(len(ids))
        if job_actions
        else [
            i
            for i, (m, it) in enumerate(zip(modes, intents, strict=True))
            if it is not DEFAULT_INTENT or (m is not None and m != "success")
        ]
    )
    exits: dict[int, dict[str, Any]] = {}
    for i in special:
        ec = derive_exit_conditions(
            intents[i], mode=modes[i], job_actions=job_actions, task_id=ids[i], diags=diags
        )
        if ec is not None:
            exits[i] = ec
    return ExitPlan(job_actions=job_actions, modes=modes, exits=exits), diags


def derive_exit_conditions(
    intent: Intent,
    *,
    mode: str | None,
    job_actions: bool,
    task_id: str,
    diags: list[Diagnostic],
) -> dict[str, Any] | None:
    """The task's ``exitConditions`` wire dict, or None when Batch's defaults are meant.

    ``mode`` is what the task's dependents want (``success``/``failure``/``always``), None for
    a task without dependents; ``job_actions`` says the job uses performexitoptionsjobaction.
    """
    codes: dict[int, dict[str, str]] = {}
    spans: dict[tuple[int, int], dict[str, str]] = {}
    default: dict[str, str] = {}
    if mode is not None:
        success_action = "block" if mode == "failure" else "satisfy"
        failure_satisfies = mode in ("failure", "always") or intent.on_failure == "satisfy"
        if mode == "failure":
            codes[0] = {"dependencyAction": "block"}
        # Under "always" the default already satisfies, unless job actions below give these
        # codes entries of their own: an entry without dependencyAction would block.
        if mode != "always" or job_actions:
            for c in intent.satisfy_exit_codes:
                target = {"dependencyAction": success_action}
                if isinstance(c, tuple):
                    spans[c] = target
                elif c != 0:
                    codes[c] = target
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
        default["jobAction"] = intent.job_action or "none"

    raw = intent.exit_conditions
    if raw is None and not codes and not spans and not default:
        return None
    if raw is not None and (codes or spans):
        _overlap_clashes(raw, codes, spans, task_id, diags)
    out: dict[str, Any] = {k: v for k, v in (raw or {}).items()}

    def merge(
        existing: Mapping[str, Any] | None, derived: dict[str, str], where: str
    ) -> dict[str, Any]:
        merged = dict(existing or {})
        for key, value in derived.items():
            have = merged.get(key)
            if have is None:
                merged[key] = value
            elif have != value and not (
                key == "jobAction" and value == "none" and intent.job_action is None
            ):
                diags.append(
                    Diagnostic(
                        code="exit-conditions-clash",
                        message=f"exit_conditions says {key}={have!r} but the task's failure "
                        f"intent needs {value!r}",
                        task_id=task_id,
                        field=f"exitConditions.{where}.{key}",
                        hint="express it one way: either the raw exit_conditions or "
                        "on_failure / satisfy_exit_codes / job_action / edge `when`",
                    )
                )
        return merged

    if codes:
        entries = [dict(e) for e in out.get("exitCodes", ())]
        by_code = {e["code"]: n for n, e in enumerate(entries)}
        for code in sorted(codes):
            n = by_code.get(code)
            if n is None:
                entries.append({"code": code, "exitOptions": dict(codes[code])})
            else:
                entries[n]["exitOptions"] = merge(
                    entries[n].get("exitOptions"), codes[code], f"exitCodes[{n}].exitOptions"
                )
        out["exitCodes"] = entries
    if spans:
        entries = [dict(e) for e in out.get("exitCodeRanges", ())]
        by_span = {(e["start"], e["end"]): n for n, e in enumerate(entries)}
        for span in sorted(spans):
            n = by_span.get(span)
            if n is None:
                entries.append({"start": span[0], "end": span[1], "exitOptions": dict(spans[span])})
            else:
                entries[n]["exitOptions"] = merge(
                    entries[n].get("exitOptions"), spans[span], f"exitCodeRanges[{n}].exitOptions"
                )
        out["exitCodeRanges"] = entries
    if default:
        out["default"] = merge(out.get("default"), default, "default")
    if job_actions:
        # Raw entries that name no jobAction would terminate the job under this setting.
        for key in ("exitCodes", "exitCodeRanges"):
            for entry in out.get(key, ()):
                entry["exitOptions"] = {"jobAction": "none", **entry.get("exitOptions", {})}
        for key in _DEFAULT_KEYS:
            if key in out:
                out[key] = {"jobAction": intent.job_action or "none", **out[key]}
    return out


def _overlap_clashes(
    raw: Mapping[str, Any],
    codes: Mapping[int, Mapping[str, str]],
    spans: Mapping[tuple[int, int], Mapping[str, str]],
    task_id: str,
    diags: list[Diagnostic],
) -> None:
    """A raw code range that covers a derived code or range (or a raw code inside a derived
    range) but asks for another dependencyAction: Batch would apply only one of them, so the
    user's raw setting would silently lose. Identical entries are merged elsewhere."""

    def conflicts(opts: Mapping[str, Any] | None, derived: Mapping[str, str]) -> bool:
        want = derived.get("dependencyAction")
        have = (opts or {}).get("dependencyAction")
        return want is not None and have is not None and have != want

    def clash(where: str) -> None:
        diags.append(
            Diagnostic(
                code="exit-conditions-clash",
                message=f"exit_conditions.{where} covers exit codes that the task's failure "
                "intent gives another dependencyAction",
                task_id=task_id,
                field=f"exitConditions.{where}.exitOptions.dependencyAction",
                hint="express it one way: either the raw exit_conditions or "
                "satisfy_exit_codes / on_failure / edge `when`",
            )
        )

    for n, entry in enumerate(raw.get("exitCodeRanges", ())):
        lo, hi, opts = entry["start"], entry["end"], entry.get("exitOptions")
        hit = any(lo <= c <= hi and conflicts(opts, d) for c, d in codes.items()) or any(
            (a, b) != (lo, hi) and a <= hi and lo <= b and conflicts(opts, d)
            for (a, b), d in spans.items()
        )
        if hit:
            clash(f"exitCodeRanges[{n}]")
    for n, entry in enumerate(raw.get("exitCodes", ())):
        code, opts = entry["code"], entry.get("exitOptions")
        if any(a <= code <= b and conflicts(opts, d) for (a, b), d in spans.items()):
            clash(f"exitCodes[{n}]")


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
