"""The stepped clock (shared/stepped_clock.py): time moves only when the conductor writes it,
a process's timers fire only in its phase of an instant, and a process says when it is at
rest (nothing awake, nothing due, nothing held)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from shared import clock, ids, quiescence
from shared.stepped_clock import PHASES, ClockFile, SteppedClock, reporting

START = datetime(2026, 11, 20, 6, 0, tzinfo=UTC)
ROUTING = PHASES.index("routing")


@pytest.fixture(autouse=True)
def fresh_process() -> Iterator[None]:
    """No part another test left behind (a relay, say) speaks for this process; the tests
    after it run on the wall clock."""
    quiescence.reset()
    yield
    quiescence.reset()
    clock.use(clock.WallClock())


@pytest.fixture
def conductor_file(tmp_path: Path) -> ClockFile:
    return ClockFile(tmp_path / "instant", create_at=START)


async def _settled() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


async def test_time_stands_until_the_conductor_moves_it_and_timers_fire_in_their_phase(
    conductor_file: ClockFile,
) -> None:
    process = SteppedClock(ClockFile(conductor_file.path), "routing")
    clock.use(process)
    fired: list[datetime] = []

    async def timer() -> None:
        await clock.sleep(120)
        fired.append(clock.now())

    task = asyncio.create_task(timer())
    await _settled()
    assert process.now() == START and process.next_due() == (START + timedelta(minutes=2)).timestamp()
    assert process.at_rest(), "a timer asleep and not yet due is at rest"

    # The instant comes, but only the fleet's phase is open: routing's timer waits.
    conductor_file.write(START + timedelta(minutes=2), PHASES.index("fleet"))
    process._wake_due()
    await _settled()
    assert not fired and process.at_rest()

    conductor_file.write(START + timedelta(minutes=2), ROUTING)
    assert not process.at_rest(), "a timer due in its phase is work to do"
    process._wake_due()
    await task
    assert fired == [START + timedelta(minutes=2)]
    assert process.at_rest()


async def test_a_timer_due_in_a_later_phase_waits_for_its_own_phase_again(conductor_file: ClockFile) -> None:
    """A vehicle that leaves at once on a plan routing dispatched in its phase leaves in the
    fleet's next phase of the instant, not amid routing's work."""
    process = SteppedClock(ClockFile(conductor_file.path), "fleet")
    clock.use(process)
    conductor_file.write(START, ROUTING)
    fired: list[datetime] = []

    async def leave_now() -> None:
        await clock.sleep(0)
        fired.append(clock.now())

    task = asyncio.create_task(leave_now())
    await _settled()
    assert not fired and process.at_rest(), "due, but not in its phase: nothing to do yet"
    assert process.next_due() == START.timestamp(), "the conductor sees it is due at this instant"

    conductor_file.write(START, len(PHASES))  # the last phase is for processes outside PHASES
    process._wake_due()
    await _settled()
    assert not fired

    conductor_file.write(START, PHASES.index("fleet"))
    process._wake_due()
    await task
    assert fired == [START]


async def test_a_clocked_task_awake_between_two_waits_is_at_work(conductor_file: ClockFile) -> None:
    process = SteppedClock(ClockFile(conductor_file.path), "inventory")
    clock.use(process)
    conductor_file.write(START, PHASES.index("inventory"))
    release = asyncio.Event()

    async def loop() -> None:
        await clock.sleep(0)  # due at once: the loop runs
        await release.wait()  # its work (a database call, say)
        await clock.sleep(900)

    task = asyncio.create_task(loop())
    await _settled()
    assert not process.at_rest()
    release.set()
    await _settled()
    assert process.at_rest()
    task.cancel()


async def test_an_event_or_the_instant_ends_a_wait(conductor_file: ClockFile) -> None:
    clock.use(SteppedClock(ClockFile(conductor_file.path), "fleet"))
    wake = asyncio.Event()
    waiting = asyncio.create_task(clock.wait(wake, None, 1.0))
    await _settled()
    assert not waiting.done()
    wake.set()
    await asyncio.wait_for(waiting, 1)


async def test_work_held_keeps_the_process_from_rest_and_the_report_says_so(conductor_file: ClockFile) -> None:
    process = SteppedClock(ClockFile(conductor_file.path), "orders")
    clock.use(process)
    async with reporting(process):
        with quiescence.holding():
            await asyncio.sleep(0.05)
            held = json.loads((conductor_file.path.parent / "orders.json").read_text())
        await asyncio.sleep(0.05)
        free = json.loads((conductor_file.path.parent / "orders.json").read_text())
    assert held["at_rest"] is False and held["seen"] == START.timestamp()
    assert free["at_rest"] is True and free["epoch"] > held["epoch"]


def test_a_hold_that_outlives_a_block_is_released_once() -> None:
    quiescence.reset()
    release = quiescence.hold()
    assert not quiescence.at_rest()
    release()
    release()  # a done callback that runs twice must not free someone else's hold
    other = quiescence.hold()
    assert not quiescence.at_rest() and quiescence.report()["held"] == 1
    other()
    assert quiescence.at_rest()


def test_seeded_ids_repeat_and_each_kind_draws_from_its_own_stream() -> None:
    try:
        ids.seed(7)
        first = [ids.random_hex("plan", 12) for _ in range(3)]
        ids.seed(7)
        ids.random_hex("order", 20)  # another kind drawn in between changes nothing
        again = [ids.random_hex("plan", 12) for _ in range(3)]
        assert first == again and len(set(first)) == 3 and all(len(i) == 12 for i in first)
    finally:
        ids.seed(None)
    assert ids.random_hex("plan", 12) != first[0]
