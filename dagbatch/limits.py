"""Azure Batch service limits and rules, as named constants with their sources.

Sources (see docs/BATCH_FACTS.md):
[spec-2025] Azure/azure-rest-api-specs, specification/batch/data-plane/Batch/stable/2025-06-01/
BatchService.json; [spec-2017] same repo, stable/2017-09-01.6.0/BatchService.json;
[deps-doc] MicrosoftDocs/azure-docs articles/batch/batch-task-dependencies.md.
"""

from __future__ import annotations

import re
from typing import Final, Literal

ApiVersion = Literal["2025-06-01", "2017-09-01.6.0"]
API_VERSIONS: Final[tuple[ApiVersion, ...]] = ("2025-06-01", "2017-09-01.6.0")
DEFAULT_API_VERSION: Final[ApiVersion] = "2025-06-01"

#: [spec-2025] BatchTaskGroup.value: "The maximum count of tasks is 100."
MAX_TASKS_PER_REQUEST: Final = 100

#: [spec-2025] addtaskcollection: "the total serialized size of this collection must be
#: less than 1MB"; [spec-2017] the same sentence says 4MB. Strictly less than.
MAX_BODY_BYTES: Final[dict[str, int]] = {
    "2025-06-01": 1024 * 1024,
    "2017-09-01.6.0": 4 * 1024 * 1024,
}

#: [spec-2025] BatchTaskDependencies.taskIds: "The taskIds collection is limited to 64000
#: characters total (i.e. the combined length of all task IDs)". Ranges do not count.
TASK_IDS_CHAR_LIMIT: Final = 64000

#: The Batch errors reference says the total must be "slightly less" than 64000 because of
#: internal overhead, without a number. We keep 1000 characters (about 1.6%) in reserve by
#: default; `--taskids-margin` changes it.
DEFAULT_TASK_IDS_MARGIN: Final = 1000

#: [spec-2025] BatchTaskCreateOptions.id: letters, digits, hyphens and underscores, at most
#: 64 characters; unique within the job ignoring case.
MAX_ID_LENGTH: Final = 64
_ID_CHAR: Final = "[A-Za-z0-9_-]"
ID_PATTERN: Final = re.compile(f"{_ID_CHAR}{{1,{MAX_ID_LENGTH}}}")
#: The characters an id may hold, as bytes: with the lengths checked apart, deleting them
#: (``bytes.translate``) from all of a job's ids joined, in ASCII, leaves nothing exactly when
#: every id is good (two to four times quicker than a regular expression match).
ID_CHAR_BYTES: Final = bytes(c for c in range(128) if re.fullmatch(_ID_CHAR, chr(c)))


def refused_id_chars(given: str) -> list[str]:
    """The characters of ``given`` an id may not hold, each once, sorted: what a task's or
    a job's invalid-id diagnostic names."""
    return sorted({c for c in given if not (c.isascii() and (c.isalnum() or c in "-_"))})


#: [spec-2025] displayName: "any Unicode characters up to a maximum length of 1024".
MAX_DISPLAY_NAME_LENGTH: Final = 1024

#: [spec-2025] "type": "integer", "format": "int32": task id ranges, exit codes and exit code
#: ranges, retry counts, slots, priority, maxParallelTasks.
INT32_MIN: Final = -(2**31)
INT32_MAX: Final = 2**31 - 1

#: [spec-2025] BatchJob.priority: "Priority values can range from -1000 to 1000, with -1000
#: being the lowest priority and 1000 being the highest priority."
MIN_JOB_PRIORITY: Final = -1000
MAX_JOB_PRIORITY: Final = 1000

#: [spec-2025] BatchTaskConstraints.maxTaskRetryCount: "If the maximum retry count is -1, the
#: Batch service retries the Task without limit"; 0 and up count retries. No value below -1
#: has a meaning.
UNLIMITED_RETRIES: Final = -1

#: [spec-2025] BatchJob.maxParallelTasks: "The value of maxParallelTasks must be -1 or greater
#: than 0 if specified. If not specified, the default value is -1, which means there's no
#: limit".
NO_PARALLEL_TASKS_LIMIT: Final = -1

#: Batch's "no limit" duration as the service writes it (a .NET TimeSpan's largest value):
#: a job's or task's ``constraints.maxWallClockTime`` when none was given [spec-2025
#: examples Jobs_GetJob, Tasks_GetTask].
UNLIMITED_DURATION: Final = "P10675199DT2H48M5.4775807S"
#: Default task retention: 7 days [BATCH_FACTS 3; spec-2025 BatchTaskConstraints].
DEFAULT_RETENTION: Final = "P7D"

#: [spec-2025] BatchJobReleaseTask.maxWallClockTime: "You may not specify a timeout longer
#: than 15 minutes. If you do, the Batch service rejects it with an error; if you are calling
#: the REST API directly, the HTTP status code is 400 (Bad Request)."
MAX_JOB_RELEASE_WALL_CLOCK_SECONDS: Final = 15 * 60

#: [spec-2025] Jobs_ListJobs, Tasks_ListTasks, Tasks_ListTaskFiles ``maxresults``: "minimum": 1,
#: "maximum": 1000, "default": 1000.
MAX_LIST_RESULTS: Final = 1000

#: The service rejects Shared Key requests whose date is more than 15 minutes off.
MAX_CLOCK_SKEW_SECONDS: Final = 15 * 60

#: Content type the Batch data plane takes for JSON bodies.
CONTENT_TYPE: Final = "application/json; odata=minimalmetadata"


def canonical_int(task_id: str) -> int | None:
    """The integer a range would select this id as, under Batch's rule, or None.

    [deps-doc]: a range selects every task whose id parses as an integer in it, leading
    zeros ignored ("4", "04", "004" are all 4). Ids may contain '-', so "-5" and "-0" are ids
    too; an integer parser takes an optional sign, so they are read as -5 and 0. Every id
    such a parser accepts counts (the safe side: a range never covers one unintended).
    """
    if task_id.isascii() and (task_id.isdigit() or (task_id[:1] == "-" and task_id[1:].isdigit())):
        return int(task_id)
    return None
