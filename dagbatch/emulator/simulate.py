"""Simulated runs: no process starts; each task ends with the exit code a what-if table
gives it (default 0) after an optional duration.

The what-if file is JSON: ``{"task-id": code, ...}`` or ``{"task-id": {"exitCode": code,
"duration": seconds}, ...}``; from Python (``RunOptions.exit_codes``) an entry may also be the
normalised ``(code, duration or None)`` pair. No asyncio task or thread exists per task: a
task that ends at once goes on the engine's due queue, a later one on its timer heap.
"""

from __future__ import annotations

import difflib
import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

from dagbatch.emulator.scheduler import DEFAULT_SPEC, KILLED_EXIT_CODE, Engine
from dagbatch.emulator.store import Job, now
from dagbatch.errors import ConfigError
from dagbatch.limits import INT32_MAX, INT32_MIN

#: The keys of a what-if entry given as an object.
ENTRY_KEYS: Final = ("exitCode", "duration")


def _did_you_mean(key: object) -> str:
    """`` (did you mean 'exitCode'?)`` for a key close to one of ``ENTRY_KEYS``, else ``""``."""
    if not isinstance(key, str):
        return ""
    folded = {k.lower(): k for k in ENTRY_KEYS}
    close = difflib.get_close_matches(key.lower(), list(folded), n=1, cutoff=0.6)
    return f" (did you mean {folded[close[0]]!r}?)" if close else ""


def load_exit_codes(path: Path) -> dict[str, tuple[int, float | None]]:
    """Read a what-if file into ``{task id: (exit code, duration or None)}``."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read the exit codes file {path}: {exc}") from exc
    return parse_exit_codes(data, str(path))


def parse_exit_codes(data: Any, where: str = "exit codes") -> dict[str, tuple[int, float | None]]:
    """Check and normalise a what-if table (see the module docstring): the one check of the
    what-if file, ``--fail`` and ``run_local``'s ``RunOptions.exit_codes``. A normalised
    table comes back unchanged."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where}: expected a JSON object {{task id: exit code}}")
    table: dict[str, tuple[int, float | None]] = {}
    problems: list[str] = []  # every entry that is wrong, not only the first
    for task_id, value in data.items():
        duration: Any = None
        code: Any = value
        if isinstance(value, dict):
            # A key mistyped ("exitcode") would leave the task succeeding at once: the run
            # would answer a question nobody asked.
            unknown = [key for key in value if key not in ENTRY_KEYS]
            if unknown:
                problems.extend(
                    f"task {task_id!r}: unknown key {key!r}{_did_you_mean(key)}; an entry "
                    'is {"exitCode": CODE, "duration": SECONDS}'
                    for key in unknown
                )
                continue
            code = value.get("exitCode", 0)
            duration = value.get("duration")
        elif isinstance(value, tuple) and len(value) == 2:
            code, duration = value
        if isinstance(code, bool) or not isinstance(code, int):
            problems.append(f"task {task_id!r}: the exit code must be an integer, not {code!r}")
        elif not INT32_MIN <= code <= INT32_MAX:
            # What Batch records is an int32 [spec-2025 BatchTaskExecutionInfo.exitCode], as
            # a workflow's satisfy_exit_codes are checked.
            problems.append(f"task {task_id!r}: the exit code {code} is not an int32")
        elif duration is not None and (
            isinstance(duration, bool)
            or not isinstance(duration, int | float)
            or not math.isfinite(duration)  # NaN never compares: the task would never end
            or duration < 0
        ):
            problems.append(f"task {task_id!r}: duration must be seconds >= 0, not {duration!r}")
        else:
            table[str(task_id)] = (code, None if duration is None else float(duration))
    if problems:
        more = f"; ... and {len(problems) - 10} more" if len(problems) > 10 else ""
        raise ConfigError(f"{where}: " + "; ".join(problems[:10]) + more)
    return table


class SimulatedRunner:
    """Ends each task with its what-if exit code after ``duration`` seconds."""

    def __init__(
        self,
        exit_codes: Mapping[str, tuple[int, float | None]] | None = None,
        *,
        duration: float = 0.0,
    ) -> None:
        self.exit_codes = dict(exit_codes or {})
        self.folded = {k.lower(): v for k, v in self.exit_codes.items()}
        self.duration = duration

    def start(self, engine: Engine, job: Job, pos: int, attempt: int) -> None:
        task_id = job.task_ids[pos]
        code, duration = self.folded.get(task_id.lower(), (0, None)) if self.folded else (0, None)
        if duration is None:
            duration = self.duration
        spec = job.graph.specs[pos] or DEFAULT_SPEC
        if spec.wall and duration > spec.wall:
            # Ended at maxWallClockTime as a real process is: killed, not its what-if code
            # (exit 0 would satisfy its dependents and block its failure handlers).
            engine.at(now() + spec.wall, "timeout", job, pos, attempt, KILLED_EXIT_CODE)
        elif duration <= 0:
            engine.due_now(job, pos, attempt, "exit", code)
        else:
            engine.at(now() + duration, "exit", job, pos, attempt, code)

    def kill(self, job: Job, pos: int) -> None:
        """Nothing runs; the engine drops the attempt's pending end."""

    def close(self) -> None:
        """Nothing to release."""

    def task_dir(self, job_id: str, task_id: str) -> Path | None:
        """Simulated tasks have no directory."""
        return None


class WhatIfRunner:
    """Real runs, except the tasks of the what-if table: those end with their given exit
    code (after their duration) and no process starts."""

    def __init__(self, real: Any, exit_codes: Mapping[str, tuple[int, float | None]]) -> None:
        self.real = real
        self.simulated = SimulatedRunner(exit_codes)

    def start(self, engine: Engine, job: Job, pos: int, attempt: int) -> None:
        if job.task_ids[pos].lower() in self.simulated.folded:
            self.simulated.start(engine, job, pos, attempt)
        else:
            self.real.start(engine, job, pos, attempt)

    def kill(self, job: Job, pos: int) -> None:
        self.real.kill(job, pos)

    def kill_many(self, job: Job, positions: list[int]) -> None:
        self.real.kill_many(job, positions)

    def close(self) -> None:
        self.real.close()

    def task_dir(self, job_id: str, task_id: str) -> Path | None:
        if task_id.lower() in self.simulated.folded:
            return None
        result: Path | None = self.real.task_dir(job_id, task_id)
        return result
