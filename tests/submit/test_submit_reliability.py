"""Library-level reliability of a submission: the job's own count is checked at the end,
timeouts say "not confirmed", secrets are masked in every encoding in every output, a batch
goes out parents first, and ``submit_plan`` works from a running event loop."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import orjson
import pytest

from dagbatch.cli.submit import print_report
from dagbatch.emulator import DEV_KEY
from dagbatch.emulator.server import EmulatorServer
from dagbatch.redact import redact
from dagbatch.submit.auth import SharedKeyAuth
from dagbatch.submit.client import BatchClient
from dagbatch.submit.report import report_path_for, write_report
from dagbatch.submit.retry import RetryPolicy
from dagbatch.submit.submission import submit_plan
from tests.plan_factory import layered_plan, write_plan
from tests.submit_helpers import make_client, no_sleep

Handler = Any


class MockService:
    """A tiny Batch service for what the emulator cannot be made to do. ``store`` decides
    whether an added task is really kept (a service that loses tasks)."""

    def __init__(self, *, keep: Any = lambda task_id: True, add: Any = None) -> None:
        self.keep = keep
        self.add = add
        self.tasks: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/jobs/job":
            return httpx.Response(200, json={"id": "job", "usesTaskDependencies": True})
        if path == "/jobs/job/taskcounts":
            counts = {"active": len(self.tasks), "running": 0, "completed": 0}
            return httpx.Response(200, json={"taskCounts": counts})
        if path == "/jobs/job/tasks":
            return httpx.Response(200, json={"value": [{"id": i} for i in self.tasks]})
        if self.add is not None:
            response: httpx.Response = self.add(request)
            return response
        body = orjson.loads(request.content)
        ids = [t["id"] for t in body["value"]]
        self.tasks.extend(i for i in ids if self.keep(i))
        return httpx.Response(
            200, json={"value": [{"taskId": i, "status": "success"} for i in ids]}
        )

    def client(self, **retry: Any) -> BatchClient:
        return BatchClient(
            "https://acct.example",
            SharedKeyAuth("acct", DEV_KEY),
            transport=httpx.MockTransport(self),
            retry=RetryPolicy(**{"sleep": no_sleep, **retry}),
        )


def test_a_job_that_does_not_hold_confirmed_tasks_is_reported(tmp_path: Path) -> None:
    """The service said success but kept 3 tasks fewer: the task count at the end says so."""
    plan = layered_plan(tmp_path / "plan", tasks=250, waves=2)
    lost = {"t1-7", "t2-0", "t2-99"}
    service = MockService(keep=lambda task_id: task_id not in lost)
    report = submit_plan(plan, job_id="job", client=service.client())
    assert not report.ok
    assert report.job_task_count == 247
    assert {f.task_id for f in report.failures} == lost
    assert {(f.code, f.kind) for f in report.failures} == {("TaskMissing", "missing")}
    assert report.confirmed == 247


def test_timeouts_give_not_confirmed_rather_than_did_not_land(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def timeout(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    plan = write_plan(tmp_path / "plan", [(1, [{"id": "a", "commandLine": "x"}])])
    service = MockService(add=timeout)
    report = submit_plan(plan, job_id="job", client=service.client(max_retries=2))
    assert not report.ok
    (failure,) = report.failures
    assert failure.kind == "unconfirmed" and failure.may_have_landed
    assert failure.code == "Timeout"  # the httpx transport too
    assert "may have landed" in failure.message
    print_report(report, None)
    out = capsys.readouterr().out
    assert "1 task(s) not confirmed (they may have landed" in out
    assert "did not land" not in out


def test_per_task_servererror_exhaustion_still_says_gave_up(tmp_path: Path) -> None:
    def busy(request: httpx.Request) -> httpx.Response:
        ids = [t["id"] for t in orjson.loads(request.content)["value"]]
        results = [
            {"taskId": i, "status": "servererror", "error": {"code": "ServerBusy"}} for i in ids
        ]
        return httpx.Response(200, json={"value": results})

    plan = write_plan(tmp_path / "plan", [(1, [{"id": "a", "commandLine": "x"}])])
    report = submit_plan(plan, job_id="job", client=MockService(add=busy).client(max_retries=2))
    assert [f.kind for f in report.failures] == ["gaveup"]


SIG = "Zm9vYmFyc2VjcmV0K3NpZw=="  # what a SAS signature looks like


@pytest.mark.parametrize(
    "echoed",
    [
        f"https://s.blob/c/f?sv=2024&sig={quote(SIG, safe='')}&se=1",
        quote(f"https://s.blob/c/f?sv=2024&sig={quote(SIG, safe='')}&se=1", safe=""),
        quote(quote(f"https://s.blob/c/f?sv=2024&sig={SIG}", safe=""), safe=""),
        f"https://s.blob/c/f?sv=2024\\u0026sig\\u003d{SIG}",
    ],
    ids=["query", "percent-encoded", "twice", "json-escaped"],
)
def test_sas_signatures_are_masked_in_every_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], echoed: str
) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        error = {"code": "InvalidPropertyValue", "message": {"value": f"cannot read {echoed}"}}
        return httpx.Response(
            200, json={"value": [{"taskId": "a", "status": "clienterror", "error": error}]}
        )

    plan = write_plan(tmp_path / "plan", [(1, [{"id": "a", "commandLine": "x"}])])
    report = submit_plan(plan, job_id="job", client=MockService(add=refuse).client())
    report_file = report_path_for(report.journal_path)
    write_report(report, report_file)
    print_report(report, report_file)
    outputs = {
        "stdout": capsys.readouterr().out,
        "journal": report.journal_path.read_text(),
        "report": report_file.read_text(),
    }
    for name, text in outputs.items():
        for form in (SIG, quote(SIG, safe=""), quote(quote(SIG, safe=""), safe=""), "Zm9vYmFy"):
            assert form not in text, f"{name} holds the signature"
        assert "REDACTED" in text, name


def test_the_account_key_is_masked_in_every_encoding() -> None:
    key = "c2VjcmV0K2tleS92YWx1ZS8rPT0rL2Fi+/=="
    SharedKeyAuth("acct", key)  # registers it
    for form in (
        key,
        quote(key, safe=""),
        quote(key, safe="").lower(),
        quote(quote(key, safe=""), safe=""),
        key.replace("/", "\\/"),
        key.replace("+", "-").replace("/", "_"),
    ):
        assert "c2VjcmV0" not in redact(f"echo: {form} end"), form


def test_submit_plan_works_inside_a_running_event_loop(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    """As in a Jupyter notebook, whose cells run inside an event loop."""
    plan = layered_plan(tmp_path / "plan", tasks=150, waves=2, pool_id="p")

    async def notebook_cell() -> int:
        report = submit_plan(plan, job_id="job", client=make_client(emulator), create_job=True)
        return report.confirmed

    assert asyncio.run(notebook_cell()) == 150
    assert emulator.store.task_count("job") == 150


def test_the_printed_report_caps_its_list_and_never_promises_rows_it_does_not_show(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """At most MAX_PRINTED_FAILURES rows on screen, shared by the groups in order; a group
    left no row says where its tasks are instead of '... and N more' under nothing."""
    from dagbatch.cli.submit import MAX_PRINTED_FAILURES
    from dagbatch.submit.report import SubmitFailure, SubmitReport

    landed_not = [
        SubmitFailure(f"g{n}", "ServerBusy", "gave up after 0 retries", "gaveup", 1)
        for n in range(MAX_PRINTED_FAILURES + 10)
    ]
    open_ones = [
        SubmitFailure(f"u{n}", "Timeout", "not confirmed after 0 retries", "unconfirmed", 2)
        for n in range(7)
    ]
    report = SubmitReport(
        job_id="job",
        total=100,
        confirmed=33,
        previously_confirmed=0,
        added=33,
        verified_existing=0,
        retries=0,
        requests=3,
        elapsed=1.0,
        failures=tuple(landed_not + open_ones),
        not_submitted=(),
        journal_path=tmp_path / "journal-job.jsonl",
    )
    print_report(report, None)
    out = capsys.readouterr().out.splitlines()
    rows = [line for line in out if line.startswith("  g") or line.startswith("  u")]
    assert len(rows) == MAX_PRINTED_FAILURES and all(r.startswith("  g") for r in rows)
    assert f"{MAX_PRINTED_FAILURES + 10} task(s) did not land:" in out
    assert "  ... and 10 more (all of them in the JSON report)" in out
    assert (
        "7 task(s) not confirmed (they may have landed; --resume checks them): "
        "listed in the JSON report"
    ) in out
    assert out.count("  ... and 10 more (all of them in the JSON report)") == 1
    assert not any("and 7 more" in line for line in out)
