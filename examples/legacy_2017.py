"""A workflow in the seed API's schema (api-version 2017-09-01.6.0): `blobSource` resource
files, and a pre-processing exit condition written with the older
name `scheduling_error` (the 2017-09-01.6.0 wire name is `preProcessingError`).

    dagbatch compile examples/legacy_2017.py --api-version 2017-09-01.6.0 --out plan/
"""

import networkx as nx

from dagbatch import Task

SAS = "?st=2026-11-01&se=2026-12-01&sr=c&sp=r&sig=REDACTED"
BLOBS = "https://mystorage1.blob.core.windows.net/scripts"

graph = nx.DiGraph()
graph.graph["job"] = {"id": "legacy-job", "pool_id": "win-pool"}
for n in (1, 2):
    graph.add_node(
        f"mytask{n}",
        task=Task(
            command_line=f"myprogram.exe param{n}",
            resource_files=[
                {"blob_source": f"{BLOBS}/myprogram.exe{SAS}", "file_path": "myprogram.exe"},
                {"blob_source": f"{BLOBS}/test.txt{SAS}", "file_path": "test.txt"},
            ],
            environment_settings=[{"name": "myvariable", "value": "myvalue"}],
            constraints={
                "max_wall_clock_time": "PT1H",
                "max_task_retry_count": 0,
                "retention_time": "PT1H",
            },
            user_identity={"auto_user": {"scope": "task", "elevation_level": "nonAdmin"}},
            exit_conditions={"scheduling_error": {"dependency_action": "satisfy"}},
        ),
    )
graph.add_node("summarize", command_line="summarize.exe")
graph.add_edge("mytask1", "summarize")
graph.add_edge("mytask2", "summarize")
