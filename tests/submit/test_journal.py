"""dagbatch.submit.journal: records, folding, torn lines, refusal without --resume, mismatch,
lock."""

from __future__ import annotations

import errno
import io
from pathlib import Path
from typing import Any

import orjson
import pytest

from dagbatch.errors import ConfigError
from dagbatch.submit.journal import (
    Journal,
    JournalCorrupt,
    JournalExists,
    JournalMismatch,
    JournalWriteError,
    RunHeader,
    read_journal,
)

HEADER = RunHeader("a" * 64, "job1", "https://acct.example/")


def test_records_fold_into_state(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    journal, state = Journal.open(path, HEADER, resume=False)
    assert state.runs == 0
    journal.sending(1, ["a", "b", "c"])
    journal.confirmed(["a"])
    journal.failed("c", "InvalidPropertyValue", "bad", "clienterror")
    journal.sync()
    journal.job_event("created")
    journal.close()

    state = read_journal(path)
    assert state.runs == 1
    assert state.header == RunHeader("a" * 64, "job1", "https://acct.example")
    assert state.sent == {"a", "b", "c"}
    assert state.confirmed == {"a"}
    assert state.unconfirmed_sent == {"b", "c"}
    assert state.failed == {"c": ("InvalidPropertyValue", "bad")}
    assert state.maybe_ours == {"a", "b"}  # c's send added nothing: the service refused it
    assert state.job_events == {"created"}
    lines = path.read_bytes().splitlines()
    assert all(isinstance(orjson.loads(line), dict) for line in lines)


def test_what_the_sends_may_have_added(tmp_path: Path) -> None:
    """A TaskExists conflict says no send before it added the task; a later send, with no
    answer recorded (an interrupted run), may have (the other task deleted meanwhile); a
    failure the service answered 'not added' leaves it as it was; an unconfirmed one, or a
    record of before there were kinds, may have landed."""
    path = tmp_path / "j.jsonl"
    journal, _ = Journal.open(path, HEADER, resume=False)
    journal.sending(1, ["x", "y", "z", "old", "lost"])
    for task_id in ("x", "y", "z"):
        journal.failed(task_id, "TaskExists", "conflict: ...", "conflict")
    journal.failed("lost", "Timeout", "not confirmed", "unconfirmed")
    journal._write({"t": "fail", "id": "old", "code": "ServerBusy", "msg": "..."})  # no kind
    journal.sending(2, ["y", "z"])  # y: interrupted; z: given up on busy answers
    journal.failed("z", "ServerBusy", "gave up", "gaveup")
    journal.close()
    assert read_journal(path).maybe_ours == {"y", "lost", "old"}


def test_journal_of_a_run_that_sent_nothing_is_removed_or_started_afresh(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    # A run that stops before its first request (the key was wrong, the job does not exist)
    # leaves no journal: it holds no promise, and a journal in a plan directory keeps that
    # plan from being compiled again.
    Journal.open(path, HEADER, resume=False)[0].close()
    assert not path.exists()
    # One left by a process killed before it closed the journal: started afresh.
    path.write_bytes(orjson.dumps(HEADER.to_record(resume=False)) + b"\n")
    other = RunHeader("b" * 64, "job1", HEADER.endpoint)
    journal, state = Journal.open(path, other, resume=False)
    journal.sending(1, ["a"])
    journal.close()
    assert state.runs == 0
    after = read_journal(path)
    assert after.runs == 1 and after.header is not None and after.header.plan_sha256 == "b" * 64
    assert after.sent == {"a"}


def test_existing_journal_needs_resume(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    journal = Journal.open(path, HEADER, resume=False)[0]
    journal.sending(1, ["a"])
    journal.close()
    with pytest.raises(JournalExists, match="--resume") as refused:
        Journal.open(path, HEADER, resume=False, task_ids={"a", "b"})
    assert "(0 of 2 tasks confirmed)" in str(refused.value)
    journal, state = Journal.open(path, HEADER, resume=True)
    journal.close()
    assert state.runs == 1
    assert read_journal(path).runs == 2


def test_resume_refuses_another_plan_or_job(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    journal = Journal.open(path, HEADER, resume=False)[0]
    journal.sending(1, ["a"])
    journal.close()
    with pytest.raises(JournalMismatch, match="plan"):
        Journal.open(path, RunHeader("b" * 64, "job1", HEADER.endpoint), resume=True)
    with pytest.raises(JournalMismatch, match="job id"):
        Journal.open(path, RunHeader("a" * 64, "job2", HEADER.endpoint), resume=True)
    with pytest.raises(JournalMismatch, match="endpoint"):
        Journal.open(path, RunHeader("a" * 64, "job1", "https://other.example"), resume=True)


def test_torn_last_line_is_ignored_and_terminated(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    journal, _ = Journal.open(path, HEADER, resume=False)
    journal.sending(1, ["a", "b"])
    journal.confirmed(["a"])
    journal.close()
    with open(path, "ab") as fh:
        fh.write(b'{"t":"ok","ids":["b"')  # the process died in the middle of this write

    state = read_journal(path)
    assert state.torn_lines == 1
    assert state.confirmed == {"a"}
    assert state.unconfirmed_sent == {"b"}

    journal, state = Journal.open(path, HEADER, resume=True)
    journal.confirmed(["b"])
    journal.close()
    state = read_journal(path)
    assert state.confirmed == {"a", "b"}
    assert state.torn_lines == 1
    assert state.runs == 2


def test_a_damaged_line_with_records_after_it_in_its_run_is_refused(tmp_path: Path) -> None:
    """Only a run's last line can be a write cut short (the next run starts with its header):
    a line that is not JSON with more records of the same run after it is damage. Read as
    torn and skipped, its record would silently be lost."""
    path = tmp_path / "j.jsonl"
    journal, _ = Journal.open(path, HEADER, resume=False)
    journal.sending(1, ["a", "b"])
    journal.confirmed(["a"])
    journal.confirmed(["b"])
    journal.close()
    lines = path.read_bytes().split(b"\n")
    lines[2] = b'{"t":"ok"#,"ids":["a"]}'  # line 3, the first ok record
    path.write_bytes(b"\n".join(lines))
    with pytest.raises(JournalCorrupt, match="line 3: not a JSON record, and line 4"):
        read_journal(path)
    with pytest.raises(JournalCorrupt, match="line 3"):
        Journal.open(path, HEADER, resume=True)


def test_second_writer_is_refused_while_the_journal_is_open(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    journal, _ = Journal.open(path, HEADER, resume=False)
    try:
        with pytest.raises(ConfigError, match="in use"):
            Journal.open(path, HEADER, resume=True)
    finally:
        journal.close()


def test_a_second_submit_while_the_first_runs_is_told_it_is_in_use(tmp_path: Path) -> None:
    """Without --resume, the second was told the first 'was started before ... pass
    --resume', as if it had stopped: the journal was read before its lock was asked for."""
    path = tmp_path / "j.jsonl"
    journal, _ = Journal.open(path, HEADER, resume=False)
    journal.sending(1, ["a"])
    before = path.read_bytes()
    try:
        with pytest.raises(ConfigError, match="in use by another dagbatch submit"):
            Journal.open(path, HEADER, resume=False)
    finally:
        journal.close()
    assert path.read_bytes() == before


def test_records_of_the_wrong_shape_name_their_line(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    journal, _ = Journal.open(path, HEADER, resume=False)
    journal.sending(1, ["a"])
    journal.close()
    with path.open("ab") as fh:
        fh.write(b'{"t":"send","b":2,"ids":"a"}\n')
    with pytest.raises(JournalCorrupt, match="line 3: a 'send' record without"):
        read_journal(path)


def test_the_creation_time_of_the_job_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    journal, _ = Journal.open(path, HEADER, resume=False)
    journal.sending(1, ["a"])
    journal.job_event("created", creationTime="2026-01-01T00:00:00.000001Z")
    journal.close()
    assert read_journal(path).job_created_at == "2026-01-01T00:00:00.000001Z"


def test_a_write_error_is_a_journal_write_error(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    journal, _ = Journal.open(path, HEADER, resume=False)
    journal.failed(
        "x", "InvalidPropertyValue", "", "clienterror"
    )  # a record: the file stays at close
    journal.close()
    with path.open("rb", buffering=0) as read_only:  # every write to it fails (an OSError)
        journal._fh = read_only
        with pytest.raises(JournalWriteError, match="cannot write the journal"):
            journal.sending(1, ["a"])


@pytest.mark.parametrize(
    "content",
    [b"my notes\nline two\n", b"line one\n", b'# a header\n{"not": "a record"}\n'],
)
@pytest.mark.parametrize("resume", [False, True])
def test_a_file_that_is_not_a_journal_is_refused_and_left_as_it_is(
    tmp_path: Path, content: bytes, resume: bool
) -> None:
    """`--journal notes.txt` took the user's file for a journal whose lines were all torn
    writes, emptied it and, when nothing was sent, deleted it."""
    path = tmp_path / "notes.txt"
    path.write_bytes(content)

    with pytest.raises(JournalCorrupt, match="not a dagbatch journal"):
        Journal.open(path, HEADER, resume=resume)

    assert path.read_bytes() == content


def test_a_header_cut_short_by_a_crash_is_still_a_journal_started_afresh(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    path.write_bytes(b'{"t":"run","v":1,"pla')  # the first write of a run, cut short

    journal, state = Journal.open(path, HEADER, resume=False)
    journal.sending(1, ["a"])
    journal.close()

    assert state.header is None and read_journal(path).sent == {"a"}


class _ShortWrites(io.FileIO):
    """A journal file whose every write takes at most 7 bytes, as a write can when the disk
    fills or a file size limit is near; from the ``fail_after``-th write on, none is taken
    (ENOSPC)."""

    fail_after = 10**9

    def write(self, data: Any) -> int:
        self.fail_after -= 1
        if self.fail_after < 0:
            raise OSError(errno.ENOSPC, "No space left on device")
        return super().write(bytes(data)[:7])


def test_a_record_written_in_part_is_written_whole_or_stops_the_submission(
    tmp_path: Path,
) -> None:
    """A short write was taken as the whole record: the request went out with its record
    cut, and the next --resume read its landed tasks as another submission's."""
    path = tmp_path / "j.jsonl"
    journal, _ = Journal.open(path, HEADER, resume=False)
    journal._fh.close()
    journal._fh = _ShortWrites(path, "ab")
    journal.sending(1, ["a", "b"])
    journal.confirmed(["a", "b"])
    lines = path.read_bytes().splitlines()
    assert [orjson.loads(line)["t"] for line in lines[-2:]] == ["send", "ok"]

    journal._fh.fail_after = 2  # the record's first 7 bytes, then the disk is full
    with pytest.raises(JournalWriteError, match="No space left on device"):
        journal.sending(2, ["c"])
    journal.close()
