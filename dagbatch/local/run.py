"""``dagbatch run``: try a workflow on this machine with Batch's semantics.

``run_local(source, options)`` compiles the workflow if needed, starts the emulator inside
this process (loopback, the public development key: no credentials, no environment
variables), submits the plan through the same exactly-once path as ``dagbatch submit``
(``dagbatch.submit.submission``), waits until every task that can run has run (or
``timeout``), and returns a ``RunReport``: each task's state, exit code and duration, why each
task that never ran did not (``dagbatch.observe.outcome``), the job's final state, and where
each task's files are.

When the run is over and only tasks that can never run remain (a failure handler whose parent
succeeded, the dependents of a failed task), it ends the job as ``dagbatch finish`` does
(``dagbatch.observe.steer.finish``, the one implementation; each task terminated by the emulator
in this process rather than by a request): those tasks are terminated, a job set to
``terminatejob`` completes, and the report lists each as ``skipped`` (its parent succeeded: a
handler not needed) or as never ran with the chain that stranded it. ``RunOptions.finish =
False`` (``--no-finish``) leaves them active.

The run directory (``--workdir``, default ``.dagbatch/JOB/run``) holds ``plan/`` (when compiled
here), ``journal.jsonl`` and ``node/`` (laid out like a Batch node: ``node/workitems/JOB/job-1/
TASK/{stdout.txt,stderr.txt,wd/}``, ``node/shared``). A previous run's directory is replaced;
any other non-empty directory is refused.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Final

from dagbatch.emulator import DEV_ACCOUNT, DEV_KEY
from dagbatch.emulator.store import NO_EXIT
from dagbatch.errors import ConfigError, Diagnostic, PlanError, TimedOut, unknown_tasks
from dagbatch.gcpause import gc_fewer_full, gc_paused
from dagbatch.locks import try_lock
from dagbatch.observe.model import FinishReport, Strand
from dagbatch.observe.outcome import (
    JobState,
    Reason,
    TaskOutcome,
    TaskStatus,
    explain_outcome,
)
from dagbatch.observe.service import JobService
from dagbatch.paths import file_in_the_way
from dagbatch.submit.client import AnswerHook
from dagbatch.wireshape import counts_as_success

if TYPE_CHECKING:
    from dagbatch.plan import LoadedPlan
    from dagbatch.show.model import Picture, TaskState

#: The longest a run waits between two looks at whether its job is idle; the engine's
#: ``quiet`` event ends the wait as soon as no task runs.
IDLE_CHECK_S: Final = 0.25
#: Marks a directory ``dagbatch run`` made (so it may replace it).
RUN_MARKER: Final = ".dagbatch-run"
#: The pool id given to a job whose plan names none.
LOCAL_POOL: Final = "local"

#: What ``RunReport.verdict`` says, and the ``dagbatch run`` exit code for it.
VERDICT_OK: Final = "ok"
VERDICT_FAILED: Final = "tasks-failed"
VERDICT_NEVER_RAN: Final = "tasks-never-ran"
VERDICT_TIMEOUT: Final = "timeout"


@dataclass
class RunOptions:
    """How to run: see ``dagbatch run --help``."""

    slots: int | None = None
    #: The run directory (a str or a Path); None: ``.dagbatch/JOB/run``.
    workdir: str | Path | None = None
    simulate: bool = False
    #: What-if exit codes: task id -> (exit code, duration seconds or None); an exit code
    #: alone, or ``{"exitCode": code, "duration": seconds}`` as in ``--exit-codes FILE``,
    #: also does (``dagbatch.emulator.simulate.parse_exit_codes``).
    exit_codes: Mapping[str, int | tuple[int, float | None] | Mapping[str, Any]] = field(
        default_factory=dict
    )
    #: Seconds from the run's start, after which it stops: running tasks are terminated. The
    #: workflow's loading and compiling count, and are stopped where they are when the run
    #: is in the main thread (a SIGALRM timer, ``dagbatch.signals.alarm_at``; elsewhere they
    #: run to their end, and the run stops before any task starts).
    timeout: float | None = None
    #: At the end, terminate the tasks that can never run (as ``dagbatch finish``).
    finish: bool = True


@dataclass(frozen=True)
class Snapshot:
    """The job at one moment, for live progress."""

    elapsed: float
    counts: Mapping[str, int]
    failed: int
    running: list[str]
    total: int
    #: Retries so far, of every task: with ``maxTaskRetryCount`` -1 a failing task is
    #: retried for ever [BATCH_FACTS 3], and this is what moves.
    retries: int = 0


@dataclass
class RunReport:
    """What happened, task by task (see the module docstring)."""

    job_id: str
    job: JobState
    terminated_by: str | None
    outcomes: list[TaskOutcome]
    #: The run directory (None: a run stopped before it was chosen, ``stopped_while``).
    workdir: Path | None
    node_root: Path | None
    simulated: frozenset[str] | None  # None: every task ran for real; else which ids did not
    timed_out: bool
    elapsed: float
    #: What the finish at the end did (None: not called, nothing was stuck or ``--no-finish``).
    finished: FinishReport | None = None
    #: Task id -> the strand of each task the finish terminated (a barrier: its child's).
    terminated: Mapping[str, Strand] = field(default_factory=dict)
    #: The plan that ran (compiled into the run directory, or the one given).
    plan_dir: Path | None = None
    #: Tasks that were running when the ``--timeout`` ended the run: terminated with the job,
    #: cut off rather than failed.
    cut_off: frozenset[str] = frozenset()
    #: The jobAction of ``terminated_by`` (``terminate`` or ``disable``): a job a task
    #: disabled may since have completed, its tasks all completed (onAllTasksComplete).
    job_action: str | None = None
    #: The job's onAllTasksComplete at the end (``terminatejob``: it completes once every
    #: task has; ``noaction``: it stays active, its tasks all completed).
    on_all_tasks_complete: str | None = None
    #: The barrier tasks dagbatch added to the plan (counted apart from the workflow's own
    #: tasks, as `dagbatch status` counts them).
    barriers: frozenset[str] = frozenset()
    #: Seconds from the run's start until its tasks could start (the workflow compiled, the
    #: emulator started and every task added): the ``--timeout`` counts them too.
    prepared_after: float = 0.0
    #: What the plan's tasks ask for that a run on this machine does not do (``not_emulated``).
    not_emulated: tuple[str, ...] = ()
    #: The user's name of each task id the compiler renumbered (plan.json ``idMap``).
    names: Mapping[str, str] = field(default_factory=dict)
    #: ``loading`` or ``compiling``: what the workflow was still doing when the ``--timeout``
    #: stopped the run (``elapsed`` after its start), before any plan or job existed: no
    #: task, and the run directory left as it was. None: the run got as far as its tasks.
    stopped_while: str | None = None

    def own(self, items: Iterable[TaskOutcome]) -> int:
        """How many of ``items`` are the workflow's own tasks: the barriers dagbatch added
        are counted apart, on the screen and in the report as in `dagbatch status`."""
        return sum(1 for o in items if o.task_id not in self.barriers)

    def is_skipped(self, task_id: str) -> bool:
        """Terminated at the end because its parent succeeded (a failure handler not
        needed): the intended ending, neither failed nor never ran."""
        strand = self.terminated.get(task_id)
        return strand is not None and strand.kind == "skipped"

    @property
    def skipped(self) -> list[TaskOutcome]:
        return [o for o in self.outcomes if self.is_skipped(o.task_id)]

    @property
    def failed(self) -> list[TaskOutcome]:
        return [
            o
            for o in self.outcomes
            if o.failed and o.task_id not in self.terminated and o.task_id not in self.cut_off
        ]

    @property
    def never_ran(self) -> list[TaskOutcome]:
        return [
            o
            for o in self.outcomes
            if not o.status.ran
            and not self.is_skipped(o.task_id)
            and (o.status.state != "completed" or o.task_id in self.terminated)
        ]

    @property
    def requeued(self) -> list[TaskOutcome]:
        """Tasks that started and were put back in the queue (a job disabled with requeue
        leaves them active), not started again by the end: their reason says why."""
        return [o for o in self.outcomes if o.status.ran and o.status.state == "active"]

    @property
    def verdict(self) -> str:
        if self.timed_out:
            return VERDICT_TIMEOUT
        if self.failed:
            return VERDICT_FAILED
        if self.never_ran or any(
            not o.succeeded and not self.is_skipped(o.task_id) for o in self.outcomes
        ):
            return VERDICT_NEVER_RAN
        return VERDICT_OK

    def output_dir(self, task_id: str) -> Path | None:
        """Where the task's ``stdout.txt``, ``stderr.txt`` and ``wd/`` are (real runs)."""
        if self.node_root is None or (
            self.simulated is not None and (not self.simulated or task_id.lower() in self.simulated)
        ):
            return None
        return self.node_root / "workitems" / self.job_id / "job-1" / task_id

    def picture_states(self) -> dict[str, TaskState]:
        """Each task's final state as `dagbatch show` draws it: done, failed, never runs
        (never ran, with or without being terminated at the end) or skipped."""
        from dagbatch.show.model import TaskState

        never = {o.task_id for o in self.never_ran}
        out: dict[str, TaskState] = {}
        for o in self.outcomes:
            st = o.status
            skipped = self.is_skipped(o.task_id)
            out[o.task_id] = TaskState(
                # A task the --timeout cut off is drawn as the timeout found it: running.
                "running" if o.task_id in self.cut_off else st.state,
                st.exit_code,
                "success" if o.satisfied else st.result,
                never_runs=skipped or o.task_id in never,
                skipped=skipped,
            )
        return out

    def write_picture(self, path: Path) -> Picture:
        """Draw the plan coloured by the outcome of the run (``dagbatch.show``), in the
        format the file name asks for (.svg, .html, .dot, .mmd; anything else is text)."""
        from dagbatch.show.render import write_picture
        from dagbatch.show.source import view_of_plan_dir

        if self.stopped_while is not None:
            raise ConfigError(
                f"there is no plan: the --timeout was reached while the workflow was still "
                f"{self.stopped_while}"
            )
        if self.plan_dir is None:
            raise ConfigError("the report does not know the plan it ran")
        return write_picture(view_of_plan_dir(self.plan_dir), path, states=self.picture_states())

    def to_dict(self) -> dict[str, Any]:
        """The machine-readable report (``--report FILE.json``)."""
        tasks = []
        names = self.names
        for o in self.outcomes:
            st = o.status
            entry: dict[str, Any] = {"id": o.task_id}
            name = names.get(o.task_id)
            if name is not None and name != o.task_id:
                entry["name"] = name
            entry |= {
                "state": st.state,
                "ran": st.ran,
                "exitCode": st.exit_code,
                "result": st.result,
                "retryCount": st.retry_count,
                "duration": round(st.end - st.start, 3) if st.end and st.start else None,
            }
            if st.failure_code:
                entry["failure"] = {"code": st.failure_code, "message": st.failure_message}
            if o.task_id in self.cut_off:
                entry["endedByTimeout"] = True
            if o.satisfied:
                entry["countsAsSuccess"] = True  # Batch's result is failure: see satisfied
            out = self.output_dir(o.task_id)
            if out is not None and st.ran:
                entry["outputDir"] = str(out)
            if o.reason is not None:
                entry["requeued" if o.reason.requeued else "neverRan"] = o.reason.as_dict()
            strand = self.terminated.get(o.task_id)
            if strand is not None:
                entry["skipped"] = strand.kind == "skipped"
                entry["terminatedAtEnd"] = _terminated_entry(strand, o.task_id, o.reason)
            tasks.append(entry)
        # The workflow's own tasks, as the screen counts them; the barriers dagbatch added
        # are counted apart (every task, barriers included, is in "tasks").
        barriers = self.barriers
        own = self.own
        counts: dict[str, int] = {}
        for o in self.outcomes:
            if o.task_id not in barriers:
                counts[o.status.state] = counts.get(o.status.state, 0) + 1
        stopped = self.stopped_while is not None
        return {
            "jobId": None if stopped else self.job_id,
            "verdict": self.verdict,
            "stoppedWhile": self.stopped_while,
            "job": None
            if stopped
            else {
                "state": self.job.state,
                "terminateReason": self.job.terminate_reason,
                "terminatedBy": self.terminated_by,
                "jobAction": self.job_action,
            },
            "simulated": "all" if self.simulated == frozenset() else sorted(self.simulated or ()),
            "workdir": None if self.workdir is None else str(self.workdir),
            "elapsed": round(self.elapsed, 3),
            "timedOut": self.timed_out,
            "notEmulated": list(self.not_emulated),
            "counts": {
                **counts,
                "succeeded": own(o for o in self.outcomes if o.succeeded),
                "failed": own(self.failed),
                "skipped": own(self.skipped),
                "endedByTimeout": len(self.cut_off - barriers),
                "neverRan": own(self.never_ran),
                "requeued": own(self.requeued),
                "barriers": len(barriers),
            },
            "finish": None if self.finished is None else _finish_entry(self.finished),
            "tasks": tasks,
        }


def _terminated_entry(strand: Strand, task_id: str, reason: Reason | None) -> dict[str, Any]:
    """A task's ``terminatedAtEnd``: what its strand says that the rest of its entry does not.
    The chain is its ``neverRan`` (ids; each task's user's name in its own entry), the root's
    ending is the root's own entry, and the dependencyAction of a strand is always block;
    left are the kind, the root, the exit condition that blocked, and, where they say
    something, the task a barrier serves and the barriers serving this one. A cycle keeps its
    chain (round the cycle), a task without a ``neverRan`` the whole strand."""
    if reason is None:
        return strand.to_dict()
    out: dict[str, Any] = {
        "kind": strand.kind,
        "root": strand.root_id,
        "condition": strand.outcome.condition,
    }
    if strand.task_id != task_id:
        out["id"] = strand.task_id  # a barrier's: the task it serves
    if strand.barriers:
        out["barriers"] = list(strand.barriers)
    if strand.kind == "cycle":
        out["chain"] = list(strand.chain)
    return out


def _finish_entry(finished: FinishReport) -> dict[str, Any]:
    """The report's ``finish``: ``dagbatch finish --json``'s object with each terminated task
    by id (its strand is in the task's own entry, ``terminatedAtEnd``)."""
    return {
        "jobId": finished.job_id,
        "verdictBefore": finished.verdict_before,
        "terminated": [s.task_id for s in finished.terminated],
        "errors": [e.to_dict() for e in finished.errors],
        "leftAlone": finished.left_alone,
    }


def _check_dir(workdir: Path) -> None:
    """``ConfigError`` unless ``workdir`` can be a run's directory: missing, empty, or a
    previous run's. Checked before a workflow is loaded and compiled, which can take long."""
    if workdir.exists():
        if not workdir.is_dir():
            raise ConfigError(f"--workdir {workdir} is not a directory")
        if any(workdir.iterdir()) and not (workdir / RUN_MARKER).is_file():
            raise ConfigError(
                f"--workdir {workdir} is not empty and not a previous run's directory"
            )
    elif (blocker := file_in_the_way(workdir)) is not None:
        raise ConfigError(f"cannot make --workdir {workdir}: {blocker} is not a directory")


#: Task properties a run on this machine does not carry out: what it does instead.
NOT_EMULATED: Final = (
    ("containerSettings", "run here as plain processes, not in their container"),
    ("userIdentity", "run as the user running dagbatch, not as their user identity"),
    (
        "multiInstanceSettings",
        "run once, on one node, without their coordination command or its variables "
        "(AZ_BATCH_HOST_LIST, AZ_BATCH_TASK_SHARED_DIR, ...)",
    ),
    ("applicationPackageReferences", "get no application packages"),
    (
        "constraints.retentionTime",
        "keep their directories until the next run in the same directory, whatever the time",
    ),
)


def not_emulated(tasks: Sequence[Mapping[str, Any]]) -> tuple[str, ...]:
    """One line for each property of ``NOT_EMULATED`` that some of ``tasks`` set: how many
    set it and what the run does instead. Said, so a run's success is not taken for the
    pool's."""
    lines = []
    for key, instead in NOT_EMULATED:
        *outer, name = key.split(".")  # a property of a property: "constraints.retentionTime"
        holders = [str(t["id"]) for t in tasks if _inner(t, outer).get(name)]
        if holders:
            shown = ", ".join(holders[:3]) + (", ..." if len(holders) > 3 else "")
            lines.append(f"{len(holders):,} task(s) set {key} ({shown}): they {instead}")
    return tuple(lines)


def _spaced_path(node_root: Path | None) -> tuple[str, ...]:
    """A line for ``not_emulated`` when the node's directory holds whitespace, which no path
    of a Batch node does: a task's shell that uses an ``AZ_BATCH_*`` path unquoted splits it
    here, and only here."""
    if node_root is None or not any(c.isspace() for c in str(node_root)):
        return ()
    return (
        f"the tasks' directories are under {str(node_root)!r}, which holds a space, as no "
        "Batch node's path does: a command line that uses an AZ_BATCH_* path unquoted in a "
        "shell splits it here, and only here (give --workdir a path without spaces)",
    )


def _inner(task: Mapping[str, Any], path: Sequence[str]) -> Mapping[str, Any]:
    """The mapping at ``path`` in ``task`` ({} where there is none)."""
    for key in path:
        value = task.get(key)
        task = value if isinstance(value, Mapping) else {}
    return task


def _prepare_dir(workdir: Path) -> BinaryIO:
    """Take ``workdir`` for this run: empty it if a previous run made it; refuse any other
    non-empty directory, and one a run still uses. Returns its run marker, open and locked
    (``dagbatch.locks``) until the caller closes it at the run's end: a second run of the
    same workflow emptied the directory under the first one's running tasks."""
    _check_dir(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    marker = open(workdir / RUN_MARKER, "a+b")  # noqa: SIM115 - the caller closes it
    try:
        if not try_lock(marker):
            marker.seek(0)
            held = marker.read().decode(errors="replace").split("pid ")[-1].strip()
            by = f" (process {held})" if held.isdigit() else ""
            raise ConfigError(
                f"another dagbatch run is using {workdir}{by}: wait for it to end, or give "
                "this one a directory of its own (--workdir DIR)"
            )
        for entry in workdir.iterdir():  # all but the marker, which holds the lock
            if entry.name == RUN_MARKER:
                continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
        marker.truncate(0)
        marker.write(
            b"a dagbatch run directory: replaced by the next run; "
            + f"in use by pid {os.getpid()}\n".encode()
        )
        marker.flush()
    except BaseException:
        marker.close()
        raise
    return marker


def _what_if_by_id(
    exit_codes: Mapping[str, Any], task_ids: list[str], names: Mapping[str, str]
) -> dict[str, Any]:
    """The what-if entries (``--fail``, ``--exit-codes``) keyed by task id: a task may be
    named by its id, or by the name an id of ``--over-limit renumber`` stands for (the
    plan's ``idMap``, ``names``). ``ConfigError`` naming every entry that is neither: a
    mistyped id would otherwise leave its task succeeding, and the run would answer a
    question nobody asked. Compared ignoring case, as Batch compares ids."""
    known = {t.lower(): t for t in task_ids}
    by_name = {name.lower(): task_id for task_id, name in names.items()}
    by_id: dict[str, Any] = {}
    named_as: dict[str, str] = {}  # task id (lower case) -> the key that named it
    unknown = []
    twice = []
    for key, value in exit_codes.items():
        task_id = key if key.lower() in known else by_name.get(key.lower())
        if task_id is None:
            unknown.append(key)
            continue
        if (first := named_as.setdefault(task_id.lower(), key)) != key:
            # Two entries for one task ("a" and "A", a name and its id): one would be lost.
            twice.append(f"{first!r} and {key!r}")
        by_id[task_id] = value
    if unknown:
        known.update((name.lower(), name) for name in names.values())
        raise unknown_tasks("--fail / --exit-codes", unknown, known, "the plan")
    if twice:
        raise ConfigError(
            "--fail / --exit-codes name one task twice (ids are compared ignoring case, and "
            "a renumbered task's name is its id): " + "; ".join(twice)
        )
    return by_id


def _plan_source(
    source: str,
    workdir: Path | None,
    what_if: Mapping[str, Any],
    deadline: float | None = None,
    on_warnings: Callable[[tuple[Diagnostic, ...]], None] | None = None,
) -> tuple[LoadedPlan, str, Path, BinaryIO, dict[str, Any]]:
    """(the plan, read and checked; job id; run directory; its lock, held until closed:
    ``_prepare_dir``; the what-if entries by task id: ``_what_if_by_id``), compiling
    ``source`` first if it is a workflow (its warnings, if any, to ``on_warnings``). The
    what-if ids are checked against the plan before the run directory (a previous run's)
    is replaced.

    A workflow's loading and compiling stop at ``deadline`` (``time.monotonic()``; in the
    main thread: ``dagbatch.signals.alarm_at``) with ``TimedOut``, its ``stage`` saying which
    was under way; the run directory is not touched before they are done."""
    from dagbatch.plan import load_plan, not_a_source

    path = Path(source)
    if path.is_dir():
        plan = load_plan(path)
        ids = [t for b in plan.batches for t in b.task_ids]
        by_id = _what_if_by_id(what_if, ids, plan.manifest.idMap)
        job_id = plan.manifest.jobId or "local"
        run_dir = workdir or Path(".dagbatch") / job_id / "run"
        return plan, job_id, run_dir, _prepare_dir(run_dir), by_id
    from dagbatch.compiler.export import write_plan
    from dagbatch.compiler.loader import load_workflow, split_target
    from dagbatch.compiler.pipeline import CompileOptions, compile_loaded
    from dagbatch.signals import alarm_at

    file, _ = split_target(source)
    if file.suffix != ".py":
        raise not_a_source(source)
    if not file.is_file():
        raise PlanError(f"no such workflow file: {file}")
    if workdir is not None:
        _check_dir(workdir)  # before the workflow loads: that can take long
    stage = "loading"
    try:
        with alarm_at(deadline):
            loaded = load_workflow(source)
            stage = "compiling"
            compiled = compile_loaded(loaded, CompileOptions())
    except TimedOut as exc:
        exc.stage = stage
        raise
    if compiled.warnings and on_warnings is not None:
        on_warnings(compiled.warnings)
    ids = [t for b in compiled.batches for t in b.task_ids]
    by_id = _what_if_by_id(what_if, ids, compiled.id_map)
    job_id = compiled.job_id or "local"
    run_dir = workdir or Path(".dagbatch") / job_id / "run"
    lock = _prepare_dir(run_dir)
    try:
        plan = load_plan(write_plan(compiled, run_dir / "plan"))
        return plan, job_id, run_dir, lock, by_id
    except BaseException:
        lock.close()
        raise


def run_local(
    source: str | Path,
    options: RunOptions | None = None,
    *,
    on_progress: Callable[[Snapshot], None] | None = None,
    progress_every: float = 1.0,
    on_finish: Callable[[int, int], None] | None = None,
    on_note: Callable[[str], None] | None = None,
    on_finding: Callable[[int, int], None] | None = None,
    on_warnings: Callable[[tuple[Diagnostic, ...]], None] | None = None,
) -> RunReport:
    """Run a workflow (``WORKFLOW.py[:NAME]``) or a plan directory (a str or a Path) locally;
    see the module docstring. ``on_finish(done, total)`` hears of the end-of-run finish's terminate
    requests (``dagbatch.observe.FinishProgress``); ``on_note(text)`` of the end's steps
    that take seconds on a big job and have no count of their own; ``on_finding(done,
    total)`` of how far the end-of-run finish is in finding the tasks that can never run
    (of the job's tasks: the run's own analysis first, then the finish's);
    ``on_warnings(diagnostics)`` of a workflow's compile warnings (as `dagbatch compile` shows
    them), once, before anything runs. Raises
    ``WorkflowLoadError`` / ``InvalidWorkflow`` / ``PlanError`` / ``ConfigError``, or
    ``SubmitError`` if the emulator refused the plan."""
    from dagbatch.emulator.simulate import parse_exit_codes

    if not isinstance(options, RunOptions | None):
        raise ConfigError(
            f"the options are a dagbatch RunOptions(...), not {type(options).__name__}"
        )
    options = options or RunOptions()
    for name in ("simulate", "finish"):
        if not isinstance(getattr(options, name), bool):
            given = getattr(options, name)
            raise ConfigError(f"RunOptions.{name} is True or False, not {given!r}")
    slots = options.slots
    if slots is not None and (isinstance(slots, bool) or not isinstance(slots, int) or slots < 1):
        raise ConfigError(f"--slots must be a whole number, at least 1, not {slots!r}")
    timeout = options.timeout
    if timeout is not None and (
        isinstance(timeout, bool) or not isinstance(timeout, int | float) or not timeout > 0
    ):
        raise ConfigError(f"--timeout must be a number of seconds above 0, not {timeout!r}")
    # Checked and normalised as the CLI's --exit-codes and --fail are (an exit code alone
    # becomes (code, None)); a bad entry is named before anything runs.
    exit_codes = parse_exit_codes(options.exit_codes, "exit_codes")
    started = time.monotonic()
    if not isinstance(source, str | os.PathLike):
        raise ConfigError(
            "the source to run is a workflow file or a plan directory (a str or a Path), not "
            f"{type(source).__name__}"
        )
    if not isinstance(options.workdir, str | os.PathLike | None):
        raise ConfigError(f"workdir is a directory (a str or a Path), not {options.workdir!r}")
    workdir = None if options.workdir is None else Path(options.workdir)
    deadline = None if timeout is None else started + timeout
    try:
        plan, job_id, run_dir, lock, exit_codes = _plan_source(
            os.fspath(source), workdir, exit_codes, deadline, on_warnings
        )
    except TimedOut as exc:
        # Stopped before there was a plan: no job, no task, the run directory untouched.
        elapsed = time.monotonic() - started
        return RunReport(
            job_id="",
            job=JobState("none"),
            terminated_by=None,
            outcomes=[],
            workdir=workdir,
            node_root=None,
            simulated=frozenset() if options.simulate else None,
            timed_out=True,
            elapsed=elapsed,
            prepared_after=elapsed,
            stopped_while=exc.stage or "loading",
        )
    with lock:  # the run directory is this run's until it ends (_prepare_dir)
        return _run_plan(
            plan,
            job_id,
            run_dir,
            options,
            exit_codes,
            started=started,
            deadline=deadline,
            on_progress=on_progress,
            progress_every=progress_every,
            on_finish=on_finish,
            on_note=on_note,
            on_finding=on_finding,
        )


def _run_plan(
    plan: LoadedPlan,
    job_id: str,
    run_dir: Path,
    options: RunOptions,
    exit_codes: Mapping[str, Any],
    *,
    started: float,
    deadline: float | None,
    on_progress: Callable[[Snapshot], None] | None,
    progress_every: float,
    on_finish: Callable[[int, int], None] | None,
    on_note: Callable[[str], None] | None,
    on_finding: Callable[[int, int], None] | None,
) -> RunReport:
    """``run_local`` once the plan is read and the run directory taken: the emulator in this
    process, the submission, the run to its end (and the end-of-run finish), the report."""
    from dagbatch.emulator.runner import RealRunner
    from dagbatch.emulator.scheduler import STATE_NAMES, Runner
    from dagbatch.emulator.server import EmulatorServer
    from dagbatch.emulator.simulate import SimulatedRunner, WhatIfRunner
    from dagbatch.errors import SubmitError
    from dagbatch.submit.client import BatchClient, SharedKeyAuth
    from dagbatch.submit.progress import NullProgress
    from dagbatch.submit.submission import submit_plan

    plan_dir = plan.directory
    plan_tasks = [t for b in plan.batches for t in b.tasks]
    # The tasks with exit codes that count as success (satisfy_exit_codes): the live
    # progress does not count those endings as failures either.
    satisfying = {
        str(t["id"]): ec
        for t in plan_tasks
        if (ec := t.get("exitConditions")) and (ec.get("exitCodes") or ec.get("exitCodeRanges"))
    }
    node_root = None if options.simulate else (run_dir / "node").resolve()
    runner: Runner
    simulated: frozenset[str] | None
    if options.simulate:
        runner = SimulatedRunner(exit_codes)
        simulated = frozenset()
    else:
        assert node_root is not None
        real = RealRunner(node_root, account=DEV_ACCOUNT)
        if exit_codes:
            runner = WhatIfRunner(real, exit_codes)
            simulated = frozenset(k.lower() for k in exit_codes)
        else:
            runner, simulated = real, None
    server = EmulatorServer(port=0, runner=runner, slots=options.slots)
    if isinstance(runner, RealRunner | WhatIfRunner):
        real_runner = runner if isinstance(runner, RealRunner) else runner.real
        real_runner.account_url = server.endpoint
    timed_out = False
    cut_off: frozenset[str] = frozenset()
    # The emulator serves in this process: the collector is tuned for its store as in the
    # emulator's own process (dagbatch.emulator.server.serve_forever).
    with server, gc_fewer_full():
        client = BatchClient(server.endpoint, SharedKeyAuth(DEV_ACCOUNT, DEV_KEY))
        server.engine.hold()  # the pool starts once every task is added
        submitted = submit_plan(
            plan_dir,
            job_id=job_id,
            client=client,
            create_job=True,
            pool_id=None if plan.job.get("poolInfo") else LOCAL_POOL,
            journal_path=run_dir / "journal.jsonl",
            progress=NullProgress(),
            plan=plan,
            pool_held=True,  # held above: no task starts before every one is added
        )
        if not submitted.ok:
            raise SubmitError(
                f"the local emulator did not accept every task ({submitted.confirmed}/"
                f"{submitted.total}); see {run_dir / 'journal.jsonl'}"
            )
        engine = server.engine
        engine.release()
        prepared_after = time.monotonic() - started
        last = 0.0
        while True:
            engine.quiet.clear()  # before looking: a pool going quiet after the look sets it
            with engine.cond:
                job = server.store.jobs.get(job_id.lower())
                if job is None:
                    raise PlanError(f"job {job_id!r} disappeared from the local emulator")
                done = engine.idle(job)
                snapshot = None
                now = time.monotonic()
                if on_progress is not None and (done or now - last >= progress_every):
                    snapshot = _snapshot(job, STATE_NAMES, now - started, satisfying)
                    last = now
                if not done and deadline is not None and now >= deadline:
                    if job.graph is not None:
                        cut_off = frozenset(job.task_ids[pos] for pos in job.graph.running)
                    engine.terminate_job(job, "RunTimeout")
                    timed_out = done = True
            if snapshot is not None and on_progress is not None:
                on_progress(snapshot)
            if done:
                break
            # Woken when the pool goes quiet; else every IDLE_CHECK_S (a job's state can
            # change without a task ending: a timer, a deletion), and for progress.
            wait = IDLE_CHECK_S
            if on_progress is not None:
                wait = min(wait, last + progress_every - time.monotonic())
            if deadline is not None:
                wait = min(wait, deadline - time.monotonic())
            engine.quiet.wait(max(0.0, wait))
        with engine.cond:
            statuses = _statuses(job, STATE_NAMES)
            job_state = JobState(job.state, job.terminate_reason, job.on_task_failure)
        finished: FinishReport | None = None
        before: list[TaskOutcome] = []
        if options.finish and not timed_out and _stuck(statuses, job_state):
            if on_note is not None:
                barriers = frozenset(plan.manifest.barriers)  # counted apart, as elsewhere
                waiting = sum(
                    1 for t, st in statuses.items() if st.state == "active" and t not in barriers
                )
                on_note(
                    f"every task that could run has ended; {waiting:,} left waiting: "
                    "finding why they can never run, then terminating them"
                )
            # Why each task never ran is read before they are terminated (after, they are
            # completed and their parents' endings no longer explain them).
            from dagbatch.observe.progress import halves

            first, second = halves(on_finding)
            before = explain_outcome(plan_tasks, statuses, job_state, progress=first)
            finished = _finish_here(plan, job_id, client, engine, on_finish, second)
            _wait_idle(engine, job, time.monotonic() + 30.0)
        with engine.cond:
            if finished is not None or timed_out:  # else nothing moved since the read above
                statuses = _statuses(job, STATE_NAMES)
                job_state = JobState(job.state, job.terminate_reason, job.on_task_failure)
            terminated_by = job.graph.action_by if job.graph is not None else None
            job_action = job.graph.action if job.graph is not None else None
            on_all_tasks_complete = job.on_all_tasks_complete
    terminated: dict[str, Strand] = {}
    if finished is not None:
        for strand in finished.terminated:
            terminated[strand.task_id] = strand
            terminated.update(dict.fromkeys(strand.barriers, strand))
        ended = [
            o.task_id
            for o in before
            if o.status.state == "active"
            and (now_st := statuses.get(o.task_id)) is not None
            and now_st.state == "completed"
            and not now_st.ran
        ]
        _strands_of_barriers(terminated, ended, plan_tasks)
    outcomes = explain_outcome(plan_tasks, statuses, job_state)
    if terminated:
        reasons = {o.task_id: o.reason for o in before}
        outcomes = [
            replace(o, reason=reasons.get(o.task_id)) if o.task_id in terminated else o
            for o in outcomes
        ]
    outcomes = _slots_reasons(outcomes, plan_tasks, server.engine.slots)
    if cut_off:
        outcomes = _timeout_reasons(outcomes, cut_off)
    return RunReport(
        job_id=job_id,
        job=job_state,
        terminated_by=terminated_by,
        outcomes=outcomes,
        workdir=run_dir,
        node_root=node_root,
        simulated=simulated,
        timed_out=timed_out,
        elapsed=time.monotonic() - started,
        finished=finished,
        terminated=terminated,
        plan_dir=plan_dir,
        cut_off=cut_off,
        job_action=job_action,
        on_all_tasks_complete=on_all_tasks_complete,
        barriers=frozenset(plan.manifest.barriers),
        prepared_after=prepared_after,
        not_emulated=not_emulated(plan_tasks) + _spaced_path(node_root),
        names=dict(plan.manifest.idMap),
    )


class _LocalJobService(JobService):
    """The run's job read over HTTP as any job is, and its tasks terminated in this process
    by the emulator's own terminate (``emulator.tasks.terminate_at``): `dagbatch run` shares
    this interpreter with the emulator, where a request a task cost 0.5-0.7 ms (64,000
    stranded tasks: 42 s)."""

    def __init__(self, client: Any, job_id: str, engine: Any) -> None:
        super().__init__(client, job_id)
        self.engine = engine

    async def terminate(self, task_id: str, on_answer: AnswerHook | None = None) -> None:
        from dagbatch.emulator.tasks import terminate_at
        from dagbatch.errors import BatchServiceError

        with self.engine.cond:
            job = self.engine.store.jobs.get(self.job_id.lower())
            pos = None if job is None else job.index.get(task_id.lower())
            error: BatchServiceError | None = None
            if pos is None:
                error = BatchServiceError(404, "TaskNotFound", "The specified task does not exist.")
            elif not terminate_at(self.engine, job, pos):
                error = BatchServiceError(
                    409, "TaskCompleted", "The specified task is already completed."
                )
        if on_answer is not None:  # what the service would have answered (204: done)
            on_answer(204 if error is None else error.status)
        if error is not None:
            raise error


Count = Callable[[int, int], None]


def _finish_here(
    plan: LoadedPlan,
    job_id: str,
    client: Any,
    engine: Any,
    progress: Callable[[int, int], None] | None,
    analysing: Count | None = None,
) -> FinishReport:
    """``dagbatch finish`` on the run's job: the same reading of the job and the same
    decisions (``dagbatch.observe.steer.finish``), from the plan already loaded, and each
    task terminated by the emulator in this process (``_LocalJobService``) rather than by a
    request a task. Also from inside a running event loop (a notebook cell): there the
    finish runs in a worker thread, as every synchronous call of the library does."""
    from dagbatch.asyncrun import run_sync
    from dagbatch.observe.status import WorkflowView, read_snapshot
    from dagbatch.observe.steer import finish

    async def go() -> FinishReport:
        try:
            service = _LocalJobService(client, job_id, engine)
            view, snap = await read_snapshot(
                service, WorkflowView.from_plan(plan, job_id), stderr_tasks=0
            )
            return await finish(
                service,
                view,
                snap,
                require_stuck=True,
                progress=progress,
                analysing=analysing,
            )
        finally:
            await client.aclose()

    return run_sync(go(), thread_name="dagbatch-finish")


def _strands_of_barriers(
    terminated: dict[str, Strand], ended: list[str], plan_tasks: list[dict[str, Any]]
) -> None:
    """Give each task the finish terminated without a strand of its own (a barrier that
    serves another barrier) the strand of the task it serves in the end."""
    from dagbatch.observe.model import Definitions
    from dagbatch.observe.stranded import JobTasks, parent_ids

    unmapped = [t for t in ended if t not in terminated]
    if not unmapped:
        return
    definitions = Definitions({str(t["id"]): t for t in plan_tasks})
    tasks = JobTasks(definitions)
    children: dict[str, list[str]] = {}
    for tid in ended:
        for parent in parent_ids(definitions.get(tid), tasks):
            children.setdefault(parent, []).append(tid)
    for tid in unmapped:
        seen = {tid}
        frontier = [tid]
        while frontier and tid not in terminated:
            nxt: list[str] = []
            for t in frontier:
                for child in children.get(t, ()):
                    if child in terminated:
                        terminated[tid] = terminated[child]
                        break
                    if child not in seen:
                        seen.add(child)
                        nxt.append(child)
                if tid in terminated:
                    break
            frontier = nxt


def _stuck(statuses: Mapping[str, TaskStatus], job: JobState) -> bool:
    """Whether the job is still open with tasks left waiting (a finish may end it)."""
    return job.state == "active" and any(s.state == "active" for s in statuses.values())


def _wait_idle(engine: Any, job: Any, deadline: float) -> None:
    """Wait (bounded) until the engine has nothing left to do for ``job``."""
    while time.monotonic() < deadline:
        engine.quiet.clear()
        with engine.cond:
            if engine.idle(job):
                return
        engine.quiet.wait(min(IDLE_CHECK_S, max(0.0, deadline - time.monotonic())))


def _slots_reasons(
    outcomes: list[TaskOutcome], plan_tasks: list[dict[str, Any]], slots: int
) -> list[TaskOutcome]:
    """Name the tasks that wait only because they need more slots than the node has, also
    where a dependent waits for one (its reason's chain ends there)."""
    needs = {str(t["id"]): t.get("requiredSlots", 1) for t in plan_tasks}
    if all(need <= slots for need in needs.values()):
        return outcomes

    def end(reason: Reason, task_id: str) -> Reason:
        need = needs.get(task_id, 1)
        if reason.kind == "not-started" and need > slots:
            return Reason("too-many-slots", detail=str(need))
        return reason

    return _retell_ends(outcomes, end)


def _timeout_reasons(outcomes: list[TaskOutcome], cut_off: frozenset[str]) -> list[TaskOutcome]:
    """Tell the tasks held back by a parent the ``--timeout`` cut off: Batch's record says
    that parent ended with the killed process's exit code (``TaskEnded``), which blocks its
    dependents, but the run's timeout is what stopped it."""

    def end(reason: Reason, task_id: str) -> Reason:
        if reason.kind in ("blocked", "job-ended") and reason.parent in cut_off:
            return Reason("cut-off", parent=reason.parent)
        return reason

    return _retell_ends(outcomes, end)


def _retell_ends(
    outcomes: list[TaskOutcome], change: Callable[[Reason, str], Reason]
) -> list[TaskOutcome]:
    """The outcomes with the end of each reason's chain retold: ``change(link, task_id)``
    of the link that ends it (the first that is not ``waiting`` on a parent) and the task
    it is the reason of (the parent the last ``waiting`` link names, else the outcome's
    own task). Without recursion (a chain may be thousands of tasks long), and each link
    retold once: the chains of a long chain's tasks share their links, and still do."""
    memo: dict[tuple[int, str], Reason] = {}  # (id of a link of ``outcomes``, task) -> told

    def retold(reason: Reason, task_id: str) -> Reason:
        path: list[tuple[Reason, str]] = []
        link, tid = reason, task_id
        while (told := memo.get((id(link), tid))) is None:
            cause, parent = link.cause, link.parent
            if link.kind == "waiting" and cause is not None and parent is not None:
                path.append((link, tid))
                link, tid = cause, parent
                continue
            told = memo[(id(link), tid)] = change(link, tid)
        for link, tid in reversed(path):
            told = link if told is link.cause else replace(link, cause=told)
            memo[(id(link), tid)] = told
        return told

    return [
        o if o.reason is None else replace(o, reason=retold(o.reason, o.task_id)) for o in outcomes
    ]


def _snapshot(
    job: Any,
    names: tuple[str, ...],
    elapsed: float,
    satisfying: Mapping[str, Mapping[str, Any]] | None = None,
) -> Snapshot:
    """The job's counts now; a failure whose exit code the task's ``exitConditions`` count as
    a success (``satisfying``: those tasks' exitConditions, by id) is not counted failed."""
    counts = {name: 0 for name in ("active", "running", "completed")}
    for state in job.task_state:
        name = names[state]
        if name in counts:
            counts[name] += 1
        elif name == "preparing":
            counts["running"] += 1
    running = [job.task_ids[p] for p in sorted(job.graph.running)[:5]] if job.graph else []
    failed = len(job.task_failure)
    if satisfying:
        failed -= sum(
            1
            for pos, failure in job.task_failure.items()
            if (ec := satisfying.get(job.task_ids[pos])) is not None
            and counts_as_success(ec, job.task_exit[pos], failure.get("code"))
        )
    return Snapshot(elapsed, counts, failed, running, job.live_tasks, sum(job.task_retry))


def _statuses(job: Any, names: tuple[str, ...]) -> dict[str, TaskStatus]:
    """Every task's ``TaskStatus``, read from the store (one record a task, none in a
    cycle: the cyclic collector paused, ``dagbatch.gcpause``)."""
    out: dict[str, TaskStatus] = {}
    with gc_paused():
        for pos, task_id in enumerate(job.task_ids):
            state = names[job.task_state[pos]]
            if state == "deleted":
                continue
            failure = job.task_failure.get(pos) or {}
            completed = state == "completed"
            code = job.task_exit[pos]
            out[task_id] = TaskStatus(
                state=state,
                exit_code=code if completed and code != NO_EXIT else None,
                result=("failure" if failure else "success") if completed else None,
                failure_code=failure.get("code"),
                failure_message=failure.get("message"),
                start=job.task_start[pos] or None,
                end=job.task_end[pos] or None if completed else None,
                retry_count=job.task_retry[pos],
            )
    return out
