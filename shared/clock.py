"""The service clock: the one source of "now" for every time-dependent rule.

Production reads the wall clock. A simulation runs every process on one *scaled* clock:
simulated time ``start`` at the wall instant ``anchor`` (Unix seconds), advancing ``speed``
times as fast as the wall. Every process is given the same three numbers
(``LIFELINE_CLOCK_START``, ``LIFELINE_CLOCK_ANCHOR``, ``LIFELINE_CLOCK_SPEED``), so they
agree on the time without talking to each other, and compressed time changes no rule: a
deadline is six simulated hours whatever the speed.

Code asks ``clock.now()``; waits on the service clock use ``await clock.sleep(seconds)``
(simulated seconds) or ``await clock.wait(event, until)``. Tests may install a clock of
their own with ``use(...)``. A reproducible simulation gives every process a *stepped*
clock instead (``shared/stepped_clock.py``, ``LIFELINE_CLOCK_FILE``): time moves only when
its conductor moves it, with the whole system at rest.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol, overload

from shared.stepped_clock import ClockFile, SteppedClock


class Clock(Protocol):
    @property
    def speed(self) -> float: ...

    def now(self) -> datetime: ...

    async def sleep(self, simulated_s: float) -> None: ...

    async def wait(self, event: asyncio.Event, until: datetime | None, longest_wall_s: float) -> None: ...


class _Running:
    """Waits on a clock that runs by itself: the wall clock, at the clock's speed."""

    speed: float

    def now(self) -> datetime:
        raise NotImplementedError

    async def sleep(self, simulated_s: float) -> None:
        await asyncio.sleep(max(0.0, simulated_s / self.speed))

    async def wait(self, event: asyncio.Event, until: datetime | None, longest_wall_s: float) -> None:
        wall_s = longest_wall_s if until is None else (until - self.now()).total_seconds() / self.speed
        if wall_s <= 0:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), min(wall_s, longest_wall_s))


class WallClock(_Running):
    speed = 1.0

    def now(self) -> datetime:
        return datetime.now(UTC)

    def __repr__(self) -> str:
        return "WallClock()"


@dataclass(frozen=True)
class ScaledClock(_Running):
    """Simulated time: ``start`` at wall instant ``anchor``, ``speed`` x the wall clock.

    Before ``anchor`` the clock stands at ``start``: a simulation sets the anchor a little
    ahead so its processes can boot and load the city while no simulated time passes."""

    start: datetime
    anchor: float
    speed: float = 1.0

    def __post_init__(self) -> None:
        if self.start.tzinfo is None:
            raise ValueError("a scaled clock's start must carry a time zone")
        if not self.speed > 0:
            raise ValueError("a scaled clock's speed must be positive")

    def now(self) -> datetime:
        return self.start + timedelta(seconds=max(0.0, time.time() - self.anchor) * self.speed)


class FixedClock(_Running):
    """A clock that moves only when told (tests)."""

    speed = 1.0

    def __init__(self, at: datetime) -> None:
        self.at = at

    def now(self) -> datetime:
        return self.at

    def advance(self, delta: timedelta) -> None:
        self.at += delta


_clock: Clock = WallClock()


def use(clock: Clock) -> Clock:
    """Install ``clock`` for this process; returns the one it replaces."""
    global _clock
    previous, _clock = _clock, clock
    return previous


def current() -> Clock:
    return _clock


def now() -> datetime:
    """The service clock's time, timezone-aware UTC."""
    return _clock.now()


@overload
def as_utc(moment: datetime) -> datetime: ...
@overload
def as_utc(moment: None) -> None: ...
def as_utc(moment: datetime | None) -> datetime | None:
    """The same instant in UTC. A naive value is UTC by this codebase's convention (SQLite
    hands back every stored time naive)."""
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def wall_seconds(simulated_s: float) -> float:
    """How long ``simulated_s`` of service time lasts on the wall clock."""
    return simulated_s / _clock.speed


async def sleep(simulated_s: float) -> None:
    """Wait ``simulated_s`` seconds of service time."""
    await _clock.sleep(simulated_s)


async def wait(event: asyncio.Event, until: datetime | None, longest_wall_s: float) -> None:
    """Until ``event`` is set or the service clock reaches ``until`` (None: only the event).
    On a running clock the wait lasts at most ``longest_wall_s``, so that a caller looks
    again at a clock installed anew; a stepped clock wakes its waiters itself."""
    await _clock.wait(event, until, longest_wall_s)


def configure(start: datetime | None, anchor: float | None, speed: float, *,
              stepped: Path | None = None, process: str = "conductor") -> Clock:
    """Install the clock the settings describe: a stepped clock if its file is given, else
    the wall clock unless a simulated start is set."""
    if stepped is not None:
        use(SteppedClock(ClockFile(stepped), process))
    elif start is None:
        use(WallClock())
    else:
        aware = start if start.tzinfo else start.replace(tzinfo=UTC)
        use(ScaledClock(start=aware, anchor=time.time() if anchor is None else anchor, speed=speed))
    return _clock
