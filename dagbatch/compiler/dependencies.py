"""plan_dependencies: every task's ``dependsOn``, within the ``taskIds`` character budget.

Runs of integer parent ids become exact ``taskIdRanges`` (``ranges.py``). A task whose
``taskIds`` still exceed the budget (64000 minus a margin) is handled by the chosen strategy;
an over-limit payload is never emitted.

- ``barrier`` (default): no-op tasks that each depend on a slice of the parents; the child
  depends on the barriers instead. A barrier inherits each parent's edge ``when``, so the
  parent's dependencyAction decides whether the barrier runs exactly as it would have decided
  for the child; the barrier then exits 0 and satisfies the child. A parent that blocks blocks
  the barrier, which blocks the child: the child runs exactly when it would have. When the
  barriers' own ids are over the budget (a child of more than about 1,900 barriers), another
  level of barriers depends on slices of them, as deep as needed.
- ``renumber``: every task gets an integer id in topological order (the original name goes to
  ``displayName`` unless one is set, and to the id map), so that parent runs become ranges;
  whatever is still over the budget then gets barriers.
- ``error``: a diagnostic naming each task over the budget.
"""

from __future__ import annotations

import hashlib
from bisect import bisect_right
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import accumulate, compress, filterfalse, repeat
from operator import attrgetter, lt, not_

from dagbatch.compiler.options import (
    BARRIER_COMMANDS,
    DEFAULT_BARRIER_COMMAND,
    DEFAULT_OVER_LIMIT,
    OVER_LIMIT_STRATEGIES,
    OverLimit,
)
from dagbatch.compiler.ranges import NO_DEPS, Dependencies, RangeIndex, dependencies_of
from dagbatch.compiler.spec import DEFAULT_INTENT, Intent, Props, WorkflowSpec, props_mapping
from dagbatch.errors import Diagnostic
from dagbatch.limits import MAX_DISPLAY_NAME_LENGTH

__all__ = [
    "BARRIER_COMMANDS",
    "DEFAULT_BARRIER_COMMAND",
    "DEFAULT_OVER_LIMIT",
    "OVER_LIMIT_STRATEGIES",
    "OverLimit",
    "PlannedTasks",
    "order_tasks",
    "plan_dependencies",
]


@dataclass(frozen=True)
class PlannedTasks:
    """The job's final task set, by index: the user's tasks (indices ``0 .. user_count-1``,
    the spec's order), then the barrier tasks appended after them.

    Appending keeps every user task's index equal to its index in the ``WorkflowSpec``, so the
    spec's topological order and edge ``when`` map still name the same tasks; where the
    barriers go in submit order is decided later, by ``order_tasks``.
    """

    ids: tuple[str, ...]
    props: tuple[Props, ...]
    intents: tuple[Intent, ...]
    preds: tuple[Sequence[int], ...]
    #: explicit edge ``when``, keyed (parent, child); a barrier inherits its parents' edges
    when: Mapping[tuple[int, int], str]
    deps: tuple[Dependencies, ...]
    user_count: int
    barriers: tuple[int, ...] = ()
    #: the barriers that stand before each child that needed them, in dependency order
    barriers_of: Mapping[int, tuple[int, ...]] | None = None
    #: new id -> original id, when the tasks were renumbered
    id_map: Mapping[str, str] | None = None
    #: ``taskIdRanges`` entries in the plan, all tasks together
    ranges: int = 0
    #: the longest ``taskIds`` of one task, in the characters Batch's limit counts
    max_task_ids_chars: int = 0


@dataclass(frozen=True)
class _Made:
    """How ``_all_dependencies`` made each task's value, for counting without a look at
    every task: either ``ranged``, the tasks whose value is not simply their parents' names
    (it has ranges), or ``shared``, each distinct value with how many tasks have it."""

    ranged: Sequence[int] = ()
    shared: Sequence[tuple[Dependencies, int]] | None = None


def plan_dependencies(
    spec: WorkflowSpec,
    *,
    budget: int,
    strategy: OverLimit = DEFAULT_OVER_LIMIT,
    barrier_command: str = DEFAULT_BARRIER_COMMAND,
) -> tuple[PlannedTasks, list[Diagnostic]]:
    """The final task set and each task's ``dependsOn``; the spec is not changed.

    Returns a new ``PlannedTasks``: the user's tasks keep their spec index, renumbered if the
    strategy asks for it, and barrier tasks (if any) are appended after them. The second item
    holds ``barriers-inserted`` warnings and ``task-ids-too-long`` errors.
    """
    ids: tuple[str, ...] = spec.ids
    props: tuple[Props, ...] = spec.props
    id_map: dict[str, str] = {}
    deps, made = _all_dependencies(
        ids,
        spec.preds,
        budget,
        spec.integer_like,
        spec.parent_ids,
        spec.integer_like_texts,
        spec.integer_like_values,
        roots=spec.parent_counts.count(0),
    )
    over = _over_budget(_longest_id(spec, ids), spec.parent_counts, deps, budget)
    if over and strategy == "error":
        diags = [
            Diagnostic(
                code="task-ids-too-long",
                message=f"dependsOn.taskIds would be {deps[i].chars} characters, over the "
                f"budget of {budget} (Batch's limit is 64000)",
                task_id=ids[i],
                field="dependsOn.taskIds",
                hint="use --over-limit barrier or renumber, or give the parents integer "
                "ids in runs so they collapse into taskIdRanges",
            )
            for i in over
        ]
        return _planned(spec, ids, props, deps, id_map, made), diags
    if over and strategy == "renumber":
        ids, props, id_map = _renumbered(spec)
        deps, made = _all_dependencies(ids, spec.preds, budget, roots=spec.parent_counts.count(0))
        over = _over_budget(_longest_id(spec, ids), spec.parent_counts, deps, budget)
    if not over:
        return _planned(spec, ids, props, deps, id_map, made), []
    return _with_barriers(spec, ids, props, deps, id_map, over, budget, barrier_command, made)


def _planned(
    spec: WorkflowSpec,
    ids: tuple[str, ...],
    props: tuple[Props, ...],
    deps: Sequence[Dependencies],
    id_map: Mapping[str, str],
    made: _Made,
) -> PlannedTasks:
    ranges, longest = _counts(deps, _longest_id(spec, ids), spec.parent_counts, made)
    return PlannedTasks(
        ids=ids,
        props=props,
        intents=spec.intents,
        preds=spec.preds,
        when=spec.when,
        deps=tuple(deps),
        user_count=len(ids),
        id_map=id_map,
        ranges=ranges,
        max_task_ids_chars=longest,
    )


def _longest_id(spec: WorkflowSpec, ids: Sequence[str]) -> int:
    """The length of the longest of ``ids``: the spec's, known since validate, unless the
    tasks were renumbered."""
    return spec.id_lengths[1] if ids is spec.ids else max(map(len, ids), default=0)


def _counts(
    deps: Sequence[Dependencies],
    longest: int,
    parent_counts: Sequence[int],
    made: _Made,
    *,
    replaced: Sequence[int] = (),
    gone: Sequence[Dependencies] = (),
    added_chars: int = 0,
) -> tuple[int, int]:
    """(``taskIdRanges`` entries, the longest ``taskIds`` in characters) of the plan, from
    what ``_all_dependencies`` knows (``made``), without a look at every task's value.

    After barriers: ``replaced`` are the children whose taskIds (over the budget) the
    barriers' ids replaced, ``gone`` their values as ``made`` knows them, and
    ``added_chars`` the longest taskIds of the tasks whose values were set since (those
    children and the barriers; a barrier has no ranges, a child keeps its own). A task with
    neither ranges nor barriers names all its parents: ``parent_counts`` says how many ids,
    and only a task with more than the longest so far // the ``longest`` id can be longer."""
    if made.shared is not None:
        ranges = sum(len(d.ranges) * n for d, n in made.shared)
        kept = (d for d, _ in made.shared if not any(d is g for g in gone))
        best = max(map(attrgetter("chars"), kept), default=0)
    else:
        special = set(made.ranged)
        ranges = sum(len(deps[i].ranges) for i in special)
        best = max((deps[i].chars for i in special), default=0)
        plain = list(parent_counts)
        for i in special.union(replaced):
            plain[i] = 0
        most = max(plain, default=0)
        if most * longest > best:
            best = max(best, deps[plain.index(most)].chars)
            if most * longest > best:
                many = compress(range(len(plain)), map(lt, repeat(best // longest), plain))
                best = max(best, max((deps[i].chars for i in many), default=0))
    return ranges, max(best, added_chars)


def _renumbered(
    spec: WorkflowSpec,
) -> tuple[tuple[str, ...], tuple[Props, ...], dict[str, str]]:
    """Integer ids in topological order; the old name goes to displayName and the id map."""
    new_ids = [""] * len(spec.ids)
    for pos, i in enumerate(spec.topological.order, start=1):
        new_ids[i] = str(pos)
    id_map = {new: old for new, old in zip(new_ids, spec.ids, strict=True)}
    props = tuple(
        p if "displayName" in p else {"displayName": old, **p}
        for p, old in zip(map(props_mapping, spec.props), spec.ids, strict=True)
    )
    return tuple(new_ids), props, id_map


def _all_dependencies(
    ids: Sequence[str],
    preds: Sequence[Sequence[int]],
    budget: int,
    integer_like: Sequence[int] | None = None,
    parent_ids: Sequence[tuple[str, ...]] | None = None,
    integer_texts: Sequence[str] | None = None,
    integer_values: Sequence[int] | None = None,
    *,
    roots: int = 0,
) -> tuple[list[Dependencies], _Made]:
    """Each task's ``Dependencies``: its parents' ids, runs of integer ids as ranges.

    Built with C-level ``map`` calls for the tasks without integer parents (all of them in
    the common string-id case): a tuple of names and one named tuple per task, no Python
    call each. ``parent_ids``, if known, are the names of ``preds``; ``integer_texts`` the
    ids of ``integer_like`` and ``integer_values`` their integers; ``roots`` the number of
    tasks without parents. Also says how
    the values were made (``_Made``), for counting them."""
    index = RangeIndex.build(ids, integer_like, integer_texts, integer_values)
    if _parents_shared(preds):
        return _shared_dependencies(ids, preds, budget, index, parent_ids, roots)
    # (A list's __getitem__ is a quicker call than a tuple's: a copy of the ids pays off.)
    names: Iterable[tuple[str, ...]] = (
        map(tuple, map(map, repeat(list(ids).__getitem__), preds))
        if parent_ids is None
        else parent_ids
    )
    deps: list[Dependencies]
    if roots * 5 >= len(preds):
        # A fifth or more of the tasks have no parent (a fan-in's parts): they share one
        # value, where a named tuple made for each would cost more than the Python loop.
        deps = [_new_dependencies(Dependencies, (n, ())) if n else NO_DEPS for n in names]
    else:
        deps = list(map(_new_dependencies, repeat(Dependencies), zip(names, repeat(()))))
    ranged: list[int] = []
    if index.intable:
        # The tasks with a parent a range may select, in one C-level scan.
        mixed = compress(range(len(preds)), map(not_, map(index.intable.isdisjoint, preds)))
        for i in mixed:
            deps[i] = value = dependencies_of(preds[i], ids, index, budget)
            if value.ranges:
                ranged.append(i)
    return deps, _Made(ranged=ranged)


#: Tasks looked at to tell whether many tasks have the very same parents.
_SAMPLE = 1024


def _parents_shared(preds: Sequence[Sequence[int]]) -> bool:
    """Whether tasks commonly have the very same parents (a sweep's shards all depend on one
    task), judged on up to ``_SAMPLE`` tasks spread over the graph: at most one distinct
    parent tuple in two."""
    sample = preds[:: max(1, len(preds) // _SAMPLE)]
    return len(sample) >= 2 * len(set(sample))


def _shared_dependencies(
    ids: Sequence[str],
    preds: Sequence[Sequence[int]],
    budget: int,
    index: RangeIndex,
    parent_ids: Sequence[tuple[str, ...]] | None = None,
    roots: int = 0,
) -> tuple[list[Dependencies], _Made]:
    """``_all_dependencies`` when tasks share their parents: one ``Dependencies`` for each
    distinct parent tuple, shared by the tasks that have it (hashing a task's parents costs
    less than naming them and building its value). The ``roots`` tasks without parents
    share ``NO_DEPS`` and are not counted one by one; a tuple's names are taken from
    ``parent_ids`` when known (the names of ``preds``), not looked up again."""
    name = list(ids).__getitem__
    intable = index.intable
    table: dict[Sequence[int], Dependencies] = {(): NO_DEPS}
    # each distinct parent tuple, and how many tasks have it
    tasks_with = Counter(compress(preds, preds)) if roots else Counter(preds)
    names: Mapping[Sequence[int], tuple[str, ...]] = {}
    if parent_ids is not None:
        names = dict(zip(compress(preds, preds), compress(parent_ids, preds), strict=True))
    for parents in tasks_with:
        if not parents:
            continue
        if intable and not intable.isdisjoint(parents):
            table[parents] = dependencies_of(parents, ids, index, budget)
        else:
            known = names.get(parents)
            task_ids = tuple(map(name, parents)) if known is None else known
            table[parents] = _new_dependencies(Dependencies, (task_ids, ()))
    shared = [(table[p], n) for p, n in tasks_with.items()]
    if roots:
        shared.append((NO_DEPS, roots))
    return list(map(table.__getitem__, preds)), _Made(shared=shared)


#: ``tuple.__new__``: makes a named tuple from a pair without calling its Python ``__new__``.
_new_dependencies: Callable[[type[Dependencies], tuple[tuple[str, ...], tuple[()]]], Dependencies]
_new_dependencies = tuple.__new__


def _over_budget(
    longest: int, counts: Sequence[int], deps: Sequence[Dependencies], budget: int
) -> list[int]:
    """The tasks whose ``taskIds`` are over ``budget`` characters; ``counts`` holds each
    task's number of parents, ``longest`` the length of the longest id.

    Only a task with more than ``budget // longest id`` parents can be (its taskIds are at
    most its parents' ids), so only those are summed (none in one max() in the usual case)."""
    if not longest or not counts:
        return []
    least = budget // longest
    if max(counts) <= least:
        return []
    many = compress(range(len(counts)), map(lt, repeat(least), counts))
    return [i for i in many if deps[i].chars > budget]


def _barrier_id(child: str, level: int, k: int, taken: set[str]) -> str:
    digest = hashlib.sha256(child.encode()).hexdigest()[:12]
    stem = f"{_BARRIER_PREFIX}{digest}-" + (f"L{level}-" if level > 1 else "")
    n = 0
    while True:
        bid = f"{stem}{k}" + (f"-{n}" if n else "")
        if bid.lower() not in taken:
            taken.add(bid.lower())
            return bid
        n += 1


def _slices(sizes: Sequence[int], budget: int) -> list[tuple[int, int]]:
    """Consecutive slices ``task_ids[start:stop]`` of ids whose lengths are ``sizes``, as
    (start, stop), each within ``budget`` characters (an id longer than the budget alone in
    its slice), filled greedily: each slice ends where the running total of lengths would
    pass the budget, found by bisection."""
    if not sizes:
        return [(0, 0)]
    ends = list(accumulate(sizes))  # characters of task_ids[: k + 1]
    slices: list[tuple[int, int]] = []
    start = 0
    while start < len(sizes):
        before = ends[start - 1] if start else 0
        stop = max(bisect_right(ends, before + budget, lo=start), start + 1)
        slices.append((start, stop))
        start = stop
    return slices


#: How every barrier id begins (``_barrier_id``).
_BARRIER_PREFIX = "dagbatch-barrier-"


def _with_barriers(
    spec: WorkflowSpec,
    ids: tuple[str, ...],
    props: tuple[Props, ...],
    deps: list[Dependencies],
    id_map: Mapping[str, str],
    over: list[int],
    budget: int,
    command: str,
    made: _Made,
) -> tuple[PlannedTasks, list[Diagnostic]]:
    """The plan with barrier tasks appended for each task in ``over``."""
    diags: list[Diagnostic] = []
    all_ids = list(ids)
    all_props = list(props)
    intents = list(spec.intents)
    preds: list[Sequence[int]] = list(spec.preds)
    when = dict(spec.when)
    barriers: list[int] = []
    barriers_of: dict[int, tuple[int, ...]] = {}
    gone: list[Dependencies] = []  # the values the children had before their barriers
    added_chars = 0  # the longest taskIds set here (the barriers', the children's)
    parent_ids = spec.parent_ids if ids is spec.ids else None  # not when renumbered
    by_id: dict[str, int] | None = None  # user ids to indices, made only if needed
    # Taken ids, lower-cased. Every barrier id starts with _BARRIER_PREFIX: when no user id
    # holds it (ignoring case), no barrier id can clash with one, and only barrier ids need
    # to be remembered.
    folded = spec.folded_ids if ids is spec.ids else "".join(ids).lower()
    taken = set(map(str.lower, ids)) if _BARRIER_PREFIX in folded else set()
    for child in over:
        cid = all_ids[child]
        dep = deps[child]
        parents = preds[child]
        # The parents named in taskIds, by index. Usually taskIds are the parents' ids in
        # ``preds`` order (no ranges, no integer ids among them): one comparison says so.
        # The parents' names as normalize read them are that very tuple (no comparison).
        level_ids: list[str] = list(dep.task_ids)
        level_idx: list[int]
        if (parent_ids is not None and dep.task_ids is parent_ids[child]) or (
            len(parents) == len(level_ids) and dep.task_ids == tuple(map(ids.__getitem__, parents))
        ):
            level_idx = list(parents)
        else:
            if by_id is None:
                by_id = dict(zip(ids, range(len(ids)), strict=True))
            level_idx = list(map(by_id.__getitem__, level_ids))
        # The parents the child keeps: those its ranges select (none without ranges).
        new_preds: list[int] = (
            list(filterfalse(set(level_idx).__contains__, parents)) if dep.ranges else []
        )
        # Level 1 barriers depend on slices of the parents; while the barriers' own ids are
        # over the budget, another level depends on slices of those (as deep as needed).
        mine: list[int] = []
        level = 0
        stuck = False
        sizes = list(map(len, level_ids))  # each id's length, read once a level
        chars = was = sum(sizes)  # of level_ids
        while chars > budget:
            level += 1
            slices = _slices(sizes, budget)
            if len(slices) >= len(level_ids) or max(sizes) > budget:
                stuck = True  # slices of one id each: another level would not shrink it
                break
            next_ids: list[str] = []
            next_idx: list[int] = []
            for k, (start, stop) in enumerate(slices, start=1):
                part = level_ids[start:stop]
                parent_idx = level_idx[start:stop]
                bid = _barrier_id(cid, level, k, taken)
                b = len(all_ids)
                of_level = f" (level {level})" if level > 1 else ""
                name = f"dagbatch barrier {k}/{len(slices)}{of_level} for {cid}"
                name = name[:MAX_DISPLAY_NAME_LENGTH]
                all_ids.append(bid)
                all_props.append({"displayName": name, "commandLine": command})
                intents.append(DEFAULT_INTENT)
                preds.append(parent_idx)
                deps.append(Dependencies(tuple(part), ()))
                added_chars = max(added_chars, sum(sizes[start:stop]))
                if level == 1 and when:
                    for p in parent_idx:
                        w = when.pop((p, child), None)
                        if w is not None:
                            when[(p, b)] = w
                mine.append(b)
                next_ids.append(bid)
                next_idx.append(b)
            level_ids = next_ids
            sizes = list(map(len, level_ids))
            chars = sum(sizes)
            level_idx = next_idx
        barriers.extend(mine)
        barriers_of[child] = tuple(mine)
        new_preds.extend(level_idx)
        preds[child] = new_preds
        deps[child] = Dependencies(tuple(level_ids), dep.ranges)
        gone.append(dep)
        added_chars = max(added_chars, chars)
        if stuck:
            diags.append(
                Diagnostic(
                    code="task-ids-too-long",
                    message=f"dependsOn.taskIds is {chars} characters, over the "
                    f"budget of {budget}, and the budget is too small to hold two barrier ids",
                    task_id=cid,
                    field="dependsOn.taskIds",
                    hint="lower --taskids-margin, or use --over-limit renumber",
                )
            )
            continue
        levels = f" in {level} levels" if level > 1 else ""
        diags.append(
            Diagnostic(
                code="barriers-inserted",
                severity="warning",
                message=f"dependsOn.taskIds was {was} characters, over the budget of "
                f"{budget}; {len(mine)} barrier task(s){levels} now stand between it and its "
                "parents",
                task_id=cid,
                field="dependsOn.taskIds",
            )
        )
    ranges, longest = _counts(
        deps,
        _longest_id(spec, ids),
        spec.parent_counts,
        made,
        replaced=over,
        gone=gone,
        added_chars=added_chars,
    )
    planned = PlannedTasks(
        ids=tuple(all_ids),
        props=tuple(all_props),
        intents=tuple(intents),
        preds=tuple(preds),
        when=when,
        deps=tuple(deps),
        user_count=len(ids),
        barriers=tuple(barriers),
        barriers_of=barriers_of,
        id_map=id_map,
        ranges=ranges,
        max_task_ids_chars=longest,
    )
    return planned, diags


def order_tasks(spec: WorkflowSpec, planned: PlannedTasks) -> list[int]:
    """Submit order of the final task set: the spec's topological order, with each child's
    barriers placed just before it.

    A barrier's parents are parents of its child, so just before the child is a place in
    topological order for it (and a child's barriers are listed in dependency order).
    """
    order = spec.topological.order
    barriers_of = planned.barriers_of
    if not barriers_of:
        return order
    # Where the children with barriers are, in one C-level scan; the runs between them are
    # copied as slices.
    at = compress(range(len(order)), map(barriers_of.__contains__, order))
    with_barriers: list[int] = []
    start = 0
    for pos in at:
        with_barriers += order[start:pos]
        with_barriers += barriers_of[order[pos]]
        start = pos
    with_barriers += order[start:]
    return with_barriers
