"""Hypothesis strategies for random workflows, and ``check_plan``: the compiler's invariants.

``dag_cases()`` draws a ``DagCase``: a networkx DiGraph acyclic by construction (the parents
of the k-th node are drawn from nodes before it, then the labels are shuffled and the nodes
inserted in another random order), with ids in one of several styles, failure intents on
some nodes, edge ``when`` values consistent per parent, optional large tasks and fan-ins
past a small ``taskIds`` budget, plus the ``CompileOptions`` to compile it with.

``check_plan(graph, plan, options)`` asserts every invariant a compiled plan must meet
(see its docstring); other test modules reuse it on their own graphs.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import networkx as nx
import orjson
from hypothesis import strategies as st
from spec_schema import validate_job, validate_task_collection

from dagbatch.compiler.batching import ENVELOPE_BYTES
from dagbatch.compiler.models import Task
from dagbatch.compiler.pipeline import CompiledPlan, CompileOptions
from dagbatch.compiler.ranges import Dependencies, expand
from dagbatch.limits import (
    ID_PATTERN,
    INT32_MAX,
    MAX_BODY_BYTES,
    MAX_TASKS_PER_REQUEST,
    TASK_IDS_CHAR_LIMIT,
)

ID_STYLES = ("int", "int-keys", "padded", "str", "mixed", "int32-edge")
_ID_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-"


# --------------------------------------------------------------------------- strategies


@dataclass(frozen=True)
class DagCase:
    graph: nx.DiGraph
    options: CompileOptions
    style: str
    big: bool

    def __repr__(self) -> str:  # readable falsifying examples
        edges = [
            (u, v, d["when"]) if "when" in d else (u, v) for u, v, d in self.graph.edges(data=True)
        ]
        nodes = {
            k: {a: (v if a != "environment_settings" else "<big>") for a, v in d.items()}
            for k, d in self.graph.nodes(data=True)
        }
        return (
            f"DagCase(style={self.style!r}, big={self.big}, options={self.options!r},\n"
            f"  nodes={nodes!r},\n  edges={edges!r})"
        )


def _labels(rng: random.Random, n: int, style: str) -> list[Any]:
    """n node keys, unique ignoring case, in the given id style."""
    label: Any
    if style in ("int", "int-keys", "int32-edge"):
        start = INT32_MAX - n // 2 if style == "int32-edge" else rng.choice([0, 1, 7, 95, 990])
        out: list[Any] = []
        n_now = start
        while len(out) < n:
            # consecutive runs with occasional gaps, so ranges apply
            if rng.random() < 0.15:
                n_now += rng.randint(2, 5)
            out.append(n_now if style == "int-keys" and rng.random() < 0.7 else str(n_now))
            n_now += 1
        return out
    if style == "padded":
        out = []
        seen: set[str] = set()
        k = rng.randint(0, 20)
        while len(out) < n:
            if out and rng.random() < 0.2:
                # an alias of an id already there: "7" next to "007", "0" next to "-0"
                base = int(rng.choice(out))
                label = rng.choice(["", "-"]) + "0" * rng.randint(0, 3) + str(abs(base))
            elif rng.random() < 0.1:
                label = "-" + "0" * rng.randint(0, 2) + str(rng.randint(0, k + 2))
            else:
                k += 1 if rng.random() < 0.8 else rng.randint(2, 4)
                label = ("0" * rng.randint(1, 2) if rng.random() < 0.25 else "") + str(k)
            if label not in seen:
                seen.add(label)
                out.append(label)
        return out
    out = []
    seen = set()
    while len(out) < n:
        if style == "mixed" and rng.random() < 0.6:
            label = rng.choice(
                [
                    str(rng.randint(0, 3 * n)),
                    "0" + str(rng.randint(0, 3 * n)),
                    "-" + str(rng.randint(0, 3 * n)),
                    "-0",
                    "00",
                    rng.randint(0, 3 * n),
                ]
            )
        else:
            label = "".join(rng.choice(_ID_CHARS) for _ in range(rng.randint(1, 12)))
        if str(label).lower() not in seen:
            seen.add(str(label).lower())
            out.append(label)
    return out


def _exit_codes(rng: random.Random) -> list[Any]:
    codes: list[Any] = rng.sample(range(1, 9), rng.randint(1, 3))
    if rng.random() < 0.3:
        codes.append((20, 29))
    if rng.random() < 0.1:
        codes.append(-1)
    return codes


@st.composite
def dag_cases(
    draw: st.DrawFn,
    *,
    styles: Sequence[str] = ID_STYLES,
    max_nodes: int = 40,
    over_limit: Sequence[str] = ("barrier", "renumber"),
    api_versions: Sequence[str] = ("2025-06-01", "2017-09-01.6.0"),
    big: bool | None = None,
    intents: bool = True,
) -> DagCase:
    style = draw(st.sampled_from(list(styles)))
    n = draw(st.integers(1, max_nodes))
    is_big = draw(st.booleans()) if big is None else big
    fan_in = draw(st.booleans())
    # A small budget makes the barriers' own ids go over it: barriers of barriers.
    nested = fan_in and draw(st.integers(0, 3)) == 0
    budget = draw(st.integers(72, 110)) if nested else draw(st.integers(150, 500))
    api = draw(st.sampled_from(list(api_versions)))
    strategy = draw(st.sampled_from(list(over_limit)))
    with_job_actions = intents and draw(st.booleans())
    # The structure comes from a seeded Random: fast for wide graphs, reproducible, and it
    # does not overrun hypothesis's buffer as hundreds of drawn labels would.
    rng = random.Random(draw(st.integers(0, 2**32 - 1)))

    labels = _labels(rng, n + (600 if fan_in else 0), style)
    rng.shuffle(labels)  # labels are not in topological order
    fan = 0
    if fan_in:
        # the last node gets (about) the first `fan` nodes as parents: their ids add up to
        # between 1.1 and 2.5 times the budget, so such sinks are over it (unless ranges help)
        target = budget * (rng.uniform(4, 14) if nested else rng.uniform(1.1, 2.5))
        total = 0.0
        while fan < len(labels) - 1 and total <= target:
            total += len(str(labels[fan]))
            fan += 1
        n = max(n, fan + 1)
    labels = labels[:n]
    max_parents = rng.choice([1, 2, 3, 6])
    parents: list[list[int]] = []
    for k in range(n):
        if fan and k == n - 1:
            ps = list(range(fan)) if rng.random() < 0.7 else rng.sample(range(fan), fan // 2)
        else:
            ps = rng.sample(range(k), rng.randint(0, min(k, max_parents)))
        parents.append(ps)

    attrs: list[dict[str, Any]] = []
    big_size = {"2025-06-01": (60_000, 300_000), "2017-09-01.6.0": (300_000, 1_200_000)}[api]
    for k in range(n):
        a: dict[str, Any] = {"command_line": f"run {k}"}
        if is_big and k < 40 and rng.random() < 0.7:
            size = rng.randint(*big_size)
            a["environment_settings"] = [{"name": "PAYLOAD", "value": "x" * size}]
        if intents:
            r = rng.random()
            if r < 0.15:
                a["on_failure"] = "satisfy"
            if rng.random() < 0.15:
                a["satisfy_exit_codes"] = _exit_codes(rng)
            if with_job_actions and rng.random() < 0.1:
                a["job_action"] = rng.choice(["terminate", "disable", "none"])
            if rng.random() < 0.1:
                # the Task model form of the same node
                a = {"task": Task.model_validate(a)}
        attrs.append(a)

    mode = [
        rng.choice(["success", "success", "failure", "always"]) if intents else "success"
        for _ in range(n)
    ]
    has_children = [False] * n
    for ps in parents:
        for p in ps:
            has_children[p] = True
    if intents:
        for k in range(n):
            if rng.random() < 0.2:
                _add_raw_exit_conditions(rng, attrs, k, mode[k], has_children[k], with_job_actions)
    g = nx.DiGraph()
    for k in rng.sample(range(n), n):  # insertion order is random too
        g.add_node(labels[k], **attrs[k])
    satisfy_node = [
        (a.get("on_failure") if "task" not in a else a["task"].on_failure) == "satisfy"
        for a in attrs
    ]
    edges: list[tuple[Any, Any, dict[str, str]]] = []
    for child in range(n):
        for p in parents[child]:
            data: dict[str, str] = {}
            m = mode[p]
            if m != "success" or rng.random() < 0.4:
                data["when"] = m
            if satisfy_node[p] and m == "always" and rng.random() < 0.4:
                # on_failure="satisfy": the default `when` means the same as "always"
                data.pop("when")
            edges.append((labels[p], labels[child], data))
    rng.shuffle(edges)
    g.add_edges_from(edges)
    if with_job_actions and rng.random() < 0.3:
        # The user's own job-action mode: a failure without a job action terminates the job.
        g.graph["job"] = {"on_task_failure": "performexitoptionsjobaction"}
    options = CompileOptions(
        api_version=api,  # type: ignore[arg-type]
        over_limit=strategy,  # type: ignore[arg-type]
        taskids_margin=TASK_IDS_CHAR_LIMIT - budget,
    )
    return DagCase(graph=g, options=options, style=style, big=is_big)


#: Raw exit codes the strategy uses: never a satisfy code of ``_exit_codes``.
RAW_CODES = (40, 41, 42, 43)
RAW_RANGE = (50, 59)


def _add_raw_exit_conditions(
    rng: random.Random,
    attrs: list[dict[str, Any]],
    k: int,
    mode: str,
    has_children: bool,
    job_actions: bool,
) -> None:
    """Raw ``exit_conditions`` on node ``k`` that agree with its failure intent: entries for
    failure codes, a range of them, pre-processing, upload and default, each naming a
    dependencyAction (the one the intent needs when it needs one, else any), a jobAction
    (when the job uses job actions), both or neither."""
    a = attrs[k]
    task = a.get("task")
    on_failure = task.on_failure if isinstance(task, Task) else a.get("on_failure", "block")
    own_action = task.job_action if isinstance(task, Task) else a.get("job_action")
    strong = has_children and (mode in ("failure", "always") or on_failure == "satisfy")

    def options() -> dict[str, str]:
        out: dict[str, str] = {}
        if rng.random() < 0.6:
            out["dependencyAction"] = "satisfy" if strong else rng.choice(["satisfy", "block"])
        if job_actions and rng.random() < 0.6:
            out["jobAction"] = own_action or rng.choice(["terminate", "disable", "none"])
        return out

    raw: dict[str, Any] = {}
    codes = rng.sample(RAW_CODES, rng.randint(0, 2))
    if codes:
        raw["exit_codes"] = [{"code": c, "exit_options": options()} for c in codes]
    if rng.random() < 0.4:
        raw["exit_code_ranges"] = [
            {"start": RAW_RANGE[0], "end": RAW_RANGE[1], "exit_options": options()}
        ]
    for key in ("pre_processing_error", "file_upload_error", "default"):
        if rng.random() < 0.3:
            raw[key] = options()
    if isinstance(task, Task):
        attrs[k] = {"task": Task.model_validate({**task.model_dump(), "exit_conditions": raw})}
    else:
        a["exit_conditions"] = raw


# --------------------------------------------------------------------------- Batch semantics


def batch_exit_options(
    ec: Mapping[str, Any] | None, code: int | None, *, job_actions: bool, ranges_cover_zero: bool
) -> tuple[str, str]:
    """(dependencyAction, jobAction) Batch applies when a task with ``exitConditions`` ``ec``
    exits with ``code``: an ``exitCodes`` entry, else an ``exitCodeRanges`` entry, else
    ``default`` for a non-zero code; missing actions take Batch's defaults (satisfy / none
    for 0, block / terminate otherwise; jobAction only acts under
    ``onTaskFailure: performexitoptionsjobaction``). Whether a range that contains 0 applies
    to exit code 0 is not documented: ``ranges_cover_zero`` picks the reading. ``code`` None
    is a pre-processing error (``preProcessingError``, else ``default``)."""
    opts: Mapping[str, Any] = {}
    if ec and code is None:  # a pre-processing error
        opts = ec["preProcessingError"] if "preProcessingError" in ec else ec.get("default", {})
    elif ec:
        found = next((e["exitOptions"] for e in ec.get("exitCodes", ()) if e["code"] == code), None)
        if found is None and (code != 0 or ranges_cover_zero):
            found = next(
                (
                    r["exitOptions"]
                    for r in ec.get("exitCodeRanges", ())
                    if r["start"] <= code <= r["end"]
                ),
                None,
            )
        if found is None and code != 0:
            found = ec.get("default")
        opts = found or {}
    dep = opts.get("dependencyAction") or ("satisfy" if code == 0 else "block")
    job = "none"
    if job_actions:
        job = opts.get("jobAction") or ("none" if code == 0 else "terminate")
    return dep, job


@dataclass(frozen=True)
class NodeIntent:
    on_failure: str
    satisfy: tuple[int | tuple[int, int], ...]
    job_action: str | None
    #: raw exit_conditions in wire form (camelCase), or None
    raw: Mapping[str, Any] | None = None

    def succeeded(self, code: int | None) -> bool:
        """Exit code 0 or a satisfy code; None (a pre-processing error) is a failure."""
        if code is None:
            return False
        return code == 0 or any(
            c == code if isinstance(c, int) else c[0] <= code <= c[1] for c in self.satisfy
        )

    def probe_codes(self) -> list[int | None]:
        """Exit code 0, every satisfy code (and span ends), failure codes, the raw entries'
        codes, and None: a pre-processing error."""
        codes: set[int] = {0}
        for c in self.satisfy:
            codes.update([c] if isinstance(c, int) else [c[0], c[1]])
        codes.update(c for c in (1, 2, 3, 5, 9, 19, 25, 30, 137, -1) if not self.succeeded(c))
        for e in (self.raw or {}).get("exitCodes", ()):
            codes.add(e["code"])
        for e in (self.raw or {}).get("exitCodeRanges", ()):
            codes.update((e["start"], e["end"]))
        return [*sorted(codes), None]

    def raw_options(self, code: int | None) -> Mapping[str, Any]:
        """The exitOptions of the raw entry that applies to ``code`` (None: pre-processing)."""
        raw = self.raw or {}
        if code is None:
            found = raw["preProcessingError"] if "preProcessingError" in raw else raw.get("default")
            return found or {}
        for e in raw.get("exitCodes", ()):
            if e["code"] == code:
                return e.get("exitOptions") or {}
        for e in raw.get("exitCodeRanges", ()):
            if e["start"] <= code <= e["end"]:
                return e.get("exitOptions") or {}
        if not self.succeeded(code):
            return raw.get("default") or {}
        return {}


def node_intent(attrs: Mapping[str, Any]) -> NodeIntent:
    task = attrs.get("task")
    if not isinstance(task, Task):
        task = Task.model_validate({k: v for k, v in attrs.items() if not k.startswith("_")})
    raw = None
    if task.exit_conditions is not None:
        raw = task.exit_conditions.model_dump(mode="json", by_alias=True, exclude_none=True)
    return NodeIntent(task.on_failure, tuple(task.satisfy_exit_codes), task.job_action, raw)


def wanted_action(intent: NodeIntent, mode: str, code: int | None) -> str:
    """The dependencyAction the user's words ask for, for dependents wanting ``mode``: a raw
    entry's own dependencyAction where it names one, else what the intent derives."""
    given = intent.raw_options(code).get("dependencyAction")
    if given is not None:
        return str(given)
    ok = intent.succeeded(code)
    if mode == "always":
        return "satisfy"
    if mode == "failure":
        return "block" if ok else "satisfy"
    return "satisfy" if ok or intent.on_failure == "satisfy" else "block"


# --------------------------------------------------------------------------- check_plan


def _fail(message: str) -> None:
    raise AssertionError(message)


def greedy_count(order: Iterable[int], sizes: Sequence[int], max_body: int) -> int:
    """Fewest requests for tasks taken in ``order`` (greedy fill is optimal for a fixed order)."""
    count = 0
    used = 0
    n_in = 0
    for i in order:
        if n_in and (n_in >= MAX_TASKS_PER_REQUEST or used + 1 + sizes[i] >= max_body):
            count += 1
            n_in = 0
        if n_in == 0:
            used = ENVELOPE_BYTES + sizes[i]
        else:
            used += 1 + sizes[i]
        n_in += 1
    return count + (1 if n_in else 0)


def check_plan(
    graph: nx.DiGraph, plan: CompiledPlan, options: CompileOptions | None = None
) -> None:
    """Assert every invariant of a compiled plan of ``graph``:

    - every task exactly once, ids unique ignoring case and valid; at most 100 tasks a request;
      each body strictly under the api-version's limit, its length the one stated, valid
      against the official schema (and the job body too);
    - ``dependsOn.taskIds`` within the budget; ranges inside int32 with start <= end;
    - expanding ``taskIds`` and ``taskIdRanges`` by Batch's rule, following barrier tasks and
      mapping renumbered ids back, gives exactly the graph's edges;
    - parents before children (earlier request, or earlier in the same one); waves start at 1,
      never decrease, and a request's outside parents are in strictly earlier waves;
    - the requests are a greedy fill: at least ceil(tasks/100), exactly that when no byte
      limit binds, and no request but one could have taken the next request's first task;
    - exit conditions: for exit code 0, every satisfy code and some failure codes, the
      dependencyAction Batch applies is the one the node's intent asks for its children, and
      only tasks with a job_action ever end the job (or, in a job the user set to
      performexitoptionsjobaction, a failure of a task that names none: Batch's default).
    """
    opts = options or CompileOptions()
    api = plan.api_version
    assert api == opts.api_version
    max_body = MAX_BODY_BYTES[api]
    budget = opts.budget

    # ---- tasks, requests, bodies
    tasks: dict[str, dict[str, Any]] = {}
    where: dict[str, tuple[int, int]] = {}  # id -> (request position, position inside)
    sizes_by_id: dict[str, int] = {}
    for pos, req in enumerate(plan.batches):
        assert req.index == pos + 1, "request indices are 1..n in submit order"
        assert len(req.body) < max_body, f"request {req.index}: {len(req.body)} bytes"
        body = orjson.loads(req.body)
        assert orjson.dumps(body) == req.body, "bodies are compact orjson bytes"
        value = body["value"]
        assert 1 <= len(value) <= MAX_TASKS_PER_REQUEST, f"request {req.index}: {len(value)}"
        assert tuple(t["id"] for t in value) == req.task_ids
        task_sizes = [len(orjson.dumps(t)) for t in value]
        assert len(req.body) == ENVELOPE_BYTES + sum(task_sizes) + len(value) - 1
        errors = validate_task_collection(body, api)
        assert errors == [], f"request {req.index} breaks the {api} schema: {errors[:5]}"
        for k, t in enumerate(value):
            tid = t["id"]
            assert isinstance(tid, str) and ID_PATTERN.fullmatch(tid), tid
            assert tid not in tasks, f"task {tid!r} is sent twice"
            tasks[tid] = t
            where[tid] = (pos, k)
            sizes_by_id[tid] = task_sizes[k]
    lower = {t.lower() for t in tasks}
    assert len(lower) == len(tasks), "task ids collide ignoring case"

    job = plan.job
    job_errors = validate_job({"id": "job", "poolInfo": {"poolId": "pool"}, **job}, api)
    assert job_errors == [], job_errors
    assert job["onAllTasksComplete"] == "noaction"
    job_actions = job["onTaskFailure"] == "performexitoptionsjobaction"
    # A job the user set to performexitoptionsjobaction keeps Batch's default for a failure a
    # task names no job action for: terminate; one dagbatch set so for some tasks: none.
    given = (graph.graph.get("job") or {}).get("on_task_failure")
    unnamed = "terminate" if given == "performexitoptionsjobaction" else "none"

    # ---- ids: graph node -> plan id
    node_id = {node: str(node) for node in graph.nodes}
    id_map = dict(plan.id_map)
    if id_map:
        back = {old: new for new, old in id_map.items()}
        assert len(back) == len(id_map) == graph.number_of_nodes()
        node_id = {node: back[str(node)] for node in graph.nodes}
        for node, new in node_id.items():
            attrs = graph.nodes[node]
            given = attrs.get("display_name") or attrs.get("displayName")
            if isinstance(attrs.get("task"), Task):
                given = attrs["task"].display_name
            shown = tasks[new].get("displayName")
            assert shown == (given or str(node)), f"renumbered {new} shows {shown!r}, not {node!r}"
    barriers = set(plan.barriers)
    assert len(barriers) == len(plan.barriers)
    user_ids = set(node_id.values())
    assert user_ids | barriers == set(tasks), "every task exactly once, nothing else"
    assert not (user_ids & barriers)
    assert plan.counts["tasks"] == len(tasks)
    assert plan.counts["requests"] == len(plan.batches)
    assert plan.counts["edges"] == graph.number_of_edges()

    # ---- dependencies as Batch reads them
    all_ids = list(tasks)
    direct: dict[str, set[str]] = {}
    for tid, t in tasks.items():
        dep = t.get("dependsOn") or {}
        ids = tuple(dep.get("taskIds", ()))
        spans = tuple((r["start"], r["end"]) for r in dep.get("taskIdRanges", ()))
        assert sum(map(len, ids)) <= budget, f"{tid}: taskIds over the budget of {budget}"
        for a, b in spans:
            assert 0 <= a <= b <= INT32_MAX, (tid, a, b)
        assert len(set(ids)) == len(ids), f"{tid}: a parent listed twice"
        for p in ids:
            assert p in tasks, f"{tid} depends on {p!r}, which is not in the job"
        got = expand(Dependencies(ids, spans), all_ids)
        assert tid not in got, f"{tid} depends on itself"
        direct[tid] = got
        if dep:
            assert job["usesTaskDependencies"] is True

    def effective(tid: str) -> set[str]:
        out: set[str] = set()
        for p in direct[tid]:
            out.update(effective(p) if p in barriers else {p})
        return out

    for node in graph.nodes:
        want = {node_id[p] for p in graph.predecessors(node)}
        got = effective(node_id[node])
        assert got == want, (
            f"task {node!r}: Batch would wait for {sorted(got - want)} extra and "
            f"{sorted(want - got)} missing"
        )
    for b in barriers:
        assert direct[b], f"barrier {b} has no parents"

    # ---- order and waves
    waves = [r.wave for r in plan.batches]
    if waves:
        assert waves[0] == 1
    assert all(a <= b for a, b in itertools.pairwise(waves)), waves
    for tid, ps in direct.items():
        for p in ps:
            assert where[p] < where[tid], f"parent {p} is sent after its child {tid}"
            rp, rc = where[p][0], where[tid][0]
            if rp != rc:
                assert waves[rp] < waves[rc], f"{p} (wave {waves[rp]}) -> {tid} ({waves[rc]})"

    # ---- request count: a greedy fill of the compiler's order. The order before the requests
    # were sorted by wave is not in the plan, so check what greedy implies whatever it was:
    # every request but the last one cut could not take the first task of the request that
    # followed it (which is not the first request: that one stays first, in wave 1).
    sizes = list(sizes_by_id.values())
    n_req = len(plan.batches)
    assert n_req >= math.ceil(len(tasks) / MAX_TASKS_PER_REQUEST)
    assert n_req >= math.ceil(sum(sizes) / max_body)
    if ENVELOPE_BYTES + MAX_TASKS_PER_REQUEST * (max(sizes, default=0) + 1) < max_body:
        assert n_req == math.ceil(len(tasks) / MAX_TASKS_PER_REQUEST), "no byte limit binds"
    heads = [sizes_by_id[r.task_ids[0]] for r in plan.batches]
    not_full = 0
    for pos, req in enumerate(plan.batches):
        others = [heads[k] for k in range(1, n_req) if k != pos]
        full = len(req.task_ids) == MAX_TASKS_PER_REQUEST or (
            bool(others) and len(req.body) + 1 + max(others) >= max_body
        )
        not_full += not full
    assert not_full <= 1, f"{not_full} requests could have taken more tasks"

    # ---- exit conditions
    children_mode: dict[str, str] = {}
    for u, _v, d in graph.edges(data=True):
        m = d.get("when", "success")
        if m == "success" and node_intent(graph.nodes[u]).on_failure == "satisfy":
            m = "always"  # the same dependencyAction for every outcome
        prev = children_mode.setdefault(node_id[u], m)
        assert prev == m, "the strategy keeps `when` consistent per parent"
    for node, attrs in graph.nodes(data=True):
        tid = node_id[node]
        intent = node_intent(attrs)
        ec = tasks[tid].get("exitConditions")
        if not job_actions:
            assert not _has_job_action(ec), f"{tid}: jobAction under onTaskFailure noaction"
        mode = children_mode.get(tid)
        for code in intent.probe_codes():
            for cover in (False, True):
                dep, jact = batch_exit_options(
                    ec, code, job_actions=job_actions, ranges_cover_zero=cover
                )
                if mode is not None:
                    wanted = wanted_action(intent, mode, code)
                    assert dep == wanted, (
                        f"task {tid} exit {code}: Batch applies {dep}, children "
                        f"(when={mode}, on_failure={intent.on_failure}, "
                        f"satisfy={intent.satisfy}) want {wanted}; exitConditions={ec}"
                    )
                want_job = "none"
                if not intent.succeeded(code) and job_actions:
                    want_job = intent.job_action or unnamed
                if job_actions:
                    want_job = intent.raw_options(code).get("jobAction") or want_job
                assert jact == want_job, f"task {tid} exit {code}: jobAction {jact} != {want_job}"
    for b in barriers:
        ec = tasks[b].get("exitConditions")
        dep, jact = batch_exit_options(ec, 0, job_actions=job_actions, ranges_cover_zero=True)
        assert (dep, jact) == ("satisfy", "none"), f"barrier {b}: {ec}"
        for code in (1, 2, 137):
            _, jact = batch_exit_options(ec, code, job_actions=job_actions, ranges_cover_zero=True)
            assert jact == "none", f"barrier {b} would end the job on exit {code}"

    # The counts the plan states, against the bodies themselves.
    depends = [t.get("dependsOn") or {} for t in tasks.values()]
    assert plan.counts["ranges"] == sum(len(d.get("taskIdRanges", ())) for d in depends)
    assert plan.counts["maxTaskIdsChars"] == max(
        (sum(map(len, d.get("taskIds", ()))) for d in depends), default=0
    )
    assert plan.counts["waves"] == max((b.wave for b in plan.batches), default=0)


def _has_job_action(ec: Mapping[str, Any] | None) -> bool:
    if not ec:
        return False
    found = [ec.get(k) for k in ("default", "preProcessingError", "fileUploadError")]
    found += [e["exitOptions"] for e in ec.get("exitCodes", ())]
    found += [e["exitOptions"] for e in ec.get("exitCodeRanges", ())]
    return any(o and "jobAction" in o for o in found)
