"""`dagbatch submit` when things go wrong: a lost or re-created job, a damaged or foreign
journal, a plan that disagrees with itself, a full disk, an unreachable endpoint, a workflow
that compiles differently in each process. Each gives its documented exit code and a message
that says what is wrong, never "complete" with tasks missing and never a traceback."""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner, Result

from dagbatch.cli.main import main
from dagbatch.emulator.server import EmulatorServer
from dagbatch.submit.journal import read_journal
from tests.plan_factory import layered_plan
from tests.submit_helpers import create_job, env_for

REPO = Path(__file__).resolve().parents[2]


def submit(server: EmulatorServer, plan: Path, *extra: str) -> Result:
    args = ["submit", str(plan), "--job-id", "job", "--quiet", "--backoff", "0", *extra]
    return CliRunner().invoke(main, args, env=env_for(server))


def delete_job(server: EmulatorServer, job_id: str = "job") -> None:
    """What the service losing a job (or a user deleting it) looks like to the emulator."""
    with server.store.lock:
        del server.store.jobs[job_id.lower()]


def submitted_plan(server: EmulatorServer, tmp_path: Path, tasks: int = 500) -> Path:
    plan = layered_plan(tmp_path / "plan", tasks=tasks, waves=5, pool_id="p")
    first = submit(server, plan, "--create-job")
    assert first.exit_code == 0, first.output
    return plan


# --- point 2: resume trusts the service, not only the journal ----------------------------------


def test_resume_into_a_job_that_is_gone_is_refused(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    plan = submitted_plan(emulator, tmp_path)
    delete_job(emulator)
    # Before: an empty job was created and "complete 500/500" printed, exit 0.
    result = submit(emulator, plan, "--resume", "--create-job")
    assert result.exit_code == 3, result.output
    assert "does not exist any more" in result.output
    assert "500 task(s) confirmed" in result.output
    assert "complete" not in result.output
    # The journal to move away is named, so the fresh start is one command away.
    (journal,) = plan.glob("journal-job.jsonl")
    assert f"move the journal away ({journal})" in " ".join(result.output.split())
    assert emulator.store.job("job") is None  # nothing was created behind the user's back


def test_resume_into_a_recreated_job_is_refused(emulator: EmulatorServer, tmp_path: Path) -> None:
    plan = submitted_plan(emulator, tmp_path)
    delete_job(emulator)
    time.sleep(0.01)
    create_job(emulator)  # the same id and settings, created again: an empty job
    result = submit(emulator, plan, "--resume", "--create-job")
    assert result.exit_code == 3, result.output
    assert "another job with the same id" in result.output
    assert emulator.store.task_count("job") == 0


def test_resume_into_a_job_that_lost_tasks_is_refused(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    plan = submitted_plan(emulator, tmp_path, tasks=200)
    job = emulator.store.job("job")
    assert job is not None
    with emulator.store.lock:  # the job is the same one, but holds fewer tasks
        for pos in range(150, 200):
            emulator.engine.delete_task(job, pos)
    result = submit(emulator, plan, "--resume")
    assert result.exit_code == 3, result.output
    assert "does not hold 50 of the 200 task(s) the journal records" in result.output


def _journal(plan: Path) -> Path:
    return plan / "journal-job.jsonl"


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda lines: lines[1:], "comes before any run header"),
        (lambda lines: [lines[0][:20], *lines[1:]], "its header (line 1) is damaged"),
        (lambda lines: [*lines, b'{"t":"ok","ids":5}'], "an 'ok' record without a list"),
        (lambda lines: [*lines, b"[1, 2]"], "not a JSON object"),
        (lambda lines: [*lines, b'{"t":"mystery"}'], "unknown kind"),
    ],
    ids=["header-missing", "header-damaged", "ids-not-a-list", "not-an-object", "unknown-kind"],
)
def test_a_damaged_journal_is_refused_with_exit_2(
    emulator: EmulatorServer, tmp_path: Path, damage: object, message: str
) -> None:
    plan = layered_plan(tmp_path / "plan", tasks=300, waves=3, pool_id="p")
    first = submit(emulator, plan, "--create-job")
    assert first.exit_code == 0
    journal = _journal(plan)
    lines = journal.read_bytes().splitlines()
    journal.write_bytes(b"\n".join(damage(lines)) + b"\n")  # type: ignore[operator]
    result = submit(emulator, plan, "--resume")
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output and "complete" not in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_a_journal_with_another_plans_records_is_refused(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    ours = layered_plan(tmp_path / "ours", tasks=300, waves=3, pool_id="p")
    theirs = layered_plan(tmp_path / "theirs", tasks=300, waves=3, pool_id="p", seed=9)
    assert submit(emulator, ours, "--create-job").exit_code == 0
    assert submit(emulator, theirs, "--create-job", "--job-id", "job2").exit_code == 0
    other = (theirs / "journal-job2.jsonl").read_bytes()
    mine = _journal(ours).read_bytes()
    # Another plan's whole journal appended: its run header names another plan.
    _journal(ours).write_bytes(mine + other)
    result = submit(emulator, ours, "--resume")
    assert result.exit_code == 2, result.output
    assert "a run of another plan" in result.output
    # Only its records appended, without their header: they name tasks of no plan of ours.
    foreign = b'{"t":"ok","ids":["elsewhere-1","elsewhere-2"]}\n'
    _journal(ours).write_bytes(mine + foreign)
    result = submit(emulator, ours, "--resume")
    assert result.exit_code == 2, result.output
    assert "2 task(s) that are not in this plan" in result.output


def test_the_report_gives_the_jobs_task_count(emulator: EmulatorServer, tmp_path: Path) -> None:
    plan = submitted_plan(emulator, tmp_path, tasks=120)
    report = orjson.loads((plan / "journal-job.report.json").read_bytes())
    assert report["jobTaskCount"] == 120 and report["ok"] is True
    assert emulator.store.stats()["requests"]["gettaskcounts"] >= 1


# --- point 3: every file of the plan is checked ------------------------------------------------


def _edit_manifest(plan: Path, edit: object) -> None:
    manifest = orjson.loads((plan / "plan.json").read_bytes())
    edit(manifest)  # type: ignore[operator]
    (plan / "plan.json").write_bytes(orjson.dumps(manifest, option=orjson.OPT_INDENT_2))


def test_a_tampered_job_json_is_refused(emulator: EmulatorServer, tmp_path: Path) -> None:
    plan = layered_plan(tmp_path / "plan", tasks=100, waves=2, pool_id="p")
    job = orjson.loads((plan / "job.json").read_bytes())
    job["onTaskFailure"] = "performexitoptionsjobaction"
    (plan / "job.json").write_bytes(orjson.dumps(job))
    result = submit(emulator, plan, "--create-job")
    assert result.exit_code == 2, result.output
    assert "job.json does not match plan.json" in result.output
    assert emulator.store.job("job") is None


def test_a_plan_without_a_job_checksum_is_refused(emulator: EmulatorServer, tmp_path: Path) -> None:
    plan = layered_plan(tmp_path / "plan", tasks=100, waves=2, pool_id="p")
    _edit_manifest(plan, lambda m: m.pop("job"))
    result = submit(emulator, plan, "--create-job")
    assert result.exit_code == 2 and "no checksum for job.json" in result.output


def test_a_removed_batch_entry_is_refused(emulator: EmulatorServer, tmp_path: Path) -> None:
    plan = layered_plan(tmp_path / "plan", tasks=1000, waves=2, pool_id="p")

    def remove_the_first(m: dict[str, object]) -> None:
        batches = m["batches"]
        assert isinstance(batches, list)
        del batches[0]
        for n, entry in enumerate(batches, start=1):  # renumbered, counts fixed up too
            entry["index"] = n
            entry["file"] = f"batches/{n:06d}.json"
            (plan / entry["file"]).write_bytes((plan / f"batches/{n + 1:06d}.json").read_bytes())
        m["counts"] = {**m["counts"], "tasks": 900, "requests": 9}  # type: ignore[dict-item]

    _edit_manifest(plan, remove_the_first)
    # Before: "complete 900/900", exit 0.
    result = submit(emulator, plan, "--create-job")
    assert result.exit_code == 2, result.output
    assert "which is not in the plan" in result.output
    assert emulator.store.task_count("job") == 0


def test_a_manifest_whose_counts_disagree_is_refused(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    plan = layered_plan(tmp_path / "plan", tasks=1000, waves=2, pool_id="p")
    _edit_manifest(plan, lambda m: m["batches"].pop())
    result = submit(emulator, plan, "--create-job")
    assert result.exit_code == 2, result.output
    assert "counts.tasks is 1000 but its batch entries hold 900" in result.output


def test_relabelled_waves_are_refused(emulator: EmulatorServer, tmp_path: Path) -> None:
    plan = layered_plan(tmp_path / "plan", tasks=400, waves=2, pool_id="p")

    def one_wave(m: dict[str, object]) -> None:
        for entry in m["batches"]:  # type: ignore[attr-defined]
            entry["wave"] = 1
        m["counts"] = {**m["counts"], "waves": 1}  # type: ignore[dict-item]

    _edit_manifest(plan, one_wave)
    result = submit(emulator, plan, "--create-job")
    assert result.exit_code == 2, result.output
    assert "were the waves relabelled?" in result.output


# --- point 5: exit codes mean what the README says ---------------------------------------------


def _limit_file_size(limit: int) -> None:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


def test_a_journal_that_cannot_be_written_is_exit_2_with_one_line(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    plan = layered_plan(tmp_path / "plan", tasks=2000, waves=4, pool_id="p")
    env = {**os.environ, **env_for(emulator), "PYTHONPATH": str(REPO)}
    args = [sys.executable, "-m", "dagbatch", "submit", str(plan), "--job-id", "job", "-q"]
    full = subprocess.run(
        [*args, "--create-job"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=lambda: _limit_file_size(8000),  # the disk is full after 8 KB
    )
    assert full.returncode == 2, full.stdout + full.stderr
    assert "Traceback" not in full.stderr
    assert full.stderr.startswith("error: cannot write the journal")
    assert "--resume" in full.stderr and len(full.stderr.strip().splitlines()) == 1
    assert 0 < emulator.store.task_count("job") < 2000
    # With room again, --resume finishes it: every task once.
    again = subprocess.run(
        [*args, "--resume"], env=env, capture_output=True, text=True, timeout=120
    )
    assert again.returncode == 0, again.stdout + again.stderr
    assert emulator.store.stats()["tasksAdded"] == 2000


def test_an_unreachable_endpoint_fails_fast_naming_it(tmp_path: Path) -> None:
    plan = layered_plan(tmp_path / "plan", tasks=10, waves=1, pool_id="p")
    env = {
        "AZURE_BATCH_ENDPOINT": "http://127.0.0.1:9",  # discard port: nothing listens
        "AZURE_BATCH_ACCOUNT": "acct",
        "AZURE_BATCH_ACCESS_KEY": "a2V5LWtleS1rZXkta2V5LWtleQ==",
    }
    started = time.monotonic()
    result = CliRunner().invoke(main, ["submit", str(plan), "--job-id", "job", "-q"], env=env)
    assert time.monotonic() - started < 10
    assert result.exit_code == 3, result.output
    assert "cannot reach the Batch endpoint http://127.0.0.1:9" in result.output
    assert "ConnectError" in result.output
    assert "the service refused" not in result.output


# --- point 7: resume uses the plan that was submitted ------------------------------------------

SET_WORKFLOW = """
import networkx as nx

graph = nx.DiGraph()
graph.graph["job"] = {"id": "setjob", "pool_id": "p"}
for name in {"alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel"}:
    graph.add_node(name, command_line=f"echo {name}")
"""


def test_resume_of_a_nondeterministic_workflow_uses_the_submitted_plan(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    (tmp_path / "wf.py").write_text(SET_WORKFLOW)
    base = {**os.environ, **env_for(emulator), "PYTHONPATH": str(REPO)}
    args = [sys.executable, "-m", "dagbatch", "submit", "wf.py", "--create-job", "-q"]
    plans = set()
    for seed in ("1", "2", "3", "4"):  # string hashing, so the set's order, differs by seed
        out = subprocess.run(
            [sys.executable, "-m", "dagbatch", "compile", "wf.py", "--out", f"p{seed}", "-q"],
            cwd=tmp_path,
            env={**base, "PYTHONHASHSEED": seed},
            capture_output=True,
            timeout=60,
        )
        assert out.returncode == 0, out.stderr
        plans.add((tmp_path / f"p{seed}" / "plan.json").read_bytes())
    assert len(plans) > 1, "the workflow was meant to compile differently per process"

    first = subprocess.run(
        args, cwd=tmp_path, env={**base, "PYTHONHASHSEED": "1"}, capture_output=True, text=True
    )
    assert first.returncode == 0, first.stdout + first.stderr
    journal = tmp_path / ".dagbatch" / "setjob" / "journal-setjob.jsonl"
    for seed in ("2", "3", "4"):
        again = subprocess.run(
            [*args, "--resume"],
            cwd=tmp_path,
            env={**base, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert again.returncode == 0, again.stdout + again.stderr
        assert "8/8 tasks confirmed" in again.stdout
        differs = (tmp_path / f"p{seed}" / "plan.json").read_bytes() != (
            tmp_path / "p1" / "plan.json"
        ).read_bytes()
        assert ("not deterministic" in again.stderr) == differs
    assert read_journal(journal).runs == 4
    assert emulator.store.stats()["tasksAdded"] == 8
