"""A file size limit reached while the journal is written (as a disk that fills): the
submission stops (exit 2), every task that went out is under a whole `send` record, and
--resume lands every task once. (The write taken in part itself, whose request once went
out, is pinned by test_journal.py's test of short writes: in this run the request the cut
record announces does not leave on the code before it either.)"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from pathlib import Path

import networkx as nx
import orjson

from dagbatch import compile_graph, write_plan
from dagbatch.compiler.pipeline import CompileOptions
from dagbatch.emulator.server import EmulatorServer
from tests.submit_helpers import create_job, env_for

#: Bytes a file of the limited submission may grow to: a few of its journal's records.
LIMIT = 8 * 1024


def _limited() -> None:
    resource.setrlimit(resource.RLIMIT_FSIZE, (LIMIT, LIMIT))


def _submit(plan: Path, emulator: EmulatorServer, *extra: str, limited: bool) -> int:
    result = subprocess.run(
        [sys.executable, "-m", "dagbatch", "submit", str(plan), "-q", *extra],
        env={**os.environ, **env_for(emulator)},
        preexec_fn=_limited if limited else None,
        capture_output=True,
        text=True,
        timeout=300,
    )
    return result.returncode


def test_a_journal_at_its_size_limit_stops_the_submission_and_resume_lands_each_task_once(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    g = nx.DiGraph()
    for i in range(3_000):
        g.add_node(f"task-{i:05d}-with-a-longer-id", command_line="/bin/true")
    plan = write_plan(compile_graph(g, CompileOptions(job={"id": "cut"})), tmp_path / "plan")
    # The job exists: requests go out from the first records on (with --create-job they wait
    # for the job's creation, whose record the limit stops first).
    create_job(emulator, "cut", usesTaskDependencies=False)

    # The journal outgrows the limit within a few records: the write that crosses it is
    # taken in part, and the submission stops.
    assert _submit(plan, emulator, limited=True) == 2
    landed_before = set(emulator.store.task_ids("cut"))
    assert len(landed_before) < 3_000
    # Every task that went out is named by a whole `send` record: its request left only
    # once the record was written.
    recorded: set[str] = set()
    for line in (plan / "journal-cut.jsonl").read_bytes().splitlines():
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue  # the record the limit cut
        if isinstance(record, dict) and record.get("t") == "send":
            recorded.update(record["ids"])
    assert landed_before <= recorded

    assert _submit(plan, emulator, "--resume", limited=False) == 0
    ids = emulator.store.task_ids("cut")
    assert len(ids) == len(set(ids)) == 3_000
    assert set(ids) == set(g)
