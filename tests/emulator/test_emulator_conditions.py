"""Conditional requests on jobs and tasks (``dagbatch.emulator.conditions``), through the
official SDK's ``etag`` / ``match_condition`` and ``if_(un)modified_since``: a write whose
condition does not hold is 412 ``ConditionNotMet`` and changes nothing, a read is 304."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from dagbatch.emulator.server import EmulatorServer

batch = pytest.importorskip("azure.batch")

from azure.core import MatchConditions  # noqa: E402
from azure.core.credentials import AzureNamedKeyCredential  # noqa: E402
from azure.core.exceptions import HttpResponseError  # noqa: E402

models = batch.models
JOB = models.BatchJobCreateOptions(id="job", pool_info=models.BatchPoolInfo(pool_id="pool"))


def sdk_client(server: EmulatorServer) -> Any:
    return batch.BatchClient(server.endpoint, AzureNamedKeyCredential(server.account, server.key))


class refused:
    """``with refused(412):`` the SDK call raises (the SDK picks the exception class from
    the headers it sent) with that status, and 412 with ``ConditionNotMet``."""

    def __init__(self, status: int) -> None:
        self.status = status

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: Any, error: Any, _tb: Any) -> bool:
        assert isinstance(error, HttpResponseError), f"no error, or not the SDK's: {error!r}"
        assert error.status_code == self.status, error
        if self.status == 412:
            assert error.error is not None and error.error.code == "ConditionNotMet", error
        return True


def test_a_job_changed_since_it_was_read_is_not_overwritten(emulator: EmulatorServer) -> None:
    with sdk_client(emulator) as client:
        client.create_job(JOB)
        etag = client.get_job("job").etag
        client.update_job(
            "job",
            models.BatchJobUpdateOptions(priority=1),
            etag=etag,
            match_condition=MatchConditions.IfNotModified,
        )
        with refused(412):
            client.update_job(
                "job",
                models.BatchJobUpdateOptions(priority=2),
                etag=etag,  # the job's ETag before the first update
                match_condition=MatchConditions.IfNotModified,
            )
        assert client.get_job("job").priority == 1
        with refused(412):
            client.begin_delete_job(
                "job", etag=etag, match_condition=MatchConditions.IfNotModified
            ).result()
        assert client.get_job("job").id == "job"  # not deleted


def test_a_task_read_again_with_its_etag_is_not_modified(emulator: EmulatorServer) -> None:
    with sdk_client(emulator) as client:
        client.create_job(JOB)
        client.create_task("job", models.BatchTaskCreateOptions(id="t", command_line="x"))
        etag = client.get_task("job", "t").etag
        with refused(304):
            client.get_task("job", "t", etag=etag, match_condition=MatchConditions.IfModified)
        task = client.get_task("job", "t")
        task.constraints = models.BatchTaskConstraints(max_task_retry_count=3)
        client.replace_task(
            "job", "t", task, etag=etag, match_condition=MatchConditions.IfNotModified
        )
        with refused(412):
            client.delete_task("job", "t", etag=etag, match_condition=MatchConditions.IfNotModified)
        # Changed since: read in full again.
        again = client.get_task("job", "t", etag=etag, match_condition=MatchConditions.IfModified)
        assert again.constraints.max_task_retry_count == 3


def test_modified_since_dates_are_whole_seconds(emulator: EmulatorServer) -> None:
    with sdk_client(emulator) as client:
        client.create_job(JOB)
        past = datetime.now(UTC) - timedelta(hours=1)
        future = datetime.now(UTC) + timedelta(hours=1)
        with refused(412):
            client.update_job(
                "job", models.BatchJobUpdateOptions(priority=3), if_unmodified_since=past
            )
        client.update_job(
            "job", models.BatchJobUpdateOptions(priority=4), if_unmodified_since=future
        )
        assert client.get_job("job", if_modified_since=past).priority == 4
        with refused(304):
            client.get_job("job", if_modified_since=future)


def test_a_date_that_is_not_one_is_refused(emulator: EmulatorServer) -> None:
    with sdk_client(emulator) as client:
        client.create_job(JOB)
        with pytest.raises(HttpResponseError) as bad:
            client.get_job("job", headers={"If-Modified-Since": "yesterday"})
    assert bad.value.status_code == 400
    assert bad.value.error is not None and bad.value.error.code == "InvalidHeaderValue"


def test_an_updated_task_reads_the_time_of_its_update(emulator: EmulatorServer) -> None:
    """Replace task changes the task: its ``lastModified`` moves to the update (it stayed
    at the last state change), while its ``stateTransitionTime`` stays; conditions on the
    date judge the update too."""
    with sdk_client(emulator) as client:
        client.create_job(JOB)
        client.create_task("job", models.BatchTaskCreateOptions(id="t", command_line="x"))
        before = client.get_task("job", "t")
        task = client.get_task("job", "t")
        task.constraints = models.BatchTaskConstraints(max_task_retry_count=2)
        client.replace_task("job", "t", task)
        after = client.get_task("job", "t")
        assert after.last_modified > before.last_modified
        assert after.state_transition_time == before.state_transition_time
        assert after.etag != before.etag
        # Not modified since a second after the update: a read of it is 304.
        with refused(304):
            client.get_task(
                "job", "t", if_modified_since=after.last_modified + timedelta(seconds=1)
            )


def test_a_task_gets_a_new_etag_each_time_its_state_changes() -> None:
    """The ETag is how a client tells "the Task has changed between requests" [S
    BatchTask.eTag]; it stayed as the task was added while it ran, completed, was
    reactivated and failed again, so a read made with it said "not modified" and a
    reactivate made with a stale one was taken. Every state change gives a new one; the
    previous state comes with the time the task entered it; terminate and reactivate answer
    with the task's ETag, Last-Modified and DataServiceId, as the spec lists."""
    import time

    from dagbatch.emulator.simulate import SimulatedRunner

    server = EmulatorServer(runner=SimulatedRunner({"t": (3, 0.3)})).start()
    try:
        with sdk_client(server) as client:
            client.create_job(JOB)
            created = client.create_task(
                "job", models.BatchTaskCreateOptions(id="t", command_line="x"), cls=lambda *a: a[2]
            )
            deadline = time.monotonic() + 10
            while client.get_task("job", "t").state != "completed":
                assert time.monotonic() < deadline
                time.sleep(0.05)
            done = client.get_task(
                "job", "t", etag=created["ETag"], match_condition=MatchConditions.IfModified
            )
            assert done.state == "completed" and done.etag != created["ETag"]
            assert done.previous_state == "running"
            assert done.previous_state_transition_time is not None
            assert done.previous_state_transition_time < done.state_transition_time
            headers = client.reactivate_task(
                "job",
                "t",
                etag=done.etag,
                match_condition=MatchConditions.IfNotModified,
                cls=lambda _r, _b, h: h,
            )
            assert headers["ETag"] and headers["ETag"] != done.etag
            assert headers["Last-Modified"] and headers["DataServiceId"].endswith(
                "/jobs/job/tasks/t"
            )
            while client.get_task("job", "t").state != "completed":
                assert time.monotonic() < deadline
                time.sleep(0.05)
            with refused(412):  # it ran and failed again since that ETag was read
                client.reactivate_task(
                    "job", "t", etag=done.etag, match_condition=MatchConditions.IfNotModified
                )
    finally:
        server.stop()
