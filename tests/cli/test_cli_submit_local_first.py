"""`dagbatch submit` finds what is wrong on this machine before its first request: a damaged
journal is exit 2 whatever the endpoint does (unreachable, or an emulator that must see no
request at all), and so is a journal that cannot be created, also with --create-job (whose job
is otherwise asked for while the plan is read)."""

from __future__ import annotations

import hashlib
import socket
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner

from dagbatch.cli.main import main
from dagbatch.emulator import DEV_ACCOUNT, DEV_KEY
from dagbatch.emulator.server import EmulatorServer
from tests.plan_factory import layered_plan
from tests.submit_helpers import env_for

JOB = "job"
JOURNAL = f"journal-{JOB}.jsonl"


@pytest.fixture
def unreachable() -> Iterator[str]:
    """An endpoint on 127.0.0.1 where nothing listens: the port is held by a socket that is
    bound and never listens (a connection is refused; no other program can take the port)."""
    held = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    held.bind(("127.0.0.1", 0))
    try:
        yield f"http://127.0.0.1:{held.getsockname()[1]}"
    finally:
        held.close()


def run_header(plan: Path, endpoint: str) -> bytes:
    sha = hashlib.sha256((plan / "plan.json").read_bytes()).hexdigest()
    record = {"t": "run", "v": 1, "plan": sha, "job": JOB, "endpoint": endpoint, "at": "x"}
    return orjson.dumps(record) + b"\n"


#: Journals damaged in each way ``read_journal`` and ``Journal.open`` refuse (``JournalCorrupt``).
DAMAGES = {
    "not-a-journal": lambda header: b"these are my notes, not a journal\n",
    "no-header": lambda header: b'{"t":"send","b":1,"ids":["t1-0"]}\n',
    "torn-in-the-middle": lambda header: header + b'{"t":"se\n{"t":"send","b":1,"ids":["t1-0"]}\n',
    "wrong-shape": lambda header: header + b'{"t":"send","b":"one"}\n',
    "another-plan": lambda header: header + b'{"t":"send","b":1,"ids":["not-in-plan"]}\n',
}

OPTIONS = {"plain": [], "resume": ["--resume"], "create-job": ["--create-job"]}


def submit(plan: Path, endpoint: str, options: list[str]) -> tuple[int, str]:
    env = {"AZURE_BATCH_ENDPOINT": endpoint, "AZURE_BATCH_ACCOUNT": DEV_ACCOUNT}
    env["AZURE_BATCH_ACCESS_KEY"] = DEV_KEY
    result = CliRunner().invoke(
        main, ["submit", str(plan), "--job-id", JOB, "-q", *options], env=env
    )
    return result.exit_code, result.output


@pytest.mark.parametrize("options", list(OPTIONS), ids=list(OPTIONS))
@pytest.mark.parametrize("damage", list(DAMAGES), ids=list(DAMAGES))
def test_a_damaged_journal_is_exit_2_with_an_unreachable_endpoint(
    damage: str, options: str, unreachable: str, tmp_path: Path
) -> None:
    plan = layered_plan(tmp_path / "plan", tasks=5, waves=1, pool_id="p")
    journal = plan / JOURNAL
    journal.write_bytes(DAMAGES[damage](run_header(plan, unreachable)))
    before = journal.read_bytes()
    code, output = submit(plan, unreachable, OPTIONS[options])
    assert code == 2, output
    assert output.startswith(f"error: journal {journal}") or output.startswith(
        f"error: {journal}, line 1: not a journal record"
    ), output
    assert "cannot be reached" not in output and "127.0.0.1" not in output.split(JOURNAL)[-1]
    assert journal.read_bytes() == before  # left as it is


@pytest.mark.parametrize("options", list(OPTIONS), ids=list(OPTIONS))
def test_a_damaged_journal_sends_no_request(
    options: str, emulator: EmulatorServer, tmp_path: Path
) -> None:
    plan = layered_plan(tmp_path / "plan", tasks=5, waves=1, pool_id="p")
    (plan / JOURNAL).write_bytes(DAMAGES["torn-in-the-middle"](run_header(plan, emulator.endpoint)))
    result = CliRunner().invoke(
        main, ["submit", str(plan), "--job-id", JOB, "-q", *OPTIONS[options]], env=env_for(emulator)
    )
    assert result.exit_code == 2, result.output
    assert emulator.store.stats()["requestsTotal"] == 0


def test_a_journal_that_cannot_be_created_stops_create_job_before_any_request(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    """With --create-job and no journal yet, the job is asked for while the plan is read (one
    round trip less); a journal that cannot be created is found before that request (that
    the request is not even begun: tests/submit/test_submit_local_before_network.py)."""
    plan = layered_plan(tmp_path / "plan", tasks=20, waves=2, pool_id="p")
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory\n", encoding="utf-8")
    journal = blocker / "journal.jsonl"
    result = CliRunner().invoke(
        main,
        ["submit", str(plan), "--job-id", JOB, "--create-job", "-q", "--journal", str(journal)],
        env=env_for(emulator),
    )
    assert result.exit_code == 2, result.output
    assert result.output.startswith("error: cannot ") and f"journal {journal}" in result.output
    assert emulator.store.stats()["requestsTotal"] == 0
    assert emulator.store.job_ids() == []
