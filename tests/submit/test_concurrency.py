"""The requests-in-flight gate and the adaptive (AIMD) level, on a fake clock and against the
emulator throttling."""

from __future__ import annotations

import asyncio
import random
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
    busy: float = 0.0,
    rate_limit: int | None = None,
    rng: random.Random | None = None,
    waiting: bool = True,
) -> list[int]:
    """A service that answers ``capacity`` requests per ``latency`` at most (more in flight
    only queue), and throttles every request while more than ``throttle_above`` are in
    flight, a ``busy`` share of all requests at any level, and what exceeds ``rate_limit``
    requests per ``latency`` (drawn from ``rng``). Returns the level after each answer."""
    levels = []
    rng = rng or random.Random(0)
    for _ in range(answers):
        level = controller.level
        clock.now += latency / min(level, capacity)
        throttled = throttle_above is not None and level > throttle_above
        throttled = throttled or (busy > 0 and rng.random() < busy)
        if rate_limit is not None and level > rate_limit:
            throttled = throttled or rng.random() < 1 - rate_limit / level
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


def test_throttling_of_every_level_does_not_drive_the_level_down() -> None:
    """A busy service answers a fifth of all requests 503, whatever their number: halving
    brings no relief, so the level goes back and keeps growing with the throughput (it fell
    to 1 before, at a fifth of the default's throughput)."""
    clock = FakeClock()
    controller = make(clock)
    levels = simulate(
        controller, clock, answers=20_000, capacity=100, busy=0.2, rng=random.Random(7)
    )

    assert controller.decisions[0] == ("throttled", DEFAULT_CONCURRENCY // 2)
    assert controller.decisions[1] == ("not ours", DEFAULT_CONCURRENCY)
    assert 0.1 < controller.background < 0.3
    assert controller.level >= 64  # grew towards the capacity despite the 503s
    assert sum(level < DEFAULT_CONCURRENCY for level in levels) < 0.05 * len(levels)


def test_a_throttling_level_above_a_busy_service_is_still_backed_off() -> None:
    """Both at once: a tenth of every level's requests is busy, and every request is
    throttled above 40 in flight: the level learns the background and stays at or under 40
    most of the time."""
    clock = FakeClock()
    controller = make(clock, start=64)
    levels = simulate(
        controller,
        clock,
        answers=20_000,
        capacity=1_000,
        throttle_above=40,
        busy=0.1,
        rng=random.Random(3),
    )

    assert controller.decisions[0] == ("throttled", 32)
    assert sum(level <= 40 for level in levels) > 0.9 * len(levels)
    assert sum(level >= 20 for level in levels[len(levels) // 2 :]) > 0.9 * (len(levels) // 2)


def test_a_rate_limit_far_below_the_level_is_backed_off_to() -> None:
    """A rate limit answers 429 to what exceeds it: most requests at four times the limit.
    Halving keeps the throughput (the limit serves as many), so it is not taken for a busy
    service: the level comes down to the limit and stays near it."""
    clock = FakeClock()
    controller = make(clock, start=160)
    levels = simulate(
        controller, clock, answers=20_000, capacity=1_000, rate_limit=40, rng=random.Random(2)
    )

    assert [why for why, _ in controller.decisions[:2]] == ["throttled", "throttled"]
    assert not [d for d in controller.decisions if d[0] == "not ours"]
    late = levels[len(levels) // 2 :]
    assert sum(20 <= level <= 60 for level in late) > 0.9 * len(late)


def test_a_rate_limit_after_a_busy_spell_is_still_backed_off() -> None:
    """The background learned in a busy spell must not hide a rate limit that comes after:
    a background that followed the share without bound passed 1/3, after which no share
    (at most 1) was three times it, and the level grew back to 256 under 94 % refusals."""
    clock = FakeClock()
    controller = make(clock)
    simulate(controller, clock, answers=3_000, capacity=1_000, busy=0.2, rng=random.Random(5))
    assert controller.background > 0.1

    levels = simulate(
        controller, clock, answers=20_000, capacity=1_000, rate_limit=16, rng=random.Random(6)
    )

    late = levels[len(levels) // 2 :]
    assert sum(late) / len(late) < 40
    assert controller.background <= 0.5


def test_a_busy_spell_fades_and_throttling_is_backed_off_again() -> None:
    """Once the busy spell is over the background fades to nothing, so a throttling level
    is backed off at the first clear sign again."""
    clock = FakeClock()
    controller = make(clock)
    simulate(controller, clock, answers=3_000, capacity=1_000, busy=0.3, rng=random.Random(5))
    assert controller.background > 0.15

    simulate(controller, clock, answers=20_000, capacity=1_000)  # the spell is over
    assert controller.background == 0.0
    decided = len(controller.decisions)
    level = controller.level

    simulate(controller, clock, answers=200, capacity=1_000, throttle_above=level // 2)
    assert ("throttled", level // 2) in controller.decisions[decided:]


def test_a_stray_throttled_answer_does_not_halve_the_level() -> None:
    clock = FakeClock()
    controller = make(clock)
    for n in range(1, 2_000):
        clock.now += 0.2 / controller.level
        controller.observe(0 if n % 100 == 0 else TASKS_PER_REQUEST, throttled=n % 100 == 0)
    assert not [d for d in controller.decisions if d[0] == "throttled"]


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


def test_adaptive_submission_comes_back_when_a_busy_service_throttles_every_level(
    emulator_factory: EmulatorFactory, tmp_path: Path
) -> None:
    """A fifth of the requests answered 503 whatever the level: the first halving brings no
    relief and costs throughput, so the level goes back up."""
    server = emulator_factory(
        busy=0.2,
        retry_after=0,
        latency_ms=50,
        seed=5,
        operations=frozenset({"addtaskcollection"}),
    )
    plan = layered_plan(tmp_path / "plan", tasks=12_000, waves=1, pool_id="p")
    progress = Levels()

    report = submit_plan(
        plan, job_id="job", client=make_client(server), create_job=True, progress=progress
    )

    assert report.ok and report.confirmed == 12_000 and report.retries > 0
    levels = [level for level, _ in progress.levels]
    lowest = levels.index(min(levels))
    assert min(levels) < DEFAULT_CONCURRENCY
    assert max(levels[lowest:]) >= DEFAULT_CONCURRENCY
