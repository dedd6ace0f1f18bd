"""The emulator refuses the numbers the Batch service refuses, the way the service refuses
them: 400 ``InvalidPropertyValue`` naming the property (the whole request for a job and for
"add task"; the task's own ``clienterror`` result in "add task collection"), and 400
``InvalidQueryParameterValue`` naming ``maxresults``. The bounds are the spec's
[spec-2025, tests/data/spec/batch-2025-06-01.jobs-tasks.excerpt.json]: job ``priority``
"can range from -1000 to 1000", ``maxParallelTasks`` "must be -1 or greater than 0",
``maxTaskRetryCount`` -1 ("without limit") or more, exit codes and range bounds "format":
"int32", durations ISO 8601, a job release task's ``maxWallClockTime`` not "longer than 15
minutes", a multi-instance task's ``requiredSlots`` 1, and list ``maxresults`` 1 to 1000.

The official azure-batch SDK (v15) sends the values wherever its models let it; raw signed
HTTP (httpx) sends what the SDK cannot (a priority of the wrong type, a negative duration
written as ISO 8601 with a sign).
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any
from urllib.parse import unquote

import httpx
import orjson
import pytest

from dagbatch import limits, signing
from dagbatch.emulator.server import EmulatorServer

batch = pytest.importorskip("azure.batch")
models = batch.models
from azure.core.credentials import AzureNamedKeyCredential  # noqa: E402
from azure.core.exceptions import HttpResponseError  # noqa: E402

POOL = models.BatchPoolInfo(pool_id="pool")
#: A job whose tasks may carry a dependencyAction.
DEPENDENCY_JOB = models.BatchJobCreateOptions(id="job", pool_info=POOL, uses_task_dependencies=True)
INT32_MAX = 2**31 - 1
#: The pool of a job created over raw HTTP.
POOL_RAW = {"poolId": "pool"}


def sdk_client(server: EmulatorServer) -> Any:
    return batch.BatchClient(server.endpoint, AzureNamedKeyCredential(server.account, server.key))


def refused(call: Any, *args: Any, **kwargs: Any) -> tuple[str, dict[str, str]]:
    """Call the SDK; it must raise a 400. (error code, error values)."""
    with pytest.raises(HttpResponseError) as caught:
        call(*args, **kwargs)
    assert caught.value.status_code == 400, caught.value
    error = caught.value.model
    values = {v.key: v.value for v in (error.error_values or [])}
    return str(error.code), values


def assert_invalid(outcome: tuple[str, dict[str, str]], name: str) -> None:
    code, values = outcome
    assert code == "InvalidPropertyValue", outcome
    assert values.get("PropertyName") == name, outcome


def raw(
    server: EmulatorServer,
    method: str,
    path: str,
    body: Any = None,
    query: dict[str, str] | None = None,
) -> httpx.Response:
    """One Shared Key signed request (api-version 2025-06-01, ``query`` besides) over
    loopback."""
    with httpx.Client(base_url=server.endpoint, timeout=30) as http:
        headers = {"ocp-date": signing.rfc1123_now()}
        content = None
        if body is not None:
            content = orjson.dumps(body)
            headers["content-type"] = limits.CONTENT_TYPE
        request = http.build_request(
            method,
            path,
            params={"api-version": "2025-06-01", **(query or {})},
            content=content,
            headers=headers,
        )
        url_path, _, query = request.url.raw_path.decode().partition("?")
        pairs = [(unquote(n), v) for n, _, v in (p.partition("=") for p in query.split("&") if p)]
        request.headers["authorization"] = signing.authorization_header(
            server.account, server.key, method, url_path, pairs, request.headers
        )
        return http.send(request)


def raw_invalid(response: httpx.Response, name: str) -> dict[str, str]:
    assert response.status_code == 400, response.text
    body = response.json()
    values = {v["key"]: v["value"] for v in body.get("values", [])}
    assert (body["code"], values.get("PropertyName")) == ("InvalidPropertyValue", name), body
    return values


# --- jobs: create, update (PATCH), replace (PUT) ---

BAD_JOB_SETTINGS: list[tuple[dict[str, Any], str]] = [
    ({"priority": 1001}, "priority"),
    ({"priority": -1001}, "priority"),
    ({"priority": 5000}, "priority"),
    ({"max_parallel_tasks": 0}, "maxParallelTasks"),
    ({"max_parallel_tasks": -2}, "maxParallelTasks"),
    (
        {"constraints": models.BatchJobConstraints(max_task_retry_count=-2)},
        "constraints.maxTaskRetryCount",
    ),
    (
        {"constraints": models.BatchJobConstraints(max_wall_clock_time=timedelta(hours=-1))},
        "constraints.maxWallClockTime",
    ),
]
GOOD_JOB_SETTINGS: list[dict[str, Any]] = [
    {"priority": 1000, "max_parallel_tasks": -1},
    {"priority": -1000, "max_parallel_tasks": 1},
    {"constraints": models.BatchJobConstraints(max_task_retry_count=-1)},
]


@pytest.mark.parametrize(("settings", "name"), BAD_JOB_SETTINGS)
def test_sdk_job_values_outside_the_spec_are_refused(
    emulator: EmulatorServer, settings: dict[str, Any], name: str
) -> None:
    """Create, PATCH and PUT refuse each value, naming it; nothing is changed."""
    with sdk_client(emulator) as client:
        create = models.BatchJobCreateOptions(id="bad", pool_info=POOL, **settings)
        assert_invalid(refused(client.create_job, create), name)
        assert "bad" not in emulator.store.jobs
        client.create_job(models.BatchJobCreateOptions(id="job", pool_info=POOL, priority=7))
        patch = models.BatchJobUpdateOptions(**settings)
        assert_invalid(refused(client.update_job, "job", patch), name)
        put = models.BatchJob(pool_info=POOL, **settings)
        assert_invalid(refused(client.replace_job, "job", put), name)
        job = client.get_job("job")
        assert (job.priority, job.max_parallel_tasks) == (7, -1)  # unchanged: defaults
        assert job.constraints.max_task_retry_count == 0


@pytest.mark.parametrize("settings", GOOD_JOB_SETTINGS)
def test_sdk_job_values_at_the_bounds_are_taken(
    emulator: EmulatorServer, settings: dict[str, Any]
) -> None:
    with sdk_client(emulator) as client:
        client.create_job(models.BatchJobCreateOptions(id="job", pool_info=POOL, **settings))
        client.update_job("job", models.BatchJobUpdateOptions(**settings))
        client.replace_job("job", models.BatchJob(pool_info=POOL, **settings))
        job = client.get_job("job")
        for key, value in settings.items():
            got = getattr(job, key)
            if key == "constraints":  # what was set, the defaults of the rest besides
                given = value.as_dict()
                assert {k: v for k, v in got.as_dict().items() if k in given} == given
            else:
                assert got == value


def test_sdk_job_release_task_wall_clock_is_at_most_15_minutes(emulator: EmulatorServer) -> None:
    """BatchJobReleaseTask.maxWallClockTime: "You may not specify a timeout longer than 15
    minutes ... 400 (Bad Request)"; the job's own tasks' constraints are checked too."""
    with sdk_client(emulator) as client:

        def job(job_id: str, **props: Any) -> Any:
            return models.BatchJobCreateOptions(id=job_id, pool_info=POOL, **props)

        def release(minutes: float) -> Any:
            return models.BatchJobReleaseTask(
                command_line="x", max_wall_clock_time=timedelta(minutes=minutes)
            )

        assert_invalid(
            refused(client.create_job, job("r1", job_release_task=release(16))),
            "jobReleaseTask.maxWallClockTime",
        )
        client.create_job(job("r2", job_release_task=release(15)))
        retries = models.BatchTaskConstraints(max_task_retry_count=-5)
        manager = models.BatchJobManagerTask(id="m", command_line="x", constraints=retries)
        assert_invalid(
            refused(client.create_job, job("r3", job_manager_task=manager)),
            "jobManagerTask.constraints.maxTaskRetryCount",
        )
        prep = models.BatchJobPreparationTask(command_line="x", constraints=retries)
        assert_invalid(
            refused(client.create_job, job("r4", job_preparation_task=prep)),
            "jobPreparationTask.constraints.maxTaskRetryCount",
        )
        assert sorted(emulator.store.jobs) == ["r2"]


def test_raw_job_values_of_the_wrong_type_are_refused(emulator: EmulatorServer) -> None:
    """What the SDK's models do not let through: a priority that is a string or a boolean, a
    maxParallelTasks beyond int32, a negative duration written with a sign."""
    pool = {"poolId": "pool"}
    cases: list[tuple[dict[str, Any], str]] = [
        ({"priority": "high"}, "priority"),
        ({"priority": True}, "priority"),
        ({"priority": 1.5}, "priority"),
        ({"maxParallelTasks": 2**31}, "maxParallelTasks"),
        ({"constraints": {"maxTaskRetryCount": -(2**31) - 1}}, "constraints.maxTaskRetryCount"),
        ({"constraints": {"maxWallClockTime": "-PT1H"}}, "constraints.maxWallClockTime"),
    ]
    for props, name in cases:
        raw_invalid(raw(emulator, "POST", "/jobs", {"id": "j", "poolInfo": pool, **props}), name)
    assert not emulator.store.jobs
    assert raw(emulator, "POST", "/jobs", {"id": "j", "poolInfo": pool}).status_code == 201
    for props, name in cases:
        raw_invalid(raw(emulator, "PATCH", "/jobs/j", props), name)
        raw_invalid(raw(emulator, "PUT", "/jobs/j", {"poolInfo": pool, **props}), name)
    # A null leaves the property unset, as the SDK's "not specified" does.
    assert raw(emulator, "PATCH", "/jobs/j", {"priority": None}).status_code == 200


# --- tasks: add task, add task collection ---


def _exit_codes(*codes: int) -> Any:
    options = models.ExitOptions(dependency_action="satisfy")
    return models.ExitConditions(
        exit_codes=[models.ExitCodeMapping(code=c, exit_options=options) for c in codes]
    )


def _exit_range(start: int, end: int) -> Any:
    options = models.ExitOptions(dependency_action="satisfy")
    return models.ExitConditions(
        exit_code_ranges=[models.ExitCodeRangeMapping(start=start, end=end, exit_options=options)]
    )


def _multi(slots: int | None, instances: int = 2) -> dict[str, Any]:
    settings = models.MultiInstanceSettings(
        coordination_command_line="c", number_of_instances=instances
    )
    return {"multi_instance_settings": settings, "required_slots": slots}


#: task id -> (SDK task options, the property the service names; None: taken).
TASK_CASES: dict[str, tuple[dict[str, Any], str | None]] = {
    "retry-2": (
        {"constraints": models.BatchTaskConstraints(max_task_retry_count=-2)},
        "constraints.maxTaskRetryCount",
    ),
    "retry-min": (
        {"constraints": models.BatchTaskConstraints(max_task_retry_count=-(2**31))},
        "constraints.maxTaskRetryCount",
    ),
    "keep-negative": (
        {"constraints": models.BatchTaskConstraints(retention_time=timedelta(hours=-1))},
        "constraints.retentionTime",
    ),
    "wall-negative": (
        {"constraints": models.BatchTaskConstraints(max_wall_clock_time=timedelta(-1))},
        "constraints.maxWallClockTime",
    ),
    "code-big": (
        {"exit_conditions": _exit_codes(0, INT32_MAX + 1)},
        "exitConditions.exitCodes.code",
    ),
    "code-small": (
        {"exit_conditions": _exit_codes(-(2**31) - 1)},
        "exitConditions.exitCodes.code",
    ),
    "range-start": (
        {"exit_conditions": _exit_range(-(2**31) - 1, 0)},
        "exitConditions.exitCodeRanges.start",
    ),
    "range-end": (
        {"exit_conditions": _exit_range(1, INT32_MAX + 1)},
        "exitConditions.exitCodeRanges.end",
    ),
    "slots-big": ({"required_slots": INT32_MAX + 1}, "requiredSlots"),
    # "For multi-instance Tasks, this must be 1", yet the spec's own example
    # Tasks_CreateTaskCollection_Complex sends 2: taken (BATCH_FACTS section 11).
    "multi-slots": (_multi(2), None),
    "multi-instances": (_multi(1, INT32_MAX + 1), "multiInstanceSettings.numberOfInstances"),
    # The bounds themselves are taken.
    "retry-unlimited": (
        {"constraints": models.BatchTaskConstraints(max_task_retry_count=-1)},
        None,
    ),
    "code-bounds": ({"exit_conditions": _exit_codes(-(2**31), INT32_MAX)}, None),
    "range-bounds": ({"exit_conditions": _exit_range(-(2**31), INT32_MAX)}, None),
    "multi-one": (_multi(1), None),
}


def _task(task_id: str) -> Any:
    options, _ = TASK_CASES[task_id]
    return models.BatchTaskCreateOptions(id=task_id, command_line="x", **options)


def test_sdk_add_task_collection_refuses_each_bad_task_on_its_own(
    emulator: EmulatorServer,
) -> None:
    """Each bad task comes back ``clienterror`` with InvalidPropertyValue naming the property
    and is not stored; the good tasks of the same request are added."""
    with sdk_client(emulator) as client:
        client.create_job(DEPENDENCY_JOB)
        group = models.BatchTaskGroup(task_values=[_task(t) for t in TASK_CASES])
        results = {r.task_id: r for r in client.create_task_collection("job", group).result_values}
    assert sorted(results) == sorted(TASK_CASES)
    for task_id, (_, name) in TASK_CASES.items():
        result = results[task_id]
        if name is None:
            assert result.status == "success", (task_id, result)
            continue
        assert result.status == "clienterror", (task_id, result)
        assert result.error.code == "InvalidPropertyValue", (task_id, result)
        values = {v.key: v.value for v in result.error.error_values}
        assert values["PropertyName"] == name, (task_id, values)
    taken = {t for t, (_, name) in TASK_CASES.items() if name is None}
    assert set(emulator.store.task_ids("job")) == taken


@pytest.mark.parametrize("task_id", ["retry-2", "code-big", "range-end", "slots-big"])
def test_sdk_add_task_refuses_the_request(emulator: EmulatorServer, task_id: str) -> None:
    """ "Add task" answers the same error for the whole request (400)."""
    with sdk_client(emulator) as client:
        client.create_job(DEPENDENCY_JOB)
        assert_invalid(
            refused(client.create_task, "job", _task(task_id)), TASK_CASES[task_id][1] or ""
        )
    assert emulator.store.task_ids("job") == []


def test_raw_task_values_the_sdk_cannot_send(emulator: EmulatorServer) -> None:
    """A range bound and a taskIdRanges bound beyond int32 written in JSON, and durations with
    a sign, per task in a collection."""
    assert (
        raw(
            emulator,
            "POST",
            "/jobs",
            {"id": "j", "poolInfo": {"poolId": "p"}, "usesTaskDependencies": True},
        ).status_code
        == 201
    )
    tasks = [
        {"id": "neg", "commandLine": "x", "constraints": {"retentionTime": "-P1D"}},
        {
            "id": "deps",
            "commandLine": "x",
            "dependsOn": {"taskIdRanges": [{"start": 1, "end": 2**31}]},
        },
        {
            "id": "code",
            "commandLine": "x",
            "exitConditions": {"exitCodes": [{"code": "1", "exitOptions": {}}]},
        },
        {"id": "slots", "commandLine": "x", "requiredSlots": "2"},
        {
            "id": "ok",
            "commandLine": "x",
            "dependsOn": {"taskIdRanges": [{"start": 1, "end": INT32_MAX}]},
        },
    ]
    expected = {
        "neg": "constraints.retentionTime",
        "deps": "dependsOn.taskIdRanges",
        "code": "exitConditions.exitCodes.code",
        "slots": "requiredSlots",
    }
    response = raw(emulator, "POST", "/jobs/j/addtaskcollection", {"value": tasks})
    assert response.status_code == 200, response.text
    results = {r["taskId"]: r for r in response.json()["value"]}
    for task_id, name in expected.items():
        result = results[task_id]
        assert result["status"] == "clienterror", result
        values = {v["key"]: v["value"] for v in result["error"]["values"]}
        assert (result["error"]["code"], values["PropertyName"]) == ("InvalidPropertyValue", name)
    assert results["ok"]["status"] == "success"
    assert emulator.store.task_ids("j") == ["ok"]


def test_raw_resource_and_output_files_are_checked_as_the_spec_shapes_them(
    emulator: EmulatorServer,
) -> None:
    """A resource file names one source (and a filePath inside the working directory for an
    httpUrl); an output file a pattern, a container URL and an upload condition. The
    emulator took any of them and ran, or failed, the task later."""
    assert raw(emulator, "POST", "/jobs", {"id": "f", "poolInfo": {"poolId": "p"}}).status_code
    url = "http://127.0.0.1:1/acct/c/b"
    upload = {"uploadCondition": "TaskCompletion"}
    container = {"container": {"containerUrl": "http://127.0.0.1:1/acct/c"}}
    tasks: dict[str, tuple[dict[str, Any], tuple[str, str]]] = {
        "no-path": (
            {"resourceFiles": [{"httpUrl": url}]},
            ("MissingRequiredProperty", "resourceFiles[0].filePath"),
        ),
        "two": (
            {"resourceFiles": [{"httpUrl": url, "autoStorageContainerName": "c", "filePath": "a"}]},
            ("InvalidPropertyValue", "resourceFiles[0]"),
        ),
        "none": (
            {"resourceFiles": [{"filePath": "a"}]},
            ("InvalidPropertyValue", "resourceFiles[0]"),
        ),
        "out": (
            {"resourceFiles": [{"httpUrl": url, "filePath": "in/../../x"}]},
            ("InvalidPropertyValue", "resourceFiles[0].filePath"),
        ),
        "no-pattern": (
            {"outputFiles": [{"destination": container, "uploadOptions": upload}]},
            ("MissingRequiredProperty", "outputFiles[0].filePattern"),
        ),
        "no-url": (
            {"outputFiles": [{"filePattern": "*", "destination": {}, "uploadOptions": upload}]},
            ("MissingRequiredProperty", "outputFiles[0].destination.container.containerUrl"),
        ),
        "no-condition": (
            {"outputFiles": [{"filePattern": "*", "destination": container}]},
            ("MissingRequiredProperty", "outputFiles[0].uploadOptions.uploadCondition"),
        ),
        "bad-condition": (
            {
                "outputFiles": [
                    {
                        "filePattern": "*",
                        "destination": container,
                        "uploadOptions": {"uploadCondition": "always"},
                    }
                ]
            },
            ("InvalidPropertyValue", "outputFiles[0].uploadOptions.uploadCondition"),
        ),
        "ok": (
            {
                "resourceFiles": [
                    {"httpUrl": url, "filePath": "in/x"},
                    {"storageContainerUrl": url},
                ],
                "outputFiles": [
                    {
                        "filePattern": "../std*.txt",
                        "destination": container,
                        "uploadOptions": upload,
                    }
                ],
            },
            ("", ""),
        ),
    }
    body = {
        "value": [{"id": tid, "commandLine": "x", **extra} for tid, (extra, _) in tasks.items()]
    }
    response = raw(emulator, "POST", "/jobs/f/addtaskcollection", body)
    assert response.status_code == 200, response.text
    results = {r["taskId"]: r for r in response.json()["value"]}
    for task_id, (_, (code, name)) in tasks.items():
        result = results[task_id]
        if not code:
            assert result["status"] == "success", result
            continue
        assert result["status"] == "clienterror", result
        values = {v["key"]: v["value"] for v in result["error"]["values"]}
        assert (result["error"]["code"], values["PropertyName"]) == (code, name), task_id
    assert emulator.store.task_ids("f") == ["ok"]


# --- lists: maxresults ---


def test_sdk_list_max_results_is_1_to_1000_and_pages(emulator: EmulatorServer) -> None:
    """List jobs, list tasks and list task files take ``maxresults`` from 1 to 1000
    ("minimum": 1, "maximum": 1000); outside it they answer 400
    InvalidQueryParameterValue naming it. Within it a page holds at most that many, and the
    SDK follows ``odata.nextLink`` to the rest."""
    with sdk_client(emulator) as client:
        for i in range(5):
            client.create_job(models.BatchJobCreateOptions(id=f"job{i}", pool_info=POOL))
        for call in (
            lambda n: list(client.list_jobs(max_results=n)),
            lambda n: list(client.list_tasks("job0", max_results=n)),
            lambda n: list(client.list_task_files("job0", "t", max_results=n)),
        ):
            for n in (0, 1001):
                code, values = refused(call, n)
                assert (code, values.get("QueryParameterName")) == (
                    "InvalidQueryParameterValue",
                    "maxresults",
                )
        before = emulator.store.stats()["requests"]["listjobs"]
        assert [j.id for j in client.list_jobs(max_results=2)] == [f"job{i}" for i in range(5)]
        assert emulator.store.stats()["requests"]["listjobs"] - before == 3
        some = list(client.list_jobs(max_results=2, filter="id eq 'job3'"))
        assert [j.id for j in some] == ["job3"]


# --- update task (Tasks_ReplaceTask) ---


def test_sdk_replace_task_refuses_constraints_out_of_bounds(emulator: EmulatorServer) -> None:
    """``replace_task`` sets a task's constraints, checked as on add: a retry count below -1
    or a negative duration is 400 InvalidPropertyValue naming it, and the task keeps its
    constraints; within the bounds they replace the task's, with a new ETag."""
    with sdk_client(emulator) as client:
        client.create_job(DEPENDENCY_JOB)
        first = models.BatchTaskConstraints(max_task_retry_count=1)
        client.create_task(
            "job", models.BatchTaskCreateOptions(id="t", command_line="x", constraints=first)
        )
        etag = client.get_task("job", "t").etag
        for bad, name in (
            (models.BatchTaskConstraints(max_task_retry_count=-2), "constraints.maxTaskRetryCount"),
            (
                models.BatchTaskConstraints(retention_time=timedelta(days=-1)),
                "constraints.retentionTime",
            ),
        ):
            task = models.BatchTask(constraints=bad)
            assert_invalid(refused(client.replace_task, "job", "t", task), name)
        assert client.get_task("job", "t").constraints.max_task_retry_count == 1
        assert client.get_task("job", "t").etag == etag
        good = models.BatchTaskConstraints(
            max_task_retry_count=-1, retention_time=timedelta(hours=1)
        )
        client.replace_task("job", "t", models.BatchTask(constraints=good))
        after = client.get_task("job", "t")
        assert after.constraints.max_task_retry_count == -1
        assert after.constraints.retention_time == timedelta(hours=1)
        assert after.etag != etag
    assert emulator.store.task("job", "t")["constraints"] == {
        "maxTaskRetryCount": -1,
        "retentionTime": "PT01H00M00S",  # as the SDK writes a timedelta
    }


def test_raw_replace_task_takes_only_constraints(emulator: EmulatorServer) -> None:
    """Every other property of BatchTask is read-only [spec-2025 BatchTask]: naming one is
    400 InvalidRequestBody naming it; an unknown task is 404 TaskNotFound."""
    pool = {"poolId": "pool"}
    assert raw(emulator, "POST", "/jobs", {"id": "j", "poolInfo": pool}).status_code == 201
    added = raw(emulator, "POST", "/jobs/j/tasks", {"id": "t", "commandLine": "x"})
    assert added.status_code == 201, added.text
    other = raw(emulator, "PUT", "/jobs/j/tasks/t", {"commandLine": "y"})
    assert other.status_code == 400
    body = other.json()
    assert body["code"] == "InvalidRequestBody"
    assert {"key": "PropertyName", "value": "commandLine"} in body["values"]
    bad = raw(emulator, "PUT", "/jobs/j/tasks/t", {"constraints": {"maxTaskRetryCount": 1.5}})
    raw_invalid(bad, "constraints.maxTaskRetryCount")
    missing = raw(emulator, "PUT", "/jobs/j/tasks/nope", {"constraints": {}})
    assert (missing.status_code, missing.json()["code"]) == (404, "TaskNotFound")
    assert emulator.store.task("j", "t") == {"id": "t", "commandLine": "x"}


def test_a_replaced_retry_count_applies_when_the_task_next_ends(
    emulator_factory: Any,
) -> None:
    """A task added with no retries, then given maxTaskRetryCount 2 before it runs, is tried
    three times: the engine reads the new limit."""
    from dagbatch.emulator.simulate import SimulatedRunner

    server: EmulatorServer = emulator_factory(runner=SimulatedRunner({"f": (3, None)}))
    engine = server.store.engine
    with sdk_client(server) as client:
        client.create_job(DEPENDENCY_JOB)
        engine.hold()
        try:
            client.create_task("job", models.BatchTaskCreateOptions(id="f", command_line="x"))
            retries = models.BatchTaskConstraints(max_task_retry_count=2)
            client.replace_task("job", "f", models.BatchTask(constraints=retries))
        finally:
            engine.release()
        deadline = time.monotonic() + 30
        task = client.get_task("job", "f")
        while task.state != "completed" and time.monotonic() < deadline:
            time.sleep(0.02)
            task = client.get_task("job", "f")
    assert task.state == "completed"
    assert (task.execution_info.retry_count, task.execution_info.exit_code) == (2, 3)


def _ran_task(emulator_factory: Any, tmp_path: Any, command: str) -> EmulatorServer:
    """An emulator that runs tasks, its job ``job`` holding task ``t`` of ``command``, which
    has completed (its files under ``tmp_path / "node"``)."""
    from dagbatch.emulator.runner import RealRunner

    server: EmulatorServer = emulator_factory(runner=RealRunner(tmp_path / "node"), slots=1)
    with sdk_client(server) as client:
        client.create_job(DEPENDENCY_JOB)
        client.create_task("job", models.BatchTaskCreateOptions(id="t", command_line=command))
        deadline = time.monotonic() + 30
        while client.get_task("job", "t").state != "completed":
            assert time.monotonic() < deadline, "the task did not complete"
            time.sleep(0.05)
    return server


def test_sdk_list_task_files_pages_by_max_results(emulator_factory: Any, tmp_path: Any) -> None:
    """A task's files listed 2 a page: the SDK follows ``odata.nextLink`` and sees each file
    once, the same files as one page of 1000."""
    server = _ran_task(
        emulator_factory, tmp_path, "/bin/sh -c 'mkdir -p d && touch a b d/c && echo out'"
    )
    with sdk_client(server) as client:
        before = server.store.stats()["requests"].get("listtaskfiles", 0)
        paged = [f.name for f in client.list_task_files("job", "t", recursive=True, max_results=2)]
        pages = server.store.stats()["requests"]["listtaskfiles"] - before
        whole = [f.name for f in client.list_task_files("job", "t", recursive=True)]
    assert {"stdout.txt", "stderr.txt", "wd/a", "wd/b", "wd/d/c"} <= set(whole)
    assert paged == whole
    assert pages == (len(whole) + 1) // 2
    # A file's mode is written as the spec writes it ("0770"), not as Python does ("0o644").
    with sdk_client(server) as client:
        listed = client.list_task_files("job", "t", recursive=True)
        modes = {f.name: f.properties.file_mode for f in listed if f.properties is not None}
    assert modes["stdout.txt"] == "0644"


# --- what a review found: long numbers, pages of a changing list, echoed annotations ---


@pytest.mark.parametrize("path", ["/jobs", "/jobs/j/tasks"])
@pytest.mark.parametrize("name", ["maxresults", "$skiptoken"])
def test_a_number_of_thousands_of_digits_is_refused_not_a_crash(
    emulator: EmulatorServer, path: str, name: str
) -> None:
    """int() refuses more than 4,300 digits: such a query is still 400
    InvalidQueryParameterValue naming it, not a 500."""
    assert raw(emulator, "POST", "/jobs", {"id": "j", "poolInfo": POOL_RAW}).status_code == 201
    answer = raw(emulator, "GET", path, query={name: "1" * 5000})
    assert answer.status_code == 400, answer.text
    values = {v["key"]: v["value"] for v in answer.json()["values"]}
    assert values.get("QueryParameterName") == name


def test_sdk_list_jobs_pages_see_every_job_once_when_one_is_deleted_between(
    emulator: EmulatorServer,
) -> None:
    """The page token is where the next page starts, not a count of jobs before it: a job
    deleted after the first page moves no other job out of the listing."""
    for i in range(6):
        assert (
            raw(emulator, "POST", "/jobs", {"id": f"x{i}", "poolInfo": POOL_RAW}).status_code == 201
        )
    with sdk_client(emulator) as client:
        pages = client.list_jobs(max_results=2).by_page()
        seen = [job.id for job in next(pages)]
        assert seen == ["x0", "x1"]
        assert raw(emulator, "DELETE", "/jobs/x0").status_code == 202
        # A job deleted in the emulator is gone at once (no `deleting` state), and a new one
        # comes last.
        assert raw(emulator, "POST", "/jobs", {"id": "x6", "poolInfo": POOL_RAW}).status_code == 201
        seen += [job.id for page in pages for job in page]
    assert seen == ["x0", "x1", "x2", "x3", "x4", "x5", "x6"]


def test_sdk_list_task_files_pages_see_every_lasting_file_once(
    emulator_factory: Any, tmp_path: Any
) -> None:
    """A file the task removes between two pages moves no other file: every file that is
    there throughout is listed once (the token is the next file's path, not a position)."""
    server = _ran_task(emulator_factory, tmp_path, "/bin/sh -c 'touch a b c d e f'")
    with sdk_client(server) as client:
        (wd,) = (tmp_path / "node").rglob("t/wd")
        pages = client.list_task_files("job", "t", recursive=True, max_results=2).by_page()
        seen = [f.name for f in next(pages)] + [f.name for f in next(pages)]
        assert "wd/a" in seen
        (wd / "a").unlink()  # listed already: the files after it must not shift left
        seen += [f.name for page in pages for f in page]
    lasting = ["wd/b", "wd/c", "wd/d", "wd/e", "wd/f", "stdout.txt", "stderr.txt"]
    assert all(seen.count(name) == 1 for name in lasting), seen
    assert len(seen) == len(set(seen)), seen


def test_sdk_list_task_files_filters_by_name_prefix(emulator_factory: Any, tmp_path: Any) -> None:
    """``$filter=startswith(name, '...')`` [odata-filters-in-batch, "List task files"] keeps the
    files whose name starts with the text, before paging: two a page sees the same files."""
    server = _ran_task(
        emulator_factory, tmp_path, "/bin/sh -c 'mkdir -p out/deep && touch a out/b out/deep/c'"
    )
    with sdk_client(server) as client:
        wanted = "startswith(name,'wd/out')"
        whole = [f.name for f in client.list_task_files("job", "t", recursive=True, filter=wanted)]
        paged = [
            f.name
            for f in client.list_task_files(
                "job", "t", recursive=True, filter=wanted, max_results=2
            )
        ]
        top = [f.name for f in client.list_task_files("job", "t", filter="startswith(name, 'std')")]
    assert whole == ["wd/out", "wd/out/b", "wd/out/deep", "wd/out/deep/c"]
    assert paged == whole
    assert top == ["stderr.txt", "stdout.txt"]


@pytest.mark.parametrize(
    "text",
    [
        "name eq 'wd'",  # only startswith is offered on files
        "startswith(url,'x')",  # only on name
        "startswith(name)",
        "startswith(name, 3)",
        "startswith(name,'a'",
    ],
)
def test_list_task_files_refuses_a_filter_it_cannot_apply(
    emulator_factory: Any, tmp_path: Any, text: str
) -> None:
    """A filter the emulator cannot apply exactly is 400 naming ``$filter``, never the whole
    list as if it had been applied."""
    server = _ran_task(emulator_factory, tmp_path, "true")
    answer = raw(server, "GET", "/jobs/job/tasks/t/files", query={"$filter": text})
    assert answer.status_code == 400, answer.text
    values = {v["key"]: v["value"] for v in answer.json()["values"]}
    assert (answer.json()["code"], values) == (
        "InvalidQueryParameterValue",
        {"QueryParameterName": "$filter"},
    )


def test_task_files_with_odd_names_are_listed_and_read_back(
    emulator_factory: Any, tmp_path: Any
) -> None:
    """A name that is not UTF-8 was a 500 for the whole listing. It is listed with U+FFFD in
    its name, and its url (the name's bytes percent-encoded) reads the file back, as does a
    name with a space and a '#'."""
    script = 'printf x > "$(printf "bad\\377")"; printf y > "a b#c"'
    server = _ran_task(emulator_factory, tmp_path, f"/bin/sh -c '{script}'")
    answer = raw(server, "GET", "/jobs/job/tasks/t/files", query={"recursive": "true"})
    assert answer.status_code == 200, answer.text
    urls = {f["name"]: f["url"] for f in answer.json()["value"]}
    assert urls["wd/bad\ufffd"].endswith("/files/wd/bad%FF")
    assert urls["wd/a b#c"].endswith("/files/wd/a%20b%23c")
    for name, content in (("wd/bad\ufffd", b"x"), ("wd/a b#c", b"y")):
        path = urls[name].split(server.endpoint, 1)[1]
        got = raw(server, "GET", path)
        assert (got.status_code, got.content) == (200, content), (name, got.text)
    with sdk_client(server) as client:
        assert b"".join(client.download_task_file("job", "t", "wd/a b#c")) == b"y"


def test_task_files_page_past_a_name_that_is_not_utf8(emulator_factory: Any, tmp_path: Any) -> None:
    """A page that starts at a name that is not UTF-8 was a 500 (its ``$skiptoken`` could not
    be written): the token carries the name's bytes, and one file a page lists every file
    once, that one included, with the SDK as with a filter."""
    script = 'printf a > a; printf b > "$(printf "b\\377")"; printf c > c'
    server = _ran_task(emulator_factory, tmp_path, f"/bin/sh -c '{script}'")
    with sdk_client(server) as client:
        whole = [f.name for f in client.list_task_files("job", "t", recursive=True)]
        paged = [f.name for f in client.list_task_files("job", "t", recursive=True, max_results=1)]
        kept = "startswith(name,'wd/')"
        wd = [
            f.name
            for f in client.list_task_files("job", "t", recursive=True, filter=kept, max_results=1)
        ]
    assert "wd/b\ufffd" in whole
    assert paged == whole
    assert wd == ["wd/a", "wd/b\ufffd", "wd/c"]
    for token in ("zz", "0" * 9000):  # not a token the emulator gave
        bad = raw(server, "GET", "/jobs/job/tasks/t/files", query={"$skiptoken": token})
        assert bad.status_code == 400, bad.text
        values = {v["key"]: v["value"] for v in bad.json()["values"]}
        assert values == {"QueryParameterName": "$skiptoken"}


def test_task_file_names_with_a_backslash_or_a_nul_byte(
    emulator_factory: Any, tmp_path: Any
) -> None:
    """A backslash is a name's own character on a Linux node: its url reads the file back
    (a backslash read as a Windows separator only when no such name exists). A NUL byte,
    which no file name holds, is 404, not a 500."""
    server = _ran_task(
        emulator_factory,
        tmp_path,
        "/bin/sh -c 'mkdir d && printf x > \"back\\\\slash\" && printf y > d/f'",
    )
    answer = raw(server, "GET", "/jobs/job/tasks/t/files", query={"recursive": "true"})
    urls = {f["name"]: f["url"] for f in answer.json()["value"]}
    assert urls["wd/back\\slash"].endswith("/files/wd/back%5Cslash")
    for url, content in ((urls["wd/back\\slash"], b"x"), (urls["wd/d/f"], b"y")):
        got = raw(server, "GET", url.split(server.endpoint, 1)[1])
        assert (got.status_code, got.content) == (200, content)
    assert raw(server, "GET", "/jobs/job/tasks/t/files/wd%5Cd%5Cf").content == b"y"
    assert raw(server, "GET", "/jobs/job/tasks/t/files/wd/a%00b").status_code == 404


@pytest.mark.parametrize("path", ["/jobs", "/jobs/job/tasks", "/jobs/job/tasks/t/files"])
def test_a_filter_nested_too_deep_is_refused_not_a_crash(
    emulator_factory: Any, tmp_path: Any, path: str
) -> None:
    """Hundreds of nested parentheses hit the parser's recursion limit (a 500): they are a
    400 naming ``$filter``."""
    server = _ran_task(emulator_factory, tmp_path, "true")
    inner = "startswith(name,'wd')" if path.endswith("files") else "id eq 'x'"
    answer = raw(server, "GET", path, query={"$filter": "(" * 400 + inner + ")" * 400})
    assert answer.status_code == 400, answer.text
    assert answer.json()["code"] == "InvalidQueryParameterValue"
    assert "nests parentheses" in answer.json()["message"]["value"]


def test_replace_task_checks_the_constraints_properties(emulator: EmulatorServer) -> None:
    """A property BatchTaskConstraints does not have is 400 InvalidRequestBody naming it, as
    when the task is added."""
    assert raw(emulator, "POST", "/jobs", {"id": "j", "poolInfo": POOL_RAW}).status_code == 201
    assert (
        raw(emulator, "POST", "/jobs/j/tasks", {"id": "t", "commandLine": "x"}).status_code == 201
    )
    answer = raw(emulator, "PUT", "/jobs/j/tasks/t", {"constraints": {"foo": 1}})
    assert answer.status_code == 400
    assert answer.json()["code"] == "InvalidRequestBody"
    assert {"key": "PropertyName", "value": "constraints.foo"} in answer.json()["values"]
    assert emulator.store.task("j", "t") == {"id": "t", "commandLine": "x"}


def test_sdk_get_change_replace_works_for_a_task_and_a_job(emulator: EmulatorServer) -> None:
    """The SDK sends back the ``odata.metadata`` of what it got: control information, not a
    property, so the usual get, change, replace goes through (and is not stored)."""
    with sdk_client(emulator) as client:
        client.create_job(DEPENDENCY_JOB)
        client.create_task("job", models.BatchTaskCreateOptions(id="t", command_line="x"))
        task = client.get_task("job", "t")
        task.constraints = models.BatchTaskConstraints(max_task_retry_count=4)
        client.replace_task("job", "t", task)
        assert client.get_task("job", "t").constraints.max_task_retry_count == 4
        job = client.get_job("job")
        job.priority = 7
        client.replace_job("job", job)
        assert client.get_job("job").priority == 7
    assert "odata.metadata" not in emulator.store.task("job", "t")
    stored = emulator.store.job("job")
    assert stored is not None and "odata.metadata" not in stored.spec


RANGES = "exitConditions.exitCodeRanges"


@pytest.mark.parametrize(
    ("conditions", "name"),
    [
        ({"exitCodes": [{"exitOptions": {}}]}, "exitConditions.exitCodes.code"),
        (
            {"exitCodeRanges": [{"end": 3, "exitOptions": {}}]},
            "exitConditions.exitCodeRanges.start",
        ),
        (
            {"exitCodeRanges": [{"start": 3, "exitOptions": {}}]},
            "exitConditions.exitCodeRanges.end",
        ),
    ],
)
def test_an_exit_code_entry_without_its_number_is_a_missing_property(
    emulator: EmulatorServer, conditions: dict[str, Any], name: str
) -> None:
    assert raw(emulator, "POST", "/jobs", {"id": "j", "poolInfo": POOL_RAW}).status_code == 201
    task = {"id": "t", "commandLine": "x", "exitConditions": conditions}
    answer = raw(emulator, "POST", "/jobs/j/addtaskcollection", {"value": [task]})
    (result,) = answer.json()["value"]
    assert result["status"] == "clienterror"
    assert result["error"]["code"] == "MissingRequiredProperty"
    assert {"key": "PropertyName", "value": name} in result["error"]["values"]


def test_odata_keys_in_a_task_are_dropped_alone_or_in_a_collection(
    emulator: EmulatorServer,
) -> None:
    """Add task and add task collection treat a task's ``odata.*`` key alike."""
    assert raw(emulator, "POST", "/jobs", {"id": "j", "poolInfo": POOL_RAW}).status_code == 201
    one = {"id": "t1", "commandLine": "x", "odata.metadata": "m"}
    assert raw(emulator, "POST", "/jobs/j/tasks", one).status_code == 201
    two = {"id": "t2", "commandLine": "x", "odata.metadata": "m"}
    answer = raw(emulator, "POST", "/jobs/j/addtaskcollection", {"value": [two]})
    assert [r["status"] for r in answer.json()["value"]] == ["success"]
    assert emulator.store.task("j", "t2") == {"id": "t2", "commandLine": "x"}


def test_maxresults_may_have_leading_zeros(emulator: EmulatorServer) -> None:
    assert raw(emulator, "POST", "/jobs", {"id": "j", "poolInfo": POOL_RAW}).status_code == 201
    answer = raw(emulator, "GET", "/jobs", query={"maxresults": "00005"})
    assert answer.status_code == 200, answer.text


@pytest.mark.parametrize("path", ["/jobs", "/jobs/j", "/jobs/j/tasks", "/jobs/j/tasks/t"])
def test_expand_is_refused_and_a_bad_select_is_named(emulator: EmulatorServer, path: str) -> None:
    """``$expand=stats`` was answered without the statistics, as if there were none; and a
    ``$select`` the emulator cannot read was refused naming ``$filter``. Each is 400
    InvalidQueryParameterValue naming its own parameter."""
    assert raw(emulator, "POST", "/jobs", {"id": "j", "poolInfo": POOL_RAW}).status_code == 201
    task = {"id": "t", "commandLine": "x"}
    assert raw(emulator, "POST", "/jobs/j/tasks", task).status_code == 201
    for query, name in (({"$expand": "stats"}, "$expand"), ({"$select": "id,a/b"}, "$select")):
        answer = raw(emulator, "GET", path, query=query)
        assert answer.status_code == 400, (query, answer.text)
        values = {v["key"]: v["value"] for v in answer.json()["values"]}
        assert values == {"QueryParameterName": name}, (query, values)
    assert raw(emulator, "GET", path, query={"$select": "id"}).status_code == 200
