"""The plan directory: the one module that knows its format, and reads and writes it.

A plan directory is a contract that tests and tools read::

    plan/
      plan.json            manifest: format, api-version, job id, counts, job (file, sha256),
                           batches in submit order (file, wave, task count, bytes, sha256),
                           barriers, id map, warnings
      job.json             the Add Job body
      batches/000001.json  the exact addtaskcollection body, one file a batch
      journal-<job>.jsonl  written by `dagbatch submit`: what was sent and confirmed

A **batch** is one addtaskcollection request body: the compiler cuts them (``Batch``), this
module writes and reads them, and the submission sends them. It is the one word for that thing
across the code.
"""

from __future__ import annotations

import ctypes
import errno
import hashlib
import operator
import os
import re
import secrets
import shutil
import sys
import time
from collections.abc import Generator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Final, Literal

import orjson
from pydantic import BaseModel, ConfigDict, ValidationError

from dagbatch.errors import ConfigError, PlanError
from dagbatch.gcpause import gc_paused
from dagbatch.limits import MAX_ID_LENGTH, ApiVersion
from dagbatch.paths import file_in_the_way
from dagbatch.planorder import Segment, order_segments

PLAN_FORMAT = 1
PLAN_FILE = "plan.json"
JOB_FILE = "job.json"
BATCH_DIR = "batches"
JOURNAL_GLOB = "journal-*.jsonl"


def batch_file(index: int) -> str:
    """The path of batch ``index`` (1-based, submit order) inside a plan directory."""
    return f"{BATCH_DIR}/{index:06d}.json"


def check_plan_dir_type(plan_dir: object) -> None:
    """``ConfigError`` for a plan directory given as anything but a str or a Path (the
    library's entry points check it before any file is read or written)."""
    if not isinstance(plan_dir, str | os.PathLike):
        raise ConfigError(f"the plan directory is a str or a Path, not {type(plan_dir).__name__}")


def journal_file(job_id: str) -> str:
    """The name of the submission journal of ``job_id`` inside a plan directory."""
    return f"journal-{job_id}.jsonl"


def not_a_source(source: str | Path) -> PlanError:
    """The error for what is neither a plan directory nor a workflow ``.py`` file; a plan's
    own ``plan.json`` is pointed at its directory."""
    path = Path(source)
    if path.name == PLAN_FILE and (path.parent / "batches").is_dir():
        return PlanError(f"{path} is a plan's {PLAN_FILE}: give its directory ({path.parent})")
    return PlanError(f"{source} is neither a plan directory nor a workflow .py file")


#: A job id part that ends in ``-DIGITS`` (a date's, or a version's, before its last part).
_ENDS_IN_NUMBER = re.compile(r"-\d+$")


def next_job_id(job_id: str, *places: Path | str | None) -> str:
    """A job id to submit the plan again under: ``JOB-2``, or the next number whose
    submission journal is in none of ``places``. A short counter the id already ends with
    is counted on (``JOB-2`` -> ``JOB-3``, not ``JOB-2-2``), but not a date's last number
    (``nightly-2024-11-30`` -> ``nightly-2024-11-30-2``). At most 64 characters, Batch's
    limit."""
    stem, _, number = job_id.rpartition("-")
    counter = (
        bool(stem)
        and number.isdigit()
        and len(number) <= 3
        and not number.startswith("0")
        and not _ENDS_IN_NUMBER.search(stem)
    )
    base, n = (stem, int(number) + 1) if counter else (job_id, 2)
    dirs = [Path(p) for p in places if p is not None]
    while True:
        suffix = f"-{n}"
        candidate = base[: MAX_ID_LENGTH - len(suffix)] + suffix
        if not any((d / journal_file(candidate)).exists() for d in dirs):
            return candidate
        n += 1


def _dumps(data: Any) -> bytes:
    return orjson.dumps(data, option=orjson.OPT_INDENT_2) + b"\n"


@dataclass(frozen=True)
class Batch:
    """One addtaskcollection request body: its place in submit order, its wave, its task ids
    (in request order) and its exact bytes."""

    index: int  # 1-based, submit order
    wave: int
    task_ids: tuple[str, ...]
    body: bytes

    @property
    def file(self) -> str:
        return batch_file(self.index)

    @cached_property
    def tasks(self) -> tuple[dict[str, Any], ...]:
        """The task bodies, parsed on first use (the sha256 already vouches for the bytes)."""
        return tuple(orjson.loads(self.body)["value"])

    def forget_tasks(self) -> None:
        """Drop the parsed task bodies (``tasks`` parses them again if asked): a submission
        lets them go as each batch is confirmed, while it waits for answers anyway, rather
        than all at its end (about 25-50 ms of freeing at 100,000 tasks)."""
        self.__dict__.pop("tasks", None)


class BatchEntry(BaseModel):
    """One batch as plan.json lists it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    index: int
    file: str
    wave: int
    tasks: int
    bytes: int
    sha256: str


class JobEntry(BaseModel):
    """job.json as plan.json lists it: its file name and the sha256 of its bytes."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    file: Literal["job.json"]
    sha256: str


class PlanManifest(BaseModel):
    """plan.json. Unknown top-level keys are ignored (``format`` guards incompatible changes)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    format: Literal[1]
    apiVersion: ApiVersion
    jobId: str | None = None
    onAllTasksComplete: Literal["noaction", "terminatejob"] = "noaction"
    counts: dict[str, int] = {}
    job: JobEntry | None = None  # required by load_plan; optional here to say so clearly
    batches: list[BatchEntry]
    barriers: list[str] = []
    idMap: dict[str, str] = {}
    warnings: list[dict[str, Any]] = []


def job_bytes(job: dict[str, Any]) -> bytes:
    """The exact bytes of job.json for the Add Job body ``job``."""
    return _dumps(job)


def job_entry(job: dict[str, Any]) -> dict[str, Any]:
    """The plan.json ``job`` entry: job.json's name and the sha256 of ``job_bytes(job)``."""
    return {"file": JOB_FILE, "sha256": hashlib.sha256(job_bytes(job)).hexdigest()}


def batch_entry(batch: Batch) -> dict[str, Any]:
    """The plan.json entry of ``batch``."""
    return {
        "index": batch.index,
        "file": batch.file,
        "wave": batch.wave,
        "tasks": len(batch.task_ids),
        "bytes": len(batch.body),
        "sha256": hashlib.sha256(batch.body).hexdigest(),
    }


@dataclass(frozen=True)
class LoadedPlan:
    """A plan directory read back and checked."""

    directory: Path
    sha256: str  # of plan.json
    manifest: PlanManifest
    job: dict[str, Any]
    batches: tuple[Batch, ...]

    @cached_property
    def segments(self) -> tuple[Segment, ...]:
        """The batches cut into segments, each with the earlier segments it waits for
        (``dagbatch.planorder``); computing them is also the plan's dependency check
        (``PlanError``). Made once, when first asked for: ``load_plan`` does, unless told
        ``order=False`` (only a submission needs them; they are two thirds of the load of a
        200,000-task layered plan)."""
        return order_segments(list(self.batches))

    @property
    def total_tasks(self) -> int:
        return sum(len(b.task_ids) for b in self.batches)

    def waves(self) -> list[list[Batch]]:
        """The batches grouped by wave, in submit order."""
        out: list[list[Batch]] = []
        for batch in self.batches:
            if not out or out[-1][0].wave != batch.wave:
                out.append([])
            out[-1].append(batch)
        return out


#: Files a plan directory may hold besides plan.json, job.json and batches/: what
#: `dagbatch submit` writes there (journal-JOB.jsonl and journal-JOB.report.json).
_JOURNAL_RE: Final = re.compile(r"journal-.+\.(jsonl|report\.json)")
_BATCH_RE: Final = re.compile(r"[0-9]{6}\.json")


def _foreign_entries(out: Path) -> list[str]:
    """What in directory ``out`` dagbatch did not write: everything, unless its plan.json is
    a dagbatch manifest (format marker and all); else the entries a plan never holds."""
    try:
        PlanManifest.model_validate_json((out / PLAN_FILE).read_bytes())
    except (OSError, ValidationError):
        return sorted(p.name for p in out.iterdir())
    foreign: list[str] = []
    for entry in sorted(out.iterdir(), key=lambda p: p.name):
        name = entry.name
        if name in (PLAN_FILE, JOB_FILE) and entry.is_file() and not entry.is_symlink():
            continue
        if _JOURNAL_RE.fullmatch(name) and entry.is_file():
            continue
        if name == BATCH_DIR and entry.is_dir() and not entry.is_symlink():
            foreign.extend(
                f"{BATCH_DIR}/{b.name}"
                for b in sorted(entry.iterdir(), key=lambda p: p.name)
                if not (_BATCH_RE.fullmatch(b.name) and b.is_file() and not b.is_symlink())
            )
            continue
        foreign.append(name)
    return foreign


def _exchange(a: Path, b: Path) -> bool:
    """Swap two directories in one step (Linux ``renameat2(RENAME_EXCHANGE)``); False where
    the system cannot, and the caller falls back to two renames."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), str(b))


def check_plan_target(out: Path) -> None:
    """``ConfigError`` unless a plan may be written at ``out`` (``write_plan_dir``'s rules):
    checked before anything is compiled, so a wrong ``--out`` is said first and alone."""
    target = out.resolve()
    cwd = Path.cwd().resolve()
    if target == cwd or target in cwd.parents:
        raise ConfigError(
            f"--out {out} is the current directory or one above it; a plan directory is "
            "replaced as a whole, so give it a directory of its own (e.g. --out plan)"
        )
    if target.exists() and not target.is_dir():
        raise ConfigError(f"{out} exists and is not a directory; choose another --out")
    if (blocker := file_in_the_way(out)) is not None:
        raise ConfigError(f"cannot write {out}: {blocker} is not a directory; choose another --out")
    if target.is_dir() and any(target.iterdir()):
        journals = sorted(p.name for p in target.glob(JOURNAL_GLOB))
        if journals and (target / PLAN_FILE).is_file():
            # A submission of this plan was started: replacing the plan would lose the record
            # of what was sent, and a later run could not tell its own tasks from others'.
            raise ConfigError(
                f"{out} holds a submission journal ({', '.join(journals)}): the plan is the "
                "record of what was sent to that job (status, rerun and --resume read it). "
                f"If that submission is unfinished, finish it with `dagbatch submit {out} "
                "--resume`. Either way, compile to another --out (or delete the journal to "
                "replace the plan)"
            )
        foreign = _foreign_entries(target)
        if foreign:
            shown = ", ".join(foreign[:5]) + (
                f" and {len(foreign) - 5} more" if len(foreign) > 5 else ""
            )
            raise ConfigError(
                f"{out} is not a dagbatch plan directory (it holds {shown}); nothing was "
                "changed: choose an empty or new --out"
            )


def write_plan_dir(
    out: Path, manifest: dict[str, Any], job: dict[str, Any], batches: tuple[Batch, ...]
) -> Path:
    """Write a plan directory at ``out``, replacing a previous plan there.

    Only a directory dagbatch wrote is replaced: its plan.json is a dagbatch manifest and it
    holds nothing a plan does not (plan.json, job.json, batches/NNNNNN.json, journal
    reports). Anything else, a plan with a submission journal, and the current directory or
    one above it are refused with ``ConfigError`` and left untouched. The new plan is written
    beside ``out`` and swapped in, in one step where the system allows it, so a failed write
    never leaves a half-written plan.
    """
    out = Path(out)
    check_plan_target(out)
    target = out.resolve()
    target.parent.mkdir(parents=True, exist_ok=True)
    # The name first, the directory made inside the try: a `kill` landing just after
    # mkdtemp made it, before the try, left it behind. 48 random bits: no other writer's.
    tmp = target.parent / f".{target.name}.{secrets.token_hex(6)}"
    try:
        tmp.mkdir(mode=0o700)
        (tmp / BATCH_DIR).mkdir()
        for b in batches:
            (tmp / b.file).write_bytes(b.body)
        (tmp / JOB_FILE).write_bytes(job_bytes(job))
        (tmp / PLAN_FILE).write_bytes(_dumps(manifest))
        if not target.exists():
            tmp.rename(target)
        elif _exchange(tmp, target):
            shutil.rmtree(tmp, ignore_errors=True)  # tmp now holds the previous plan
        else:
            old = target.with_name(f".{target.name}.old-{os.getpid()}")
            target.rename(old)
            tmp.rename(target)
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def _parse_tasks(raw: bytes, file: str) -> tuple[tuple[dict[str, Any], ...], tuple[str, ...]]:
    """(the task bodies, their ids) of one batch file; PlanError unless it is
    ``{"value": [{"id": "...", ...}, ...]}``. (Type checks by ``map``: per task, no Python.)"""
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise PlanError(f"{file} is not valid JSON: {exc}") from exc
    tasks = body.get("value") if isinstance(body, dict) else None
    ids: tuple[Any, ...] = ()
    if isinstance(tasks, list) and set(map(type, tasks)) <= {dict}:
        ids = tuple(map(_get_id, tasks))
    if not isinstance(tasks, list) or not set(map(type, ids)) <= {str} or len(ids) != len(tasks):
        raise PlanError(f"{file} is not a task collection body {{'value': [...]}}")
    return tuple(tasks), ids


_get_id = operator.methodcaller("get", "id")


def load_plan(plan_dir: Path, *, order: bool = True) -> LoadedPlan:
    """Read and check a plan directory; ``PlanError`` says what is wrong with it. With
    ``order=False`` the parents-first check (``LoadedPlan.segments``) waits until the
    segments are asked for: a command that only reads the plan (`status`) skips it."""
    with gc_paused():  # a task is half a dozen objects, none in a cycle (dagbatch.gcpause)
        return parse_plan(read_plan_files(Path(plan_dir)), order=order)


@dataclass(frozen=True)
class PlanFiles:
    """A plan directory's files read and checked against plan.json, not parsed yet
    (``read_plan_files``): what a submission may act on before the plan is parsed."""

    directory: Path
    manifest_bytes: bytes
    manifest: PlanManifest
    job: dict[str, Any]
    #: each batch file's bytes, in the manifest's order, its sha256 checked
    raws: tuple[bytes, ...]


def not_a_plan(plan_dir: Path, exc: OSError) -> str:
    """Why ``plan_dir`` cannot be read as a plan (reading its plan.json raised ``exc``): it
    does not exist, or it is the folder ``submit WORKFLOW.py`` keeps a plan in (the plan is
    its ``plan/``), or plan.json is unreadable."""
    plan_dir = Path(plan_dir)
    if not plan_dir.exists():
        return f"{plan_dir} does not exist (give a plan directory, as compile --out wrote it)"
    if plan_dir.is_dir() and (plan_dir / "plan" / PLAN_FILE).is_file():
        return f"{plan_dir} is not a plan directory; the plan in it is {plan_dir / 'plan'}"
    if plan_dir.is_dir() and not (plan_dir / PLAN_FILE).exists():
        return f"{plan_dir} is not a plan directory: it holds no {PLAN_FILE}"
    return f"{plan_dir} is not a plan directory: cannot read {PLAN_FILE} ({exc})"


def parse_manifest(data: bytes, path: Path) -> PlanManifest:
    """plan.json's bytes (read from ``path``) as a ``PlanManifest``; ``PlanError`` names
    what is wrong, one line a problem (the field and why), not the validator's dump."""
    try:
        return PlanManifest.model_validate_json(data)
    except ValidationError as exc:
        problems = [
            (".".join(map(str, e["loc"])) + ": " if e["loc"] else "") + e["msg"]
            for e in exc.errors(include_url=False)
        ]
        raise PlanError(
            f"{path} is not a valid plan manifest ({'; '.join(problems)}); compile the plan again"
        ) from exc


def read_plan_files(plan_dir: Path) -> PlanFiles:
    """The first half of ``load_plan``: plan.json, job.json and every batch file read, each
    file checked against its sha256 in plan.json and the entries against each other. What is
    left (``parse_plan``) can only fail for a plan whose files and checksums were rewritten
    together."""
    plan_dir = Path(plan_dir)
    manifest_path = plan_dir / PLAN_FILE
    try:
        manifest_bytes = manifest_path.read_bytes()
    except OSError as exc:
        raise PlanError(not_a_plan(plan_dir, exc)) from exc
    manifest = parse_manifest(manifest_bytes, manifest_path)
    job = _load_job(plan_dir, manifest)

    root = plan_dir.resolve()
    if not (plan_dir / BATCH_DIR).resolve().is_relative_to(root):
        raise PlanError(f"{BATCH_DIR}/ is outside the plan directory {plan_dir}")
    raws: list[bytes] = []
    last_wave = 0
    for position, entry in enumerate(manifest.batches, start=1):
        if entry.index != position:
            raise PlanError(
                f"{PLAN_FILE}: batch entry {position} has index {entry.index}: the batches must "
                "be numbered 1, 2, 3, ... in submit order (was an entry removed?)"
            )
        if entry.wave not in (last_wave, last_wave + 1):
            raise PlanError(f"{PLAN_FILE}: batch {entry.index} has wave {entry.wave} out of order")
        last_wave = entry.wave
        if entry.file != batch_file(entry.index):
            raise PlanError(
                f"{PLAN_FILE}: batch {entry.index} names file {entry.file!r}, "
                f"not {batch_file(entry.index)!r}"
            )
        raw = _read_batch_file(plan_dir, root, entry.file)
        digest = hashlib.sha256(raw).hexdigest()
        if digest != entry.sha256.lower():
            raise PlanError(
                f"{entry.file} does not match {PLAN_FILE} (sha256 {digest} != {entry.sha256}): "
                "the plan was modified after it was compiled; compile it again"
            )
        raws.append(raw)
    return PlanFiles(plan_dir, manifest_bytes, manifest, job, tuple(raws))


#: Open flags for ``_read_batch_file``'s quick path: a symbolic link is refused (ELOOP) and
#: taken by its other path. Without O_NOFOLLOW (Windows) every file takes the other path.
_NOFOLLOW: Final = getattr(os, "O_NOFOLLOW", 0)
_NO_LINK_FLAGS: Final = os.O_RDONLY | _NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
#: How open(O_NOFOLLOW) refuses a link: ELOOP (Linux, macOS), EMLINK (FreeBSD), EFTYPE
#: (NetBSD).
_LINK_REFUSED: Final = frozenset(
    {errno.ELOOP, errno.EMLINK, *([errno.EFTYPE] if hasattr(errno, "EFTYPE") else [])}
)


def _read_batch_file(plan_dir: Path, root: Path, name: str) -> bytes:
    """A batch file's bytes; ``PlanError`` when it cannot be read, or is a symbolic link that
    leads outside the plan directory ``root``.

    The name is fixed (``batch_file``), so only a link can lead outside: the batches folder is
    checked once by the caller, a file only when it is a link. A plain file is read with one
    open that refuses links, an fstat and one read (no pathlib, no buffered reader): a third
    of the time to read a 1,000-file plan, all of it before the job's creation is sent."""
    path = os.path.join(plan_dir, name)
    try:
        if _NOFOLLOW:
            try:
                fd = os.open(path, _NO_LINK_FLAGS)
            except OSError as exc:
                if exc.errno not in _LINK_REFUSED:
                    raise
            else:
                try:
                    size = os.fstat(fd).st_size
                    raw = os.read(fd, size + 1)
                    if len(raw) != size:  # a short read, or it changed: read to its end
                        parts = [raw]
                        while more := os.read(fd, 1 << 20):
                            parts.append(more)
                        raw = b"".join(parts)
                    return raw
                finally:
                    os.close(fd)
        link = Path(path)
        if link.is_symlink() and not link.resolve().is_relative_to(root):
            raise PlanError(f"{PLAN_FILE}: batch file {name!r} is outside the plan directory")
        return link.read_bytes()
    except OSError as exc:
        raise PlanError(f"cannot read batch file {name}: {exc}") from exc


def parse_plan(files: PlanFiles, *, order: bool = True) -> LoadedPlan:
    """The second half of ``load_plan``: each batch parsed, the counts checked, and (with
    ``order``) the batches cut into segments (``order_segments``, also the check that
    parents come first)."""
    steps = parse_plan_steps(files)
    while (plan := next_step(steps)) is None:
        pass
    if order:
        plan.segments  # noqa: B018 (made now: the check's PlanError is load_plan's)
    return plan


def next_step(steps: Generator[None, None, LoadedPlan]) -> LoadedPlan | None:
    """One step of ``parse_plan_steps``: the ``LoadedPlan`` once it is done, else None."""
    try:
        next(steps)
    except StopIteration as done:
        plan: LoadedPlan = done.value
        return plan
    return None


#: Seconds of parsing between two pauses of ``parse_plan_steps``. The event loop's own work
#: waits that long at most: opening the connection and sending the job's creation take
#: several turns of the loop, and with 5 ms steps (32 batches) the request left 30-50 ms
#: late, its answer read as late, on a 100,000-task plan.
PARSE_STEP_S: Final = 0.001


def parse_plan_steps(files: PlanFiles) -> Generator[None, None, LoadedPlan]:
    """``parse_plan`` in steps: it pauses (yields) after every ``PARSE_STEP_S`` of work and
    returns the ``LoadedPlan``, so that an event loop can go on between the steps (a
    submission's job is created meanwhile) without a thread."""
    manifest = files.manifest
    batches: list[Batch] = []
    clock = time.perf_counter
    pause_at = clock() + PARSE_STEP_S
    for entry, raw in zip(manifest.batches, files.raws, strict=True):
        tasks, ids = _parse_tasks(raw, entry.file)
        if len(ids) != entry.tasks:
            raise PlanError(f"{entry.file} holds {len(ids)} tasks, {PLAN_FILE} says {entry.tasks}")
        batch = Batch(entry.index, entry.wave, ids, raw)
        batch.__dict__["tasks"] = tasks  # parsed once: the cached ``Batch.tasks``
        batches.append(batch)
        if clock() >= pause_at:
            yield
            pause_at = clock() + PARSE_STEP_S
    _check_counts(manifest, batches)
    return LoadedPlan(
        directory=files.directory,
        sha256=hashlib.sha256(files.manifest_bytes).hexdigest(),
        manifest=manifest,
        job=files.job,
        batches=tuple(batches),
    )


def _load_job(plan_dir: Path, manifest: PlanManifest) -> dict[str, Any]:
    """job.json, checked against its sha256 in plan.json."""
    path = plan_dir / JOB_FILE
    if manifest.job is None:
        raise PlanError(
            f"{plan_dir / PLAN_FILE} has no checksum for {JOB_FILE} (its 'job' entry): the plan "
            "was written by an older dagbatch or edited; compile it again"
        )
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise PlanError(f"cannot read {path}: {exc}") from exc
    digest = hashlib.sha256(raw).hexdigest()
    if digest != manifest.job.sha256.lower():
        raise PlanError(
            f"{JOB_FILE} does not match {PLAN_FILE} (sha256 {digest} != {manifest.job.sha256}): "
            "the plan was modified after it was compiled; compile it again"
        )
    try:
        job = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise PlanError(f"{path} is not valid JSON: {exc}") from exc
    if not isinstance(job, dict):
        raise PlanError(f"{path} is not a JSON object")
    return job


def _check_counts(manifest: PlanManifest, batches: list[Batch]) -> None:
    """The manifest's counts agree with its batch entries."""
    actual = {
        "tasks": sum(len(b.task_ids) for b in batches),
        "requests": len(batches),
        "waves": len({b.wave for b in batches}),
    }
    for key, value in actual.items():
        said = manifest.counts.get(key)
        if said is not None and said != value:
            raise PlanError(
                f"{PLAN_FILE} disagrees with itself: counts.{key} is {said} but its batch "
                f"entries hold {value} (was a batch entry removed?); compile the plan again"
            )
