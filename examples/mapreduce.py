"""Map-reduce over 10,000 shards: prepare -> shard 1..10000 -> reduce.

Shards have integer ids, so the reduce task's 10,000 parents collapse into one taskIdRange
instead of 38,894 characters of ids in taskIds (the length Batch's 64,000-character limit
counts).

    dagbatch compile examples/mapreduce.py --out plan/
"""

import networkx as nx

import dagbatch

SHARDS = 10_000

graph = nx.DiGraph()
graph.graph["job"] = {"id": "mapreduce", "pool_id": "linux-pool"}

graph.add_node("prepare", command_line="python3 prepare.py --shards 10000")
for shard in range(1, SHARDS + 1):
    # An int node key becomes the task id "1", "2", ...
    graph.add_node(shard, command_line=f"python3 map.py --shard {shard}")
    graph.add_edge("prepare", shard)

graph.add_node(
    "reduce",
    task=dagbatch.Task(
        command_line="python3 reduce.py",
        constraints={"max_wall_clock_time": "PT2H", "max_task_retry_count": 2},
    ),
)
for shard in range(1, SHARDS + 1):
    graph.add_edge(shard, "reduce")
