"""The Batch emulator over real HTTP on 127.0.0.1: auth, service rules, faults, paging."""

from __future__ import annotations

import os
import subprocess
import sys
from email.utils import formatdate
from pathlib import Path
from time import sleep, time
from typing import Any
from urllib.parse import unquote

import httpx
import orjson
import pytest

from dagbatch import limits, signing
from dagbatch.emulator import DEV_ACCOUNT, DEV_KEY, FaultConfig, scheduler
from dagbatch.emulator.server import EmulatorServer

V2025 = "2025-06-01"
V2017 = "2017-09-01.6.0"
POOL = {"poolId": "pool"}


class Batch:
    """A minimal Shared Key client for the emulator (httpx, signed with dagbatch.signing)."""

    def __init__(
        self,
        server: EmulatorServer,
        *,
        account: str | None = None,
        key: str | None = None,
        api_version: str | None = V2025,
    ) -> None:
        self.server = server
        self.account = account or server.account
        self.key = key or server.key
        self.api_version = api_version
        self.http = httpx.Client(base_url=server.endpoint, timeout=30)

    def close(self) -> None:
        self.http.close()

    def request(
        self,
        method: str,
        url: str,
        *,
        body: Any = None,
        content: bytes | None = None,
        params: dict[str, str] | None = None,
        date: str | None = "now",
        sign: bool = True,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        query = dict(params or {})
        extra = headers or {}
        if self.api_version is not None and "api-version=" not in url:
            query.setdefault("api-version", self.api_version)
        headers = dict(extra)
        if date is not None:
            headers["ocp-date"] = signing.rfc1123_now() if date == "now" else date
        if body is not None:
            content = orjson.dumps(body)
        if content is not None:
            headers["content-type"] = limits.CONTENT_TYPE
        request = self.http.build_request(
            method, url, params=query or None, content=content, headers=headers
        )
        if sign:
            path, _, raw_query = request.url.raw_path.decode().partition("?")
            pairs = []
            for part in raw_query.split("&"):
                if part:
                    name, _, value = part.partition("=")
                    pairs.append((unquote(name), value))
            request.headers["authorization"] = signing.authorization_header(
                self.account, self.key, method, path, pairs, request.headers
            )
        return self.http.send(request)

    def create_job(self, job_id: str, **props: Any) -> httpx.Response:
        return self.request("POST", "/jobs", body={"id": job_id, "poolInfo": POOL, **props})

    def add(self, job_id: str, tasks: list[dict[str, Any]]) -> httpx.Response:
        return self.request("POST", f"/jobs/{job_id}/addtaskcollection", body={"value": tasks})


@pytest.fixture
def make_batch() -> Any:
    """Clients that are closed at the end of the test."""
    clients: list[Batch] = []

    def make(server: EmulatorServer, **options: Any) -> Batch:
        client = Batch(server, **options)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def batch(emulator: EmulatorServer, make_batch: Any) -> Batch:
    client: Batch = make_batch(emulator)
    return client


def tasks_named(prefix: str, n: int, **props: Any) -> list[dict[str, Any]]:
    return [{"id": f"{prefix}{i}", "commandLine": "echo hi", **props} for i in range(n)]


def by_id(response: httpx.Response) -> dict[str, dict[str, Any]]:
    assert response.status_code == 200, response.text
    return {r["taskId"]: r for r in response.json()["value"]}


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["code"] == code
    assert body["message"]["lang"] == "en-US"
    assert isinstance(body["message"]["value"], str)
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers["request-id"]
    return body


# --- authentication and the request envelope ---


def test_good_signature_creates_and_gets_a_job(batch: Batch) -> None:
    created = batch.create_job("job1", usesTaskDependencies=True)
    assert created.status_code == 201
    for header in ("ETag", "Last-Modified", "DataServiceId", "Location", "request-id"):
        assert created.headers[header]
    assert created.headers["Location"].endswith("/jobs/job1")
    got = batch.request("GET", "/jobs/job1")
    assert got.status_code == 200
    job = got.json()
    assert job["id"] == "job1"
    assert job["state"] == "active"
    assert job["usesTaskDependencies"] is True
    assert job["onAllTasksComplete"] == "noaction"
    assert job["onTaskFailure"] == "noaction"
    assert job["poolInfo"] == POOL
    assert job["eTag"] == created.headers["ETag"]


def test_wrong_key_is_rejected(emulator: EmulatorServer, make_batch: Any) -> None:
    other = make_batch(emulator, key="AAAAAAAAAAAAAAAAAAAAAA==")
    response = other.create_job("job1")
    body = assert_error(response, 403, "AuthenticationFailed")
    assert body["values"][0]["key"] == "AuthenticationErrorDetail"
    unknown_account = make_batch(emulator, account="someoneelse")
    assert_error(unknown_account.create_job("job1"), 403, "AuthenticationFailed")
    unsigned = make_batch(emulator)
    assert_error(unsigned.request("GET", "/jobs/job1", sign=False), 403, "AuthenticationFailed")
    assert emulator.store.job("job1") is None
    assert emulator.store.stats()["authFailures"] == 3


def test_dates_outside_the_skew_window_or_missing_are_rejected(batch: Batch) -> None:
    stale = formatdate(time() - limits.MAX_CLOCK_SKEW_SECONDS - 60, usegmt=True)
    response = batch.request("POST", "/jobs", body={"id": "job1", "poolInfo": POOL}, date=stale)
    assert_error(response, 403, "AuthenticationFailed")
    future = formatdate(time() + limits.MAX_CLOCK_SKEW_SECONDS + 60, usegmt=True)
    response = batch.request("POST", "/jobs", body={"id": "job1", "poolInfo": POOL}, date=future)
    assert_error(response, 403, "AuthenticationFailed")
    response = batch.request("POST", "/jobs", body={"id": "job1", "poolInfo": POOL}, date=None)
    assert_error(response, 403, "AuthenticationFailed")
    recent = formatdate(time() - 60, usegmt=True)
    ok = batch.request("POST", "/jobs", body={"id": "job1", "poolInfo": POOL}, date=recent)
    assert ok.status_code == 201


def test_signature_covers_path_and_query(batch: Batch, emulator: EmulatorServer) -> None:
    assert batch.create_job("job1").status_code == 201
    good = batch.http.build_request("GET", "/jobs/job1", params={"api-version": V2025})
    good.headers["ocp-date"] = signing.rfc1123_now()
    good.headers["authorization"] = signing.authorization_header(
        batch.account, batch.key, "GET", "/jobs/job1", [("api-version", V2025)], good.headers
    )
    assert batch.http.send(good).status_code == 200
    # the same signature on another path or another query is refused
    moved = batch.http.build_request("GET", "/jobs/job2", params={"api-version": V2025})
    moved.headers.update(good.headers)
    assert_error(batch.http.send(moved), 403, "AuthenticationFailed")
    other_query = batch.http.build_request("GET", "/jobs/job1", params={"api-version": V2017})
    other_query.headers.update(good.headers)
    assert_error(batch.http.send(other_query), 403, "AuthenticationFailed")


def test_missing_api_version_is_400(emulator: EmulatorServer, make_batch: Any) -> None:
    client = make_batch(emulator, api_version=None)
    body = assert_error(client.request("GET", "/jobs/x"), 400, "MissingRequiredQueryParameter")
    assert {"key": "QueryParameterName", "value": "api-version"} in body["values"]


def test_unknown_resources_and_wrong_verbs(batch: Batch) -> None:
    assert_error(batch.request("GET", "/pools"), 404, "InvalidUri")
    assert_error(batch.request("POST", "/jobs/job1"), 405, "UnsupportedHttpVerb")
    assert_error(batch.request("GET", "/jobs/job1/addtaskcollection"), 405, "UnsupportedHttpVerb")
    assert_error(batch.request("GET", "/jobs/nojob"), 404, "JobNotFound")
    assert_error(batch.add("nojob", tasks_named("t", 1)), 404, "JobNotFound")


def test_job_rules(batch: Batch) -> None:
    assert batch.create_job("Job1").status_code == 201
    assert_error(batch.create_job("job1"), 409, "JobExists")
    assert_error(batch.create_job("bad id"), 400, "InvalidPropertyValue")
    response = batch.request("POST", "/jobs", body={"id": "nopool"})
    assert_error(response, 400, "MissingRequiredProperty")
    assert_error(batch.create_job("j2", onTaskFailure="explode"), 400, "InvalidPropertyValue")
    assert_error(batch.create_job("j2", onTaskFailure=1), 400, "InvalidPropertyValue")
    # The job's enums are matched ignoring case, as the exit options' are: 2017-09-01.6.0
    # spells them in camel case [spec-2017 OnAllTasksComplete, OnTaskFailure]; they were
    # refused. What the emulator acts on is the value, however spelt.
    created = batch.create_job(
        "camel", onAllTasksComplete="terminateJob", onTaskFailure="performExitOptionsJobAction"
    )
    assert created.status_code == 201, created.text
    job = batch.request("GET", "/jobs/camel").json()
    assert (job["onAllTasksComplete"], job["onTaskFailure"]) == (
        "terminatejob",
        "performexitoptionsjobaction",
    )
    assert job["state"] == "completed"  # terminatejob with no task: it ends at once
    patch = batch.request("PATCH", "/jobs/Job1", body={"onAllTasksComplete": "NoAction"})
    assert patch.status_code == 200, patch.text
    assert batch.request("GET", "/jobs/Job1").json()["onAllTasksComplete"] == "noaction"


def test_update_job_on_all_tasks_complete(batch: Batch) -> None:
    assert batch.create_job("job1").status_code == 201
    assert by_id(batch.add("job1", tasks_named("t", 3)))["t0"]["status"] == "success"
    patch = batch.request("PATCH", "/jobs/job1", body={"onAllTasksComplete": "terminatejob"})
    assert patch.status_code == 200
    assert patch.headers["ETag"]
    job = batch.request("GET", "/jobs/job1").json()
    assert job["onAllTasksComplete"] == "terminatejob"
    assert job["state"] == "active"  # its tasks have not completed
    back = batch.request("PATCH", "/jobs/job1", body={"onAllTasksComplete": "noaction"})
    assert_error(back, 400, "InvalidPropertyValue")
    unknown = batch.request("PATCH", "/jobs/job1", body={"usesTaskDependencies": True})
    assert_error(unknown, 400, "InvalidRequestBody")
    # A job that is still open takes tasks; terminate ends it, and then it takes none.
    assert batch.create_job("open").status_code == 201
    assert by_id(batch.add("open", tasks_named("t", 1)))["t0"]["status"] == "success"
    assert batch.request("POST", "/jobs/open/terminate").status_code == 202
    assert batch.request("GET", "/jobs/open").json()["state"] == "completed"
    assert_error(batch.add("open", tasks_named("u", 1)), 409, "JobCompleted")
    replace = batch.request("PUT", "/jobs/job1", body={"poolInfo": POOL, "priority": 5})
    assert_error(replace, 400, "InvalidPropertyValue")  # PUT resets onAllTasksComplete
    replace = batch.request(
        "PUT",
        "/jobs/job1",
        body={"poolInfo": POOL, "priority": 5, "onAllTasksComplete": "terminatejob"},
    )
    assert replace.status_code == 200
    assert batch.request("GET", "/jobs/job1").json()["priority"] == 5


def _state_and_reason(batch: Batch, job_id: str) -> tuple[str, str | None]:
    job = batch.request("GET", f"/jobs/{job_id}").json()
    return job["state"], job["executionInfo"].get("terminateReason")


def test_a_terminatejob_job_without_tasks_completes(batch: Batch) -> None:
    """Batch: "If a Job contains no Tasks, then all Tasks are considered complete" [BATCH_FACTS 6,
    spec-2025 BatchJobCreateOptions.onAllTasksComplete]; a user who created a job with
    TerminateJob was "in a race to get the tasks into the job" (azure-sdk-for-net issue
    8764). The emulator kept such a job active."""
    done = ("completed", "AllTasksComplete")
    # Created with terminatejob: complete at once, and it takes no task.
    assert batch.create_job("born", onAllTasksComplete="terminatejob").status_code == 201
    assert _state_and_reason(batch, "born") == done
    assert_error(batch.add("born", tasks_named("t", 1)), 409, "JobCompleted")
    # Set by PATCH, or by PUT, on a job without tasks.
    for method, body in (
        ("PATCH", {"onAllTasksComplete": "terminatejob"}),
        ("PUT", {"poolInfo": POOL, "onAllTasksComplete": "terminatejob"}),
    ):
        job_id = f"empty-{method.lower()}"
        assert batch.create_job(job_id).status_code == 201
        assert batch.request(method, f"/jobs/{job_id}", body=body).status_code == 200
        assert _state_and_reason(batch, job_id) == done, method
    # Its last task deleted: no task left, all complete. The job was active while the task,
    # which never runs (no engine runs tasks here), was there.
    assert batch.create_job("last").status_code == 201
    assert by_id(batch.add("last", tasks_named("t", 1)))["t0"]["status"] == "success"
    patch = batch.request("PATCH", "/jobs/last", body={"onAllTasksComplete": "terminatejob"})
    assert patch.status_code == 200
    assert _state_and_reason(batch, "last") == ("active", None)
    assert batch.request("DELETE", "/jobs/last/tasks/t0").status_code == 200
    assert _state_and_reason(batch, "last") == done
    # noaction (the default) keeps an empty job open.
    assert batch.create_job("idle").status_code == 201
    assert _state_and_reason(batch, "idle") == ("active", None)


def test_a_disabled_job_takes_updates_and_only_it_may_change_pool(batch: Batch) -> None:
    """A disabled job is not completed: PATCH and PUT work on it, and only on it may the pool
    change [spec-2025 BatchJobUpdateOptions.poolInfo]."""
    assert batch.create_job("job1").status_code == 201
    other = {"poolId": "other"}
    patch = batch.request("PATCH", "/jobs/job1", body={"poolInfo": other})
    body = assert_error(patch, 409, "OperationInvalidForCurrentState")
    assert {"key": "PropertyName", "value": "poolInfo"} in body["values"]
    replace = batch.request("PUT", "/jobs/job1", body={"poolInfo": other})
    assert_error(replace, 409, "OperationInvalidForCurrentState")
    assert batch.request("GET", "/jobs/job1").json()["poolInfo"] == POOL  # nothing changed
    # A PUT must name the pool (its one required property): the same pool is no change.
    assert batch.request("PUT", "/jobs/job1", body={"poolInfo": POOL}).status_code == 200
    disable = batch.request("POST", "/jobs/job1/disable", body={"disableTasks": "requeue"})
    assert disable.status_code == 202
    patch = batch.request("PATCH", "/jobs/job1", body={"priority": 7, "poolInfo": other})
    assert patch.status_code == 200, patch.text
    job = batch.request("GET", "/jobs/job1").json()
    assert (job["state"], job["priority"], job["poolInfo"]) == ("disabled", 7, other)
    assert job["executionInfo"]["poolId"] == "other"
    replace = batch.request("PUT", "/jobs/job1", body={"poolInfo": POOL, "priority": 3})
    assert replace.status_code == 200, replace.text
    assert batch.request("GET", "/jobs/job1").json()["poolInfo"] == POOL
    assert batch.request("POST", "/jobs/job1/enable").status_code == 202
    assert batch.request("POST", "/jobs/job1/terminate").status_code == 202
    patch = batch.request("PATCH", "/jobs/job1", body={"priority": 1})
    assert_error(patch, 409, "JobCompleted")


def test_disabling_a_disabled_job_is_accepted_and_changes_nothing(batch: Batch) -> None:
    """Disable Job fails with 409 only in a state "other than active, disabling, or
    disabled" [spec-2025 Jobs_DisableJob]: a second disable was answered JobNotActive."""
    assert batch.create_job("twice").status_code == 201
    for mode in ("wait", "terminate"):
        disable = batch.request("POST", "/jobs/twice/disable", body={"disableTasks": mode})
        assert disable.status_code == 202, disable.text
        assert batch.request("GET", "/jobs/twice").json()["state"] == "disabled"
    assert batch.request("POST", "/jobs/twice/enable").status_code == 202
    assert batch.request("GET", "/jobs/twice").json()["state"] == "active"
    assert batch.request("POST", "/jobs/twice/terminate").status_code == 202
    done = batch.request("POST", "/jobs/twice/disable", body={"disableTasks": "wait"})
    assert_error(done, 409, "JobCompleted")


def test_replace_job_removes_what_it_leaves_out(batch: Batch) -> None:
    """PUT "fully replaces all the updatable properties of the Job" [spec-2025
    Jobs_ReplaceJob]: those left out take their defaults; the others are kept."""
    full = {
        "priority": 9,
        "maxParallelTasks": 4,
        "allowTaskPreemption": True,
        "constraints": {"maxTaskRetryCount": 3},
        "metadata": [{"name": "k", "value": "v"}],
        "displayName": "shown",
        "usesTaskDependencies": True,
        "onTaskFailure": "performexitoptionsjobaction",
    }
    assert batch.create_job("job1", **full).status_code == 201
    assert batch.request("PUT", "/jobs/job1", body={"poolInfo": POOL}).status_code == 200
    job = batch.request("GET", "/jobs/job1").json()
    assert job["priority"] == 0
    assert job["onAllTasksComplete"] == "noaction"
    # Left out, they read their defaults [spec-2025 example Jobs_GetJob].
    assert job["maxParallelTasks"] == -1 and job["allowTaskPreemption"] is False
    assert job["constraints"] == {
        "maxWallClockTime": limits.UNLIMITED_DURATION,
        "maxTaskRetryCount": 0,
    }
    assert "metadata" not in job
    assert job["displayName"] == "shown"
    assert job["usesTaskDependencies"] is True
    assert job["onTaskFailure"] == "performexitoptionsjobaction"
    # A PATCH keeps what it leaves out.
    patch = batch.request("PATCH", "/jobs/job1", body={"constraints": {"maxTaskRetryCount": 2}})
    assert patch.status_code == 200
    assert batch.request("PATCH", "/jobs/job1", body={"priority": 5}).status_code == 200
    job = batch.request("GET", "/jobs/job1").json()
    assert job["priority"] == 5 and job["constraints"]["maxTaskRetryCount"] == 2


def test_an_update_moves_or_removes_the_job_s_wall_clock_limit(batch: Batch) -> None:
    """maxWallClockTime is measured from the job's creation [spec-2025 BatchJobConstraints];
    a PATCH that sets it arms it, a PUT that leaves constraints out removes it."""
    limit = {"maxWallClockTime": "PT0.5S"}
    assert batch.create_job("kept", constraints=limit).status_code == 201
    assert batch.request("PUT", "/jobs/kept", body={"poolInfo": POOL}).status_code == 200
    assert batch.create_job("armed").status_code == 201
    patch = batch.request("PATCH", "/jobs/armed", body={"constraints": limit})
    assert patch.status_code == 200
    deadline = time() + 10
    while time() < deadline:
        if batch.request("GET", "/jobs/armed").json()["state"] == "completed":
            break
        sleep(0.05)
    armed = batch.request("GET", "/jobs/armed").json()
    assert armed["state"] == "completed"
    assert armed["executionInfo"]["terminateReason"] == "MaxWallClockTimeExpiry"
    sleep(0.6)  # well past the removed limit (the armed one has fired)
    assert batch.request("GET", "/jobs/kept").json()["state"] == "active"


def test_get_job_applies_select(batch: Batch) -> None:
    """GET /jobs/{id}?$select=... keeps only the named properties, as get task does."""
    assert batch.create_job("job1", priority=4).status_code == 201
    response = batch.request("GET", "/jobs/job1", params={"$select": "state,priority"})
    assert response.status_code == 200, response.text
    doc = response.json()
    assert {k for k in doc if not k.startswith("odata.")} == {"state", "priority"}
    assert (doc["state"], doc["priority"]) == ("active", 4)
    assert response.headers["ETag"]
    full = batch.request("GET", "/jobs/job1").json()
    assert {"id", "poolInfo", "url", "state", "priority"} <= set(full)
    bad = batch.request("GET", "/jobs/job1", params={"$select": "executionInfo/poolId"})
    assert_error(bad, 400, "InvalidQueryParameterValue")


# --- addtaskcollection ---


def test_results_are_shuffled_but_complete(batch: Batch, emulator: EmulatorServer) -> None:
    assert batch.create_job("job1").status_code == 201
    tasks = tasks_named("t", 100)
    response = batch.add("job1", tasks)
    results = response.json()["value"]
    sent = [t["id"] for t in tasks]
    assert sorted(r["taskId"] for r in results) == sorted(sent)
    assert [r["taskId"] for r in results] != sent
    for r in results:
        assert r["status"] == "success"
        assert r["eTag"] and r["lastModified"]
        assert r["location"] == f"{emulator.endpoint}/jobs/job1/tasks/{r['taskId']}"
    assert emulator.store.task_ids("job1") == sent
    assert emulator.store.task("job1", "t5") == tasks[5]


def test_task_exists_ignoring_case(batch: Batch, emulator: EmulatorServer) -> None:
    assert batch.create_job("job1").status_code == 201
    assert by_id(batch.add("job1", [{"id": "Task1", "commandLine": "a"}]))["Task1"]["status"] == (
        "success"
    )
    results = by_id(
        batch.add(
            "job1",
            [
                {"id": "task1", "commandLine": "b"},
                {"id": "twice", "commandLine": "c"},
                {"id": "TWICE", "commandLine": "d"},
            ],
        )
    )
    assert results["task1"]["status"] == "clienterror"
    assert results["task1"]["error"]["code"] == "TaskExists"
    assert results["twice"]["status"] == "success"
    assert results["TWICE"]["error"]["code"] == "TaskExists"
    assert emulator.store.task_ids("job1") == ["Task1", "twice"]
    assert emulator.store.task("job1", "TASK1") == {"id": "Task1", "commandLine": "a"}


def test_more_than_100_tasks_is_400(batch: Batch, emulator: EmulatorServer) -> None:
    assert batch.create_job("job1").status_code == 201
    body = assert_error(batch.add("job1", tasks_named("t", 101)), 400, "InvalidRequestBody")
    assert {"key": "Reason", "value": "TooManyTasks"} in body["values"]
    assert emulator.store.task_count("job1") == 0
    assert by_id(batch.add("job1", tasks_named("t", 100)))["t99"]["status"] == "success"


def _padded_body(size: int) -> bytes:
    """An addtaskcollection body of exactly ``size`` bytes."""
    head = b'{"value":[{"id":"big","commandLine":"'
    tail = b'"}]}'
    return head + b"x" * (size - len(head) - len(tail)) + tail


@pytest.mark.parametrize("version", [V2025, V2017])
def test_body_size_limit_is_413(emulator: EmulatorServer, make_batch: Any, version: str) -> None:
    client = make_batch(emulator, api_version=version)
    assert client.create_job("job1").status_code == 201
    limit = limits.MAX_BODY_BYTES[version]
    url = "/jobs/job1/addtaskcollection"
    response = client.request("POST", url, content=_padded_body(limit))
    assert_error(response, 413, "RequestBodyTooLarge")
    assert emulator.store.task_count("job1") == 0
    response = client.request("POST", url, content=_padded_body(limit - 1))
    assert by_id(response)["big"]["status"] == "success"


def test_invalid_json_and_shapes_are_400(batch: Batch, emulator: EmulatorServer) -> None:
    assert batch.create_job("job1").status_code == 201
    url = "/jobs/job1/addtaskcollection"
    assert_error(batch.request("POST", url, content=b'{"value": ['), 400, "InvalidRequestBody")
    assert_error(batch.request("POST", url, body=[1, 2]), 400, "InvalidRequestBody")
    assert_error(batch.request("POST", url, body={"tasks": []}), 400, "InvalidRequestBody")
    assert_error(batch.request("POST", url, body={"value": [1]}), 400, "InvalidRequestBody")
    no_id = batch.add("job1", [{"commandLine": "x"}])
    assert_error(no_id, 400, "MissingRequiredProperty")
    assert emulator.store.task_count("job1") == 0


def test_unknown_properties_per_api_version(emulator: EmulatorServer, make_batch: Any) -> None:
    old_style = [
        {"id": "t1", "commandLine": "x", "resourceFiles": [{"blobSource": "u", "filePath": "f"}]}
    ]
    new = make_batch(emulator, api_version=V2025)
    assert new.create_job("job1").status_code == 201
    body = assert_error(new.add("job1", old_style), 400, "InvalidRequestBody")
    assert {"key": "PropertyName", "value": "resourceFiles.blobSource"} in body["values"]
    assert "resourceFiles.blobSource" in body["message"]["value"]
    top = assert_error(
        new.add("job1", [{"id": "t", "commandLine": "x", "comandLine": "y"}]),
        400,
        "InvalidRequestBody",
    )
    assert {"key": "PropertyName", "value": "comandLine"} in top["values"]
    deep = [
        {
            "id": "t",
            "commandLine": "x",
            "exitConditions": {"default": {"dependencyAction": "block", "retry": True}},
        }
    ]
    body = assert_error(new.add("job1", deep), 400, "InvalidRequestBody")
    assert {"key": "PropertyName", "value": "exitConditions.default.retry"} in body["values"]
    old = make_batch(emulator, api_version=V2017)
    assert by_id(old.add("job1", old_style))["t1"]["status"] == "success"
    new_style = [
        {"id": "t2", "commandLine": "x", "resourceFiles": [{"httpUrl": "u", "filePath": "f"}]}
    ]
    assert_error(old.add("job1", new_style), 400, "InvalidRequestBody")
    assert by_id(new.add("job1", new_style))["t2"]["status"] == "success"


def test_create_job_refuses_what_the_add_job_body_does_not_hold(
    emulator: EmulatorServer, make_batch: Any
) -> None:
    """A misspelt setting, or a read-only one, was stored and echoed back by GET (a job
    with previousState in its first state); add task refused the same mistakes."""
    new = make_batch(emulator, api_version=V2025)
    for extra in ({"usesTaskDependancies": True}, {"previousState": "disabled"}, {"stats": {}}):
        body = assert_error(new.create_job("j", **extra), 400, "InvalidRequestBody")
        (name,) = extra
        assert {"key": "PropertyName", "value": name} in body["values"]
    assert new.request("GET", "/jobs/j").status_code == 404
    # A property of the newer api-version only is unknown to the older one.
    old = make_batch(emulator, api_version=V2017)
    body = assert_error(old.create_job("j", maxParallelTasks=2), 400, "InvalidRequestBody")
    assert {"key": "PropertyName", "value": "maxParallelTasks"} in body["values"]
    assert new.create_job("j", maxParallelTasks=2, displayName="fine").status_code == 201
    long_name = assert_error(
        new.create_job("k", displayName="d" * 1025), 400, "InvalidPropertyValue"
    )
    assert {"key": "PropertyName", "value": "displayName"} in long_name["values"]
    nameless = [{"value": "v"}]
    bad_env = assert_error(
        new.create_job("k", commonEnvironmentSettings=nameless), 400, "InvalidPropertyValue"
    )
    assert {"key": "PropertyName", "value": "commonEnvironmentSettings[0].name"} in bad_env[
        "values"
    ]


def test_the_jobs_last_modified_follows_the_job_not_its_tasks(batch: Batch) -> None:
    """Adding tasks moved the job's lastModified (not its eTag); disabling it did not."""
    assert batch.create_job("j").status_code == 201
    first = batch.request("GET", "/jobs/j").json()
    sleep(1.1)  # lastModified is to the second in the Last-Modified header
    assert batch.add("j", [{"id": "t", "commandLine": "x"}]).status_code == 200
    after_add = batch.request("GET", "/jobs/j")
    assert after_add.json()["lastModified"] == first["lastModified"]
    assert (
        after_add.headers["Last-Modified"]
        == batch.request("GET", "/jobs/j").headers["Last-Modified"]
    )
    assert after_add.json()["eTag"] == first["eTag"]
    disable = batch.request("POST", "/jobs/j/disable", body={"disableTasks": "requeue"})
    assert disable.status_code == 202
    disabled = batch.request("GET", "/jobs/j").json()
    assert disabled["lastModified"] == disabled["stateTransitionTime"] != first["lastModified"]


def test_the_client_request_id_comes_back_when_asked(batch: Batch) -> None:
    asked = {"client-request-id": "0c9d2b5e-0000-4000-8000-000000000001"}
    plain = batch.request("GET", "/jobs", headers=asked)
    assert "client-request-id" not in plain.headers
    echoed = batch.request("GET", "/jobs", headers={**asked, "return-client-request-id": "true"})
    assert echoed.headers["client-request-id"] == asked["client-request-id"]


def test_per_task_rules(batch: Batch, emulator: EmulatorServer) -> None:
    assert batch.create_job("plain").status_code == 201
    assert batch.create_job("deps", usesTaskDependencies=True).status_code == 201
    assert (
        batch.create_job(
            "acts", usesTaskDependencies=True, onTaskFailure="performexitoptionsjobaction"
        ).status_code
        == 201
    )
    long_ids = [f"{i:063d}" for i in range(1016)]  # 1016 * 63 = 64008 characters
    exact_ids = [*long_ids[:1015], "x" * 55]  # 63945 + 55 = 64000 characters
    assert sum(map(len, exact_ids)) == limits.TASK_IDS_CHAR_LIMIT
    tasks = [
        {"id": "ok", "commandLine": "x"},
        {"id": "bad.id", "commandLine": "x"},
        {"id": "x" * 65, "commandLine": "x"},
        {"id": "nocmd"},
        {"id": "numcmd", "commandLine": 7},
        {"id": "emptycmd", "commandLine": ""},
        {"id": "longname", "commandLine": "x", "displayName": "d" * 1025},
        {"id": "noname", "commandLine": "x", "environmentSettings": [{"value": "v"}]},
        {"id": "dep", "commandLine": "x", "dependsOn": {"taskIds": ["ok"]}},
        {
            "id": "act",
            "commandLine": "x",
            "exitConditions": {"exitCodes": [{"code": 1, "exitOptions": {"jobAction": "none"}}]},
        },
        {
            "id": "depact",
            "commandLine": "x",
            "exitConditions": {"default": {"dependencyAction": "satisfy"}},
        },
    ]
    results = by_id(batch.add("plain", tasks))
    codes = {k: r.get("error", {}).get("code", r["status"]) for k, r in results.items()}
    assert codes == {
        "ok": "success",
        "bad.id": "InvalidPropertyValue",
        "x" * 65: "InvalidPropertyValue",
        "nocmd": "MissingRequiredProperty",
        "numcmd": "InvalidPropertyValue",
        "emptycmd": "InvalidPropertyValue",
        "longname": "InvalidPropertyValue",
        "noname": "InvalidPropertyValue",
        "dep": "TaskDependenciesNotSpecifiedOnJob",
        "act": "InvalidPropertyValue",
        "depact": "InvalidPropertyValue",
    }
    # Each error names the property, and the id errors echo the id.
    values = {
        k: {v["key"]: v["value"] for v in r["error"].get("values", [])}
        for k, r in results.items()
        if "error" in r
    }
    assert values["bad.id"] == {"PropertyName": "id", "PropertyValue": "bad.id"}
    assert values["x" * 65] == {"PropertyName": "id", "PropertyValue": "x" * 65}
    assert values["nocmd"] == {"PropertyName": "commandLine"}
    assert values["numcmd"] == {"PropertyName": "commandLine"}
    assert values["emptycmd"] == {"PropertyName": "commandLine"}
    assert values["longname"] == {"PropertyName": "displayName"}
    assert values["noname"] == {
        "PropertyName": "environmentSettings[0].name",
        "PropertyValue": "None",
    }
    assert emulator.store.task_ids("plain") == ["ok"]

    deps_tasks = [
        {"id": "ok", "commandLine": "x"},
        {
            "id": "dep",
            "commandLine": "x",
            "dependsOn": {"taskIds": ["ok"], "taskIdRanges": [{"start": 1, "end": 9}]},
        },
        {
            "id": "depact",
            "commandLine": "x",
            "exitConditions": {"default": {"dependencyAction": "satisfy"}},
        },
        {
            "id": "act",
            "commandLine": "x",
            "exitConditions": {"default": {"jobAction": "terminate"}},
        },
        {"id": "toolong", "commandLine": "x", "dependsOn": {"taskIds": long_ids}},
        {"id": "exact", "commandLine": "x", "dependsOn": {"taskIds": exact_ids}},
    ]
    codes = {
        k: r.get("error", {}).get("code", r["status"])
        for k, r in by_id(batch.add("deps", deps_tasks)).items()
    }
    assert codes == {
        "ok": "success",
        "dep": "success",
        "depact": "success",
        "act": "InvalidPropertyValue",
        "toolong": "TaskDependencyListTooLong",
        "exact": "success",
    }
    codes = {
        k: r.get("error", {}).get("code", r["status"])
        for k, r in by_id(batch.add("acts", deps_tasks[3:4])).items()
    }
    assert codes == {"act": "success"}


def test_values_outside_the_schema_are_refused_per_task(batch: Batch) -> None:
    """Actions outside their enums, a maxTaskRetryCount that is not an int32, durations that
    are not ISO 8601 and a range whose start is after its end are each the task's own
    InvalidPropertyValue naming the property [spec-2025 ExitOptions, BatchTaskConstraints,
    ExitCodeRangeMapping]; enum values match ignoring case."""
    body = {"usesTaskDependencies": True, "onTaskFailure": "performexitoptionsjobaction"}
    assert batch.create_job("acts", **body).status_code == 201

    def exits(**options: Any) -> dict[str, Any]:
        return {"exitConditions": {"default": options}}

    def ranges(start: Any, end: Any) -> dict[str, Any]:
        entry = {"start": start, "end": end, "exitOptions": {"jobAction": "none"}}
        return {"exitConditions": {"exitCodeRanges": [entry]}}

    cases: dict[str, tuple[dict[str, Any], str | None]] = {
        "job-action": (exits(jobAction="explode"), "jobAction"),
        "dep-action": (exits(dependencyAction="bogus"), "dependencyAction"),
        "dep-action-type": (exits(dependencyAction=1), "dependencyAction"),
        "mixed-case": (exits(dependencyAction="Satisfy", jobAction="NONE"), None),
        "retry-string": ({"constraints": {"maxTaskRetryCount": "3"}}, "maxTaskRetryCount"),
        "retry-big": ({"constraints": {"maxTaskRetryCount": 2**31}}, "maxTaskRetryCount"),
        "retry-float": ({"constraints": {"maxTaskRetryCount": 1.5}}, "maxTaskRetryCount"),
        "retry-bool": ({"constraints": {"maxTaskRetryCount": True}}, "maxTaskRetryCount"),
        "wall": ({"constraints": {"maxWallClockTime": "1 hour"}}, "maxWallClockTime"),
        "wall-t": ({"constraints": {"maxWallClockTime": "P1DT"}}, "maxWallClockTime"),
        "keep": ({"constraints": {"retentionTime": "P"}}, "retentionTime"),
        "range": (ranges(5, 2), "exitCodeRanges"),
        "range-type": (ranges("1", 2), "exitCodeRanges"),
        "fine": (
            {
                "constraints": {
                    "maxTaskRetryCount": -1,
                    "maxWallClockTime": "P1DT2H0.5S",
                    "retentionTime": "P1Y2M3W",
                },
                **ranges(2, 2),
            },
            None,
        ),
    }
    tasks = [{"id": k, "commandLine": "x", **props} for k, (props, _) in cases.items()]
    results = by_id(batch.add("acts", tasks))
    for task_id, (_, name) in cases.items():
        result = results[task_id]
        if name is None:
            assert result["status"] == "success", (task_id, result)
            continue
        assert result["status"] == "clienterror", (task_id, result)
        assert result["error"]["code"] == "InvalidPropertyValue", (task_id, result)
        values = {v["key"]: v["value"] for v in result["error"]["values"]}
        assert values["PropertyName"].endswith(name), (task_id, values)
    # A job's constraints are checked the same way, the whole request refused.
    bad = batch.create_job("j2", constraints={"maxTaskRetryCount": "x"})
    error = assert_error(bad, 400, "InvalidPropertyValue")
    assert {"key": "PropertyName", "value": "constraints.maxTaskRetryCount"} in error["values"]
    patch = batch.request("PATCH", "/jobs/acts", body={"constraints": {"maxWallClockTime": "1h"}})
    assert_error(patch, 400, "InvalidPropertyValue")
    # The run-time reading matches the values ignoring case too.
    mixed = {"default": {"dependencyAction": "Satisfy", "jobAction": "NONE"}}
    assert scheduler.exit_actions(mixed, "exit", 3, False) == (scheduler.SATISFY, "none")
    # ``default`` covers a pre-processing or upload error whose entry is "not present"
    # [spec-2025 ExitConditions.default]: an entry present but empty takes Batch's
    # defaults for both (a pre-processing error's empty entry fell through to default).
    satisfy = {"dependencyAction": "satisfy", "jobAction": "none"}
    for kind, entry in (("preprocessing", "preProcessingError"), ("upload", "fileUploadError")):
        assert scheduler.exit_actions({"default": satisfy}, kind, None, False) == (
            scheduler.SATISFY,
            "none",
        ), kind
        present = {"default": satisfy, entry: {}}
        assert scheduler.exit_actions(present, kind, None, False) == (
            scheduler.BLOCK,
            "terminate",
        ), kind


def test_dependencies_of_the_wrong_type_are_refused_per_task(
    batch: Batch, emulator: EmulatorServer
) -> None:
    """taskIds must be strings and ranges integer pairs: a task naming its parents otherwise
    gets InvalidPropertyValue (naming the property) and is not stored; the emulator keeps
    serving, and its scheduler indexes the good tasks."""
    assert batch.create_job("typed", usesTaskDependencies=True).status_code == 201
    tasks = [
        {"id": "p", "commandLine": "x"},
        {"id": "n", "commandLine": "x", "dependsOn": {"taskIds": [5]}},
        {"id": "b", "commandLine": "x", "dependsOn": {"taskIds": True}},
        {"id": "s", "commandLine": "x", "dependsOn": "p"},
        {"id": "r", "commandLine": "x", "dependsOn": {"taskIdRanges": [{"start": "1", "end": 2}]}},
        {"id": "f", "commandLine": "x", "dependsOn": {"taskIdRanges": [{"start": True, "end": 2}]}},
        {"id": "ok", "commandLine": "x", "dependsOn": {"taskIds": ["p"]}},
    ]
    results = by_id(batch.add("typed", tasks))
    names = {k: r.get("error", {}).get("values", [{}])[0].get("value") for k, r in results.items()}
    assert {k: r["status"] for k, r in results.items()} == {
        "p": "success",
        "n": "clienterror",
        "b": "clienterror",
        "s": "clienterror",
        "r": "clienterror",
        "f": "clienterror",
        "ok": "success",
    }
    assert names["n"] == names["b"] == "dependsOn.taskIds"
    assert names["s"] == "dependsOn"
    assert names["r"] == names["f"] == "dependsOn.taskIdRanges"
    assert emulator.store.task_ids("typed") == ["p", "ok"]
    assert (
        by_id(batch.add("typed", [{"id": "later", "commandLine": "x"}]))["later"]["status"]
        == "success"
    )


# --- reading tasks ---


def test_get_task(batch: Batch, emulator: EmulatorServer) -> None:
    assert batch.create_job("job1").status_code == 201
    task = {
        "id": "Alpha",
        "commandLine": "echo a",
        "environmentSettings": [{"name": "A", "value": "1"}],
    }
    assert by_id(batch.add("job1", [task]))["Alpha"]["status"] == "success"
    got = batch.request("GET", "/jobs/job1/tasks/alpha")
    assert got.status_code == 200
    doc = got.json()
    assert {k: doc[k] for k in task} == task
    assert doc["state"] == "active"
    assert doc["url"] == f"{emulator.endpoint}/jobs/job1/tasks/Alpha"
    assert doc["eTag"] == got.headers["ETag"]
    assert doc["creationTime"].endswith("Z")
    assert_error(batch.request("GET", "/jobs/job1/tasks/beta"), 404, "TaskNotFound")
    assert_error(batch.request("GET", "/jobs/nojob/tasks/alpha"), 404, "JobNotFound")


def _list_all(
    batch: Batch, job_id: str, params: dict[str, str] | None = None
) -> tuple[list[str], int]:
    ids: list[str] = []
    pages = 0
    response = batch.request("GET", f"/jobs/{job_id}/tasks", params=params)
    while True:
        assert response.status_code == 200, response.text
        page = response.json()
        pages += 1
        ids.extend(t["id"] for t in page["value"])
        link = page.get("odata.nextLink")
        if not link:
            return ids, pages
        assert link.startswith(batch.server.endpoint + "/jobs/")
        response = batch.request("GET", link)


def test_list_paging_returns_every_task_once(batch: Batch) -> None:
    assert batch.create_job("job1").status_code == 201
    sent = []
    for k in range(25):
        chunk = tasks_named(f"b{k}-", 100)
        sent.extend(t["id"] for t in chunk)
        assert batch.add("job1", chunk).status_code == 200
    ids, pages = _list_all(batch, "job1")
    assert ids == sent
    assert pages == 3  # default and maximum page: 1000
    ids, pages = _list_all(batch, "job1", {"maxresults": "333"})
    assert ids == sent
    assert pages == 8
    ids, _ = _list_all(batch, "job1", {"$filter": "state eq 'active'", "maxresults": "999"})
    assert ids == sent
    ids, _ = _list_all(batch, "job1", {"$filter": "state eq 'completed'"})
    assert ids == []
    too_many = batch.request("GET", "/jobs/job1/tasks", params={"maxresults": "1001"})
    assert_error(too_many, 400, "InvalidQueryParameterValue")


def test_stats_endpoint(batch: Batch, emulator: EmulatorServer) -> None:
    assert batch.create_job("job1").status_code == 201
    assert batch.add("job1", tasks_named("t", 10)).status_code == 200
    stats = httpx.get(f"{emulator.endpoint}/_emulator/stats").json()
    assert stats["tasksAdded"] == 10
    assert stats["requests"]["addtaskcollection"] == 1
    assert stats["requests"]["createjob"] == 1
    assert stats["jobs"] == {"job1": 10}
    assert stats == emulator.store.stats()


def test_twenty_thousand_tasks_in_200_requests(batch: Batch, emulator: EmulatorServer) -> None:
    assert batch.create_job("big", usesTaskDependencies=True).status_code == 201
    sent = []
    for k in range(200):
        chunk = [
            {
                "id": f"{k * 100 + i}",
                "commandLine": f"run --part {k * 100 + i}",
                "dependsOn": {"taskIdRanges": [{"start": 0, "end": max(0, k * 100 - 1)}]}
                if k
                else None,
            }
            for i in range(100)
        ]
        chunk = [{key: v for key, v in t.items() if v is not None} for t in chunk]
        sent.extend(t["id"] for t in chunk)
        results = by_id(batch.add("big", chunk))
        assert {r["status"] for r in results.values()} == {"success"}
    assert emulator.store.task_count("big") == 20000
    ids, pages = _list_all(batch, "big")
    assert ids == sent
    assert pages == 20


# --- fault injection ---


def _run_script(server: EmulatorServer, make_batch: Any) -> list[Any]:
    """A fixed sequence of requests; what came back, request by request."""
    client = make_batch(server)
    assert client.create_job("job1").status_code == 201
    outcome: list[Any] = []
    for k in range(30):
        response = client.add("job1", tasks_named(f"r{k}-", 20))
        if response.status_code == 200:
            outcome.append(
                [
                    (r["taskId"], r["status"], r.get("error", {}).get("code"))
                    for r in response.json()["value"]
                ]
            )
        else:
            outcome.append(
                (response.status_code, response.json()["code"], response.headers.get("Retry-After"))
            )
    outcome.append(server.store.task_ids("job1"))
    return outcome


def test_faults_are_seeded_and_reproducible(emulator_factory: Any, make_batch: Any) -> None:
    options = dict(throttle=0.15, busy=0.15, internal=0.1, task_server_error=0.2, retry_after=3)
    first = emulator_factory(seed=11, **options)
    second = emulator_factory(seed=11, **options)
    third = emulator_factory(seed=12, **options)
    a, b, c = (_run_script(s, make_batch) for s in (first, second, third))
    assert a == b
    assert a != c
    kinds = {entry[:2] for entry in a[:-1] if isinstance(entry, tuple)}
    assert kinds == {(429, "TooManyRequests"), (503, "ServerBusy"), (500, "InternalError")}
    for entry in a[:-1]:
        if isinstance(entry, tuple):
            assert entry[2] == ("3" if entry[0] in (429, 503) else None)
    results = [r for entry in a[:-1] if isinstance(entry, list) for r in entry]
    server_errors = {r[0] for r in results if r[1] == "servererror"}
    assert server_errors
    assert {r[2] for r in results if r[1] == "servererror"} <= {"ServerBusy", "InternalError"}
    stored = set(a[-1])
    assert not server_errors & stored
    assert {r[0] for r in results if r[1] == "success"} == stored
    stats = first.store.stats()["faults"]
    assert stats["task_server_error"] == len(server_errors)
    assert stats["throttle"] + stats["busy"] + stats["internal"] == sum(
        isinstance(e, tuple) for e in a[:-1]
    )


def test_faults_apply_to_addtaskcollection_only_by_default(
    emulator_factory: Any, make_batch: Any
) -> None:
    server = emulator_factory(throttle=1.0)
    client = make_batch(server)
    assert client.create_job("job1").status_code == 201
    assert client.request("GET", "/jobs/job1").status_code == 200
    response = client.add("job1", tasks_named("t", 1))
    assert_error(response, 429, "TooManyRequests")
    assert response.headers["Retry-After"] == "1"
    assert server.store.task_count("job1") == 0
    server.set_faults(FaultConfig(busy=1.0, operations=frozenset({"getjob"})))
    assert_error(client.request("GET", "/jobs/job1"), 503, "ServerBusy")
    assert client.add("job1", tasks_named("t", 1)).status_code == 200
    # a dropped job creation: processed, but the client cannot know
    server.set_faults(FaultConfig(drop=1.0, operations=frozenset({"createjob"})))
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        client.create_job("job2")
    assert server.store.job("job2") is not None


def test_drop_stores_a_prefix_and_breaks_the_connection(
    emulator_factory: Any, make_batch: Any
) -> None:
    server = emulator_factory(drop=1.0, seed=5)
    client = make_batch(server)
    assert client.create_job("job1").status_code == 201
    prefixes = []
    for k in range(6):
        before = server.store.task_count("job1")
        tasks = tasks_named(f"d{k}-", 50)
        with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
            client.add("job1", tasks)
        stored = server.store.task_ids("job1")[before:]
        assert stored == [t["id"] for t in tasks[: len(stored)]]
        prefixes.append(len(stored))
    assert any(0 < n < 50 for n in prefixes)
    assert server.store.stats()["faults"]["drop"] == 6
    # re-sending after the drop: the prefix comes back TaskExists, the rest lands
    server.set_faults(FaultConfig())
    tasks = tasks_named("d0-", 50)
    results = by_id(client.add("job1", tasks))
    for i, task in enumerate(tasks):
        expected = "TaskExists" if i < prefixes[0] else None
        assert results[task["id"]].get("error", {}).get("code") == expected
    assert server.store.task_count("job1") == sum(prefixes) + 50 - prefixes[0]


# --- the command line ---


def test_cli_serves_and_prints_the_environment(tmp_path: Path) -> None:
    import dagbatch.signing

    root = Path(dagbatch.signing.__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": f"{root}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    code = "from dagbatch.cli.emulator import emulator_cmd; emulator_cmd()"
    proc = subprocess.Popen(
        [sys.executable, "-c", code, "--port", "0", "--fault-throttle", "0.5", "--seed", "1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline() for _ in range(5)]
        endpoint = lines[0].split("listening on ")[1].split()[0]
        assert endpoint.startswith("http://127.0.0.1:")
        exports = "".join(lines)
        assert f"export AZURE_BATCH_ENDPOINT={endpoint}" in exports
        assert f"export AZURE_BATCH_ACCOUNT={DEV_ACCOUNT}" in exports
        assert f"export AZURE_BATCH_ACCESS_KEY={DEV_KEY}" in exports
        date = signing.rfc1123_now()
        headers = {"ocp-date": date}
        headers["authorization"] = signing.authorization_header(
            DEV_ACCOUNT, DEV_KEY, "GET", "/jobs/nojob", [("api-version", V2025)], headers
        )
        response = httpx.get(f"{endpoint}/jobs/nojob?api-version={V2025}", headers=headers)
        assert_error(response, 404, "JobNotFound")
    finally:
        proc.terminate()
        proc.wait(10)
        if proc.stdout:
            proc.stdout.close()
        if proc.stderr:
            proc.stderr.close()


def test_cli_rejects_bad_options() -> None:
    from click.testing import CliRunner

    from dagbatch.cli.emulator import emulator_cmd

    runner = CliRunner()
    result = runner.invoke(emulator_cmd, ["--help"])
    assert result.exit_code == 0
    assert "local" in result.output
    result = runner.invoke(emulator_cmd, ["--fault-drop", "1.5"])
    assert result.exit_code == 2
    result = runner.invoke(emulator_cmd, ["--key", "not base64!"])
    assert result.exit_code == 2
    result = runner.invoke(emulator_cmd, ["--fault-ops", "deletepool"])
    assert result.exit_code == 2
    # A port out of range was an OverflowError's traceback, exit 1.
    for port in ("99999", "-1", "65536"):
        result = runner.invoke(emulator_cmd, ["--port", port])
        assert result.exit_code == 2, result.output
        assert f"Invalid value for '--port': {port} is not in the range 0<=x<=65535" in (
            result.output
        )
        assert result.exception is None or isinstance(result.exception, SystemExit)


def test_cli_a_port_in_use_is_a_usage_error() -> None:
    import socket

    from click.testing import CliRunner

    from dagbatch.cli.emulator import emulator_cmd

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(emulator_cmd, ["--port", str(port), "--store-only"])
    assert result.exit_code == 2, result.output
    # As every command's errors read (it lacked the "error: ").
    assert f"error: cannot listen on 127.0.0.1:{port}: Address already in use" in result.stderr
    assert "Traceback" not in result.output
    # Negative options are refused by the option's name, not by FaultConfig's field.
    for option in ("--latency-ms", "--retry-after"):
        refused = CliRunner().invoke(emulator_cmd, [option, "-1"])
        assert refused.exit_code == 2
        assert f"Invalid value for '{option}': -1" in refused.stderr, refused.stderr
    import gc

    del result  # its exception's frames hold the emulator that did not start
    gc.collect()  # a socket that start left open would warn now (ResourceWarning: an error)


def test_cli_explains_a_missing_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from dagbatch.cli.emulator import emulator_cmd

    monkeypatch.setitem(sys.modules, "uvicorn", None)
    monkeypatch.delitem(sys.modules, "dagbatch.emulator.server", raising=False)
    result = CliRunner().invoke(emulator_cmd, ["--port", "0"])
    assert result.exit_code == 2
    assert "pip install 'dagbatch[emulator]'" in result.output


def test_a_select_listing_is_the_full_listing_trimmed(
    emulator_factory: Any, make_batch: Any
) -> None:
    """The listing builds only what ``$select`` and ``$filter`` need (``task_doc``'s keys):
    every property it answers equals the full document's, in every state."""
    from dagbatch.emulator.simulate import SimulatedRunner

    runner = SimulatedRunner({"bad": (3, None), "slow": (0, 60.0)})
    server: EmulatorServer = emulator_factory(runner=runner, slots=2)
    client: Batch = make_batch(server)
    assert client.create_job("sel", usesTaskDependencies=True).status_code == 201
    tasks: list[dict[str, Any]] = [
        {"id": "ok", "commandLine": "x", "displayName": "fine", "requiredSlots": 1},
        {"id": "bad", "commandLine": "x", "constraints": {"maxTaskRetryCount": 1}},
        {"id": "slow", "commandLine": "x"},
        {"id": "child", "commandLine": "x", "dependsOn": {"taskIds": ["bad"]}},
        {
            "id": "7",
            "commandLine": "x",
            "exitConditions": {"default": {"dependencyAction": "satisfy"}},
        },
    ]
    assert client.add("sel", tasks).status_code == 200
    deadline = time() + 30
    while time() < deadline:
        listed = client.request("GET", "/jobs/sel/tasks").json()["value"]
        states = {t["id"]: t["state"] for t in listed}
        if states["ok"] == states["bad"] == states["7"] == "completed" and states["slow"] == (
            "running"
        ):
            break
        sleep(0.02)
    assert states["child"] == "active" and states["slow"] == "running"
    full = {t["id"]: t for t in listed}
    volatile = {"odata.metadata"}
    for select, filter_ in [
        ("id,state,executionInfo", None),
        ("id,state,executionInfo,dependsOn,exitConditions", None),
        ("id", "state eq 'completed'"),
        ("id,nodeInfo", "executionInfo/result eq 'failure'"),
        ("url,eTag,creationTime,previousState", None),
        ("id,displayName,constraints,requiredSlots,userIdentity", "requiredSlots eq 1"),
        ("id", "displayName eq 'fine' or executionInfo/exitCode eq 3"),
    ]:
        params = {"$select": select}
        if filter_:
            params["$filter"] = filter_
        answer = client.request("GET", "/jobs/sel/tasks", params=params)
        assert answer.status_code == 200, answer.text
        names = set(select.split(","))
        docs = answer.json()["value"]
        # In the order of the full listing (by id where the filter drops some).
        originals = list(full.values()) if filter_ is None else [full[d["id"]] for d in docs]
        assert len(docs) == len(originals)
        for doc, original in zip(docs, originals, strict=True):
            expected = {k: v for k, v in original.items() if k in names}
            assert {k: v for k, v in doc.items() if k not in volatile} == expected, select
    ids = lambda f: sorted(  # noqa: E731
        d["id"]
        for d in client.request(
            "GET", "/jobs/sel/tasks", params={"$select": "id", "$filter": f}
        ).json()["value"]
    )
    assert ids("state eq 'completed'") == ["7", "bad", "ok"]
    assert ids("executionInfo/result eq 'failure'") == ["bad"]
    assert ids("displayName eq 'fine' or executionInfo/exitCode eq 3") == ["bad", "ok"]
    # Batch's page of filters joins conditions with "AND" and "OR", in capitals
    assert ids("displayName eq 'fine' OR executionInfo/exitCode eq 3") == ["bad", "ok"]
    assert ids("state eq 'completed' AND executionInfo/result eq 'failure'") == ["bad"]
