"""Journal.commit (group commit), the job's creation record before the first confirmation,
and the free-list transport of BatchClient."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from dagbatch.emulator.server import EmulatorServer
from dagbatch.errors import JournalWriteError
from dagbatch.submit import journal as journal_module
from dagbatch.submit.client import FreeListTransport
from dagbatch.submit.journal import Journal, RunHeader, read_journal
from dagbatch.submit.submission import submit_plan
from tests.conftest import EmulatorFactory
from tests.plan_factory import layered_plan, plan_tasks, write_plan
from tests.submit_helpers import create_job, make_client

HEADER = RunHeader("b" * 64, "job", "http://127.0.0.1:1")


def test_group_commit_puts_every_confirmation_on_disk_with_few_fsyncs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    journal, _ = Journal.open(tmp_path / "j.jsonl", HEADER, resume=False)
    synced_at: list[int] = []  # records written when each fsync started
    real = journal_module._datasync

    def counting(fd: int) -> None:
        synced_at.append(journal._written)
        real(fd)

    monkeypatch.setattr(journal_module, "_datasync", counting)

    async def confirm(n: int) -> int:
        await asyncio.sleep(0)
        journal.confirmed([f"t{n}"])
        written = journal._written
        await journal.commit()
        # The rule: when commit returns, an fsync that started after this record was
        # written has finished.
        assert any(at >= written for at in synced_at)
        return n

    async def run() -> list[int]:
        return await asyncio.wait_for(asyncio.gather(*(confirm(n) for n in range(200))), 30)

    assert asyncio.run(run()) == list(range(200))
    journal.close()
    assert read_journal(tmp_path / "j.jsonl").confirmed == {f"t{n}" for n in range(200)}
    assert 1 <= len(synced_at) < 20  # grouped: not one fsync per confirmation


def test_a_failed_group_fsync_is_raised_in_every_waiter(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    journal, _ = Journal.open(tmp_path / "j.jsonl", HEADER, resume=False)

    def failing(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(journal_module, "_datasync", failing)

    async def confirm(n: int) -> None:
        journal.confirmed([f"t{n}"])
        await journal.commit()

    async def run() -> list[object]:
        return await asyncio.wait_for(
            asyncio.gather(*(confirm(n) for n in range(5)), return_exceptions=True), 30
        )

    outcomes = asyncio.run(run())
    assert all(isinstance(o, JournalWriteError) for o in outcomes), outcomes
    assert "No space left" in str(outcomes[0])
    monkeypatch.undo()
    journal.close()


def test_free_list_reuses_one_connection_per_request_in_flight(emulator: EmulatorServer) -> None:
    create_job(emulator, "job")

    async def run() -> tuple[int, int]:
        client = make_client(emulator)

        async def listing() -> None:
            # A GET with a query: httpx's path (one without goes through the lean pool).
            await client.call("GET", "/jobs/job/tasks", params={"$select": "id"})

        try:
            await asyncio.gather(*(listing() for _ in range(12)))
            http = client._client()
            transport = http._transport
            assert isinstance(transport, FreeListTransport)
            first = transport.connections
            for _ in range(3):  # later rounds reuse the same connections
                await asyncio.gather(*(listing() for _ in range(12)))
            return first, transport.connections
        finally:
            await client.aclose()

    first, after = asyncio.run(run())
    assert 1 <= first <= 12
    assert after == first


def test_job_creation_is_journaled_before_the_first_confirmation(
    emulator_factory: EmulatorFactory, tmp_path: Path
) -> None:
    """The GET of the new job's creationTime runs while the first requests fly; it is slow
    here (getjob delayed), so answers arrive first and must wait for its record."""
    server = emulator_factory(latency_ms=300, operations=frozenset({"getjob"}))
    plan = layered_plan(tmp_path / "plan", tasks=300, waves=2, pool_id="p")

    report = submit_plan(plan, job_id="job", client=make_client(server), create_job=True)

    assert report.ok and report.job_created
    records = [
        orjson.loads(line) for line in (plan / "journal-job.jsonl").read_bytes().splitlines()
    ]
    kinds = [r["t"] for r in records]
    created = next(i for i, r in enumerate(records) if r.get("event") == "created")
    assert isinstance(records[created].get("creationTime"), str)
    assert kinds.index("send") < created < kinds.index("ok")  # overlapped, and in order
    assert read_journal(plan / "journal-job.jsonl").job_created_at


@pytest.mark.parametrize(("fsync_s", "on_loop"), [(0.0, True), (0.003, False)])
def test_a_fast_disk_syncs_on_the_loop_and_a_slow_one_in_a_worker(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fsync_s: float, on_loop: bool
) -> None:
    """Under INLINE_FSYNC_S an fsync costs less than handing it to a thread: it runs on the
    loop, once for every confirmation of the loop's turn; a slower one goes to a worker so
    the loop goes on. Either way commit returns only once the record is on disk."""
    journal, _ = Journal.open(tmp_path / "j.jsonl", HEADER, resume=False)
    threads: list[int] = []

    def timed(fd: int) -> None:  # a disk of known speed (whatever this machine's is)
        threads.append(threading.get_ident())
        time.sleep(fsync_s)

    monkeypatch.setattr(journal_module, "_datasync", timed)

    async def confirm(n: int) -> None:
        journal.confirmed([f"t{n}"])
        written = journal._written
        await journal.commit()
        assert journal._synced >= written

    async def run() -> None:
        for rounds in range(3):  # the first fsync decides: measured, then kept to
            await asyncio.gather(*(confirm(100 * rounds + n) for n in range(50)))

    asyncio.run(asyncio.wait_for(run(), 30))
    journal.close()
    loop_thread = threading.get_ident()
    later = threads[1:-1]  # after the first measurement, before close()
    assert later and all((t == loop_thread) == on_loop for t in later)
    if on_loop:
        assert len(threads) <= 5  # one a round of 50 (and the one at close)
    assert read_journal(tmp_path / "j.jsonl").confirmed == {
        f"t{100 * r + n}" for r in range(3) for n in range(50)
    }


def _record_syncs(monkeypatch: pytest.MonkeyPatch) -> tuple[list[int], list[tuple[int, int]]]:
    """Watch every journal of the test: (the records written when each fsync started, and for
    each ``send`` record (its line, the lines on disk when it was written))."""
    syncs: list[int] = []
    sends: list[tuple[int, int]] = []
    real_sync = Journal.sync
    real_sending = Journal.sending

    def sync(self: Journal) -> None:
        if self.unsynced:
            syncs.append(self._written)
        real_sync(self)

    def sending(self: Journal, batch: int, ids: Any) -> None:
        sends.append((self._written, self._synced))
        real_sending(self, batch, ids)

    monkeypatch.setattr(Journal, "sync", sync)
    monkeypatch.setattr(Journal, "sending", sending)
    return syncs, sends


def test_a_child_is_sent_only_once_its_parents_confirmations_are_on_disk(
    emulator: EmulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Confirmations reach the disk by group commit, not one fsync an answer; but before a
    task that depends on others is sent, every confirmation so far is on disk. Parents in
    earlier waves and parents earlier in the child's own batch alike."""
    create_job(emulator, "job")
    chain = [{"id": "c0", "commandLine": "true"}] + [
        {"id": f"c{i}", "commandLine": "true", "dependsOn": {"taskIds": [f"c{i - 1}"]}}
        for i in range(1, 5)
    ]
    layered = layered_plan(tmp_path / "layered", tasks=1_200, waves=4, per_batch=100)
    plan = write_plan(
        tmp_path / "plan",
        [(1, chain), *((w, [*ts]) for w, ts in _batches(layered))],
    )
    syncs, sends = _record_syncs(monkeypatch)

    report = submit_plan(plan, job_id="job", client=make_client(emulator), concurrency=8)

    assert report.ok and report.confirmed == 1_205
    lines = [orjson.loads(line) for line in (plan / "journal-job.jsonl").read_bytes().splitlines()]
    ok_line = {i: n for n, r in enumerate(lines) if r["t"] == "ok" for i in r["ids"]}
    send_lines = [n for n, r in enumerate(lines) if r["t"] == "send"]
    assert len(send_lines) == len(sends)
    parents = {t["id"]: t.get("dependsOn", {}).get("taskIds", []) for _, t in plan_tasks(plan)}
    checked = 0
    for n, (written, on_disk) in zip(send_lines, sends, strict=True):
        assert written == n  # the watch lines up with the file
        for task_id in lines[n]["ids"]:
            for parent in parents[task_id]:
                assert ok_line[parent] < on_disk, (task_id, parent)
                checked += 1
    assert checked == 900 * 2 + 4  # each parent of waves 2-4 and of the chain
    assert syncs


def test_the_answers_of_a_wave_share_their_fsyncs(
    emulator: EmulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No fsync of its own for an answer nobody waits for: one at the start of each wave,
    one every SYNC_EVERY_S while answers come in, one at the end (and the journal's header
    and close)."""
    create_job(emulator, "job")
    plan = layered_plan(tmp_path / "plan", tasks=6_000, waves=2, per_batch=100)
    syncs, _ = _record_syncs(monkeypatch)

    started = time.monotonic()
    report = submit_plan(plan, job_id="job", client=make_client(emulator), concurrency=8)
    elapsed = time.monotonic() - started

    assert report.ok and report.confirmed == 6_000 and report.requests == 60
    assert read_journal(plan / "journal-job.jsonl").confirmed == {
        t["id"] for _, t in plan_tasks(plan)
    }
    assert len(syncs) <= 2 + 2 + 1 + int(elapsed / journal_module.SYNC_EVERY_S) + 1


def _batches(plan: Path) -> list[tuple[int, list[dict[str, Any]]]]:
    """(wave, tasks) of each batch of a plan directory."""
    manifest = orjson.loads((plan / "plan.json").read_bytes())
    return [
        (e["wave"], orjson.loads((plan / e["file"]).read_bytes())["value"])
        for e in manifest["batches"]
    ]


def test_a_sync_is_due_once_records_wait_and_the_last_fsync_is_old(tmp_path: Path) -> None:
    journal, _ = Journal.open(tmp_path / "j.jsonl", HEADER, resume=False)
    assert not journal.unsynced and not journal.sync_due()  # the header is on disk
    journal.confirmed(["a"])
    assert journal.unsynced and not journal.sync_due()  # the last fsync is recent
    journal._synced_at -= journal_module.SYNC_EVERY_S
    assert journal.sync_due()
    journal.sync()
    assert not journal.unsynced and not journal.sync_due()
    journal.close()
