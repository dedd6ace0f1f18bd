"""The data of `dagbatch show`: the plan as Batch receives it (``PlanView``), the live state of
its tasks (``TaskState``) and the folded picture (``Picture``) that every renderer draws.

A ``PlanView`` holds one entry per task of the compiled plan, in submit order (which is a
topological order: every parent comes before its children), as parallel lists so that
200,000 tasks cost little. Parents are indices into the same lists.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal

#: How a parent's end reaches its dependents, from its ``exitConditions`` (docs/BATCH_FACTS.md
#: "Exit conditions": ``dependencyAction`` per exit outcome; Batch's default satisfies on exit
#: 0 and blocks on every other outcome).
EdgeKind = Literal["success", "failure", "always", "never"]
EDGE_KINDS: Final[tuple[EdgeKind, ...]] = ("success", "failure", "always", "never")
#: Edge kinds in words on edge labels (success is the plain case and is not named).
KIND_WORDS: Final[dict[str, str]] = {
    "success": "",
    "failure": "failure route",
    "always": "always",
    "never": "never",
}

#: A task's live state as drawn: Batch's task states, split by outcome for completed tasks,
#: plus tasks that can never run (a parent ended in a way that blocks them), those of them held
#: back by a parent that succeeded (a failure handler not needed: skipped) and tasks the
#: service does not know.
StateKind = Literal["completed", "failed", "running", "waiting", "never", "skipped", "missing"]
STATE_KINDS: Final[tuple[StateKind, ...]] = (
    "completed",
    "failed",
    "running",
    "waiting",
    "never",
    "skipped",
    "missing",
)

#: Which state colours a node holding tasks in several states: the most pressing first.
STATE_PRECEDENCE: Final[tuple[StateKind, ...]] = (
    "failed",
    "running",
    "never",
    "waiting",
    "missing",
    "skipped",
    "completed",
)


@dataclass(frozen=True)
class TaskState:
    """What the service says about one task (the live input of a picture).

    ``state`` is Batch's task state (``active``, ``preparing``, ``running``, ``completed``);
    ``exit_code`` and ``result`` (``success``/``failure``) come from ``executionInfo``;
    ``never_runs`` marks a task that can never run because a parent blocked it (still active,
    or terminated while it waited); ``skipped`` one whose blocking parent succeeded (a failure
    handler that was not needed).
    """

    state: str
    exit_code: int | None = None
    result: str | None = None
    never_runs: bool = False
    skipped: bool = False

    @property
    def kind(self) -> StateKind:
        """The drawn state of the task."""
        if self.skipped:
            return "skipped"
        if self.never_runs:
            return "never"
        if self.state == "completed":
            return "failed" if self.result == "failure" else "completed"
        if self.state in ("running", "preparing"):
            return "running"
        return "waiting"


@dataclass
class PlanView:
    """The compiled plan, one entry per task in submit order.

    ``parents[i]`` lists the indices of task i's parents: those named in ``dependsOn.taskIds``
    first, then ``range_parents[i]`` more selected by its ``taskIdRanges`` (``ranges[i]``).
    ``exits[i]`` is the task's ``exitConditions`` (None: Batch's defaults). ``wave[i]`` is
    the submit wave of the request that carries it. ``group[i]`` is the user's ``_group``
    attribute (only when the picture comes from a workflow). ``names[i]`` is the user's name
    of the task: its id, or the original name of an id `--over-limit renumber` gave it
    (plan.json ``idMap``); what every picture draws, while ``ids`` are what Batch and the
    live state know.
    """

    job_id: str | None
    api_version: str
    on_task_failure: str
    requests: int
    submit_waves: int
    ids: list[str] = field(default_factory=list)
    parents: list[list[int]] = field(default_factory=list)
    range_parents: list[int] = field(default_factory=list)
    ranges: list[tuple[tuple[int, int], ...]] = field(default_factory=list)
    exits: list[Mapping[str, Any] | None] = field(default_factory=list)
    barrier: list[bool] = field(default_factory=list)
    wave: list[int] = field(default_factory=list)
    command: list[str] = field(default_factory=list)
    display: list[str | None] = field(default_factory=list)
    group: list[str | None] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    #: dependencies on ids that are not tasks of the plan (Batch would wait on them forever)
    unknown_parents: int = 0

    def __len__(self) -> int:
        """The number of tasks."""
        return len(self.ids)

    def name_of(self, i: int) -> str:
        """The user's name of task ``i`` (its id when it was not renumbered)."""
        return self.names[i] if self.names else self.ids[i]


@dataclass(frozen=True)
class Intent:
    """What a task's end does, read from its ``exitConditions``: the kind of its outgoing
    edges, the non-zero exit codes that also satisfy (or, for ``failure``, that block), and
    the job action on failure (only under ``onTaskFailure: performexitoptionsjobaction``)."""

    kind: EdgeKind
    exceptions: str = ""
    job_action: str = "none"
    #: the failures without an exit code (``pre``: a download or launch failed; ``upload``:
    #: output files failed) whose dependencyAction differs from the other failures':
    #: ``pre:satisfy``, ``upload:block`` (space-separated)
    errors: str = ""

    @property
    def key(self) -> str:
        """A short stable text for folding and labels: ``success``, ``success +3``,
        ``failure``, ``success pre:satisfy``, ``always; job terminate``."""
        text = self.kind + (f" {self.exceptions}" if self.exceptions else "")
        text += f" {self.errors}" if self.errors else ""
        if self.job_action != "none":
            text += f"; job {self.job_action}"
        return text


#: What joins the first and the last id of a folded node's span: ``clean-amer … clean-emea``.
SPAN_SEP: Final = " … "


@dataclass
class GroupNode:
    """One drawn node: tasks folded together (or one task)."""

    index: int  # 0-based, drawing order
    key: str  # stable id in the outputs: "n1", "n2", ...
    title: str  # the group's name, or what its ids share
    span: str  # the id span: "1..10000", "clean-amer … clean-emea", or the one id
    count: int
    level: int  # the rank it is drawn on: the first dependency level of its tasks (later
    # only for a _group whose tasks sit on several levels, drawn below all its parents)
    last_level: int  # last level of its tasks (differs for a folded chain, a band of levels
    # or a _group over several levels)
    intent: str
    barrier: bool
    serves: str | None  # for barriers: the title of the node they gate
    submit_waves: tuple[int, int]
    members: list[int] = field(repr=False, default_factory=list)  # PlanView indices
    critical: bool = False
    states: dict[str, int] = field(default_factory=dict)  # StateKind -> count (live only)
    sample: Mapping[str, Any] = field(default_factory=dict)  # details of its first task
    #: the first dependency level of its tasks, when it is not ``level`` (-1: it is)
    first_level: int = -1
    #: the span of the ids Batch knows the tasks by, when they are not the user's names
    #: (``--over-limit renumber``): ``1..3000`` under ``render-frame-* ×3,000``
    batch_ids: str | None = None
    #: the first few of its tasks that failed, by the user's names (live only): a folded
    #: node's counts alone did not say which one
    failed_names: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        """The node's first line: ``title ×count`` (just the title for one task)."""
        return self.title if self.count == 1 else f"{self.title} ×{self.count:,}"

    @property
    def levels(self) -> tuple[int, int]:
        """The first and the last dependency level of its tasks."""
        return (self.level if self.first_level < 0 else self.first_level), self.last_level

    @property
    def lines(self) -> list[str]:
        """Every line drawn in the node: the label, the id span when it adds anything, the
        levels of a folded chain, what a barrier gates, and live counts."""
        out = [self.label]
        if self.count > 1 and self.span not in self.title:
            out.append(self.span)
        if self.batch_ids:
            out.append(f"Batch id{'s' * (self.count > 1)} {self.batch_ids}")
        first = self.levels[0]
        levels = f"levels {first}..{self.last_level}"
        if self.last_level > first and levels not in self.title:  # the title may say it
            out.append(levels)
        if self.barrier and self.serves:
            out.append(f"gates {self.serves}")
        if self.states:
            out.append(state_counts(self.states))
        if self.count > 1 and self.failed_names:
            more = self.states.get("failed", 0) > len(self.failed_names)
            out.append(f"failed: {', '.join(self.failed_names)}{', …' if more else ''}")
        return out

    @property
    def state(self) -> StateKind | None:
        """The colour of the node under live state: the most pressing state among its tasks
        (failed, running, never, waiting, missing, completed); None without live state."""
        for kind in STATE_PRECEDENCE:
            if self.states.get(kind):
                return kind
        return None


#: How each state is written in counts (text) and its colour (pictures).
STATE_MARKS: Final[dict[str, str]] = {
    "completed": "done",
    "failed": "failed",
    "running": "running",
    "waiting": "waiting",
    "never": "never runs",
    "skipped": "skipped",
    "missing": "missing",
}


def state_counts(states: Mapping[str, int]) -> str:
    """``9,800 done · 150 running · 50 failed`` in the order of STATE_KINDS."""
    return " · ".join(f"{states[k]:,} {STATE_MARKS[k]}" for k in STATE_KINDS if states.get(k))


@dataclass
class GroupEdge:
    """All dependencies from the tasks of one node to the tasks of another."""

    source: int  # GroupNode.index
    target: int
    kind: EdgeKind
    count: int  # task-level dependencies folded into it
    ranged: int  # how many of them come from taskIdRanges
    ranges: tuple[tuple[int, int], ...]  # the distinct ranges (a few; see Picture)
    to_barrier: bool = False  # the edge feeds a barrier
    critical: bool = False

    @property
    def label(self) -> str:
        """``taskIdRange 1..10000`` for a fan-in carried by ranges, else the edge count when
        more than one dependency is folded, plus the kind when it is not ``success``."""
        parts: list[str] = []
        if self.kind != "success":
            parts.append(KIND_WORDS[self.kind])
        if self.ranged and self.ranged == self.count:
            if len(self.ranges) == 1:
                start, end = self.ranges[0]
                parts.append(f"taskIdRange {start}..{end}")
            else:
                parts.append(f"{len(self.ranges):,} taskIdRanges")
        elif self.count > 1:
            text = f"{self.count:,} deps"
            if self.ranged:
                text += f" ({self.ranged:,} by range)"
            parts.append(text)
        return ", ".join(parts)


@dataclass
class Picture:
    """The folded plan, ready to draw.

    ``notes`` say what was folded and why (a cap reached, chains folded, levels banded);
    ``widest_level`` is (level, task count) of the level with the most tasks (no bound on how
    many run at once: tasks of other levels can run beside them); ``critical_path`` lists the
    user's names (``PlanView.names``) of the tasks of one longest dependency chain.
    """

    job_id: str | None
    tasks: int
    barriers: int
    edges: int
    requests: int
    submit_waves: int
    levels: int
    nodes: list[GroupNode]
    links: list[GroupEdge]
    widest_level: tuple[int, int]
    critical_path: list[str]
    notes: list[str]
    folded: bool
    live: bool = False

    def totals(self) -> dict[str, int]:
        """Task counts by live state over the whole plan (empty without live state)."""
        out: dict[str, int] = {}
        for node in self.nodes:
            for kind, n in node.states.items():
                out[kind] = out.get(kind, 0) + n
        return {k: out[k] for k in STATE_KINDS if out.get(k)}
