"""A fan-in past Batch's 64,000-character taskIds limit.

3,000 render tasks with 40-character string ids feed one `assemble` task: its taskIds would
be 120,000 characters. dagbatch inserts no-op barrier tasks that each depend on a slice of
the renders (the default `--over-limit barrier`), so `assemble` runs exactly when it would
have. `--over-limit renumber` gives every task an integer id instead, so the renders become
one taskIdRange; `--over-limit error` refuses.

    dagbatch compile examples/wide_fanin.py --out plan/
"""

import hashlib

import networkx as nx

FRAMES = 3_000

graph = nx.DiGraph()
# pool_os picks the barrier tasks' command line ("/bin/true" on Linux, "cmd /c exit 0" on
# Windows); it is not sent to Batch.
graph.graph["job"] = {"id": "render-film", "pool_id": "render-pool", "pool_os": "linux"}
for frame in range(FRAMES):
    digest = hashlib.sha256(str(frame).encode()).hexdigest()[:20]
    tid = f"render-frame-{frame:06d}-{digest}"  # 40 characters
    graph.add_node(tid, command_line=f"blender -b scene.blend -f {frame}")
    graph.add_edge(tid, "assemble")
graph.add_node("assemble", command_line="ffmpeg -i frame_%06d.png film.mp4")
