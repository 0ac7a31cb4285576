"""A service clock that moves only when a conductor moves it: reproducible simulations.

On a scaled clock (``shared/clock.py``) simulated time runs on while a process works, so
what a process decides depends on how fast it happened to be: an order applied a moment
late misses a plan. Here the conductor (``services/simulation/lockstep.py``) owns time.
It writes the simulated instant into a small file every process maps (``ClockFile``), and
moves it on only when the whole system is at rest. Every process in turn writes a report
(``<dir>/<process>.json``): the instant it has seen, whether it is at rest
(``shared/quiescence.py``), and the earliest instant one of its timers waits for, which
is where the conductor moves the clock next.

Timers that fall due at the same instant in several processes must not race (the fleet
hands a stop over while routing plans the depot), so an instant has *phases*: the
conductor opens them one process at a time, in the order of ``PHASES``, waiting for rest
in between, and a process wakes its due timers only while its own phase is open. A timer
that falls due at the instant during another process's phase (a vehicle that leaves at
once on a plan dispatched in routing's phase) waits for its own phase: the conductor
opens phases again until no timer is due at the instant, and only then the last phase,
in which the processes outside ``PHASES`` wake theirs.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import mmap
import os
import struct
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from shared import quiescence

#: The order in which processes' timers fire at one instant: vehicles move first, then
#: routing plans with what they did, then inventory's sweep; orders has no timer.
PHASES = ("fleet", "routing", "inventory", "orders")
_LAYOUT = struct.Struct("<dq")  # simulated Unix seconds, open phase
#: How often (wall seconds) a process looks at the clock file and reports.
POLL_S = 0.003


class ClockFile:
    """The shared instant: written by the conductor, read by everyone."""

    def __init__(self, path: Path, *, create_at: datetime | None = None) -> None:
        self.path = path
        if create_at is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(_LAYOUT.pack(create_at.timestamp(), 0))
        with open(path, "r+b") as file:
            self._map = mmap.mmap(file.fileno(), _LAYOUT.size)

    def read(self) -> tuple[float, int]:
        seconds, phase = _LAYOUT.unpack_from(self._map, 0)
        return seconds, phase

    def write(self, instant: datetime, phase: int) -> None:
        self._map[:_LAYOUT.size] = _LAYOUT.pack(instant.timestamp(), phase)

    def close(self) -> None:
        self._map.close()


@dataclass
class _Waiter:
    until: float  # simulated Unix seconds; inf: only an event wakes it
    woken: asyncio.Future[None]


@dataclass
class SteppedClock:
    """``now()`` is the conductor's instant; sleeps wake when it reaches them."""

    file: ClockFile
    process: str = "conductor"
    speed: float = 1e9  # wall time means nothing here: waits are on the clock itself
    _waiters: dict[asyncio.Task[object], _Waiter] = field(default_factory=dict)
    #: Tasks that have waited on the clock: awake between two waits, they are at work.
    _clocked: set[asyncio.Task[object]] = field(default_factory=set)

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.file.read()[0], UTC)

    @property
    def rank(self) -> int:
        return PHASES.index(self.process) if self.process in PHASES else len(PHASES)

    async def sleep(self, simulated_s: float) -> None:
        await self.wait(None, self.now() + timedelta(seconds=max(0.0, simulated_s)))

    async def wait(self, event: asyncio.Event | None, until: datetime | None, longest_wall_s: float = math.inf) -> None:
        """Until the clock reaches ``until`` (None: never) in this process's phase, or ``event`` is
        set. No wall limit: the conductor moves the clock, and this clock wakes its waiters."""
        task = asyncio.current_task()
        assert task is not None
        self._clocked.add(task)
        waiter = _Waiter(math.inf if until is None else until.timestamp(), asyncio.get_running_loop().create_future())
        self._waiters[task] = waiter
        waits: list[asyncio.Future[object]] = [waiter.woken]  # type: ignore[list-item]
        if event is not None:
            waits.append(asyncio.ensure_future(event.wait()))
        try:
            self._wake_due()
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            del self._waiters[task]
            for future in waits[1:]:
                future.cancel()

    def _wake_due(self) -> None:
        seconds, phase = self.file.read()
        if phase != self.rank:
            return
        for waiter in self._waiters.values():
            if waiter.until <= seconds and not waiter.woken.done():
                waiter.woken.set_result(None)

    def at_rest(self) -> bool:
        """No clocked task awake, none due, and the process's own parts idle."""
        self._clocked = {task for task in self._clocked if not task.done()}
        if any(task not in self._waiters for task in self._clocked):
            return False
        seconds, phase = self.file.read()
        if phase == self.rank and any(w.until <= seconds for w in self._waiters.values()):
            return False
        return quiescence.at_rest()

    def next_due(self) -> float | None:
        pending = [w.until for w in self._waiters.values() if not math.isinf(w.until)]
        return min(pending, default=None)

    async def report_forever(self, directory: Path) -> None:
        """Wake due timers and tell the conductor where this process stands, until cancelled."""
        path = directory / f"{self.process}.json"
        last = ""
        while True:
            self._wake_due()
            seconds, phase = self.file.read()
            state = json.dumps({
                "process": self.process, "pid": os.getpid(), "seen": seconds, "phase": phase,
                "at_rest": self.at_rest(), "next_due": self.next_due(), **quiescence.report(),
            })
            if state != last:
                temporary = path.with_suffix(".tmp")
                temporary.write_text(state)
                os.replace(temporary, path)
                last = state
            await asyncio.sleep(POLL_S)


@contextlib.asynccontextmanager
async def reporting(clock: object) -> AsyncIterator[None]:
    """While inside, a stepped clock reports for this process (any other clock: nothing)."""
    if not isinstance(clock, SteppedClock):
        yield
        return
    task = asyncio.create_task(clock.report_forever(clock.file.path.parent))
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
