"""The service clock (shared/clock.py): a scaled clock's arithmetic, waits in service time,
the clock settings describe, and the orders service keeping its rules on that clock."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta

import pytest

from shared import clock
from shared.events import topics
from shared.settings import Settings
from tests.orders.conftest import Orders, read_topic, start_orders

START = datetime(2026, 11, 20, 6, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def wall_clock_afterwards() -> Iterator[None]:
    """Whatever a test installs, the tests after it run on the wall clock."""
    yield
    clock.use(clock.WallClock())


def test_a_scaled_clock_reads_start_at_the_anchor_and_runs_speed_times_the_wall() -> None:
    anchor = time.time() - 10.0
    scaled = clock.ScaledClock(start=START, anchor=anchor, speed=60.0)
    before = time.time()
    now = scaled.now()
    after = time.time()
    assert START + timedelta(seconds=(before - anchor) * 60) <= now <= START + timedelta(seconds=(after - anchor) * 60)
    assert now - START >= timedelta(minutes=10)  # ten wall seconds at 60x
    assert now.utcoffset() == timedelta(0)
    # An anchor in the future: the clock stands at its start until then (the system boots).
    assert clock.ScaledClock(start=START, anchor=time.time() + 100, speed=2).now() == START
    # Speed 1 is the wall clock shifted to start.
    shifted = clock.ScaledClock(start=START, anchor=time.time(), speed=1).now()
    assert timedelta(0) <= shifted - START < timedelta(seconds=5)


def test_a_scaled_clock_needs_a_zoned_start_and_a_positive_speed() -> None:
    with pytest.raises(ValueError, match="time zone"):
        clock.ScaledClock(start=datetime(2026, 11, 20, 6, 0), anchor=0.0)
    for speed in (0.0, -1.0):
        with pytest.raises(ValueError, match="positive"):
            clock.ScaledClock(start=START, anchor=0.0, speed=speed)


async def test_sleep_waits_simulated_seconds_divided_by_the_speed() -> None:
    clock.use(clock.ScaledClock(start=START, anchor=time.time(), speed=100.0))
    assert clock.wall_seconds(3.0) == pytest.approx(0.03)
    simulated_before, wall_before = clock.now(), time.perf_counter()
    await clock.sleep(3.0)  # three simulated seconds: 30 ms of wall time
    wall = time.perf_counter() - wall_before
    assert 0.025 <= wall < 0.5, wall
    assert clock.now() - simulated_before >= timedelta(seconds=2.5)
    started = time.perf_counter()
    await clock.sleep(-5.0)  # a deadline already past does not wait
    assert time.perf_counter() - started < 0.05
    clock.use(clock.WallClock())
    assert clock.wall_seconds(3.0) == 3.0


def test_configure_installs_the_clock_the_settings_describe(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIFELINE_CLOCK_START", "2026-11-20T14:00:00+08:00")
    monkeypatch.setenv("LIFELINE_CLOCK_ANCHOR", "1700000000.5")
    monkeypatch.setenv("LIFELINE_CLOCK_SPEED", "240")
    settings = Settings()
    installed = clock.configure(settings.clock_start, settings.clock_anchor, settings.clock_speed)
    assert clock.current() is installed
    assert isinstance(installed, clock.ScaledClock)
    assert installed.start == START and installed.anchor == 1700000000.5 and installed.speed == 240
    # Two processes given the same three numbers agree on the time.
    twin = clock.ScaledClock(start=START, anchor=1700000000.5, speed=240)
    assert abs(clock.now() - twin.now()) < timedelta(seconds=5)

    # A start without a zone is UTC; without an anchor the clock starts now.
    before = time.time()
    naive = clock.configure(datetime(2026, 11, 20, 6, 0), None, 10)
    assert isinstance(naive, clock.ScaledClock)
    assert naive.start == START and naive.start.tzinfo is not None
    assert before <= naive.anchor <= time.time()
    assert timedelta(0) <= clock.now() - START < timedelta(minutes=1)

    # No start: the wall clock.
    wall = clock.configure(None, None, 1.0)
    assert isinstance(wall, clock.WallClock)
    assert abs(clock.now() - datetime.now(UTC)) < timedelta(seconds=5)
    assert clock.now().tzinfo is not None


# --- the orders service on a fixed clock --------------------------------------------------

# Far from the wall clock, so nothing can pass by reading it instead.
ORDERED_AT = datetime(2031, 3, 1, 16, 30, tzinfo=UTC)


@pytest.fixture
async def fixed_orders(settings: Settings) -> AsyncIterator[tuple[Orders, clock.FixedClock]]:
    """The orders service (real broker and database) with a FixedClock installed once it
    is up; the wall clock is back after the test (``wall_clock_afterwards``)."""
    async with start_orders(settings) as service:
        fixed = clock.FixedClock(ORDERED_AT)
        clock.use(fixed)
        yield service, fixed


def at(value: str) -> datetime:
    return datetime.fromisoformat(value).astimezone(UTC)


async def test_orders_are_stamped_and_rationed_on_the_service_clock(
    fixed_orders: tuple[Orders, clock.FixedClock], settings: Settings
) -> None:
    orders, fixed = fixed_orders
    headers = orders.resident("H-A")
    first = await orders.order(headers, [("RICE-5KG", 2)])  # the whole weekly ration
    assert first.status_code == 201, first.text
    assert at(first.json()["created_at"]) == ORDERED_AT
    shown = await orders.client.get(f"/v1/orders/{first.json()['id']}", headers=orders.admin)
    assert at(shown.json()["created_at"]) == ORDERED_AT

    fixed.advance(timedelta(days=1))  # one simulated day later: still inside the 7 days
    refused = await orders.order(headers, [("RICE-5KG", 1)])
    assert refused.status_code == 422, refused.text
    assert refused.json()["detail"]["code"] == "ration_exceeded"
    assert refused.json()["detail"]["already_ordered"] == 2

    fixed.advance(timedelta(days=7))  # eight days after the first: a new ration window
    second = await orders.order(headers, [("RICE-5KG", 1)])
    assert second.status_code == 201, second.text
    assert at(second.json()["created_at"]) == ORDERED_AT + timedelta(days=8)

    # The events say so too: envelope time and placed_at.
    events = await read_topic(settings, topics.ORDERS.name, 2)
    placed = sorted((e for e in events if e.type == "lifeline.order.placed"), key=lambda e: e.time)
    assert [(e.subject, e.time, at(e.data["placed_at"])) for e in placed] == [
        (first.json()["id"], ORDERED_AT, ORDERED_AT),
        (second.json()["id"], ORDERED_AT + timedelta(days=8), ORDERED_AT + timedelta(days=8)),
    ]
