"""dagbatch.gcpause: the collector paused around a build, and what it built frozen out of the
collections made meanwhile; the collector's state is restored either way."""

from __future__ import annotations

import gc

import pytest

from dagbatch.gcpause import gc_fewer_full, gc_frozen, gc_paused


def test_gc_paused_restores_the_state_it_found() -> None:
    assert gc.isenabled()
    with gc_paused():
        assert not gc.isenabled()
        with gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the inner block found it off: left off
    assert gc.isenabled()
    gc.disable()
    try:
        with gc_paused():
            pass
        assert not gc.isenabled()  # off before, off after
    finally:
        gc.enable()


def test_gc_frozen_builds_with_the_collector_paused_and_freezes_the_result() -> None:
    states: list[bool] = []

    def build() -> list[dict[str, int]]:
        states.append(gc.isenabled())
        return [{"n": n} for n in range(1000)]

    before = gc.get_freeze_count()
    with gc_frozen(build) as built:
        assert states == [False]
        assert len(built) == 1000
        assert gc.isenabled()
        assert gc.get_freeze_count() >= before + 1000  # the new objects are frozen
    assert gc.get_freeze_count() == 0
    assert gc.isenabled()


def test_gc_frozen_unfreezes_when_the_block_fails() -> None:
    with pytest.raises(RuntimeError), gc_frozen(lambda: [{} for _ in range(10)]):
        raise RuntimeError("boom")
    assert gc.get_freeze_count() == 0 and gc.isenabled()


def test_gc_fewer_full_raises_the_full_threshold_and_restores_it() -> None:
    before = gc.get_threshold()
    with gc_fewer_full(100):
        assert gc.get_threshold() == (before[0], before[1], 100)
    assert gc.get_threshold() == before
    with pytest.raises(RuntimeError), gc_fewer_full(50):
        raise RuntimeError("the block failed")
    assert gc.get_threshold() == before


def test_gc_paused_leaves_what_it_made_in_the_oldest_generation() -> None:
    """The young collections after the block do not walk what it built (a plan's million
    objects): it is in generation 2 at once, and generation 0 starts empty."""
    with gc_paused():
        built = [[n] for n in range(1000)]  # lists: always tracked (a dict of ints is not)
    oldest = {id(o) for o in gc.get_objects(generation=2)}
    assert id(built) in oldest and id(built[-1]) in oldest
    assert not {id(o) for o in gc.get_objects(generation=0)} & {id(built), id(built[-1])}
    assert gc.get_freeze_count() == 0 and gc.isenabled()


def test_gc_paused_inside_gc_frozen_freezes_what_it_made_until_that_block_ends() -> None:
    """Inside a ``gc_frozen`` block, what a paused block made is frozen with the rest (no
    young collection walks it), and everything is unfrozen at the frozen block's end."""
    with gc_frozen(lambda: [[n] for n in range(100)]):
        frozen = gc.get_freeze_count()
        with gc_paused():
            made = [[n] for n in range(10)]
        assert gc.get_freeze_count() >= frozen + 11
        assert not {id(o) for o in gc.get_objects(generation=0)} & {id(made), id(made[0])}
        assert gc.isenabled()
    assert gc.get_freeze_count() == 0


def test_gc_paused_leaves_the_programs_own_freeze_alone() -> None:
    """Objects the program froze itself stay frozen; the block's own are left young."""
    kept = [[n] for n in range(10)]
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        with gc_paused():
            made = [[n] for n in range(10)]
        assert gc.get_freeze_count() == frozen
        assert id(made) in {id(o) for o in gc.get_objects(generation=0)}
    finally:
        gc.unfreeze()
    assert kept


def test_gc_paused_settles_only_in_the_main_thread() -> None:
    """From another thread (the emulator's scheduler in `dagbatch run`) nothing is moved or
    frozen: a freeze there could land after a gc_frozen block's unfreeze and stay."""
    import threading

    seen: list[tuple[int, bool]] = []

    def work() -> None:
        with gc_paused():
            made = [[n] for n in range(10)]
        seen.append((gc.get_freeze_count(), id(made) in {id(o) for o in gc.get_objects(0)}))

    with gc_frozen(lambda: [[n] for n in range(50)]):
        frozen = gc.get_freeze_count()
        thread = threading.Thread(target=work)
        thread.start()
        thread.join()
        assert seen == [(frozen, True)]  # nothing frozen from the thread; still young
    assert gc.get_freeze_count() == 0


def test_gc_paused_without_settle_leaves_the_generations_alone() -> None:
    with gc_paused(settle=False):
        made = [[n] for n in range(10)]
    assert id(made) in {id(o) for o in gc.get_objects(generation=0)}
    assert gc.get_freeze_count() == 0


def test_gc_paused_in_two_threads_resumes_the_collector_when_the_last_ends() -> None:
    """A plan read in a thread while the event loop lists the job's tasks: the thread's block
    ending first leaves the collector off for the main thread's, which turns it back on."""
    import threading

    inside = threading.Event()
    leave = threading.Event()
    seen: list[bool] = []

    def work() -> None:
        with gc_paused():
            inside.set()
            leave.wait(10)
        seen.append(gc.isenabled())

    assert gc.isenabled()
    thread = threading.Thread(target=work)
    thread.start()
    assert inside.wait(10)
    with gc_paused():
        leave.set()
        thread.join()
        assert seen == [False]  # the thread's block ended first: still off for this one
        assert not gc.isenabled()
    assert gc.isenabled()
    # The other order too: the main thread's block ends first, the thread's last.
    inside.clear()
    leave.clear()
    seen.clear()
    with gc_paused():
        thread = threading.Thread(target=work)
        thread.start()
        assert inside.wait(10)
    assert not gc.isenabled()  # the thread's block is still open
    leave.set()
    thread.join()
    assert seen == [True]
    assert gc.isenabled()
