"""Folding: tasks that play the same role become one drawn node.

``fold_plan`` computes a partition of the plan's tasks and the ``Picture`` over it:

1. **Levels.** A task's level is 1 + the largest level of its parents (0 for a task without
   parents): the step it could run at if every task took the same time. Groups other than
   ``_group`` ones never span levels, so the folded graph is drawn with one rank per level
   and stays acyclic.
2. **Seed.** Tasks start in one group per (level, failure intent, barrier or not); tasks
   the user named (``_group``) in one group per name, whatever their levels and neighbours,
   unless that would draw a cycle (some of its tasks depend on others of it through tasks
   outside it): that group is split by level, and a note says so. A group over several
   levels is drawn below all its parents.
3. **Refine.** Repeatedly, a group splits by the set of groups of its tasks' parents and of
   their children (colour refinement), until nothing splits. A sweep, a map-reduce or per-sample
   chains end as their shape. Each round costs one pass over the edges, and there are at most
   ``MAX_ROUNDS``. When the next round would draw more than ``max_nodes`` nodes, the previous
   round is kept and a note says so.
4. **Cap.** When even the seed has more than ``max_nodes`` groups (a deep graph), runs of
   groups that form a chain (one child group, one parent group, same size) fold into one
   node; if that is still too many, levels are grouped into bands. When the levels are fewer
   than the cap (many groups side by side), each level is one node but for its largest seed
   groups, drawn apart while the cap allows.

Every step is deterministic: groups are numbered by their first task in submit order.
"""

from __future__ import annotations

import heapq
import itertools
import math
import re
from collections.abc import Mapping, Sequence

import orjson

from dagbatch.errors import ConfigError
from dagbatch.gcpause import gc_paused
from dagbatch.redact import redact
from dagbatch.show.model import SPAN_SEP, GroupEdge, GroupNode, Intent, Picture, PlanView, TaskState
from dagbatch.show.source import read_intent

#: The most nodes a folded picture draws (`--max-nodes`).
DEFAULT_MAX_NODES = 60
#: The most refinement rounds (each is one pass over the edges), so folding stays linear.
MAX_ROUNDS = 16
#: The most tasks `--no-fold` draws.
NO_FOLD_LIMIT = 500


def task_levels(view: PlanView) -> list[int]:
    """Each task's dependency level; submit order is topological, so one pass suffices."""
    levels = [0] * len(view)
    for i, parents in enumerate(view.parents):
        if parents:
            levels[i] = 1 + max(map(levels.__getitem__, parents))
    return levels


def task_intents(view: PlanView) -> list[Intent]:
    """Each task's ``Intent`` (tasks with equal exitConditions share one object)."""
    job_actions = view.on_task_failure == "performexitoptionsjobaction"
    cache: dict[bytes, Intent] = {}
    plain = read_intent(None, job_actions=job_actions)
    out: list[Intent] = []
    for ec in view.exits:
        if not ec:
            out.append(plain)
            continue
        key = orjson.dumps(ec, option=orjson.OPT_SORT_KEYS)
        intent = cache.get(key)
        if intent is None:
            intent = cache[key] = read_intent(ec, job_actions=job_actions)
        out.append(intent)
    return out


def _children(view: PlanView) -> list[list[int]]:
    """Each task's children, from the parent lists."""
    children: list[list[int]] = [[] for _ in range(len(view))]
    for i, parents in enumerate(view.parents):
        for p in parents:
            children[p].append(i)
    return children


def _renumber(keys: Sequence[object]) -> list[int]:
    """Classes numbered by first occurrence."""
    table: dict[object, int] = {}
    return [table.setdefault(k, len(table)) for k in keys]


def refine(
    classes: list[int],
    parents: list[list[int]],
    children: list[list[int]],
    frozen: list[bool],
) -> list[int]:
    """One round of colour refinement: a task's new class is its class with the sets of its
    parents' and children's classes. ``frozen`` tasks (named groups) keep their class."""
    get = classes.__getitem__
    table: dict[object, int] = {}
    out = [0] * len(classes)
    for i, c in enumerate(classes):
        sig: object
        if frozen[i]:
            sig = c
        else:
            sig = (c, frozenset(map(get, parents[i])), frozenset(map(get, children[i])))
        out[i] = table.setdefault(sig, len(table))
    return out


def _quotient(
    classes: list[int], parents: list[list[int]], count: int
) -> tuple[list[set[int]], list[set[int]], list[int]]:
    """Parent classes, child classes and size of every class."""
    up: list[set[int]] = [set() for _ in range(count)]
    down: list[set[int]] = [set() for _ in range(count)]
    sizes = [0] * count
    for i, ps in enumerate(parents):
        c = classes[i]
        sizes[c] += 1
        for p in ps:
            pc = classes[p]
            if pc != c:
                up[c].add(pc)
                down[pc].add(c)
    return up, down, sizes


def fold_chains(classes: list[int], parents: list[list[int]], foldable: list[bool]) -> list[int]:
    """Merge runs of classes that form a chain: A's only child class is B, B's only parent
    class is A, and both have as many tasks (one long chain, or parallel per-sample chains)."""
    count = max(classes, default=-1) + 1
    up, down, sizes = _quotient(classes, parents, count)
    head = list(range(count))
    for c in range(count):  # classes are numbered in topological order of their first task
        if len(up[c]) == 1:
            (p,) = up[c]
            if foldable[p] and foldable[c] and len(down[p]) == 1 and sizes[p] == sizes[c]:
                head[c] = head[p]
    return _renumber([head[c] for c in classes])


def _class_flags(classes: list[int], flags: list[bool]) -> list[bool]:
    """A per-class flag that is true when it is true for every task of the class."""
    count = max(classes, default=-1) + 1
    out = [True] * count
    for c, f in zip(classes, flags, strict=True):
        if not f:
            out[c] = False
    return out


def cyclic_classes(classes: list[int], parents: list[list[int]]) -> set[int]:
    """The classes on a cycle of the folded graph, with those on a path between two cycles
    (empty when it is acyclic): what is left once classes without parent classes and
    classes without child classes are peeled off, over and over. Dependencies inside a
    class are not drawn and make no cycle."""
    count = max(classes, default=-1) + 1
    up, down, _ = _quotient(classes, parents, count)
    ins = [len(u) for u in up]
    left = set(range(count))
    stack = [c for c in range(count) if ins[c] == 0]
    while stack:  # sources, then what they alone fed
        c = stack.pop()
        left.discard(c)
        for d in down[c]:
            ins[d] -= 1
            if ins[d] == 0:
                stack.append(d)
    stack = [c for c in left if not any(d in left for d in down[c])]
    while stack:  # sinks, then what fed only them
        c = stack.pop()
        left.discard(c)
        for u in up[c]:
            if u in left and not any(d in left for d in down[u]):
                stack.append(u)
    return left


def partition(
    view: PlanView,
    levels: list[int],
    intents: list[Intent],
    *,
    max_nodes: int = DEFAULT_MAX_NODES,
) -> tuple[list[int], list[str]]:
    """The folding partition of the plan's tasks (class per task) and notes on how it was
    reached (see the module docstring).

    A ``_group`` is one node whatever the levels of its tasks, unless some of them depend on
    others of it through tasks outside it: one node would then draw a cycle, so the group is
    split by level (as every other group is) and a note says so."""
    by_level: set[str] = set()
    while True:
        classes, notes = _partition(view, levels, intents, max_nodes, by_level)
        cyclic = cyclic_classes(classes, view.parents)
        if not cyclic:
            break
        found = {
            g for g, c in zip(view.group, classes, strict=True) if g is not None and c in cyclic
        }
        found -= by_level
        if not found:  # cannot happen: classes other than whole groups keep to one level
            raise AssertionError("the folded picture has a cycle")
        by_level |= found
    for name in sorted(by_level):
        notes.append(
            f"group {redact(name)} drawn as one node per level: some of its tasks depend on "
            "others of it through tasks outside it, and one node would draw a cycle"
        )
    return classes, notes


def _partition(
    view: PlanView,
    levels: list[int],
    intents: list[Intent],
    max_nodes: int,
    by_level: set[str],
) -> tuple[list[int], list[str]]:
    """``partition`` with the groups named in ``by_level`` split by level."""
    notes: list[str] = []
    n = len(view)
    if n == 0:
        return [], notes
    frozen = [g is not None for g in view.group]
    seed: list[object] = [
        (("named", g, lv) if g in by_level else ("named", g)) if g is not None else (lv, it.key, b)
        for g, lv, it, b in zip(view.group, levels, intents, view.barrier, strict=True)
    ]
    classes = _renumber(seed)
    count = max(classes) + 1
    if count <= max_nodes:
        children = _children(view)
        rounds = 0
        while True:
            if rounds == MAX_ROUNDS:
                notes.append(
                    f"folding stopped after {MAX_ROUNDS} refinement rounds; tasks folded "
                    "together may differ in their exact neighbours"
                )
                break
            finer = refine(classes, view.parents, children, frozen)
            finer_count = max(finer) + 1
            if finer_count == count:
                break
            if finer_count > max_nodes:
                notes.append(
                    f"folding stopped after {rounds} refinement round(s): the next would draw "
                    f"{finer_count:,} nodes, over the cap of {max_nodes} (--max-nodes); "
                    "tasks folded together may differ in their exact neighbours"
                )
                break
            classes, count = finer, finer_count
            rounds += 1
        return classes, notes
    # Too many levels: fold chains of groups, then band levels if still needed.
    plain = [not (b or f) for b, f in zip(view.barrier, frozen, strict=True)]
    chained = fold_chains(classes, view.parents, _class_flags(classes, plain))
    chained_count = max(chained) + 1
    # The seed's groups: by level (and failure intent), or the user's named ones.
    if all(frozen):
        kind = "named groups"
    elif any(frozen):
        kind = "groups by level and named groups"
    else:
        kind = "groups by level"
    if chained_count < count:
        notes.append(
            f"{count:,} {kind}, over the cap of {max_nodes}: chains folded into one "
            f"node each ({chained_count:,} group{'s' * (chained_count != 1)})"
        )
    else:
        notes.append(f"{count:,} {kind}, over the cap of {max_nodes}")
    if chained_count <= max_nodes:
        return chained, notes
    per_band = band_width(levels, view.barrier, max_nodes)
    banded, joined = band_levels(levels, view.barrier, view.parents, per_band)
    bands = math.ceil((max(levels) + 1) / per_band)
    barriers = ", barriers apart" if any(view.barrier) else ""
    if joined:
        barriers += (
            f" but in {joined:,} band{'s' * (joined != 1)}, where a barrier sits between "
            "the band's own tasks"
        )
    if per_band > 1:
        notes.append(
            f"levels drawn in bands of {per_band:,} ({bands:,} band{'s' * (bands != 1)}{barriers})"
        )
        return banded, notes
    # As many levels as nodes allowed, or fewer (many groups side by side, e.g. named ones):
    # what the cap leaves over goes to the largest groups of the seed, drawn apart.
    split, kept = split_largest(classes, banded, max_nodes, frozen)
    what = "as one node" if bands == 1 else "one node each"
    notes.append(
        f"{bands:,} level{'s' * (bands != 1)} drawn {what}{barriers}"
        + (f", but for the {kept:,} largest groups, drawn apart" if kept > 1 else "")
        + (", but for the largest group, drawn apart" if kept == 1 else "")
    )
    return split, notes


def split_largest(
    fine: list[int], coarse: list[int], max_nodes: int, whole: Sequence[bool] | None = None
) -> tuple[list[int], int]:
    """A partition between ``coarse`` and ``fine`` of at most ``max_nodes`` classes (when
    ``coarse`` has at most that many): the largest parts of ``fine`` are drawn apart while
    the cap allows (first in submit order on ties), and the rest of each coarse class stays
    one class. A part is a fine class within one coarse class, or, for the tasks ``whole``
    marks (a named group's), the whole fine class across coarse classes: a node with a
    group's name holds all of the group. Also the number of parts drawn apart (not counting
    one that is a whole coarse class).

    ``coarse`` keeps tasks of different levels apart, and so does ``fine`` but for the parts
    ``whole`` marks; a named group drawn whole can draw a cycle with the rest of a level,
    which ``partition`` finds and then splits that group by level."""
    marks = whole if whole is not None else [False] * len(fine)
    units = [(f, -1 if w else c) for f, c, w in zip(fine, coarse, marks, strict=True)]
    sizes: dict[tuple[int, int], dict[int, int]] = {}  # part -> tasks in each coarse class
    for unit, c in zip(units, coarse, strict=True):
        spread = sizes.setdefault(unit, {})  # dicts keep first-seen (submit) order
        spread[c] = spread.get(c, 0) + 1
    left: dict[int, int] = {}  # coarse class -> its tasks not drawn apart
    for c in coarse:
        left[c] = left.get(c, 0) + 1
    whole_class = dict(left)  # coarse class -> its size
    total = len(left)
    keep: set[tuple[int, int]] = set()
    apart = 0
    for unit in sorted(sizes, key=lambda u: -sum(sizes[u].values())):  # stable on ties
        spread = sizes[unit]
        # One node more, and one fewer for each coarse class the part empties.
        emptied = sum(left[c] == n for c, n in spread.items())
        if total + 1 - emptied <= max_nodes:
            keep.add(unit)
            total += 1 - emptied
            for c, n in spread.items():
                left[c] -= n
            # A part that is all of its one coarse class is not "apart" from anything.
            (c, n), *others = spread.items()
            apart += bool(others) or n != whole_class[c]
    split = _renumber([u if u in keep else ("rest", c) for u, c in zip(units, coarse, strict=True)])
    return split, apart


def band_levels(
    levels: list[int], barrier: list[bool], parents: list[list[int]], per_band: int
) -> tuple[list[int], int]:
    """The partition into bands of ``per_band`` levels, a band's barriers a class apart
    from its other tasks, but in the bands where that would draw a cycle (a barrier between
    tasks of its own band: the band's tasks above it and below it are one node); also how
    many bands keep their barriers in. Edges never go to a lower band, so a cycle can only
    be between a band's two classes."""
    keys = [(lv // per_band, b) for lv, b in zip(levels, barrier, strict=True)]
    banded = _renumber(keys)
    cyclic = cyclic_classes(banded, parents)
    if not cyclic:
        return banded, 0
    joined = {band for (band, _), c in zip(keys, banded, strict=True) if c in cyclic}
    keys = [(band, b and band not in joined) for band, b in keys]
    return _renumber(keys), len(joined)


def band_width(levels: list[int], barrier: list[bool], max_nodes: int) -> int:
    """The fewest levels a band must span for the bands to draw at most ``max_nodes`` nodes
    (a band's barriers are a node apart from its other tasks): ``max_nodes`` bands when that
    fits, else half as many, which always fits."""
    top = max(levels) + 1
    pairs = set(zip(levels, barrier, strict=True))
    narrow = math.ceil(top / max_nodes)
    if len({(lv // narrow, b) for lv, b in pairs}) <= max_nodes:
        return narrow
    return math.ceil(top / max(1, max_nodes // 2))


# --------------------------------------------------------------------------- naming


_DIGITS = re.compile(r"(\d+)")


def _is_int(tid: str) -> bool:
    """Whether a task id is an integer as taskIdRanges read it (digits only)."""
    return tid.isdigit()


def _int_span(values: list[int]) -> str:
    """``1..10000`` for a contiguous run, ``1..10000 (with gaps)`` otherwise."""
    lo, hi = min(values), max(values)
    text = f"{lo}..{hi}"
    if hi - lo + 1 != len(set(values)):
        text += " (with gaps)"
    return text


def _shared_prefix(first: str, last: str) -> str:
    """The prefix two sorted ids share, cut back to a separator when it ends mid-word."""
    k = 0
    while k < min(len(first), len(last)) and first[k] == last[k]:
        k += 1
    prefix = first[:k]
    if k < len(first) and prefix and prefix[-1] not in "-_":
        cut = max(prefix.rfind("-"), prefix.rfind("_"))
        prefix = prefix[: cut + 1] if cut >= 0 else prefix
    return prefix


def natural_key(tid: str) -> tuple[object, ...]:
    """Sort key that orders digit runs by value: ``b-9`` before ``b-10``."""
    return tuple(int(part) if part.isdigit() else part for part in _DIGITS.split(tid))


def name_group(ids: list[str], name: str | None) -> tuple[str, str]:
    """(title, span) of a group's ids: the user's name or what the ids share, and the span
    from the first id to the last in natural order (ids all of one length in text order)."""
    if len(ids) == 1:
        return (name or ids[0]), ids[0]
    if all(map(_is_int, ids)):
        span = _int_span([int(t) for t in ids])
        return (name or span), span
    if len(set(map(len, ids))) == 1:  # ids of one length (zero-padded): compared as text
        first, last = min(ids), max(ids)
    else:
        keyed = sorted(zip(map(natural_key, ids), ids, strict=True))
        first, last = keyed[0][1], keyed[-1][1]
    span = f"{first}{SPAN_SEP}{last}"
    if name:
        return name, span
    prefix = _shared_prefix(first, last)
    return (prefix + "*" if len(prefix) >= 3 else "tasks"), span


# --------------------------------------------------------------------------- the picture


def _shown_name(view: PlanView, i: int) -> str:
    """The user's name of task ``i`` as drawn: masked (``redact``) when it comes from the
    plan's id map rather than being the id itself."""
    name = view.name_of(i)
    return name if name == view.ids[i] else redact(name)


def _sample(view: PlanView, members: list[int]) -> dict[str, object]:
    """Details of a node for the HTML view: its first task and a few ids."""
    first = members[0]
    # A command line or display name can carry a SAS URL or an account key: the picture
    # shows them masked, as every output of dagbatch does (dagbatch.redact).
    sample: dict[str, object] = {"id": _shown_name(view, first)}
    if view.ids[first] != sample["id"]:
        sample["batchId"] = view.ids[first]  # renumbered: the id Batch knows it by
    sample["commandLine"] = redact(view.command[first])
    display = view.display[first]
    if display:
        sample["displayName"] = redact(display)
    if view.exits[first]:
        sample["exitConditions"] = view.exits[first]
    if view.ranges[first]:
        sample["taskIdRanges"] = [f"{a}..{b}" for a, b in view.ranges[first]]
    if len(members) > 1:
        shown = [*members[:5], None, members[-1]] if len(members) > 6 else members
        sample["ids"] = ["…" if i is None else _shown_name(view, i) for i in shown]
    return sample


def critical_path(view: PlanView, intents: list[Intent]) -> list[int]:
    """One longest chain of tasks that run when every task succeeds (unit durations): tasks
    behind a failure route (or a parent whose dependents never run) are left out."""
    n = len(view)
    depth = [0] * n
    runs = [True] * n
    back = [-1] * n
    for i, parents in enumerate(view.parents):
        best = -1
        for p in parents:
            if not runs[p] or intents[p].kind not in ("success", "always"):
                runs[i] = False
                break
            if best < 0 or depth[p] > depth[best]:
                best = p
        if runs[i] and best >= 0:
            depth[i] = depth[best] + 1
            back[i] = best
    ends = [i for i in range(n) if runs[i]]
    if not ends:
        return []
    i = max(ends, key=lambda k: (depth[k], -k))
    path = [i]
    while back[i] >= 0:
        i = back[i]
        path.append(i)
    path.reverse()
    return path


def _disambiguate(nodes: list[GroupNode], links: list[GroupEdge]) -> None:
    """Give nodes that would share a title a word on what sets them apart: ``(no
    dependents)``, ``(no parents)`` (for a node on one level: a node over several levels, a
    band, holds tasks whose parents are in it), their levels, or a part number."""
    by_title: dict[str, list[GroupNode]] = {}
    for node in nodes:
        by_title.setdefault(node.title, []).append(node)
    has_out = {e.source for e in links}
    has_in = {e.target for e in links}
    for same in by_title.values():
        if len(same) < 2:
            continue
        for node in same:
            if _levels(node) is not None:
                continue
            if node.index not in has_out and any(o.index in has_out for o in same):
                node.title += " (no dependents)"
            elif node.index not in has_in and any(o.index in has_in for o in same):
                node.title += " (no parents)"
        still: dict[str, list[GroupNode]] = {}
        for node in same:
            still.setdefault(node.title, []).append(node)
        for group in still.values():
            if len(group) < 2:
                continue
            words = [_levels(node) or f"level {node.level}" for node in group]
            distinct = len(set(words)) == len(group)
            for part, (node, word) in enumerate(zip(group, words, strict=True), start=1):
                node.title += f" ({word})" if distinct else f" (part {part})"


def _levels(node: GroupNode) -> str | None:
    """``levels 3..9`` for a node whose tasks sit on several levels, else None."""
    first = node.first_level if node.first_level >= 0 else node.level
    return f"levels {first}..{node.last_level}" if node.last_level > first else None


def drawn_levels(classes: list[int], parents: list[list[int]], first_level: list[int]) -> list[int]:
    """The level each class is drawn on: the first level of its tasks, or one below the
    lowest-drawn of its parent classes when that is further down (a ``_group`` whose tasks
    sit on several levels), so that every edge points down. The folded graph is acyclic
    (``cyclic_classes``)."""
    count = len(first_level)
    up, down, _ = _quotient(classes, parents, count)
    waiting = [len(u) for u in up]
    rank = list(first_level)
    ready = [(first_level[c], c) for c in range(count) if not waiting[c]]
    heapq.heapify(ready)
    while ready:
        _, c = heapq.heappop(ready)
        if up[c]:
            rank[c] = max(rank[c], 1 + max(rank[p] for p in up[c]))
        for d in down[c]:
            waiting[d] -= 1
            if not waiting[d]:
                heapq.heappush(ready, (first_level[d], d))
    return rank


def build_picture(
    view: PlanView,
    classes: list[int],
    levels: list[int],
    intents: list[Intent],
    notes: list[str],
    *,
    folded: bool,
) -> Picture:
    """The ``Picture`` of a partition: nodes, edges (by kind), critical path, widest level."""
    n = len(view)
    count = max(classes, default=-1) + 1
    members: list[list[int]] = [[] for _ in range(count)]
    for i, c in enumerate(classes):
        members[c].append(i)
    first_level = [min(levels[i] for i in ms) for ms in members]
    rank = drawn_levels(classes, view.parents, first_level)
    # Drawing order: by the level drawn on, then by first task in submit order.
    order = sorted(range(count), key=lambda c: (rank[c], members[c][0]))
    index_of = {c: k for k, c in enumerate(order)}
    node_of = [index_of[c] for c in classes]

    nodes: list[GroupNode] = []
    for k, c in enumerate(order):
        ms = members[c]
        ids = [view.name_of(i) for i in ms]  # the user's names: what they wrote
        names = {view.group[i] for i in ms}
        name = next(iter(names)) if len(names) == 1 else None
        name = redact(name) if name else name  # a user's text, drawn in every format
        barrier = all(view.barrier[i] for i in ms)
        title, span = name_group(ids, name if name else ("barrier" if barrier else None))
        lvs = [levels[i] for i in ms]
        waves = [view.wave[i] for i in ms]
        kinds = {intents[i].key for i in ms}
        batch_ids = [view.ids[i] for i in ms]
        renamed = batch_ids != ids  # renumbered (`--over-limit renumber`): say both
        if renamed:  # names from the plan's id map: a user's text, masked as group names are
            title, span = redact(title), redact(span)
        nodes.append(
            GroupNode(
                index=k,
                key=f"n{k + 1}",
                title=title,
                span=span,
                count=len(ms),
                level=rank[c],
                last_level=max(lvs),
                first_level=min(lvs),
                intent=next(iter(kinds)) if len(kinds) == 1 else "mixed",
                barrier=barrier,
                serves=None,
                submit_waves=(min(waves), max(waves)),
                members=ms,
                sample=_sample(view, ms),
                batch_ids=name_group(batch_ids, None)[1] if renamed else None,
            )
        )

    # Edges between nodes, by kind of the parent's intent.
    agg: dict[tuple[int, int, str], list[int]] = {}
    range_sets: dict[tuple[int, int, str], set[tuple[int, int]]] = {}
    edges = 0
    for i, parents in enumerate(view.parents):
        t = node_of[i]
        first_ranged = len(parents) - view.range_parents[i]
        edges += len(parents)
        for pos, p in enumerate(parents):
            s = node_of[p]
            if s == t:
                continue
            key = (s, t, intents[p].kind)
            entry = agg.get(key)
            if entry is None:
                entry = agg[key] = [0, 0]
            entry[0] += 1
            if pos >= first_ranged:
                entry[1] += 1
                spans = range_sets.setdefault(key, set())
                if len(spans) < 64:
                    own = view.ranges[i]
                    if len(own) == 1:
                        spans.update(own)
                    else:  # only the range that selects this parent (an integer id)
                        v = int(view.ids[p])
                        spans.update(r for r in own if r[0] <= v <= r[1])
    links = [
        GroupEdge(
            source=s,
            target=t,
            kind=kind,  # type: ignore[arg-type]
            count=c,
            ranged=r,
            ranges=tuple(sorted(range_sets.get((s, t, kind), ()))),
            to_barrier=nodes[t].barrier,
        )
        for (s, t, kind), (c, r) in sorted(agg.items())
    ]
    _disambiguate(nodes, links)
    for node in nodes:
        if node.barrier:
            served = sorted({e.target for e in links if e.source == node.index})
            node.serves = ", ".join(nodes[t].title for t in served) or None

    path = critical_path(view, intents)
    on_path = {node_of[i] for i in path}
    path_edges = {(node_of[a], node_of[b]) for a, b in itertools.pairwise(path)}
    for node in nodes:
        node.critical = node.index in on_path
    for link in links:
        link.critical = (link.source, link.target) in path_edges
    per_level: dict[int, int] = {}
    for lv in levels:
        per_level[lv] = per_level.get(lv, 0) + 1
    widest = max(per_level.items(), key=lambda kv: (kv[1], -kv[0])) if per_level else (0, 0)
    notes = list(notes)
    if view.unknown_parents:
        notes.append(
            f"{view.unknown_parents:,} dependencies name tasks that are not in the plan (not drawn)"
        )
    return Picture(
        job_id=view.job_id,
        tasks=n,
        barriers=sum(view.barrier),
        edges=edges,
        requests=view.requests,
        submit_waves=view.submit_waves,
        levels=(max(levels) + 1) if n else 0,
        nodes=nodes,
        links=links,
        widest_level=widest,
        critical_path=[_shown_name(view, i) for i in path],
        notes=notes,
        folded=folded,
    )


def fold_plan(
    view: PlanView,
    *,
    max_nodes: int = DEFAULT_MAX_NODES,
    fold: bool = True,
    states: Mapping[str, TaskState] | None = None,
) -> Picture:
    """The picture of a plan: folded (at most ``max_nodes`` nodes) or, with ``fold=False``,
    one node per task (at most ``NO_FOLD_LIMIT`` tasks; ``ConfigError`` beyond). ``states``
    (task id -> ``TaskState``) adds live state."""
    if isinstance(max_nodes, bool) or not isinstance(max_nodes, int) or max_nodes < 2:
        raise ConfigError(f"max_nodes is an int of at least 2, not {max_nodes!r}")
    if not fold and len(view) > NO_FOLD_LIMIT:
        raise ConfigError(
            f"a picture without folding (--no-fold) draws at most {NO_FOLD_LIMIT} tasks; this "
            f"plan has {len(view):,}"
        )
    with gc_paused():  # per-task lists and keys, none in a cycle (dagbatch.gcpause)
        levels = task_levels(view)
        intents = task_intents(view)
        if fold:
            classes, notes = partition(view, levels, intents, max_nodes=max_nodes)
        else:
            classes, notes = list(range(len(view))), []
        picture = build_picture(view, classes, levels, intents, notes, folded=fold)
        if states is not None:
            apply_states(picture, view, states)
    return picture


def apply_states(picture: Picture, view: PlanView, states: Mapping[str, TaskState]) -> None:
    """Count each node's tasks by live state (a task the mapping lacks is ``missing``), and
    name the first ``FAILED_NAMED`` that failed."""
    for node in picture.nodes:
        counts: dict[str, int] = {}
        failed: list[str] = []
        for i in node.members:
            st = states.get(view.ids[i])
            kind = st.kind if st is not None else "missing"
            counts[kind] = counts.get(kind, 0) + 1
            if kind == "failed" and len(failed) < FAILED_NAMED:
                failed.append(_shown_name(view, i))  # masked as the node names are
        node.states = counts
        node.failed_names = tuple(failed)
    picture.live = True


#: Failed tasks a folded node names under live state (the rest: `dagbatch status`).
FAILED_NAMED = 3
