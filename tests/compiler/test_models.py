"""dagbatch.compiler.models: input spellings, error codes, enum folding, per-version output."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from pydantic import ValidationError
from spec_schema import validate_job, validate_task

from dagbatch.compiler.models import (
    TASK_FIELD_NAMES,
    ExitConditions,
    JobSettings,
    ResourceFile,
    Task,
    UserIdentity,
    VersionIssue,
    exit_conditions_wire,
    format_duration,
    job_version_issues,
    job_wire,
    loc_to_wire_path,
    task_wire_properties,
)

V2025 = "2025-06-01"
V2017 = "2017-09-01.6.0"
URL = "https://acct.blob.core.windows.net/c/in.txt"


def errors_of(data: dict[str, Any], model: type[Any] = Task) -> list[tuple[str, tuple[Any, ...]]]:
    """(type, loc) of every error validating ``data``; [] when valid."""
    try:
        model.model_validate(data)
    except ValidationError as exc:
        return [(e["type"], tuple(e["loc"])) for e in exc.errors()]
    return []


def codes_of(data: dict[str, Any], model: type[Any] = Task) -> set[str]:
    return {code for code, _ in errors_of(data, model)}


# --------------------------------------------------------------------------- spellings


def test_snake_and_camel_give_the_same_task() -> None:
    snake = Task(
        command_line="run",
        display_name="Run",
        resource_files=[{"http_url": URL, "file_path": "in.txt", "file_mode": "0644"}],
        environment_settings=[{"name": "A", "value": "1"}],
        constraints={"max_wall_clock_time": "PT1H", "max_task_retry_count": 2},
        user_identity={"auto_user": {"scope": "task", "elevation_level": "admin"}},
        multi_instance_settings={"number_of_instances": 2, "coordination_command_line": "c"},
    )
    camel = Task.model_validate(
        {
            "commandLine": "run",
            "displayName": "Run",
            "resourceFiles": [{"httpUrl": URL, "filePath": "in.txt", "fileMode": "0644"}],
            "environmentSettings": [{"name": "A", "value": "1"}],
            "constraints": {"maxWallClockTime": "PT1H", "maxTaskRetryCount": 2},
            "userIdentity": {"autoUser": {"scope": "task", "elevationLevel": "admin"}},
            "multiInstanceSettings": {"numberOfInstances": 2, "coordinationCommandLine": "c"},
        }
    )
    assert snake == camel
    assert hash(snake) == hash(camel)
    assert snake.resource_files is not None and isinstance(snake.resource_files, tuple)


@pytest.mark.parametrize("key", ["username", "userName", "user_name"])
def test_user_name_spellings(key: str) -> None:
    identity = UserIdentity.model_validate({key: "batchuser"})
    assert identity.user_name == "batchuser"
    wire, _ = task_wire_properties(Task(command_line="x", user_identity=identity), V2025)
    assert wire["userIdentity"] == {"username": "batchuser"}


def test_models_are_frozen() -> None:
    task = Task(command_line="x")
    with pytest.raises(ValidationError):
        task.command_line = "y"  # type: ignore[misc]


def test_unknown_and_missing_properties_use_pydantic_types() -> None:
    assert errors_of({"command_line": "x", "comand_line": "y"}) == [
        ("extra_forbidden", ("comand_line",))
    ]
    assert errors_of({"display_name": "x"}) == [("missing", ("commandLine",))]
    assert errors_of({"command_line": "x", "id": "a"}) == [("extra_forbidden", ("id",))]
    assert errors_of({"command_line": "x", "dependsOn": {}}) == [
        ("extra_forbidden", ("dependsOn",))
    ]


def test_display_name_length() -> None:
    assert errors_of({"command_line": "x", "display_name": "é" * 1024}) == []
    assert errors_of({"command_line": "x", "display_name": "é" * 1025}) == [
        ("string_too_long", ("display_name",))
    ]


def test_task_field_names() -> None:
    for name in ["command_line", "commandLine", "resource_files", "resourceFiles", "on_failure"]:
        assert name in TASK_FIELD_NAMES
    assert "satisfy_exit_codes" in TASK_FIELD_NAMES and "jobAction" in TASK_FIELD_NAMES
    assert "id" not in TASK_FIELD_NAMES and "dependsOn" not in TASK_FIELD_NAMES


# --------------------------------------------------------------------------- custom codes


@pytest.mark.parametrize(
    "value", ["PT1H", "P1DT2H30M", "PT0.5S", "P1D", "PT90M", "P1Y2M3DT4H5M6.25S", "PT0S"]
)
def test_valid_durations_are_kept_verbatim(value: str) -> None:
    task = Task(command_line="x", constraints={"retention_time": value})
    assert task.constraints is not None and task.constraints.retention_time == value


@pytest.mark.parametrize(
    "value", ["1h", "P", "PT", "P1DT", "PT1H2", "pt1h", "-PT1H", "P1W", "PT1.5H", 3600, 1.5]
)
def test_invalid_durations(value: object) -> None:
    assert errors_of({"command_line": "x", "constraints": {"maxWallClockTime": value}}) == [
        ("invalid-duration", ("constraints", "maxWallClockTime"))
    ]


@pytest.mark.parametrize(
    ("delta", "text"),
    [
        (timedelta(hours=1), "PT1H"),
        (timedelta(0), "PT0S"),
        (timedelta(days=1, hours=2, minutes=30), "P1DT2H30M"),
        (timedelta(seconds=0.5), "PT0.5S"),
        (timedelta(days=2), "P2D"),
        (timedelta(minutes=1, seconds=1, microseconds=250), "PT1M1.00025S"),
    ],
)
def test_timedelta_becomes_iso(delta: timedelta, text: str) -> None:
    assert format_duration(delta) == text
    task = Task(command_line="x", constraints={"max_wall_clock_time": delta})
    assert task.constraints is not None and task.constraints.max_wall_clock_time == text
    job = JobSettings(constraints={"max_wall_clock_time": delta})
    assert job.constraints is not None and job.constraints.max_wall_clock_time == text


def test_negative_timedelta_is_invalid() -> None:
    assert codes_of(
        {"command_line": "x", "constraints": {"retentionTime": timedelta(seconds=-1)}}
    ) == {"invalid-duration"}


def test_user_identity_exclusive() -> None:
    both = {"username": "u", "autoUser": {"scope": "pool"}}
    assert errors_of({"command_line": "x", "user_identity": both}) == [
        ("user-identity-exclusive", ("user_identity",))
    ]
    # The spec: "you must specify one but not both".
    assert codes_of({"command_line": "x", "user_identity": {}}) == {"user-identity-exclusive"}
    assert codes_of({"command_line": "x", "user_identity": {"username": "u"}}) == set()
    assert codes_of({"command_line": "x", "user_identity": {"auto_user": {}}}) == set()


@pytest.mark.parametrize(
    "path",
    ["/etc/passwd", "\\x", "C:\\x", "c:/x", "d:rel", "..", "../x", "a/../../x", "a\\..\\b"],
)
def test_paths_escaping_the_task_dir(path: str) -> None:
    rf = {"http_url": URL, "file_path": path}
    assert errors_of({"command_line": "x", "resource_files": [rf]}) == [
        ("path-escapes-task-dir", ("resource_files", 0, "file_path"))
    ]
    mi = {"coordination_command_line": "c", "common_resource_files": [rf]}
    assert codes_of({"command_line": "x", "multi_instance_settings": mi}) == {
        "path-escapes-task-dir"
    }


@pytest.mark.parametrize("path", ["x.txt", "a/b/c", "a\\b", "..hidden", "a/..b/c", "./x", "ab:c"])
def test_paths_inside_the_task_dir(path: str) -> None:
    assert (
        errors_of({"command_line": "x", "resource_files": [{"httpUrl": URL, "filePath": path}]})
        == []
    )


@pytest.mark.parametrize(
    "rf",
    [
        {"file_path": "x"},
        {"http_url": URL, "storage_container_url": URL, "file_path": "x"},
        {"autoStorageContainerName": "c", "storageContainerUrl": URL},
        {"http_url": URL},
        {"blobSource": URL},
        {"http_url": URL, "file_path": ""},
        {"http_url": URL, "file_path": "x", "blob_prefix": "p/"},
    ],
)
def test_resource_file_source(rf: dict[str, Any]) -> None:
    assert errors_of({"command_line": "x", "resource_files": [rf]}) == [
        ("resource-file-source", ("resource_files", 0))
    ]


@pytest.mark.parametrize(
    "rf",
    [
        {"http_url": URL, "file_path": "x"},
        {"blob_source": URL, "file_path": "x"},
        {"storage_container_url": URL},
        {"auto_storage_container_name": "c", "blob_prefix": "in/", "file_path": "dir"},
    ],
)
def test_resource_file_good_sources(rf: dict[str, Any]) -> None:
    assert errors_of(rf, ResourceFile) == []


def test_blob_source_and_http_url_together_are_rejected() -> None:
    rf = {"blobSource": URL, "httpUrl": URL, "filePath": "x"}
    assert [code for code, _ in errors_of(rf, ResourceFile)] == ["extra_forbidden"]


@pytest.mark.parametrize("mode", ["0755", "644", "4755"])
def test_file_mode_good(mode: str) -> None:
    assert errors_of({"http_url": URL, "file_path": "x", "file_mode": mode}, ResourceFile) == []


@pytest.mark.parametrize("mode", ["0855", "rwx", "07", "077777", "0o755", 493])
def test_file_mode_bad(mode: object) -> None:
    assert errors_of({"http_url": URL, "file_path": "x", "file_mode": mode}, ResourceFile) == [
        ("invalid-file-mode" if isinstance(mode, str) else "string_type", ("file_mode",))
    ]


def test_multi_instance_slots() -> None:
    mi = {"numberOfInstances": 3, "coordinationCommandLine": "c"}
    assert (
        codes_of({"command_line": "x", "multi_instance_settings": mi, "required_slots": 1}) == set()
    )
    assert codes_of({"command_line": "x", "multi_instance_settings": mi}) == set()
    assert codes_of({"command_line": "x", "required_slots": 4}) == set()
    assert errors_of({"command_line": "x", "multi_instance_settings": mi, "required_slots": 2}) == [
        ("multi-instance-slots", ("multi_instance_settings",))
    ]
    mi0 = {"numberOfInstances": 0, "coordinationCommandLine": "c"}
    assert errors_of({"command_line": "x", "multi_instance_settings": mi0}) == [
        ("greater_than_equal", ("multi_instance_settings", "numberOfInstances"))
    ]


def test_retry_count_bounds() -> None:
    assert codes_of({"command_line": "x", "constraints": {"max_task_retry_count": -1}}) == set()
    assert codes_of({"command_line": "x", "constraints": {"max_task_retry_count": -2}}) == {
        "greater_than_equal"
    }


BAD_INPUTS = [
    ({"resource_files": [{"http_url": URL, "file_path": "../a"}]}, "'../a'"),
    ({"resource_files": [{"http_url": URL, "file_path": "/a"}]}, "'/a'"),
    ({"constraints": {"retention_time": "1h"}}, "'1h'"),
    ({"satisfy_exit_codes": [(1, 2, 3)]}, "(1, 2, 3)"),
    ({"satisfy_exit_codes": ["3"]}, "'3'"),
    ({"resource_files": [{"file_path": "a"}]}, "none"),
    ({"user_identity": {}}, "neither"),
    ({"resource_files": [{"http_url": URL, "file_path": "a", "file_mode": "999"}]}, "'999'"),
    ({"required_slots": 2, "multi_instance_settings": {"coordination_command_line": "c"}}, "2"),
]


@pytest.mark.parametrize(("extra", "shown"), BAD_INPUTS)
def test_custom_messages_are_rendered(extra: dict[str, Any], shown: str) -> None:
    with pytest.raises(ValidationError) as info:
        Task.model_validate({"command_line": "x", **extra})
    (err,) = info.value.errors()
    assert "{" not in err["msg"] and shown in err["msg"]


def test_loc_to_wire_path() -> None:
    assert loc_to_wire_path(("resource_files", 0, "file_path")) == "resourceFiles[0].filePath"
    assert loc_to_wire_path(("user_identity", "user_name")) == "userIdentity.username"
    assert loc_to_wire_path(("userIdentity", "autoUser")) == "userIdentity.autoUser"
    assert loc_to_wire_path(("exit_conditions", "pre_processing_error")) == (
        "exitConditions.preProcessingError"
    )


# --------------------------------------------------------------------------- enums


@pytest.mark.parametrize("spelling", ["nonadmin", "nonAdmin", "NonAdmin", "NONADMIN", "non_admin"])
def test_enum_case_folding(spelling: str) -> None:
    task = Task(command_line="x", user_identity={"auto_user": {"elevation_level": spelling}})
    wire, _ = task_wire_properties(task, V2025)
    assert wire["userIdentity"] == {"autoUser": {"elevationLevel": "nonadmin"}}


def test_enum_folds_to_the_spec_spelling() -> None:
    task = Task(
        command_line="x",
        container_settings={
            "image_name": "img",
            "working_directory": "TASKWORKINGDIRECTORY",
            "container_host_batch_bind_mounts": [{"source": "vfsmounts", "is_read_only": True}],
        },
        output_files=[
            {
                "file_pattern": "*.log",
                "destination": {"container": {"container_url": URL}},
                "upload_options": {"upload_condition": "TaskCompletion"},
            }
        ],
        on_failure="Satisfy",
        job_action="TERMINATE",
    )
    assert task.on_failure == "satisfy" and task.job_action == "terminate"
    wire, _ = task_wire_properties(task, V2025)
    assert wire["containerSettings"]["workingDirectory"] == "taskWorkingDirectory"
    assert wire["containerSettings"]["containerHostBatchBindMounts"][0]["source"] == "VfsMounts"
    assert wire["outputFiles"][0]["uploadOptions"] == {"uploadCondition": "taskcompletion"}


def test_bad_enum_lists_the_allowed_values() -> None:
    with pytest.raises(ValidationError) as info:
        Task.model_validate(
            {"command_line": "x", "user_identity": {"auto_user": {"elevation_level": "root"}}}
        )
    (err,) = info.value.errors()
    assert err["type"] == "literal_error"
    assert err["loc"] == ("user_identity", "auto_user", "elevation_level")
    assert "'nonadmin'" in err["msg"] and "'admin'" in err["msg"]
    assert codes_of({"command_line": "x", "on_failure": "ignore"}) == {"literal_error"}


# --------------------------------------------------------------------------- intent


def test_satisfy_exit_codes_normalised() -> None:
    task = Task(command_line="x", satisfy_exit_codes=[9, (3, 5), {"start": 1, "end": 1}, 9, [0, 2]])
    assert task.satisfy_exit_codes == ((0, 2), 1, (3, 5), 9)
    assert Task(command_line="x").satisfy_exit_codes == ()
    assert Task(command_line="x", satisfy_exit_codes=4).satisfy_exit_codes == (4,)


@pytest.mark.parametrize(
    "codes",
    [[(5, 3)], [{"start": 1}], [(1, 2, 3)], ["3"], [True], [2**31], "3", 1.5],
)
def test_satisfy_exit_codes_bad(codes: object) -> None:
    assert codes_of({"command_line": "x", "satisfy_exit_codes": codes}) == {"invalid-exit-codes"}


def test_intent_fields_are_not_wire_properties() -> None:
    task = Task(
        command_line="x",
        on_failure="satisfy",
        satisfy_exit_codes=[3],
        job_action="none",
        exit_conditions={"default": {"dependency_action": "satisfy"}},
    )
    wire, issues = task_wire_properties(task, V2025)
    assert wire == {"commandLine": "x"} and issues == []


# --------------------------------------------------------------------------- exit conditions


def test_exit_conditions_spellings_and_wire() -> None:
    snake = ExitConditions(
        exit_codes=[{"code": 3, "exit_options": {"dependency_action": "Satisfy"}}],
        exit_code_ranges=[{"start": 10, "end": 20, "exit_options": {"job_action": "none"}}],
        scheduling_error={"job_action": "terminate"},
        file_upload_error={"job_action": "disable"},
        default={"dependency_action": "block"},
    )
    camel = ExitConditions.model_validate(
        {
            "exitCodes": [{"code": 3, "exitOptions": {"dependencyAction": "satisfy"}}],
            "exitCodeRanges": [{"start": 10, "end": 20, "exitOptions": {"jobAction": "none"}}],
            "preProcessingError": {"jobAction": "terminate"},
            "fileUploadError": {"jobAction": "disable"},
            "default": {"dependencyAction": "block"},
        }
    )
    assert snake == camel
    for version in (V2025, V2017):
        wire = exit_conditions_wire(snake, version)  # type: ignore[arg-type]
        assert wire["preProcessingError"] == {"jobAction": "terminate"}
        assert "schedulingError" not in wire
        task = {"id": "a", "commandLine": "x", "exitConditions": wire}
        assert validate_task(task, version) == []


def test_exit_code_range_order() -> None:
    bad = {"exitCodeRanges": [{"start": 5, "end": 1, "exitOptions": {}}]}
    assert errors_of(bad, ExitConditions) == [("invalid-exit-code-range", ("exitCodeRanges", 0))]
    assert codes_of({"exitCodes": [{"code": 1}]}, ExitConditions) == {"missing"}
    assert codes_of({"default": {"jobAction": "stop"}}, ExitConditions) == {"literal_error"}


# --------------------------------------------------------------------------- versions


def test_blob_source_to_http_url_and_back() -> None:
    from_2017 = Task(command_line="x", resource_files=[{"blobSource": URL, "filePath": "a"}])
    from_2025 = Task(command_line="x", resource_files=[{"httpUrl": URL, "filePath": "a"}])
    assert from_2017 == from_2025
    for task in (from_2017, from_2025):
        wire25, issues25 = task_wire_properties(task, V2025)
        assert wire25["resourceFiles"] == [{"httpUrl": URL, "filePath": "a"}] and issues25 == []
        wire17, issues17 = task_wire_properties(task, V2017)
        assert wire17["resourceFiles"] == [{"blobSource": URL, "filePath": "a"}]
        assert issues17 == []


def test_version_issues_for_2017() -> None:
    task = Task(
        command_line="x",
        required_slots=2,
        resource_files=[
            {"storage_container_url": URL, "blob_prefix": "in/"},
            {"http_url": URL, "file_path": "a", "identity_reference": {"resource_id": "r"}},
        ],
        container_settings={"image_name": "img", "registry": {"registry_server": "r.io"}},
    )
    wire, issues = task_wire_properties(task, V2017)
    assert all(isinstance(i, VersionIssue) for i in issues)
    assert [i.field for i in issues] == [
        "containerSettings.registry.username",
        "containerSettings.registry.password",
        "resourceFiles[0].storageContainerUrl",
        "resourceFiles[0].blobPrefix",
        "resourceFiles[1].identityReference",
        "requiredSlots",
    ]
    assert all("2017-09-01.6.0" in i.message and i.hint for i in issues)
    assert "requiredSlots" not in wire
    assert wire["resourceFiles"] == [{}, {"blobSource": URL, "filePath": "a"}]
    _, issues25 = task_wire_properties(task, V2025)
    assert issues25 == []


def rich_task() -> Task:
    """Every task property set."""
    rf = {"http_url": URL, "file_path": "in/x.txt", "file_mode": "0755"}
    return Task(
        command_line="/bin/sh -c 'run.sh'",
        display_name="Rich task",
        container_settings={
            "container_run_options": "--rm",
            "image_name": "ubuntu:22.04",
            "registry": {
                "username": "u",
                "password": "secret",
                "registry_server": "reg.example.com",
                "identity_reference": {"resource_id": "/subscriptions/s/id"},
            },
            "working_directory": "containerImageDefault",
            "container_host_batch_bind_mounts": [{"source": "Shared", "is_read_only": True}],
        },
        resource_files=[
            rf,
            {"storage_container_url": URL, "blob_prefix": "p/", "file_path": "d"},
            {"auto_storage_container_name": "c", "identity_reference": {"resource_id": "r"}},
        ],
        output_files=[
            {
                "file_pattern": "out/*.txt",
                "destination": {
                    "container": {
                        "path": "results",
                        "container_url": URL,
                        "identity_reference": {"resource_id": "r"},
                        "upload_headers": [{"name": "x-ms-blob-content-type", "value": "text"}],
                    }
                },
                "upload_options": {"upload_condition": "taskSuccess"},
            }
        ],
        environment_settings=[{"name": "A", "value": "1"}, {"name": "B"}],
        affinity_info={"affinity_id": "node-1"},
        constraints={
            "max_wall_clock_time": timedelta(hours=2),
            "retention_time": "P7D",
            "max_task_retry_count": 3,
        },
        required_slots=1,
        user_identity={"auto_user": {"scope": "Pool", "elevation_level": "NonAdmin"}},
        multi_instance_settings={
            "number_of_instances": 4,
            "coordination_command_line": "start-mpi",
            "common_resource_files": [rf],
        },
        application_package_references=[{"application_id": "app", "version": "1.0"}],
        authentication_token_settings={"access": ["Job"]},
        exit_conditions={"default": {"dependency_action": "satisfy"}},
        on_failure="satisfy",
        satisfy_exit_codes=[3],
        job_action="none",
    )


def test_rich_task_validates_against_both_specs() -> None:
    task = rich_task()
    wire25, issues25 = task_wire_properties(task, V2025)
    assert issues25 == []
    body = {"id": "rich", **wire25}
    assert validate_task(body, V2025) == []
    assert set(wire25) == {
        "commandLine",
        "displayName",
        "containerSettings",
        "resourceFiles",
        "outputFiles",
        "environmentSettings",
        "affinityInfo",
        "constraints",
        "requiredSlots",
        "userIdentity",
        "multiInstanceSettings",
        "applicationPackageReferences",
        "authenticationTokenSettings",
    }
    assert wire25["constraints"]["maxWallClockTime"] == "PT2H"
    # The exit conditions the emit pass adds validate too.
    assert task.exit_conditions is not None
    ec = exit_conditions_wire(task.exit_conditions, V2025)
    assert validate_task({**body, "exitConditions": ec}, V2025) == []

    wire17, issues17 = task_wire_properties(task, V2017)
    reported = {i.field for i in issues17}
    assert reported == {
        "containerSettings.registry.identityReference",
        "containerSettings.workingDirectory",
        "containerSettings.containerHostBatchBindMounts",
        "resourceFiles[1].storageContainerUrl",
        "resourceFiles[1].blobPrefix",
        "resourceFiles[2].autoStorageContainerName",
        "resourceFiles[2].identityReference",
        "outputFiles[0].destination.container.identityReference",
        "outputFiles[0].destination.container.uploadHeaders",
        "requiredSlots",
    }
    # Drop the resource files that have no 2017 form; the rest must be a valid 2017 task.
    wire17["resourceFiles"] = [r for r in wire17["resourceFiles"] if "blobSource" in r]
    assert validate_task({"id": "rich", **wire17}, V2017) == []
    assert wire17["multiInstanceSettings"]["commonResourceFiles"][0]["blobSource"] == URL


def test_wire_output_is_deterministic() -> None:
    a = task_wire_properties(rich_task(), V2025)
    b = task_wire_properties(rich_task(), V2025)
    assert a == b
    assert list(a[0]) == list(b[0])


def test_registry_password_not_in_repr() -> None:
    assert "secret" not in repr(rich_task())


# --------------------------------------------------------------------------- job


def test_job_wire_both_versions() -> None:
    job = JobSettings.model_validate(
        {
            "id": "nightly",
            "displayName": "Nightly",
            "pool_id": "pool-1",
            "priority": 100,
            "max_parallel_tasks": 8,
            "constraints": {"maxWallClockTime": timedelta(days=1), "max_task_retry_count": 1},
            "on_all_tasks_complete": "NoAction",
            "on_task_failure": "performExitOptionsJobAction",
            "metadata": {"team": "data", "cost": "low"},
            "common_environment_settings": [{"name": "A", "value": "1"}],
        }
    )
    wire25 = job_wire(job, V2025)
    assert wire25["poolInfo"] == {"poolId": "pool-1"}
    assert wire25["onTaskFailure"] == "performexitoptionsjobaction"
    assert wire25["metadata"] == [
        {"name": "cost", "value": "low"},
        {"name": "team", "value": "data"},
    ]
    assert wire25["constraints"] == {"maxWallClockTime": "P1D", "maxTaskRetryCount": 1}
    assert validate_job(wire25, V2025) == []
    assert job_version_issues(job, V2025) == []

    wire17 = job_wire(job, V2017, job_id="other")
    assert "maxParallelTasks" not in wire17 and wire17["id"] == "other"
    assert validate_job(wire17, V2017) == []
    assert [i.field for i in job_version_issues(job, V2017)] == ["maxParallelTasks"]


def test_job_settings_validation() -> None:
    assert codes_of({"max_parallel_tasks": 0}, JobSettings) == {"invalid-max-parallel-tasks"}
    assert codes_of({"max_parallel_tasks": -1}, JobSettings) == set()
    assert codes_of({"priority": 1001}, JobSettings) == {"less_than_equal"}
    assert codes_of({"id": "bad id"}, JobSettings) == {"invalid-id"}  # worded as a task id
    assert codes_of({"id": "j" * 65}, JobSettings) == {"id-too-long"}
    assert codes_of({"on_all_tasks_complete": "never"}, JobSettings) == {"literal_error"}
    assert codes_of({"pool": "p"}, JobSettings) == {"extra_forbidden"}
    assert codes_of({"metadata": {"a": 1}}, JobSettings) == {"invalid-metadata"}
    assert job_wire(JobSettings(), V2025) == {}
