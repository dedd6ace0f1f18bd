"""`dagbatch submit` on the command line, against the emulator on 127.0.0.1."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner

from dagbatch.cli.main import main
from dagbatch.emulator import DEV_KEY
from dagbatch.emulator.server import EmulatorServer
from dagbatch.submit.journal import read_journal
from tests.plan_factory import layered_plan
from tests.submit_helpers import WRONG_KEY, add_task_directly, create_job, env_for


def test_cli_submit_ok_and_report_file(emulator: EmulatorServer, tmp_path: Path) -> None:
    plan = layered_plan(tmp_path / "plan", tasks=120, waves=2, pool_id="p")
    result = CliRunner().invoke(
        main,
        ["submit", str(plan), "--job-id", "job", "--create-job", "--quiet"],
        env=env_for(emulator),
    )
    assert result.exit_code == 0, result.output
    assert "120/120 tasks confirmed" in result.output
    assert DEV_KEY not in result.output
    report = orjson.loads((plan / "journal-job.report.json").read_bytes())
    assert report["ok"] is True and report["confirmed"] == 120


def test_cli_conflict_exits_3_and_lists_it(emulator: EmulatorServer, tmp_path: Path) -> None:
    create_job(emulator)
    add_task_directly(emulator, "job", {"id": "t1-0", "commandLine": "not ours"})
    plan = layered_plan(tmp_path / "plan", tasks=20, waves=1)
    result = CliRunner().invoke(
        main, ["submit", str(plan), "--job-id", "job", "--quiet"], env=env_for(emulator)
    )
    assert result.exit_code == 3, result.output
    assert "t1-0: TaskExists (conflict)" in result.output
    report = orjson.loads((plan / "journal-job.report.json").read_bytes())
    assert [f["taskId"] for f in report["failures"]] == ["t1-0"]


def test_cli_adopt_existing_takes_the_tasks_of_a_lost_journal(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    plan = layered_plan(tmp_path / "plan", tasks=50, waves=2, pool_id="p")
    args = ["submit", str(plan), "--job-id", "job", "--quiet"]
    first = CliRunner().invoke(main, [*args, "--create-job"], env=env_for(emulator))
    assert first.exit_code == 0, first.output
    (plan / "journal-job.jsonl").unlink()  # the journal is lost
    again = CliRunner().invoke(main, args, env=env_for(emulator))
    assert again.exit_code == 3, again.output
    assert "TaskExists (conflict): conflict: a task with this id, the same as the plan's" in (
        again.output
    )
    assert "run the same command with --resume --adopt-existing" in again.output
    adopted = CliRunner().invoke(
        main, [*args, "--resume", "--adopt-existing"], env=env_for(emulator)
    )
    assert adopted.exit_code == 0, adopted.output
    assert "50/50 tasks confirmed" in adopted.output
    assert "added 0, already there (verified) 0, adopted 50," in adopted.output
    report = orjson.loads((plan / "journal-job.report.json").read_bytes())
    assert report["ok"] is True and report["adopted"] == 50
    assert emulator.store.task_count("job") == 50


def test_cli_wrong_key_exits_3_with_a_clear_message(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    plan = layered_plan(tmp_path / "plan", tasks=20, waves=1, pool_id="p")
    result = CliRunner().invoke(
        main,
        ["submit", str(plan), "--job-id", "job", "--create-job", "--quiet"],
        env=env_for(emulator, key=WRONG_KEY),
    )
    assert result.exit_code == 3
    assert "authentication failed: check AZURE_BATCH_ACCOUNT / AZURE_BATCH_ACCESS_KEY" in (
        result.output
    )
    assert WRONG_KEY not in result.output
    assert emulator.store.task_count("job") == 0
    # Nothing was sent, so the right key works without --resume.
    again = CliRunner().invoke(
        main,
        ["submit", str(plan), "--job-id", "job", "--create-job", "--quiet"],
        env=env_for(emulator),
    )
    assert again.exit_code == 0, again.output
    assert emulator.store.task_count("job") == 20


def test_a_submission_stopped_before_its_first_request_leaves_no_journal(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    """JobNotFound before any task was sent: no journal stays in the plan directory, so the
    plan can be compiled again in place (a journal there keeps it, to protect a started
    submission)."""
    out = tmp_path / "plan"
    examples = Path(__file__).resolve().parents[2] / "examples"
    compiled = CliRunner().invoke(
        main, ["compile", str(examples / "pipeline.py"), "--out", str(out)]
    )
    assert compiled.exit_code == 0, compiled.output
    result = CliRunner().invoke(
        main, ["submit", str(out), "--job-id", "nosuchjob", "--quiet"], env=env_for(emulator)
    )
    assert result.exit_code == 3 and "JobNotFound" in result.output
    # job.json names the pool: the hint does not ask for one
    assert "or pass --create-job" in result.output and "--pool-id" not in result.output
    assert not list(out.glob("journal-*.jsonl"))
    again = CliRunner().invoke(main, ["compile", str(examples / "pipeline.py"), "--out", str(out)])
    assert again.exit_code == 0, again.output


def test_a_plan_without_job_id_or_pool_is_told_both_at_once(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    """`submit PLAN --create-job` for a plan with neither a job id nor a pool asked for
    --pool-id, and only once given, for --job-id: two rounds for one mistake."""
    plan = layered_plan(tmp_path / "plan", tasks=5, waves=1, job_id=None)
    result = CliRunner().invoke(main, ["submit", str(plan), "--create-job"], env=env_for(emulator))
    assert result.exit_code == 2, result.output
    assert "--create-job needs --pool-id" in result.output
    assert "; and plan.json has no jobId: pass --job-id" in result.output
    assert emulator.store.stats()["requestsTotal"] == 0  # refused before any request


def test_cli_missing_credentials_is_a_usage_error(tmp_path: Path) -> None:
    plan = layered_plan(tmp_path / "plan", tasks=5, waves=1)
    env = {"AZURE_BATCH_ENDPOINT": "", "AZURE_BATCH_ACCOUNT": "", "AZURE_BATCH_ACCESS_KEY": ""}
    result = CliRunner().invoke(main, ["submit", str(plan), "--job-id", "job"], env=env)
    assert result.exit_code == 2
    assert "AZURE_BATCH_ENDPOINT" in result.output


def test_cli_bad_plan_dir_is_a_usage_error(emulator: EmulatorServer, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main, ["submit", str(tmp_path), "--job-id", "job"], env=env_for(emulator)
    )
    assert result.exit_code == 2
    assert "not a plan directory" in result.output


WORKFLOW = """
import networkx as nx

graph = nx.DiGraph()
graph.add_node("prep", command_line="/bin/true")
graph.add_node("run", command_line="/bin/true")
graph.add_edge("prep", "run")
"""


def test_cli_submits_a_workflow_file(
    emulator: EmulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "wf.py").write_text(WORKFLOW)
    args = ["submit", "wf.py", "--job-id", "wfjob", "--create-job", "--pool-id", "p", "--quiet"]
    result = CliRunner().invoke(main, args, env=env_for(emulator))
    assert result.exit_code == 0, result.output
    assert sorted(emulator.store.task_ids("wfjob")) == ["prep", "run"]
    assert (tmp_path / ".dagbatch" / "wfjob" / "plan" / "plan.json").is_file()
    journal = tmp_path / ".dagbatch" / "wfjob" / "journal-wfjob.jsonl"
    assert read_journal(journal).confirmed == {"prep", "run"}
    again = CliRunner().invoke(main, [*args, "--resume"], env=env_for(emulator))
    assert again.exit_code == 0, again.output
    # Submitted whole: the refusal says so and how to submit the workflow again.
    refused = CliRunner().invoke(main, args, env=env_for(emulator))
    assert refused.exit_code == 2, refused.output
    assert "'wfjob' was already submitted whole from this plan" in refused.output
    assert "(--job-id wfjob-2 --create-job)" in refused.output
    # The plan directory it compiled, submitted as a directory (as the commands that read a
    # job take it): the same journal, beside the plan, not a second one inside it.
    plan_args = ["submit", ".dagbatch/wfjob/plan", "--quiet"]
    refused = CliRunner().invoke(main, plan_args, env=env_for(emulator))
    assert refused.exit_code == 2
    assert "(journal .dagbatch/wfjob/journal-wfjob.jsonl: all 2 tasks" in refused.output
    resumed = CliRunner().invoke(main, [*plan_args, "--resume"], env=env_for(emulator))
    assert resumed.exit_code == 0, resumed.output
    assert "confirmed by an earlier run 2" in resumed.output
    assert not list((tmp_path / ".dagbatch" / "wfjob" / "plan").glob("journal-*"))


def test_submitting_a_workflow_file_shows_the_compile_warnings(
    emulator: EmulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The warnings `dagbatch compile` prints (here: the failure handler leaves the job unable
    to complete on its own) are not hidden when submit compiles the workflow itself."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "wf.py").write_text(
        WORKFLOW + 'graph.graph["job"] = {"on_all_tasks_complete": "terminatejob"}\n'
        'graph.add_node("alert", command_line="/bin/true")\n'
        'graph.add_edge("run", "alert", when="failure")\n'
    )
    compiled = CliRunner().invoke(main, ["compile", "wf.py", "--out", "p", "-q"])
    assert compiled.exit_code == 0 and "never-completes" in compiled.stderr
    args = ["submit", "wf.py", "--job-id", "warned", "--create-job", "--pool-id", "p", "-q"]
    result = CliRunner().invoke(main, args, env=env_for(emulator))
    assert result.exit_code == 0, result.output
    assert "never-completes" in result.stderr
    assert [d for d in compiled.stderr.splitlines() if "never-completes" in d] == [
        d for d in result.stderr.splitlines() if "never-completes" in d
    ]


def test_cli_concurrency_is_adaptive_by_default_and_fixed_within_bounds(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    help_text = CliRunner().invoke(main, ["submit", "--help"]).output
    assert "adaptive" in help_text and "1<=x<=256" in help_text

    plan = layered_plan(tmp_path / "plan", tasks=120, waves=2, pool_id="p")
    too_many = CliRunner().invoke(
        main,
        ["submit", str(plan), "--job-id", "job", "--create-job", "--concurrency", "257"],
        env=env_for(emulator),
    )
    assert too_many.exit_code == 2
    assert "--concurrency" in too_many.output

    # Plain progress lines (not a terminal) name the level: fixed here.
    fixed = CliRunner().invoke(
        main,
        ["submit", str(plan), "--job-id", "job", "--create-job", "--concurrency", "4"],
        env=env_for(emulator),
    )
    assert fixed.exit_code == 0, fixed.output
    assert "tasks/s, concurrency 4\n" in fixed.output

    adaptive = CliRunner().invoke(
        main, ["submit", str(plan), "--job-id", "job2", "--create-job"], env=env_for(emulator)
    )
    assert adaptive.exit_code == 0, adaptive.output
    assert "tasks/s, concurrency 16 (adaptive)\n" in adaptive.output
