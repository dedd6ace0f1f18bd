"""The requests-in-flight gate and the adaptive (AIMD) level, on a fake clock and against the
emulator throttling."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from dagbatch.emulator.server import EmulatorServer
from dagbatch.submit.concurrency import (
    DEFAULT_CONCURRENCY,
    MAX_CONCURRENCY,
    AdaptiveConcurrency,
    ConcurrencyGate,
)
from dagbatch.submit.progress import NullProgress
from dagbatch.submit.submission import submit_plan
from tests.conftest import EmulatorFactory
from tests.plan_factory import layered_plan
from tests.submit_helpers import make_client

TASKS_PER_REQUEST = 100


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def simulate(
    controller: AdaptiveConcurrency,
    clock: FakeClock,
    *,
    answers: int,
    capacity: int,
    latency: float = 0.2,
    throttle_above: int | None = None,
    waiting: bool = True,
) -> list[int]:
    """A service that answers ``capacity`` requests per ``latency`` at most (more in flight
    only queue), and throttles every request while more than ``throttle_above`` are in
    flight. Returns the level after each answer."""
    levels = []
    for _ in range(answers):
        level = controller.level
        clock.now += latency / min(level, capacity)
        throttled = throttle_above is not None and level > throttle_above
        controller.observe(
            0 if throttled else TASKS_PER_REQUEST, throttled=throttled, waiting=waiting
        )
        levels.append(controller.level)
    return levels


def make(clock: FakeClock, start: int = DEFAULT_CONCURRENCY) -> AdaptiveConcurrency:
    return AdaptiveConcurrency(ConcurrencyGate(start), clock=clock)


def test_level_grows_while_throughput_rises_and_settles_at_the_service_capacity() -> None:
    clock = FakeClock()
    controller = make(clock)
    levels = simulate(controller, clock, answers=20_000, capacity=100)

    assert levels[0] == DEFAULT_CONCURRENCY
    assert max(levels) <= MAX_CONCURRENCY
    # It reached the capacity, and a step past it that bought nothing was undone.
    assert 100 <= controller.level < 200
    assert ("no gain", controller.level) in controller.decisions
    # Most of the time is spent at or above the capacity: throughput near the limit.
    assert sum(level >= 100 for level in levels[len(levels) // 2 :]) > len(levels) // 4


def test_level_stays_put_when_more_requests_do_not_help() -> None:
    """A CPU-bound client (the service already answers as fast as 16 requests allow)."""
    clock = FakeClock()
    controller = make(clock)
    levels = simulate(controller, clock, answers=5_000, capacity=16)

    assert controller.level == DEFAULT_CONCURRENCY
    assert max(levels) <= 24  # one probe at a time, each undone
    assert controller.decisions[:2] == [("grow", 24), ("no gain", 16)]


def test_throttling_halves_the_level_and_it_stays_below_the_throttling_point() -> None:
    clock = FakeClock()
    controller = make(clock, start=64)
    levels = simulate(controller, clock, answers=5_000, capacity=1_000, throttle_above=40)

    assert controller.decisions[0] == ("throttled", 32)
    assert controller.level <= 40
    # Probes past 40 are answered with 429s and halved again; most of the time it is below.
    assert sum(level <= 40 for level in levels) > 0.9 * len(levels)


def test_one_burst_of_throttled_answers_halves_the_level_once() -> None:
    clock = FakeClock()
    controller = make(clock, start=64)
    for _ in range(64):  # every request of one round answered 429
        controller.observe(0, throttled=True)
    assert controller.level == 32
    assert [d for d in controller.decisions if d[0] == "throttled"] == [("throttled", 32)]


def test_level_stays_within_its_bounds() -> None:
    clock = FakeClock()
    controller = make(clock, start=2)
    for _ in range(10):
        controller.observe(0, throttled=True)
        for _ in range(16):  # close the window
            controller.observe(0, throttled=True)
    assert controller.level == 1

    clock = FakeClock()
    controller = AdaptiveConcurrency(ConcurrencyGate(16), clock=clock, highest=40)
    simulate(controller, clock, answers=20_000, capacity=10_000)
    assert controller.level == 40


def test_level_does_not_grow_when_no_request_waits_for_a_slot() -> None:
    """Fewer requests than the level (a small wave): the level was not the limit."""
    clock = FakeClock()
    controller = make(clock)
    simulate(controller, clock, answers=2_000, capacity=100, waiting=False)
    assert controller.level == DEFAULT_CONCURRENCY
    assert controller.decisions == []


def test_gate_holds_the_level_and_wakes_waiters_when_it_grows() -> None:
    async def scenario() -> tuple[int, int]:
        gate = ConcurrencyGate(2)
        in_flight = peak = 0
        release = asyncio.Event()

        async def request() -> None:
            nonlocal in_flight, peak
            async with gate:
                in_flight += 1
                peak = max(peak, in_flight)
                await release.wait()
                in_flight -= 1

        tasks = [asyncio.ensure_future(request()) for _ in range(6)]
        for _ in range(5):
            await asyncio.sleep(0)
        first = peak
        assert gate.waiting == 4
        gate.level = 5  # three more may start now
        for _ in range(5):
            await asyncio.sleep(0)
        second = peak
        release.set()
        await asyncio.wait_for(asyncio.gather(*tasks), 10)
        assert gate.in_flight == 0 and gate.waiting == 0
        return first, second

    assert asyncio.run(scenario()) == (2, 5)


def test_gate_gives_back_the_slot_of_a_cancelled_waiter() -> None:
    async def scenario() -> int:
        gate = ConcurrencyGate(1)
        await gate.acquire()
        waiter = asyncio.ensure_future(gate.acquire())
        await asyncio.sleep(0)
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        gate.release()
        await asyncio.wait_for(gate.acquire(), 10)  # the slot is free again
        return gate.in_flight

    assert asyncio.run(scenario()) == 1


class Levels(NullProgress):
    def __init__(self) -> None:
        self.levels: list[tuple[int, bool]] = []

    def concurrency(self, level: int, *, adaptive: bool) -> None:
        self.levels.append((level, adaptive))


def test_adaptive_submission_backs_off_when_the_emulator_throttles(
    emulator_factory: EmulatorFactory, tmp_path: Path
) -> None:
    server = emulator_factory(throttle=0.3, seed=11, operations=frozenset({"addtaskcollection"}))
    plan = layered_plan(tmp_path / "plan", tasks=3_000, waves=2, pool_id="p")
    progress = Levels()

    report = submit_plan(
        plan, job_id="job", client=make_client(server), create_job=True, progress=progress
    )

    assert report.ok and report.confirmed == 3_000
    assert report.retries > 0
    assert progress.levels[0] == (DEFAULT_CONCURRENCY, True)
    assert any(level < DEFAULT_CONCURRENCY for level, _ in progress.levels)
    assert server.store.stats()["jobs"]["job"] == 3_000


def test_fixed_concurrency_is_reported_and_never_moves(
    emulator_factory: EmulatorFactory, tmp_path: Path
) -> None:
    server: EmulatorServer = emulator_factory(throttle=0.3, seed=11)
    plan = layered_plan(tmp_path / "plan", tasks=1_000, waves=2, pool_id="p")
    progress = Levels()

    report = submit_plan(
        plan,
        job_id="job",
        client=make_client(server),
        create_job=True,
        concurrency=8,
        progress=progress,
    )

    assert report.ok
    assert progress.levels == [(8, False)]
