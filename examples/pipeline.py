"""A multi-stage pipeline with string ids, environment settings, constraints and a failure
handler. Every command runs on a bare Linux machine, so `dagbatch run` can try it as is:

    fetch -> clean-{region} -> train -> evaluate -> publish -> rollback (only if publish fails)

    dagbatch run examples/pipeline.py          # run it here, for real
    dagbatch compile examples/pipeline.py --out plan/

Command lines do not run under a shell on Batch: the ones that use variables or redirection
say `/bin/sh -c '...'`. Tasks share files through the node's shared directory.
"""

import networkx as nx

from dagbatch import Task

REGIONS = ["emea", "apac", "amer"]
SHARED = "$AZ_BATCH_NODE_SHARED_DIR"

ENV = [{"name": "PIPELINE_RUN", "value": "2026-11-28"}, {"name": "LOG_LEVEL", "value": "info"}]


def sh(script: str) -> str:
    """A command line that runs `script` under /bin/sh (Batch runs no shell by itself)."""
    return f"/bin/sh -c '{script}'"


def build() -> nx.DiGraph:
    g = nx.DiGraph()
    g.graph["job"] = {
        "id": "pipeline-nightly",
        "pool_id": "linux-pool",
        "on_all_tasks_complete": "terminatejob",
    }
    g.add_node(
        "fetch",
        task=Task(
            command_line=sh(
                f'mkdir -p {SHARED}/raw && echo "rows of $PIPELINE_RUN" > {SHARED}/raw/data.txt'
            ),
            environment_settings=ENV,
            constraints={"max_task_retry_count": 3},
        ),
    )
    for region in REGIONS:
        g.add_node(
            f"clean-{region}",
            command_line=sh(
                f"sed s/rows/{region}-rows/ {SHARED}/raw/data.txt > {SHARED}/clean-{region}.txt"
            ),
            environment_settings=ENV,
        )
        g.add_edge("fetch", f"clean-{region}")
    g.add_node(
        "train",
        task=Task(
            command_line=sh(
                f"cat {SHARED}/clean-*.txt > model.txt && cp model.txt {SHARED}/model.txt"
            ),
            environment_settings=ENV,
            constraints={"max_wall_clock_time": "PT6H"},
            user_identity={"auto_user": {"scope": "task", "elevation_level": "nonadmin"}},
        ),
        # Exit code 3 means "converged early": still fine for evaluate.
        satisfy_exit_codes=[3],
    )
    for region in REGIONS:
        g.add_edge(f"clean-{region}", "train")
    g.add_node(
        "evaluate",
        command_line=sh(f"wc -l < {SHARED}/model.txt"),
        environment_settings=ENV,
    )
    g.add_node(
        "publish", command_line=sh("echo published run $PIPELINE_RUN"), environment_settings=ENV
    )
    g.add_edge("train", "evaluate")
    g.add_edge("evaluate", "publish")

    # The failure handler: runs only if publish fails (after its retries), to roll back.
    # A parent's dependents must all want the same thing, so publish has just this child.
    g.add_node("rollback", command_line="echo rolling back", environment_settings=ENV)
    g.add_edge("publish", "rollback", when="failure")
    return g
