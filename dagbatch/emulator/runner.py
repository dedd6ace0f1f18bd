"""Real runs: each task's command line runs as a process, the way a Batch node runs it.

- Not under a shell: the command line is split like a POSIX shell splits words (``shlex``)
  and executed directly; shell features need ``/bin/sh -c '...'`` [BATCH_FACTS 2].
- Per-task directory laid out like a node's [BATCH_FACTS 2]: ``ROOT/workitems/JOB/job-1/TASK``
  holds ``stdout.txt``, ``stderr.txt`` and ``wd/`` (the working directory); ``ROOT/shared``
  is the node's shared directory.
- The ``AZ_BATCH_*`` variables, then the job's ``commonEnvironmentSettings``, then the task's
  ``environmentSettings`` (tasks override the job's). Only ``PATH``, ``HOME``, ``LANG``,
  ``TMPDIR`` and ``USER`` pass through from the caller's environment: no credentials leak.
- Resource and output files through ``blobstore`` (Azure Storage, Azurite locally).
- Each process leads its own process group; terminate, timeout and shutdown kill the group
  (no orphans). A process killed by signal N reports 128 + N.
- A worker thread waits on one process at a time (``waitpid``; with a ``maxWallClockTime``,
  a process descriptor: ``ends_within``). When its task ends it reports the end to the
  engine and runs the first task that end started itself (no hand-off to another thread);
  bench/PROFILE.md, "Run engine", has the measurements.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import select
import shlex
import signal
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import orjson

from dagbatch.emulator import blobstore
from dagbatch.emulator.scheduler import DEFAULT_SPEC, Engine, failure_info
from dagbatch.emulator.storage_account import StorageAccount
from dagbatch.emulator.store import Job
from dagbatch.emulator.strays import MARKER, kill_strays
from dagbatch.errors import ConfigError, TaskFileFailure
from dagbatch.locks import try_lock

PASSED_THROUGH: Final = ("PATH", "HOME", "LANG", "TMPDIR", "USER")
#: The file a node holds locked in its directory while it runs tasks there.
NODE_LOCK: Final = ".dagbatch-node.lock"


#: A run of characters a POSIX shell keeps in one word when the line holds no quote or
#: backslash: anything but ``shlex``'s whitespace (space, tab, CR, LF).
_PLAIN_WORD = re.compile(r"[^ \t\r\n]+")


def split_command_line(command_line: str) -> list[str]:
    """The words of a command line, as ``shlex.split`` (POSIX rules) gives them; raises
    ``ValueError`` for an unclosed quote or a trailing backslash [BATCH_FACTS 2].

    A line without quotes or backslashes (most) is split on shlex's whitespace directly:
    the same words, without shlex's character-by-character reader (a tenth of the time)."""
    if (
        type(command_line) is not str
        or "'" in command_line
        or '"' in command_line
        or "\\" in command_line
    ):
        return shlex.split(command_line)
    return _PLAIN_WORD.findall(command_line)


def task_directory(root: Path, job_id: str, task_id: str) -> Path:
    """Where a task's files live, as on a node: ``workitems/{job}/job-1/{task}``."""
    return root / "workitems" / job_id / "job-1" / task_id


def exit_status(returncode: int) -> int:
    """A process's exit code as a shell reports it (killed by signal N: 128 + N)."""
    return 128 - returncode if returncode < 0 else returncode


#: What a worker thread needs to run one task: the arguments of ``RealRunner._run``.
_Work = tuple[Engine, Job, int, int, "_Run", bytes, Any, str, float]


#: The longest single wait on a process descriptor (``poll`` takes milliseconds as a C int).
_POLL_CHUNK_S: Final = 86_400.0


def ends_within(process: subprocess.Popen[bytes], seconds: float) -> bool:
    """Wait for ``process`` to end, at most ``seconds`` (0: no limit); False if it is still
    running then. The process is reaped when it ended.

    ``Popen.wait(timeout)`` polls (sleeps of up to 50 ms between checks), so a task with a
    ``maxWallClockTime`` would be seen to end up to 50 ms late. A process descriptor
    (``pidfd_open``, Linux 5.3) becomes readable the moment the process ends; without one
    (another system, an old kernel) this falls back to ``Popen.wait(timeout)``."""
    if not seconds:
        process.wait()
        return True
    try:
        fd = os.pidfd_open(process.pid)
    except (AttributeError, OSError):  # not Linux, an old kernel, or already reaped
        try:
            process.wait(timeout=seconds)
        except subprocess.TimeoutExpired:
            return False
        return True
    try:
        # Reaped by another thread before the descriptor was opened (a kill's poll): done.
        if process.poll() is not None:
            return True
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        deadline = time.monotonic() + seconds
        while not poller.poll(min(_POLL_CHUNK_S, max(0.0, deadline - time.monotonic())) * 1000):
            if time.monotonic() >= deadline:
                return False
    finally:
        os.close(fd)
    process.wait()
    return True


@dataclass
class _Run:
    job_id: str
    task_id: str
    process: subprocess.Popen[bytes] | None = None
    cancelled: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)
    #: Its processes' ``strays.MARKER`` value (set with ``process``).
    marker: str = ""


def kill_runs(runs: list[_Run]) -> None:
    """Kill the processes of ``runs`` (each one's group, and those that left it:
    ``dagbatch.emulator.strays``), all with one scan of ``/proc``: a job's terminate kills
    every task it runs, under the engine's lock."""
    leaders: list[int] = []
    markers: set[str] = set()
    for run in runs:
        with run.lock:
            run.cancelled = True
            if run.process is not None and run.process.poll() is None:
                leaders.append(run.process.pid)
                markers.add(run.marker)
    if leaders:
        kill_strays(leaders, markers.__contains__)


class RealRunner:
    """Runs tasks as processes under ``root``; ``account``/``endpoint``/``pool_id`` fill the
    ``AZ_BATCH_*`` account variables; ``storage`` is the local pool's auto-storage account
    (``autoStorageContainerName`` resource files; see ``storage_account.local_pool_storage``)."""

    def __init__(
        self,
        root: Path,
        *,
        account: str = "devaccount",
        account_url: str = "http://127.0.0.1",
        node_id: str = "tvmps_dagbatch_local_node_0",
        storage: StorageAccount | None = None,
    ) -> None:
        self.root = Path(root).resolve()
        self.storage = storage
        self.account = account
        self.account_url = account_url
        self.node_id = node_id
        self._runs: dict[tuple[int, int], _Run] = {}
        self._lock = threading.Lock()
        # Worker threads are reused from task to task (a new thread per task costs about as
        # much as the spawn itself); each waits on one process at a time.
        # Created lazily, so the bound only needs to exceed any node's slot count.
        self._pool = ThreadPoolExecutor(max_workers=4096, thread_name_prefix="dagbatch-task")
        #: Per worker thread: ``finishing`` while it reports an end to the engine, and
        #: ``next``, the first task that report started (the thread runs it itself).
        self._local = threading.local()
        self._closed = False
        for sub in ("shared", "startup", "fsmounts", "certs", "workitems"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        # One node a directory: two would run tasks of the same ids in the same directories.
        self._held = open(self.root / NODE_LOCK, "a+b")  # noqa: SIM115 - close() closes it
        if not try_lock(self._held):
            self._held.close()
            raise ConfigError(
                f"another dagbatch emulator (or run) uses {self.root} for its tasks: give "
                "this one a directory of its own (--workdir DIR)"
            )
        self._workitems = str(self.root / "workitems")
        # Every task's stdin, opened once: what ``stdin=subprocess.DEVNULL`` opens per spawn.
        self._devnull = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
        self._node_env_key: tuple[str, str, str, Path] | None = None
        #: This node among others, in its tasks' ``strays.MARKER``.
        self._token = f"{os.getpid()}-{secrets.token_hex(4)}"
        self._node_env: tuple[tuple[str, str], ...] = ()

    def task_dir(self, job_id: str, task_id: str) -> Path | None:
        return task_directory(self.root, job_id, task_id)

    def start(self, engine: Engine, job: Job, pos: int, attempt: int) -> None:
        """Lock held: read what the thread needs, then run it outside the lock.

        A task started while a worker thread reports its own task's end (``Engine.finish``
        fills the slot it freed) runs on that thread once the report is done: no hand-off to
        another thread, which on a busy node costs a wake-up and a turn of the GIL per task.
        Any further task that report starts goes to a thread of its own."""
        if self._closed:
            raise RuntimeError("the runner is closed")
        raw = job.task_raw[pos]
        spec = job.graph.specs[pos] or DEFAULT_SPEC
        run = _Run(job.id, job.task_ids[pos])
        with self._lock:
            self._runs[(id(job), pos)] = run
        pool_id = str((job.spec.get("poolInfo") or {}).get("poolId", ""))
        common = job.spec.get("commonEnvironmentSettings") or []
        work = (engine, job, pos, attempt, run, raw, common, pool_id, spec.wall)
        local = self._local
        if getattr(local, "finishing", False) and local.next is None:
            local.next = work
        else:
            self._pool.submit(self._work, work)

    def _work(self, work: _Work | None) -> None:
        """A worker thread: run ``work``, then each task its end started on this thread."""
        local = self._local
        while work is not None:
            local.next = None
            try:
                self._run(*work)
            except BaseException:
                # A started task must run even if the report of the previous one failed.
                if local.next is not None:
                    self._pool.submit(self._work, local.next)
                    local.next = None
                raise
            work, local.next = local.next, None

    def _node_environment(self) -> tuple[tuple[str, str], ...]:
        """The node's ``AZ_BATCH_*`` variables, the same for every task (made again only
        when the account, its URL, the node id or the root changes)."""
        key = (self.account, self.account_url, self.node_id, self.root)
        if key != self._node_env_key:
            account, account_url, node_id, root = key
            self._node_env = (
                ("AZ_BATCH_ACCOUNT_NAME", account),
                ("AZ_BATCH_ACCOUNT_URL", account_url),
                ("AZ_BATCH_CERTIFICATES_DIR", str(root / "certs")),
                ("AZ_BATCH_NODE_ID", node_id),
                ("AZ_BATCH_NODE_IS_DEDICATED", "true"),
                ("AZ_BATCH_NODE_MOUNTS_DIR", str(root / "fsmounts")),
                ("AZ_BATCH_NODE_ROOT_DIR", str(root)),
                ("AZ_BATCH_NODE_SHARED_DIR", str(root / "shared")),
                ("AZ_BATCH_NODE_STARTUP_DIR", str(root / "startup")),
            )
            self._node_env_key = key
        return self._node_env

    def environment(
        self,
        job_id: str,
        task_id: str,
        pool_id: str,
        task_dir: str | Path,
        common: Any,
        own: Any,
    ) -> dict[str, str]:
        """The task's environment [BATCH_FACTS 2]."""
        get = os.environ.get
        env = {k: v for k in PASSED_THROUGH if (v := get(k)) is not None}
        env.update(self._node_environment())
        task_dir = str(task_dir)
        env["AZ_BATCH_POOL_ID"] = pool_id
        env["AZ_BATCH_TASK_DIR"] = task_dir
        env["AZ_BATCH_TASK_WORKING_DIR"] = task_dir + "/wd"
        env["AZ_BATCH_TASK_RESERVED_EPHEMERAL_DISK_SPACE_BYTES"] = "0"
        env["AZ_BATCH_JOB_ID"] = job_id
        env["AZ_BATCH_TASK_ID"] = task_id
        for settings in (common, own):
            for item in settings or ():
                if isinstance(item, dict) and isinstance(item.get("name"), str):
                    env[item["name"]] = str(item.get("value", ""))
        # Last: how its processes are found (dagbatch.emulator.strays); this node's own, so
        # another emulator's close (on the same --workdir) leaves them alone.
        env[MARKER] = f"{self._token}:{task_dir}"
        return env

    def _run(
        self,
        engine: Engine,
        job: Job,
        pos: int,
        attempt: int,
        run: _Run,
        raw: bytes,
        common: Any,
        pool_id: str,
        wall: float,
    ) -> None:
        try:
            try:
                task = orjson.loads(raw)
                kind, code, failure = self._execute(run, task, common, pool_id, wall)
            except OSError as exc:
                # The task directory or its files could not be made: the task never started.
                kind, code = "preprocessing", None
                failure = failure_info(
                    "ResourceDirectoryCreateFailed",
                    f"The task directory could not be prepared: {exc.strerror or exc}.",
                )
            except Exception as exc:
                # Anything else that escaped ended up in the thread pool's future, unseen,
                # and the task stayed running for ever: it ends, saying what happened.
                kind, code = "preprocessing", None
                failure = failure_info(
                    "CommandLaunchFailed",
                    f"The task could not be run: {type(exc).__name__}: {exc} (a fault of the "
                    "local pool's own).",
                )
            if not run.cancelled:
                local = self._local
                local.finishing = True
                try:
                    engine.finish(job, pos, attempt, kind, code, failure)
                finally:
                    local.finishing = False
        finally:
            with self._lock:
                if self._runs.get((id(job), pos)) is run:
                    del self._runs[(id(job), pos)]

    def _execute(
        self, run: _Run, task: dict[str, Any], common: Any, pool_id: str, wall: float
    ) -> tuple[str, int | None, dict[str, Any] | None]:
        # Strings, not Paths: the same names ``task_directory`` gives (ids are letters,
        # digits, '-' and '_'), at a fraction of the cost per task.
        task_dir = f"{self._workitems}/{run.job_id}/job-1/{run.task_id}"
        wd = task_dir + "/wd"
        try:
            os.mkdir(task_dir)
            os.mkdir(wd)
        except OSError:  # a retry, a re-added id, or the job's first task: the slow path
            os.makedirs(wd, exist_ok=True)
            # An earlier attempt's upload logs are not this one's (a pattern such as '../*'
            # would upload them as if they were).
            for log in blobstore.UPLOAD_LOGS:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(f"{task_dir}/{log}")
        resource_files = task.get("resourceFiles")
        if resource_files:
            try:
                blobstore.download_resource_files(resource_files, Path(wd), storage=self.storage)
            except TaskFileFailure as exc:
                return "preprocessing", None, failure_info(exc.code, exc.message, exc.details)
            except Exception as exc:  # the storage SDK's own fault: the task still ends
                return (
                    "preprocessing",
                    None,
                    failure_info(
                        "BlobDownloadMiscError",
                        f"The resource files could not be downloaded: {type(exc).__name__}: {exc}.",
                    ),
                )
        try:
            argv = split_command_line(task.get("commandLine", ""))
        except ValueError as exc:
            return (
                "preprocessing",
                None,
                failure_info(
                    "CommandLaunchFailed", f"The command line cannot be split into words: {exc}."
                ),
            )
        if not argv:
            return (
                "preprocessing",
                None,
                failure_info("CommandLaunchFailed", "The command line is empty."),
            )
        env = self.environment(
            run.job_id, run.task_id, pool_id, task_dir, common, task.get("environmentSettings")
        )
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC
        out = os.open(task_dir + "/stdout.txt", flags, 0o644)
        try:
            err = os.open(task_dir + "/stderr.txt", flags, 0o644)
        except OSError:
            os.close(out)
            raise
        try:
            with run.lock:
                if run.cancelled:
                    return "exit", None, None
                run.marker = env[MARKER]
                try:
                    run.process = subprocess.Popen(
                        argv,
                        cwd=wd,
                        env=env,
                        stdin=self._devnull,
                        stdout=out,
                        stderr=err,
                        start_new_session=True,
                    )
                except FileNotFoundError:
                    return (
                        "preprocessing",
                        None,
                        failure_info(
                            "CommandProgramNotFound",
                            f"The program {argv[0]!r} of the command line was not found (the "
                            "command line does not run under a shell).",
                        ),
                    )
                except OSError as exc:
                    return (
                        "preprocessing",
                        None,
                        failure_info(
                            "CommandLaunchFailed",
                            f"The command line could not be started: {exc.strerror or exc}.",
                        ),
                    )
                except ValueError as exc:
                    # What no process can be given: a NUL character in the command line or
                    # the environment, a '=' in a variable's name. Raised on, it would end
                    # the worker and leave the task running for ever.
                    return (
                        "preprocessing",
                        None,
                        failure_info(
                            "CommandLaunchFailed", f"The command line could not be started: {exc}."
                        ),
                    )
            process = run.process
            kind = "exit"
            try:
                if not ends_within(process, wall):
                    kind = "timeout"
                    kill_strays([process.pid], run.marker.__eq__)  # and those that left it
                    process.wait()
            finally:
                # Leave nothing of the group behind, even children that outlive the leader.
                # (Processes that left the group are looked for only when the task is killed
                # and when the node closes: a scan of /proc per task would cost more than
                # the spawn.)
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(process.pid, signal.SIGKILL)
        finally:
            os.close(out)
            os.close(err)
        code = exit_status(process.returncode)
        # Also after a task killed at its maxWallClockTime: taskCompletion uploads "after the
        # Task process exits, no matter what the exit code was" [spec-2025
        # OutputFileUploadCondition], and its stdout and stderr are what the user needs most
        # then. The kill stays the task's failure; an upload failure is then in
        # fileuploaderr.txt only.
        if kind in ("exit", "timeout") and task.get("outputFiles"):
            try:
                blobstore.upload_output_files(
                    task["outputFiles"],
                    working_dir=Path(wd),
                    task_dir=Path(task_dir),
                    exit_code=code,
                    env=env,
                )
            except TaskFileFailure as exc:
                if kind == "timeout":
                    return kind, code, None
                return "upload", code, failure_info(exc.code, exc.message, exc.details)
            except Exception as exc:  # the storage SDK's own fault: the task still ends
                if kind == "timeout":
                    return kind, code, None
                return (
                    "upload",
                    code,
                    failure_info(
                        "FileUploadMiscError",
                        f"The output files could not be uploaded: {type(exc).__name__}: {exc}.",
                    ),
                )
        return kind, code, None

    def kill(self, job: Job, pos: int) -> None:
        self.kill_many(job, [pos])

    def kill_many(self, job: Job, positions: list[int]) -> None:
        """Kill the tasks ``positions`` of ``job`` at once (one ``/proc`` scan for all)."""
        with self._lock:
            runs = [self._runs.pop((id(job), pos), None) for pos in positions]
        kill_runs([run for run in runs if run is not None])

    def close(self) -> None:
        """Kill every process still running and wait (bounded) for their threads."""
        self._closed = True
        with self._lock:
            runs = list(self._runs.values())
        kill_runs(runs)
        # Processes of tasks that ended, or of a task killed before, that left their group.
        ours = f"{self._token}:"
        kill_strays((), lambda marker: marker.startswith(ours))
        # Killed processes end at once, so their threads return promptly.
        self._pool.shutdown(wait=True, cancel_futures=True)
        if self._devnull >= 0:
            os.close(self._devnull)
            self._devnull = -1
        self._held.close()  # the directory is free for another node
