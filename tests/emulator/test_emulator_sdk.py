"""The official azure-batch 15.x SDK, unchanged, against the emulator on 127.0.0.1."""

from __future__ import annotations

from typing import Any

import pytest

from dagbatch.emulator.server import EmulatorServer

batch = pytest.importorskip("azure.batch")
models = batch.models
from azure.core.credentials import AzureNamedKeyCredential  # noqa: E402
from azure.core.exceptions import (  # noqa: E402
    HttpResponseError,
    ResourceExistsError,
    ResourceNotFoundError,
)


def sdk_client(server: EmulatorServer, key: str | None = None) -> Any:
    credential = AzureNamedKeyCredential(server.account, key or server.key)
    return batch.BatchClient(server.endpoint, credential)


def create_job(client: Any, job_id: str) -> None:
    client.create_job(
        models.BatchJobCreateOptions(
            id=job_id,
            pool_info=models.BatchPoolInfo(pool_id="pool"),
            uses_task_dependencies=True,
        )
    )


def make_tasks(n: int, command: str = "echo hello") -> list[Any]:
    tasks = []
    for i in range(n):
        depends = models.BatchTaskDependencies(task_ids=[f"task-{i - 1}"]) if i else None
        tasks.append(
            models.BatchTaskCreateOptions(
                id=f"task-{i}",
                command_line=f"{command} {i}",
                depends_on=depends,
                environment_settings=[models.EnvironmentSetting(name="N", value=str(i))],
            )
        )
    return tasks


def test_sdk_creates_lists_and_gets_tasks(emulator: EmulatorServer) -> None:
    with sdk_client(emulator) as client:
        create_job(client, "sdk-job")
        job = client.get_job("sdk-job")
        assert job.id == "sdk-job"
        assert job.state == "active"
        assert job.uses_task_dependencies is True
        assert job.pool_info.pool_id == "pool"

        result = client.create_tasks("sdk-job", make_tasks(250), max_concurrency=4)
        assert sorted(r.task_id for r in result.result_values) == sorted(
            f"task-{i}" for i in range(250)
        )
        assert {r.status for r in result.result_values} == {"success"}
        assert emulator.store.task_count("sdk-job") == 250

        listed = list(client.list_tasks("sdk-job", max_results=100))
        assert sorted(t.id for t in listed) == sorted(f"task-{i}" for i in range(250))
        assert emulator.store.stats()["requests"]["listtasks"] == 3  # it followed nextLink
        everything = list(client.list_tasks("sdk-job", filter="state eq 'active'"))
        assert len(everything) == 250

        task = client.get_task("sdk-job", "task-7")
        assert task.id == "task-7"
        assert task.command_line == "echo hello 7"
        assert task.depends_on.task_ids == ["task-6"]
        assert task.environment_settings[0].value == "7"
        assert task.state == "active"
        assert task.url.endswith("/jobs/sdk-job/tasks/task-7")


def test_sdk_sees_batch_errors(emulator: EmulatorServer) -> None:
    with sdk_client(emulator) as client:
        create_job(client, "sdk-job")
        with pytest.raises(ResourceExistsError) as exists:
            create_job(client, "SDK-JOB")
        assert exists.value.error.code == "JobExists"
        with pytest.raises(ResourceNotFoundError) as missing:
            client.get_task("sdk-job", "nope")
        assert missing.value.error.code == "TaskNotFound"
        client.update_job(
            "sdk-job", models.BatchJobUpdateOptions(all_tasks_complete_mode="terminatejob")
        )
        assert client.get_job("sdk-job").all_tasks_complete_mode == "terminatejob"
    with (
        sdk_client(emulator, key="AAAAAAAAAAAAAAAAAAAAAA==") as wrong,
        pytest.raises(HttpResponseError) as denied,
    ):
        wrong.get_job("sdk-job")
    assert denied.value.status_code == 403
    assert denied.value.error.code == "AuthenticationFailed"


def test_sdk_splits_on_request_body_too_large(emulator: EmulatorServer) -> None:
    with sdk_client(emulator) as client:
        create_job(client, "sdk-job")
        # 100 tasks of ~20 KB: about 2 MB per request, over the 1 MB limit of 2025-06-01
        tasks = make_tasks(150, command="x" * 20_000)
        result = client.create_tasks("sdk-job", tasks, max_concurrency=2)
        assert len(result.result_values) == 150
    assert emulator.store.task_count("sdk-job") == 150
    assert emulator.store.stats()["responses"]["413"] >= 1


def test_sdk_retries_per_task_server_errors(emulator_factory: Any) -> None:
    server = emulator_factory(task_server_error=0.3, seed=4)
    with sdk_client(server) as client:
        create_job(client, "sdk-job")
        result = client.create_tasks("sdk-job", make_tasks(300), max_concurrency=4)
        assert len(result.result_values) == 300
    assert server.store.task_count("sdk-job") == 300
    assert server.store.stats()["faults"]["task_server_error"] > 0


def test_sdk_reads_task_counts(emulator: EmulatorServer) -> None:
    with sdk_client(emulator) as client:
        create_job(client, "counted")
        client.create_tasks("counted", make_tasks(30))
        counts = client.get_job_task_counts("counted")
        assert counts.task_counts.active == 30
        assert counts.task_counts.running == counts.task_counts.completed == 0
        with pytest.raises(ResourceNotFoundError):
            client.get_job_task_counts("no-such-job")


def test_sdk_reads_the_defaults_of_a_job_created_without_them(emulator: EmulatorServer) -> None:
    """A job created with only an id and a pool reads, as the service's Jobs_GetJob example
    answers, no limit on parallel tasks, no preemption and the default constraints: the
    SDK's job had None for each, and its own settings are kept over the defaults."""
    from datetime import timedelta

    with sdk_client(emulator) as client:
        create_job(client, "bare")
        job = client.get_job("bare")
        assert job.max_parallel_tasks == -1 and job.allow_task_preemption is False
        assert job.constraints.max_task_retry_count == 0
        assert job.constraints.max_wall_clock_time > timedelta(days=10_000)
        client.create_job(
            models.BatchJobCreateOptions(
                id="set",
                pool_info=models.BatchPoolInfo(pool_id="pool"),
                max_parallel_tasks=4,
                constraints=models.BatchJobConstraints(max_task_retry_count=2),
            )
        )
        job = client.get_job("set")
        assert job.max_parallel_tasks == 4 and job.constraints.max_task_retry_count == 2
        assert job.constraints.max_wall_clock_time > timedelta(days=10_000)
