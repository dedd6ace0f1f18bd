"""The service's validation rules for request bodies, one function per rule family.

Each check raises a ``replies`` error (whole request) or returns a per-task error object
(``wire.error_dict``) the way the service reports it [docs/BATCH_FACTS.md "The request",
"Dependencies", "Exit conditions"].
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, Final

import orjson

from dagbatch import limits
from dagbatch.emulator import odata, replies, wire
from dagbatch.emulator.context import Ctx
from dagbatch.emulator.scheduler import parse_duration
from dagbatch.emulator.store import Job
from dagbatch.limits import INT32_MAX, INT32_MIN

JOB_ENUMS: Final[dict[str, tuple[str, ...]]] = {
    "onAllTasksComplete": ("noaction", "terminatejob"),
    "onTaskFailure": ("noaction", "performexitoptionsjobaction"),
}
#: The values of the ExitOptions enums [spec-2025 BatchJobActionKind, DependencyAction]. The
#: spec lists them lower-case with ``modelAsString``; the service is taken to match them
#: ignoring case: the azure-batch SDK reads them with ``CaseInsensitiveEnumMeta``, and older
#: api-versions spelt the same values in camel case (``performExitOptionsJobAction``)
#: [BATCH_FACTS "Exit conditions"].
EXIT_OPTION_ENUMS: Final[dict[str, frozenset[str]]] = {
    "jobAction": frozenset({"none", "disable", "terminate"}),
    "dependencyAction": frozenset({"satisfy", "block"}),
}
#: The ISO 8601 durations of BatchTaskConstraints and BatchJobConstraints ("format":
#: "duration" [spec-2025]; BATCH_FACTS "Other schema points").
DURATION_CONSTRAINTS: Final = ("maxWallClockTime", "retentionTime")
#: Properties of the Add Job body, by api-version [spec-2025 BatchJobCreateOptions;
#: spec-2017 JobAddParameter]: anything else (a misspelling, a read-only ``state`` or
#: ``stats``) is refused as add task refuses it, not stored and echoed back.
JOB_CREATE_PROPS: Final[dict[str, frozenset[str]]] = {
    "2017-09-01.6.0": frozenset(
        {
            "id",
            "displayName",
            "priority",
            "constraints",
            "jobManagerTask",
            "jobPreparationTask",
            "jobReleaseTask",
            "commonEnvironmentSettings",
            "poolInfo",
            "onAllTasksComplete",
            "onTaskFailure",
            "metadata",
            "usesTaskDependencies",
        }
    ),
}
JOB_CREATE_PROPS["2025-06-01"] = JOB_CREATE_PROPS["2017-09-01.6.0"] | {
    "maxParallelTasks",
    "allowTaskPreemption",
    "networkConfiguration",
}
#: Properties of BatchJobUpdateOptions (PATCH) [spec-2025].
JOB_UPDATE_PROPS: Final = frozenset(
    {
        "priority",
        "allowTaskPreemption",
        "maxParallelTasks",
        "constraints",
        "poolInfo",
        "onAllTasksComplete",
        "metadata",
        "networkConfiguration",
    }
)
#: Properties of BatchJobReplaceOptions / JobUpdateParameter (PUT).
JOB_REPLACE_PROPS: Final = frozenset(
    {
        "priority",
        "allowTaskPreemption",
        "maxParallelTasks",
        "constraints",
        "poolInfo",
        "onAllTasksComplete",
        "metadata",
    }
)


def parse_object(ctx: Ctx) -> dict[str, Any]:
    """The request body as a JSON object, or 400 ``InvalidRequestBody``."""
    try:
        value = orjson.loads(ctx.body)
    except orjson.JSONDecodeError as exc:
        raise replies.invalid_body(
            ctx.base, "The request body is not valid JSON.", {"Reason": str(exc)}
        ) from exc
    if not isinstance(value, dict):
        raise replies.invalid_body(ctx.base, "The request body must be a JSON object.")
    # OData control information is not a property: the SDK's replace_task and replace_job
    # send back the ``odata.metadata`` of the object they got (get, change, replace). Dropped
    # (the emulator's reading of OData's JSON format, not a documented Batch rule).
    return _without_annotations(value)


def _without_annotations(value: dict[str, Any]) -> dict[str, Any]:
    """``value`` without its ``odata.*`` keys (the same object when it has none)."""
    if any(map(_is_annotation, value)):
        return {k: v for k, v in value.items() if not _is_annotation(k)}
    return value


def _is_annotation(name: str) -> bool:
    return name.startswith("odata.")


#: How an ``odata.*`` key starts in a JSON body written without escapes.
_ANNOTATION: Final = b'"odata.'


def check_body_size(ctx: Ctx) -> None:
    """413 when the body reaches the api-version's limit [BATCH_FACTS "The request"]."""
    limit = limits.MAX_BODY_BYTES.get(ctx.api_version, limits.MAX_BODY_BYTES["2025-06-01"])
    if len(ctx.body) >= limit:
        raise replies.body_too_large(ctx.base, limit)


def only_properties(ctx: Ctx, body: Mapping[str, Any], allowed: frozenset[str]) -> None:
    """400 naming the first property the operation does not take."""
    for name in body:
        if name not in allowed:
            raise replies.unknown_property(ctx.base, name)


def check_job_id(ctx: Ctx, body: Mapping[str, Any]) -> str:
    """The new job's id, present and well formed [BATCH_FACTS "Task ids"]."""
    job_id = body.get("id")
    if job_id is None:
        raise replies.missing_property(ctx.base, "id")
    if not isinstance(job_id, str) or not limits.ID_PATTERN.fullmatch(job_id):
        raise replies.invalid_value(ctx.base, "id", job_id)
    return job_id


def require_pool_info(ctx: Ctx, body: Mapping[str, Any]) -> None:
    """``poolInfo`` is required on create and replace."""
    if not isinstance(body.get("poolInfo"), dict):
        raise replies.missing_property(ctx.base, "poolInfo")


def check_job_enums(ctx: Ctx, body: dict[str, Any]) -> None:
    """``onAllTasksComplete`` and ``onTaskFailure`` take their enum values, matched ignoring
    case as the ExitOptions' are (``EXIT_OPTION_ENUMS``: 2017-09-01.6.0 spells these
    ``terminateJob``, ``performExitOptionsJobAction``), and kept in lower case, the spelling
    the emulator compares."""
    for name, allowed in JOB_ENUMS.items():
        if name in body:
            value = body[name]
            folded = value.lower() if isinstance(value, str) else None
            if folded not in allowed:
                raise replies.invalid_value(ctx.base, name, value)
            body[name] = folded


#: (property path, value, why) of a value the service refuses.
Problem = tuple[str, Any, str]


def is_int32(value: Any) -> bool:
    """An integer of "format": "int32" [spec-2025] (JSON true/false are not integers)."""
    return type(value) is int and INT32_MIN <= value <= INT32_MAX


def check_job_values(ctx: Ctx, body: Mapping[str, Any]) -> None:
    """A job's values (create, PATCH, PUT) within the spec's bounds (``job_problem``): 400
    ``InvalidPropertyValue`` naming the first property that is not, as the service answers
    "one of the properties in the request body is invalid"."""
    problem = job_problem(body)
    if problem is not None:
        name, value, why = problem
        raise replies.invalid_value(ctx.base, name, value, why)


def job_problem(body: Mapping[str, Any]) -> Problem | None:
    """The first value of a job body outside its bounds [spec-2025 BatchJobCreateOptions,
    BatchJobUpdateOptions, BatchJob], or None:

    - ``displayName``: at most 1024 characters; ``commonEnvironmentSettings``: each with a
      string ``name`` (``_display_name_problem``, ``_environment_problem``);

    - ``priority``: int32, "Priority values can range from -1000 to 1000";
    - ``maxParallelTasks``: int32, "must be -1 or greater than 0 if specified";
    - ``constraints`` (BatchJobConstraints): ``constraints_problem``;
    - the job's own tasks (create only): ``jobManagerTask`` and ``jobPreparationTask``
      ``constraints`` (BatchTaskConstraints, ``constraints_problem``), ``jobManagerTask``
      ``requiredSlots`` (int32), ``jobReleaseTask`` ``maxWallClockTime`` ("You may not specify
      a timeout longer than 15 minutes ... 400 (Bad Request)") and ``retentionTime``
      (durations).
    """
    if "displayName" in body and (problem := _display_name_problem(body["displayName"])):
        return problem
    if "commonEnvironmentSettings" in body:
        problem = _environment_problem(
            body["commonEnvironmentSettings"], "commonEnvironmentSettings"
        )
        if problem is not None:
            return problem
    priority = body.get("priority")
    if priority is not None and not (
        is_int32(priority) and limits.MIN_JOB_PRIORITY <= priority <= limits.MAX_JOB_PRIORITY
    ):
        return (
            "priority",
            priority,
            f"priority must be an integer from {limits.MIN_JOB_PRIORITY} to "
            f"{limits.MAX_JOB_PRIORITY}.",
        )
    parallel = body.get("maxParallelTasks")
    if parallel is not None and not (
        is_int32(parallel) and (parallel == limits.NO_PARALLEL_TASKS_LIMIT or parallel > 0)
    ):
        return (
            "maxParallelTasks",
            parallel,
            f"maxParallelTasks must be {limits.NO_PARALLEL_TASKS_LIMIT} (no limit) or an "
            "integer greater than 0.",
        )
    if "constraints" in body:
        problem = constraints_problem(body["constraints"])
        if problem is not None:
            return problem
    return _job_tasks_problem(body)


def _job_tasks_problem(body: Mapping[str, Any]) -> Problem | None:
    for name in ("jobManagerTask", "jobPreparationTask"):
        task = body.get(name)
        if isinstance(task, dict) and "constraints" in task:
            problem = constraints_problem(task["constraints"], f"{name}.constraints")
            if problem is not None:
                return problem
    manager = body.get("jobManagerTask")
    if isinstance(manager, dict) and "requiredSlots" in manager:
        slots = manager["requiredSlots"]
        if not is_int32(slots):
            return ("jobManagerTask.requiredSlots", slots, "requiredSlots must be an int32.")
    release = body.get("jobReleaseTask")
    if isinstance(release, dict):
        for key in DURATION_CONSTRAINTS:
            if release.get(key) is not None and parse_duration(release[key]) is None:
                return (
                    f"jobReleaseTask.{key}",
                    release[key],
                    f"{key} must be an ISO 8601 duration.",
                )
        seconds = parse_duration(release.get("maxWallClockTime"))
        if seconds is not None and seconds > limits.MAX_JOB_RELEASE_WALL_CLOCK_SECONDS:
            return (
                "jobReleaseTask.maxWallClockTime",
                release["maxWallClockTime"],
                "The maxWallClockTime of a job release task may not be longer than 15 minutes.",
            )
    return None


def constraints_problem(constraints: Any, path: str = "constraints") -> Problem | None:
    """(property path, value, why) of the first invalid value of a job's or task's
    ``constraints`` (at ``path``), or None: ``maxTaskRetryCount`` is "type": "integer",
    "format": "int32", and -1 ("the Batch service retries the Task without limit") is its
    least meaningful value, so below -1 is refused; ``maxWallClockTime`` and ``retentionTime``
    are "format": "duration", not negative (``parse_duration``) [spec-2025
    BatchTaskConstraints, BatchJobConstraints]."""
    if not isinstance(constraints, dict):
        return path, constraints, f"{path} must be an object."
    if "maxTaskRetryCount" in constraints:
        retries = constraints["maxTaskRetryCount"]
        if retries is not None and not (is_int32(retries) and retries >= limits.UNLIMITED_RETRIES):
            return (
                f"{path}.maxTaskRetryCount",
                retries,
                f"maxTaskRetryCount must be {limits.UNLIMITED_RETRIES} (no limit) or an "
                "integer of 0 or more.",
            )
    for name in DURATION_CONSTRAINTS:
        value = constraints.get(name)
        if value is not None and parse_duration(value) is None:
            return (
                f"{path}.{name}",
                value,
                f"{name} must be an ISO 8601 duration that is not negative.",
            )
    return None


def check_task_update(ctx: Ctx, body: Mapping[str, Any]) -> None:
    """The body of Tasks_ReplaceTask: ``constraints`` is the one property of BatchTask that
    is not "readOnly" [spec-2025 BatchTask], checked as on add (``constraints_problem``):
    400 ``InvalidRequestBody`` naming any other property, 400 ``InvalidPropertyValue``
    naming a value out of bounds."""
    only_properties(ctx, body, frozenset({"constraints"}))
    bad = wire.unknown_property(
        {"constraints": body.get("constraints")}, wire.task_shape(ctx.api_version)
    )
    if bad is not None:
        raise replies.unknown_property(ctx.base, bad)
    if "constraints" in body:
        problem = constraints_problem(body["constraints"])
        if problem is not None:
            name, value, why = problem
            raise replies.invalid_value(ctx.base, name, value, why)


INVALID_QUERY_MESSAGE: Final = (
    "Value for one of the query parameters specified in the request URI is invalid."
)


def select_names(ctx: Ctx) -> list[str] | None:
    """The request's ``$select``, parsed (``odata.parse_select``), or 400
    ``InvalidQueryParameterValue`` naming it. A ``$expand`` (the ``stats`` of a job or task
    [spec-2025 Jobs_GetJob, Tasks_ListTasks]) is refused the same way: the emulator keeps no
    statistics, and an answer without the asked-for part would read as one that has none."""
    if ctx.request.query_params.get("$expand"):
        raise replies.invalid_query(
            ctx.base,
            "$expand is not emulated: the emulator keeps no statistics (leave $expand out)",
            "$expand",
        )
    try:
        return odata.parse_select(ctx.request.query_params.get("$select"))
    except odata.FilterError as exc:
        raise replies.invalid_query(
            ctx.base, f"The $select is not supported: {exc}", "$select"
        ) from exc


def max_results(ctx: Ctx) -> int:
    """The list's ``maxresults``: an integer from 1 to 1000, 1000 when not given [spec-2025
    Jobs_ListJobs, Tasks_ListTasks, Tasks_ListTaskFiles: "minimum": 1, "maximum": 1000],
    or 400 ``InvalidQueryParameterValue`` naming it."""
    text = ctx.request.query_params.get("maxresults")
    if text is None:
        return limits.MAX_LIST_RESULTS
    # No more digits are read than the largest value has: int() refuses thousands of them.
    digits = text.lstrip("0") or "0"
    short = len(digits) <= len(str(limits.MAX_LIST_RESULTS))
    value = int(digits) if text.isascii() and text.isdigit() and short else 0
    if not 1 <= value <= limits.MAX_LIST_RESULTS:
        raise replies.invalid_query(ctx.base, INVALID_QUERY_MESSAGE, "maxresults")
    return value


def skip_token(ctx: Ctx) -> int:
    """Where a paged list resumes (the emulator's ``$skiptoken``, from its own
    ``odata.nextLink``: a number that stays valid while the list changes, see the lists), 0
    when not given; 400 ``InvalidQueryParameterValue`` naming it when it is not one."""
    token = ctx.request.query_params.get("$skiptoken", "0")
    if not (token.isascii() and token.isdigit() and len(token) <= 20):
        raise replies.invalid_query(ctx.base, INVALID_QUERY_MESSAGE, "$skiptoken")
    return int(token)


#: The longest path below a task directory a list task files ``$skiptoken`` may name.
MAX_SKIP_PATH_CHARS: Final = 4096


def path_token(path: str) -> str:
    """The ``$skiptoken`` of a list task files page that starts at the file ``path``: the
    hex of its bytes. Opaque and plain ASCII, so it comes back unchanged through any
    client, even for a name that is not UTF-8 (whose escapes a client may decode and
    encode again as U+FFFD, a file that sorts elsewhere)."""
    return os.fsencode(path).hex()


def skip_path(ctx: Ctx) -> str:
    """Where list task files resumes: the path of the next file (its ``$skiptoken``, from its
    own ``odata.nextLink``: ``path_token``), "" when not given; 400
    ``InvalidQueryParameterValue`` naming it when it is not such a token."""
    token = ctx.request.query_params.get("$skiptoken", "")
    try:
        if len(token) > 2 * MAX_SKIP_PATH_CHARS:
            raise ValueError(token)
        return os.fsdecode(bytes.fromhex(token))
    except ValueError as exc:
        raise replies.invalid_query(ctx.base, INVALID_QUERY_MESSAGE, "$skiptoken") from exc


def check_tasks_shape(ctx: Ctx, tasks: list[Any]) -> None:
    """Every task is an object with an ``id`` and only the api-version's properties."""
    check = wire.task_shape_check(ctx.api_version)
    only_known = wire.only_known
    for task in tasks:
        if not isinstance(task, dict):
            raise replies.invalid_body(ctx.base, "Each task must be a JSON object.")
        # The cheap walk first; the path of the first unknown property only when there is one.
        bad = (
            None
            if only_known(task, check)
            else wire.unknown_property(task, wire.task_shape(ctx.api_version))
        )
        if bad is not None:
            raise replies.unknown_property(ctx.base, bad)
        if "id" not in task:
            raise replies.missing_property(ctx.base, "id")


def check_collection(ctx: Ctx, body: Mapping[str, Any]) -> list[Any]:
    """The ``value`` array of an add-task-collection body, at most 100 tasks."""
    tasks = body.get("value")
    if not isinstance(tasks, list):
        raise replies.invalid_body(
            ctx.base,
            "The request body must be an object with a 'value' array of tasks.",
            {"PropertyName": "value"},
        )
    if len(tasks) > limits.MAX_TASKS_PER_REQUEST:
        raise replies.invalid_body(
            ctx.base,
            f"The collection holds {len(tasks)} tasks; at most "
            f"{limits.MAX_TASKS_PER_REQUEST} are allowed in one request.",
            {"Reason": "TooManyTasks", "MaxTasks": str(limits.MAX_TASKS_PER_REQUEST)},
        )
    only_properties(ctx, body, frozenset({"value"}))
    # Each task as add task takes one: without OData control information (parse_object).
    # A search of the body's bytes spares the look at every task's keys when none can be one
    # (a key could only be spelt otherwise with a JSON escape).
    if _ANNOTATION not in ctx.body and b"\\u" not in ctx.body:
        return tasks
    return [_without_annotations(t) if isinstance(t, dict) else t for t in tasks]


def task_errors(tasks: list[dict[str, Any]], job: Job) -> list[dict[str, Any] | None]:
    """The per-task client error of each task (None: none), apart from TaskExists.

    The checks, in the order the service reports them: the id [BATCH_FACTS "Task ids"],
    ``commandLine`` present and a string that is not empty, ``displayName`` and
    ``environmentSettings`` (``_display_name_problem``, ``_environment_problem``),
    ``dependsOn`` only on a job that uses task dependencies and within the id-list length
    limit [BATCH_FACTS "Dependencies"], then the
    exit options (exit codes and range bounds int32, actions within their enums and allowed
    by the job, ranges with start <= end) [BATCH_FACTS "Exit conditions"], then the
    constraints (``constraints_problem``), then the slots (``_slots_problem``). Each is the
    task's own ``InvalidPropertyValue`` naming the property. One pass, the job's facts read
    once.
    """
    uses_dependencies = job.uses_task_dependencies
    job_actions = job.on_task_failure == "performexitoptionsjobaction"
    valid_id = limits.ID_PATTERN.fullmatch
    errors: list[dict[str, Any] | None] = []
    for task in tasks:
        task_id = task["id"]
        if not isinstance(task_id, str) or not valid_id(task_id):
            errors.append(_invalid("id", task_id))
            continue
        command_line = task.get("commandLine")
        if command_line is None:
            errors.append(_missing("commandLine"))
            continue
        if not isinstance(command_line, str) or not command_line:
            errors.append(_invalid("commandLine"))  # required: an empty one runs nothing
            continue
        error = None
        if "displayName" in task and (problem := _display_name_problem(task["displayName"])):
            error = _invalid("displayName", why=problem[2])  # 1,025+ characters not echoed
        elif "environmentSettings" in task:
            problem = _environment_problem(task["environmentSettings"], "environmentSettings")
            if problem is not None:
                error = _invalid(*problem)
        if error is not None:
            errors.append(error)
            continue
        depends_on = task.get("dependsOn")
        if depends_on is not None:
            error = _dependency_error(depends_on, uses_dependencies)
        if error is None:
            exit_conditions = task.get("exitConditions")
            if exit_conditions is not None:
                error = _exit_options_error(exit_conditions, uses_dependencies, job_actions)
        if error is None and "constraints" in task:
            problem = constraints_problem(task["constraints"])
            if problem is not None:
                error = _invalid(*problem)
        if error is None and ("requiredSlots" in task or "multiInstanceSettings" in task):
            problem = _slots_problem(task)
            if problem is not None:
                error = _invalid(*problem)
        if error is None and ("resourceFiles" in task or "outputFiles" in task):
            error = _files_error(task)
        errors.append(error)
    return errors


#: The sources a resource file names: exactly one of them [spec-2025 ResourceFile]; 2017's
#: api-version has only ``blobSource`` (the newer api-version refuses it as an unknown
#: property before this check).
_RESOURCE_SOURCES: Final = (
    "autoStorageContainerName",
    "storageContainerUrl",
    "httpUrl",
    "blobSource",
)
#: The sources of one file, whose ``filePath`` is required.
_ONE_FILE_SOURCES: Final = (["httpUrl"], ["blobSource"])
_UPLOAD_CONDITIONS: Final = frozenset({"tasksuccess", "taskfailure", "taskcompletion"})


def _files_error(task: Mapping[str, Any]) -> dict[str, Any] | None:
    """``resourceFiles`` and ``outputFiles`` as the spec shapes them [spec-2025
    ResourceFile, OutputFile, OutputFileBlobContainerDestination, OutputFileUploadConfig]:
    a resource file names exactly one of its three sources, and a ``filePath`` with
    ``httpUrl``, inside the working directory ("must not break out of the Task's working
    directory (for example by using '..')"); an output file has a ``filePattern``, a
    ``destination.container.containerUrl`` and an ``uploadOptions.uploadCondition`` of the
    enum. What the service names in its answer is not documented: the property's path."""
    resource_files, error = _list_of_objects(task, "resourceFiles")
    if error is not None:
        return error
    for where, entry in resource_files:
        given = [name for name in _RESOURCE_SOURCES if entry.get(name) is not None]
        if len(given) != 1:
            return _invalid(
                where,
                why=f"{where} must name exactly one of "
                + ", ".join(_RESOURCE_SOURCES[:3])
                + " (blobSource in api-version 2017-09-01.6.0).",
            )
        file_path = entry.get("filePath")
        if given in _ONE_FILE_SOURCES and file_path is None:
            return _missing(f"{where}.filePath")
        if file_path is not None and (
            not isinstance(file_path, str)
            or file_path.startswith(("/", "\\"))
            or ".." in file_path.replace("\\", "/").split("/")
        ):
            return _invalid(
                f"{where}.filePath",
                file_path,
                "filePath must be relative and must not break out of the task's working "
                "directory (for example by using '..').",
            )
    output_files, error = _list_of_objects(task, "outputFiles")
    if error is not None:
        return error
    for where, entry in output_files:
        if not isinstance(entry.get("filePattern"), str):
            return _missing(f"{where}.filePattern")
        container = (entry.get("destination") or {}).get("container")
        if not isinstance(container, dict) or not container.get("containerUrl"):
            return _missing(f"{where}.destination.container.containerUrl")
        condition = (entry.get("uploadOptions") or {}).get("uploadCondition")
        if condition is None:
            return _missing(f"{where}.uploadOptions.uploadCondition")
        if str(condition).lower() not in _UPLOAD_CONDITIONS:
            return _invalid(f"{where}.uploadOptions.uploadCondition", condition)
    return None


def _display_name_problem(value: Any) -> Problem | None:
    """``displayName`` (a task's or a job's): "any Unicode characters up to a maximum length
    of 1024" [spec-2025 BatchTaskCreateOptions.displayName, BatchJobCreateOptions]."""
    if value is None or (isinstance(value, str) and len(value) <= limits.MAX_DISPLAY_NAME_LENGTH):
        return None
    return (
        "displayName",
        value,
        f"displayName is at most {limits.MAX_DISPLAY_NAME_LENGTH} characters.",
    )


def _environment_problem(settings: Any, where: str) -> Problem | None:
    """A list of ``EnvironmentSetting`` objects, each with its required ``name`` a string
    [spec-2025 EnvironmentSetting: "required": ["name"]] and a string ``value`` if any."""
    if not isinstance(settings, list):
        return (where, settings, f"{where} is a list of {{name, value}} objects.")
    for n, item in enumerate(settings):
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            name = item.get("name") if isinstance(item, dict) else item
            return (f"{where}[{n}].name", name, "an environment setting needs a string name.")
        if not isinstance(item.get("value", ""), str):
            value = item["value"]
            return (f"{where}[{n}].value", value, "an environment setting's value is a string.")
    return None


def _list_of_objects(
    task: Mapping[str, Any], name: str
) -> tuple[list[tuple[str, dict[str, Any]]], dict[str, Any] | None]:
    """A task's list property as (path, entry) pairs (``resourceFiles[0]``), or the error
    of one that is no list of objects (an absent one: no entries)."""
    value = task.get(name)
    if value is None:
        return [], None
    if not isinstance(value, list):
        return [], _invalid(name, why=f"{name} must be a list.")
    entries = [(f"{name}[{k}]", entry) for k, entry in enumerate(value)]
    for where, entry in entries:
        if not isinstance(entry, dict):
            return [], _invalid(where, why=f"{where} must be an object.")
    return entries, None


def _slots_problem(task: Mapping[str, Any]) -> Problem | None:
    """``requiredSlots`` is "format": "int32" ("For multi-instance Tasks, this must be 1" is
    not enforced, below); ``multiInstanceSettings.numberOfInstances`` is "format": "int32"
    [spec-2025 BatchTaskCreateOptions, MultiInstanceSettings]. The spec states no least value
    for either (a task of 0 slots is run as a task of 1, ``scheduler.task_spec``)."""
    slots = task.get("requiredSlots")
    if slots is not None and not is_int32(slots):
        return "requiredSlots", slots, "requiredSlots must be an int32."
    multi = task.get("multiInstanceSettings")
    if isinstance(multi, dict):
        instances = multi.get("numberOfInstances")
        if instances is not None and not is_int32(instances):
            return (
                "multiInstanceSettings.numberOfInstances",
                instances,
                "numberOfInstances must be an int32.",
            )
        # "For multi-instance Tasks, this must be 1" is not enforced: the spec's own example
        # Tasks_CreateTaskCollection_Complex sends requiredSlots 2 with multiInstanceSettings
        # (BATCH_FACTS section 11). The compiler keeps to the description.
    return None


def _dependency_error(depends_on: Any, uses_dependencies: bool) -> dict[str, Any] | None:
    if not uses_dependencies:
        return wire.error_dict(
            "TaskDependenciesNotSpecifiedOnJob",
            "The task has dependencies, but the job does not specify task dependencies.",
        )
    shape = _dependency_shape_error(depends_on)
    if shape is not None:
        return shape
    ids = depends_on.get("taskIds")
    if isinstance(ids, list):
        try:
            total = len("".join(ids))  # every id a string: the common case
        except TypeError:
            total = sum(len(i) for i in ids if isinstance(i, str))
        if total > limits.TASK_IDS_CHAR_LIMIT:
            return wire.error_dict(
                "TaskDependencyListTooLong",
                "The dependency list of the task is too long.",
                {"TaskIdsLength": str(total), "MaxLength": str(limits.TASK_IDS_CHAR_LIMIT)},
            )
    return None


def _dependency_shape_error(depends_on: Any) -> dict[str, Any] | None:
    """A ``dependsOn`` that is not the schema's shape (``taskIds``: strings; ``taskIdRanges``:
    objects with int32 ``start`` and ``end``), answered as the service answers a property
    of the wrong type: per task, ``InvalidPropertyValue`` naming it (as for ``commandLine``).
    [spec: BatchTaskDependencies, BatchTaskIdRange]"""
    if not isinstance(depends_on, dict):
        return _invalid("dependsOn", depends_on)
    ids = depends_on.get("taskIds")
    if ids is not None and (not isinstance(ids, list) or not set(map(type, ids)) <= {str}):
        return _invalid("dependsOn.taskIds", ids)
    ranges = depends_on.get("taskIdRanges")
    if ranges is not None and not (
        isinstance(ranges, list)
        and all(
            isinstance(r, dict) and is_int32(r.get("start")) and is_int32(r.get("end"))
            for r in ranges
        )
    ):
        # BatchTaskIdRange start and end: "type": "integer", "format": "int32".
        return _invalid("dependsOn.taskIdRanges", ranges)
    return None


#: Where a value of the wrong type is long (a list of ids), the error echoes its start only.
_ECHOED_CHARS: Final = 200

_NO_VALUE: Final = object()


def _missing(name: str) -> dict[str, Any]:
    """The per-task ``MissingRequiredProperty`` naming the property."""
    return wire.error_dict(
        "MissingRequiredProperty",
        "A required property was not specified in the request body.",
        {"PropertyName": name},
    )


def _invalid(name: str, value: Any = _NO_VALUE, why: str | None = None) -> dict[str, Any]:
    """The per-task ``InvalidPropertyValue`` naming the property (and echoing its value,
    when given; ``why`` the message, when there is more to say than the service's own)."""
    values = {"PropertyName": name}
    if value is not _NO_VALUE:
        values["PropertyValue"] = str(value)[:_ECHOED_CHARS]
    return wire.error_dict(
        "InvalidPropertyValue",
        why or "The value provided for one of the properties in the request body is invalid.",
        values,
    )


def _exit_options_error(
    exit_conditions: Any, uses_dependencies: bool, job_actions: bool
) -> dict[str, Any] | None:
    codes = exit_conditions.get("exitCodes") if isinstance(exit_conditions, dict) else None
    for entry in codes if isinstance(codes, list) else ():
        # "A process exit code": "type": "integer", "format": "int32" [spec-2025
        # ExitCodeMapping.code].
        code = entry.get("code") if isinstance(entry, dict) else None
        if isinstance(entry, dict) and code is None:
            return _missing("exitConditions.exitCodes.code")
        if not is_int32(code):
            return _invalid("exitConditions.exitCodes.code", code, "An exit code must be an int32.")
    ranges = exit_conditions.get("exitCodeRanges") if isinstance(exit_conditions, dict) else None
    for entry in ranges if isinstance(ranges, list) else ():
        # "the range start to end (inclusive)" [spec-2025 ExitCodeRangeMapping]: both int32,
        # and a range whose start is after its end is no range.
        start = entry.get("start") if isinstance(entry, dict) else None
        end = entry.get("end") if isinstance(entry, dict) else None
        for bound, value in (("start", start), ("end", end)):
            if isinstance(entry, dict) and value is None:
                return _missing(f"exitConditions.exitCodeRanges.{bound}")
            if type(value) is int and not is_int32(value):
                return _invalid(
                    f"exitConditions.exitCodeRanges.{bound}",
                    value,
                    f"An exit code range's {bound} must be an int32.",
                )
        if not (type(start) is int and type(end) is int and start <= end):
            return wire.error_dict(
                "InvalidPropertyValue",
                "An exitCodeRanges entry must have integer start and end with start <= end.",
                {"PropertyName": "exitConditions.exitCodeRanges", "PropertyValue": str(entry)},
            )
    for options in wire.iter_exit_options(exit_conditions):
        for name, allowed in EXIT_OPTION_ENUMS.items():
            value = options.get(name)
            if value is not None and not (isinstance(value, str) and value.lower() in allowed):
                return wire.error_dict(
                    "InvalidPropertyValue",
                    f"{name} must be one of {', '.join(sorted(allowed))}.",
                    {"PropertyName": name, "PropertyValue": str(value)[:_ECHOED_CHARS]},
                )
        if options.get("jobAction") is not None and not job_actions:
            return wire.error_dict(
                "InvalidPropertyValue",
                "jobAction may only be specified when the job's onTaskFailure is "
                "performexitoptionsjobaction.",
                {"PropertyName": "jobAction", "PropertyValue": str(options["jobAction"])},
            )
        if options.get("dependencyAction") is not None and not uses_dependencies:
            return wire.error_dict(
                "InvalidPropertyValue",
                "dependencyAction may only be specified when the job uses task dependencies.",
                {
                    "PropertyName": "dependencyAction",
                    "PropertyValue": str(options["dependencyAction"]),
                },
            )
    return None
