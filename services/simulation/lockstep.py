"""The conductor of a reproducible simulation: it owns simulated time.

On the scaled clock a simulation's figures depend on how fast each process happened to be
(an order applied a moment late misses a plan, a solve stopped by the wall clock finds
another plan). In lockstep the conductor moves time itself (``shared/stepped_clock.py``):
it sets an instant, lets every process finish what that instant asks of it (timers due,
records to consume, outboxes to send, requests under way), and only then moves on: to the
next instant some timer waits for, or the next scenario action, whichever is first. The
services, their databases and the broker are the real ones; only time is conducted.

Rest at an instant means: every process reports having seen it and being at rest, and each
topic partition a process reads is consumed up to its end offset, and a second look finds
nothing changed (the processes' work counters are the same).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from shared.messaging.kafka import partitions_of
from shared.stepped_clock import PHASES, ClockFile, SteppedClock

POLL_S = 0.002
#: Rounds of phases at one instant: timers set due at once by another phase's work get theirs.
ROUNDS_PER_INSTANT = 50
#: A process that has not come to rest within this long (wall) is stuck, not slow.
STUCK_AFTER_S = 600.0


class NotAtRest(RuntimeError):
    pass


def clock_file(directory: Path, start: datetime) -> Path:
    """Set up the stepped clock's file at ``start``, before any process reads it."""
    path = directory / "instant"
    ClockFile(path, create_at=start).close()
    return path


class Conductor:
    def __init__(self, path: Path, broker_url: str, processes: tuple[str, ...],
                 check_alive: Callable[[], None] = lambda: None) -> None:
        """``check_alive`` raises when a process has died: waiting for its rest would be in vain."""
        directory = path.parent
        self._check_alive = check_alive
        self.file = ClockFile(path)
        self.clock = SteppedClock(self.file)
        self._directory = directory
        self._processes = processes
        self._broker_url = broker_url
        self._probe: AIOKafkaConsumer | None = None
        self._partitions: dict[str, list[TopicPartition]] = {}
        self.steps = 0

    async def start(self) -> None:
        self._probe = AIOKafkaConsumer(bootstrap_servers=self._broker_url, enable_auto_commit=False)
        await self._probe.start()

    async def close(self) -> None:
        if self._probe is not None:
            await self._probe.stop()
        self.file.close()

    def now(self) -> datetime:
        return self.clock.now()

    async def timers_running(self, processes: tuple[str, ...]) -> None:
        """Until these processes' timers wait on the clock (their loops have started)."""
        started = time.monotonic()
        while any(self._reports()[name].get("next_due") is None for name in processes):
            if time.monotonic() - started > STUCK_AFTER_S:
                raise NotAtRest(f"no timer of {', '.join(processes)} waits on the clock")
            await asyncio.sleep(0.05)

    # --- moving time ------------------------------------------------------------------

    async def advance_to(self, until: datetime) -> None:
        """Fire every timer due up to ``until``, instant by instant, and stop there at rest."""
        reports = self._reports()
        while True:
            now = self.now()
            due = _next_due(reports)
            if due is not None and due <= until.timestamp():
                instant = datetime.fromtimestamp(max(due, now.timestamp() + 0.001), UTC)
                reports = await self._step(instant, reports)
                continue
            if until > now:
                await self._step(until, reports)
            return

    async def finish_instant(self) -> dict[str, dict[str, Any]]:
        """Rest at the current instant with every timer due at it fired in its phase: after
        an action (a fault may make a vehicle due at once), before the next one."""
        return await self._phases(self.now(), await self.settle())

    async def _step(self, instant: datetime, reports: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        """Move to ``instant``, given the reports at rest before it; returns those at rest after."""
        self.steps += 1
        return await self._phases(instant, reports)

    async def _phases(self, instant: datetime, reports: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        """Each process's phase at ``instant`` in turn, while any has a timer due at it; then the last phase."""
        for _ in range(ROUNDS_PER_INSTANT):
            ranks = sorted({PHASES.index(name) for name, due in _dues(reports).items()
                            if due is not None and due <= instant.timestamp()})
            if not ranks:
                break
            for rank in ranks:  # each process's timers in turn: no two race at one instant
                self.file.write(instant, rank)
                reports = await self.settle()
        else:
            raise NotAtRest(f"timers keep falling due at {instant.isoformat()}: {_dues(reports)}")
        self.file.write(instant, len(PHASES))
        return await self.settle()

    # --- rest -------------------------------------------------------------------------

    async def settle(self) -> dict[str, dict[str, Any]]:
        """Until every process is at rest at the current instant and phase; their reports then."""
        started = time.monotonic()
        while True:
            first = self._reports()
            if self._all_at_rest(first) and await self._all_consumed(first):
                second = self._reports()
                if self._all_at_rest(second) and _epochs(first) == _epochs(second):
                    return second
            self._check_alive()
            if time.monotonic() - started > STUCK_AFTER_S:
                raise NotAtRest(f"the system did not come to rest at {self.now().isoformat()}: "
                                f"{json.dumps(self._reports(), default=str)[:2000]}")
            await asyncio.sleep(POLL_S)

    def _reports(self) -> dict[str, dict[str, Any]]:
        reports = {}
        for name in self._processes:
            try:
                reports[name] = json.loads((self._directory / f"{name}.json").read_text())
            except (FileNotFoundError, ValueError):
                reports[name] = {}
        return reports

    def _all_at_rest(self, reports: dict[str, dict[str, Any]]) -> bool:
        seconds, phase = self.file.read()
        return all(
            r.get("at_rest") is True and r.get("seen") == seconds and r.get("phase") == phase
            for r in reports.values()
        )

    async def _all_consumed(self, reports: dict[str, dict[str, Any]]) -> bool:
        wanted = {topic for report in reports.values() for topic in report.get("topics", ())}
        partitions = [tp for topic in sorted(wanted) for tp in await self._partitions_of(topic)]
        if not partitions:
            return True
        assert self._probe is not None
        ends = await self._probe.end_offsets(partitions)
        for report in reports.values():
            consumed = report.get("consumed", {})
            for topic in report.get("topics", ()):
                for tp in self._partitions[topic]:
                    if consumed.get(f"{topic}/{tp.partition}", 0) < ends[tp]:
                        return False
        return True

    async def _partitions_of(self, topic: str) -> list[TopicPartition]:
        known = self._partitions.get(topic)
        if known is None:
            assert self._probe is not None
            known = self._partitions[topic] = await partitions_of(self._probe, topic)
        return known


def _dues(reports: dict[str, dict[str, Any]]) -> dict[str, float | None]:
    return {name: report.get("next_due") for name, report in reports.items()}


def _next_due(reports: dict[str, dict[str, Any]]) -> float | None:
    return min((due for due in _dues(reports).values() if due is not None), default=None)


def _epochs(reports: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return {name: report.get("epoch") for name, report in reports.items()}

