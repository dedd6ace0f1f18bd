"""A multi-stage pipeline with string ids, resource files, environment settings and a
failure handler.

    fetch -> clean-{region} -> train -> evaluate -> publish -> rollback (only if publish fails)

    dagbatch compile examples/pipeline.py --out plan/

The job is not set to terminate when all its tasks complete (``on_all_tasks_complete``):
rollback runs only if publish fails, and when publish succeeds Batch leaves rollback active
for ever, so such a job would never complete. Terminate the job once publish has succeeded
(or rollback has run).
"""

import networkx as nx

from dagbatch import Task

REGIONS = ["emea", "apac", "amer"]
SCRIPTS = "https://examplestore.blob.core.windows.net/scripts"

ENV = [{"name": "PIPELINE_RUN", "value": "2026-11-28"}, {"name": "LOG_LEVEL", "value": "info"}]


def build() -> nx.DiGraph:
    g = nx.DiGraph()
    g.graph["job"] = {"id": "pipeline-nightly", "pool_id": "gpu-pool"}
    g.add_node(
        "fetch",
        task=Task(
            command_line="/bin/sh -c 'python3 fetch.py --out $AZ_BATCH_TASK_WORKING_DIR/raw'",
            resource_files=[{"http_url": f"{SCRIPTS}/fetch.py", "file_path": "fetch.py"}],
            environment_settings=ENV,
            constraints={"max_task_retry_count": 3},
        ),
    )
    for region in REGIONS:
        g.add_node(
            f"clean-{region}",
            command_line=f"python3 clean.py --region {region}",
            resource_files=[{"http_url": f"{SCRIPTS}/clean.py", "file_path": "clean.py"}],
            environment_settings=ENV,
        )
        g.add_edge("fetch", f"clean-{region}")
    g.add_node(
        "train",
        task=Task(
            command_line="python3 train.py --epochs 20",
            resource_files=[
                {"http_url": f"{SCRIPTS}/train.py", "file_path": "train.py", "file_mode": "0755"}
            ],
            environment_settings=ENV,
            constraints={"max_wall_clock_time": "PT6H"},
            user_identity={"auto_user": {"scope": "task", "elevation_level": "nonadmin"}},
        ),
        # Exit code 3 means "converged early": still fine for evaluate.
        satisfy_exit_codes=[3],
    )
    for region in REGIONS:
        g.add_edge(f"clean-{region}", "train")
    g.add_node("evaluate", command_line="python3 evaluate.py", environment_settings=ENV)
    g.add_node("publish", command_line="python3 publish.py", environment_settings=ENV)
    g.add_edge("train", "evaluate")
    g.add_edge("evaluate", "publish")

    # The failure handler: runs only if publish fails (after its retries), to roll back.
    # A parent's dependents must all want the same thing, so publish has just this child.
    g.add_node("rollback", command_line="python3 rollback.py", environment_settings=ENV)
    g.add_edge("publish", "rollback", when="failure")
    return g
