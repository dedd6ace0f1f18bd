"""dagbatch.planorder: a plan cut into segments, and how far each one waits; and the
submission sending a segment as soon as the segments it waits for are confirmed."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any

import httpx
import orjson

from dagbatch.emulator import DEV_ACCOUNT, DEV_KEY
from dagbatch.emulator.server import EmulatorServer
from dagbatch.plan import Batch, load_plan
from dagbatch.planorder import order_segments, sequential_rounds
from dagbatch.submit.auth import SharedKeyAuth
from dagbatch.submit.client import BatchClient
from dagbatch.submit.submission import submit_plan_async
from tests.plan_factory import write_plan

Task = dict[str, Any]


def _batch(index: int, wave: int, tasks: list[Task]) -> Batch:
    batch = Batch(index, wave, tuple(t["id"] for t in tasks), orjson.dumps({"value": tasks}))
    batch.__dict__["tasks"] = tuple(tasks)
    return batch


def _x(task_id: str, **more: Any) -> Task:
    return {"id": task_id, "commandLine": "x", **more}


def test_a_batch_is_cut_before_a_task_depending_on_its_segment() -> None:
    first = _batch(1, 1, [_x("elsewhere")])
    second = _batch(
        2,
        2,
        [
            _x("a"),
            _x("b"),
            _x("c", dependsOn={"taskIds": ["A"]}),  # ids ignore case
            _x("d", dependsOn={"taskIds": ["elsewhere"]}),
            _x("7"),
            _x("e", dependsOn={"taskIdRanges": [{"start": 5, "end": 9}]}),
            _x("f", dependsOn={"taskIdRanges": [{"start": 8, "end": 9}]}),  # no plan task there
        ],
    )
    got = [(s.batch, s.start, s.stop, s.after) for s in order_segments([first, second])]
    # [a, b] waits for nothing; [c, d, 7] for a (segment 1) and elsewhere (segment 0);
    # [e, f] for 7 (segment 2).
    assert got == [(1, 0, 1, -1), (2, 0, 2, -1), (2, 2, 5, 1), (2, 5, 7, 2)]


def test_a_batch_naming_no_parent_is_one_segment_waiting_for_nothing() -> None:
    tasks = [_x(str(i)) for i in range(100)]
    (only,) = order_segments([_batch(1, 1, tasks)])
    assert (only.start, only.stop, only.after) == (0, 100, -1)


def test_a_segment_waits_only_up_to_its_newest_parent() -> None:
    """A wave-2 batch whose parents are all in wave 1's first batch waits for that batch
    alone, not for the rest of wave 1."""
    batches = [
        _batch(1, 1, [_x("p")]),
        _batch(2, 1, [_x("q")]),
        _batch(3, 1, [_x("r")]),
        _batch(4, 2, [_x("c1", dependsOn={"taskIds": ["p"]})]),
        _batch(5, 2, [_x("c2", dependsOn={"taskIds": ["p", "r"]})]),
    ]
    assert [s.after for s in order_segments(batches)] == [-1, -1, -1, 0, 2]


def test_sequential_rounds_follow_the_longest_chain_of_waits() -> None:
    # The first test's plan: [a, b] and [elsewhere] first, [c, d, 7] after a, [e, f] after 7.
    first = _batch(1, 1, [_x("elsewhere")])
    second = _batch(
        2,
        2,
        [_x("a"), _x("c", dependsOn={"taskIds": ["a"]}), _x("e", dependsOn={"taskIds": ["c"]})],
    )
    assert sequential_rounds(order_segments([first, second])) == 3
    # A segment waits for every segment up to its newest parent, so the round of one that
    # waits on segment 2 is one more than the highest round among segments 0..2.
    chain = [_batch(1, 1, [_x(f"l{i}", **_after(i)) for i in range(100)])]
    assert sequential_rounds(order_segments(chain)) == 100
    assert sequential_rounds(order_segments([_batch(1, 1, [_x(str(i)) for i in range(9)])])) == 1
    assert sequential_rounds(()) == 0


def _after(i: int) -> dict[str, Any]:
    return {"dependsOn": {"taskIds": [f"l{i - 1}"]}} if i else {}


def test_submit_says_when_a_chain_goes_one_link_a_round_trip(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    import io

    import networkx as nx

    from dagbatch.compiler.export import write_plan as write_compiled
    from dagbatch.compiler.pipeline import compile_graph
    from dagbatch.submit.progress import PlainProgress
    from dagbatch.submit.submission import submit_plan

    def submitted(graph: nx.DiGraph, name: str) -> str:
        graph.graph["job"] = {"id": name, "pool_id": "p"}
        plan = write_compiled(compile_graph(graph), tmp_path / name)
        client = BatchClient(emulator.endpoint, SharedKeyAuth(DEV_ACCOUNT, DEV_KEY))
        out = io.StringIO()
        report = submit_plan(plan, client=client, create_job=True, progress=PlainProgress(out))
        assert report.ok
        return out.getvalue()

    chain = nx.DiGraph()
    nx.add_path(chain, [f"link-{i:03d}" for i in range(250)])
    for node in chain:
        chain.nodes[node]["command_line"] = "x"
    told = submitted(chain, "chain")
    assert "the plan's 3 requests go out as 250: a task is sent only once its parents" in told
    assert "this takes at least 250 round trips one after another" in told
    fan = nx.DiGraph()
    for i in range(1, 1001):
        fan.add_node(i, command_line="x")
        fan.add_edge("prepare", i)
    fan.nodes["prepare"]["command_line"] = "x"
    assert "round trips one after another" not in submitted(fan, "fan")


async def _submit_with_one_slow_request(
    server: EmulatorServer, plan: Path, slow_task: str, awaited_task: str, patience: float
) -> tuple[bool, list[str]]:
    """Submit ``plan``, holding back the request that carries ``slow_task`` until one
    carrying ``awaited_task`` has been answered (or ``patience`` seconds passed).
    -> (whether it was, the order the job's tasks were stored in)."""
    overtaken = asyncio.Event()
    held_until_overtaken: list[bool] = []
    network = httpx.AsyncHTTPTransport()

    class HoldOne(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            body = request.content if request.method == "POST" else b""
            if f'"id":"{slow_task}"'.encode() in body:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(overtaken.wait(), patience)
                held_until_overtaken.append(overtaken.is_set())
            response = await network.handle_async_request(request)
            if f'"id":"{awaited_task}"'.encode() in body:
                overtaken.set()
            return response

        async def aclose(self) -> None:
            await network.aclose()

    client = BatchClient(server.endpoint, SharedKeyAuth(DEV_ACCOUNT, DEV_KEY), transport=HoldOne())
    report = await submit_plan_async(plan, client=client, concurrency=4, create_job=True)
    assert report.confirmed == report.total and not report.failures
    (overtook,) = held_until_overtaken
    return overtook, server.store.task_ids("job")


def test_a_child_goes_out_while_an_unrelated_request_of_its_parents_wave_is_in_flight(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    """Wave 1 is the parent p and an unrelated slow batch; wave 2 is p's child. The child is
    sent (and lands) while the slow request is still in flight, yet never before p."""
    plan = write_plan(
        tmp_path / "plan",
        [
            (1, [_x("p")]),
            (1, [_x(f"slow{i}") for i in range(3)]),
            (2, [_x("child", dependsOn={"taskIds": ["p"]})]),
        ],
        pool_id="pool",
    )
    overtaken, order = asyncio.run(
        _submit_with_one_slow_request(emulator, plan, "slow0", "child", 10)
    )
    assert overtaken
    assert order.index("p") < order.index("child") < order.index("slow0")


def test_a_child_still_waits_for_a_slow_parent(emulator: EmulatorServer, tmp_path: Path) -> None:
    """The same plan, but the slow request holds the parent: the child waits for it."""
    plan = write_plan(
        tmp_path / "plan",
        [
            (1, [_x("p")]),
            (1, [_x(f"slow{i}") for i in range(3)]),
            (2, [_x("child", dependsOn={"taskIds": ["p", "slow2"]})]),
        ],
        pool_id="pool",
    )
    overtaken, order = asyncio.run(
        _submit_with_one_slow_request(emulator, plan, "slow0", "child", 1)
    )
    assert not overtaken
    assert order.index("slow0") < order.index("child")


def test_loaded_plans_carry_their_segments(tmp_path: Path) -> None:
    plan = write_plan(
        tmp_path / "plan",
        [
            (1, [_x("a"), _x("b", dependsOn={"taskIds": ["a"]})]),
            (2, [_x("c", dependsOn={"taskIds": ["b"]})]),
        ],
    )
    loaded = load_plan(plan)
    assert [(s.batch, s.start, s.stop, s.after) for s in loaded.segments] == [
        (1, 0, 1, -1),
        (1, 1, 2, 0),
        (2, 0, 1, 1),
    ]
