"""Progress output of a submission: plain lines and the rich bar."""

from __future__ import annotations

import io
from pathlib import Path

from dagbatch.emulator.server import EmulatorServer
from dagbatch.submit.progress import PlainProgress, RichProgress
from dagbatch.submit.submission import submit_plan
from tests.plan_factory import layered_plan
from tests.submit_helpers import make_client


def test_plain_and_rich_progress_report_waves(emulator: EmulatorServer, tmp_path: Path) -> None:
    plan = layered_plan(tmp_path / "plan", tasks=300, waves=3, pool_id="p")
    plain = io.StringIO()
    report = submit_plan(
        plan,
        job_id="job",
        client=make_client(emulator),
        create_job=True,
        progress=PlainProgress(plain),
    )
    assert report.ok
    text = plain.getvalue()
    assert "submitting 300 tasks in 3 wave(s)" in text
    assert "wave 3/3 done; so far 300/300 tasks confirmed" in text

    rich_out = io.StringIO()
    report = submit_plan(
        plan,
        job_id="job2",
        client=make_client(emulator),
        create_job=True,
        progress=RichProgress(rich_out),
    )
    assert report.ok and "300/300" in rich_out.getvalue()
