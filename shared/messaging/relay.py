"""The outbox relay: publishes committed outbox rows, in order, and marks them sent
only after the broker acknowledged them. HTTP handlers never wait on the broker."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaProducer
from sqlalchemy import Engine

from shared import clock, quiescence
from shared.events.envelope import CONTENT_TYPE
from shared.messaging.consumer import cancelled_from_outside
from shared.messaging.kafka import make_producer
from shared.messaging.store import MessagingStatements
from shared.messaging.unit_of_work import sqlite_writer_lock
from shared.observability import EVENTS_PUBLISHED, OUTBOX_PENDING
from shared.pipelined import AsyncPostgres
from shared.settings import Settings

log = logging.getLogger(__name__)

SEND_TIMEOUT_S = 15.0
_HEADERS = [("content-type", CONTENT_TYPE.encode())]


@dataclass(frozen=True)
class _Row:
    id: int
    topic: str
    key: str
    payload: bytes


class OutboxRelay:
    def __init__(
        self,
        engine: Engine,
        settings: Settings,
        *,
        name: str,
        before_start: Callable[[], Awaitable[object]] | None = None,
    ) -> None:
        self._before_start = before_start
        self._engine = engine
        self._writer_lock = sqlite_writer_lock(engine)
        # On PostgreSQL the relay reads and marks rows on an async connection of its own:
        # no worker-thread hop, which had to win the GIL back from the busy event loop
        # (see shared/pipelined.py).
        self._postgres = (
            None if engine.dialect.name == "sqlite"
            else AsyncPostgres(
                engine.url.render_as_string(hide_password=False), application_name=f"lifeline-{name}-relay"
            )
        )
        self._statements = MessagingStatements(sqlite=self._postgres is None)
        self._settings = settings
        self._name = name
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping = False
        self.connected = False
        self.published = 0
        self._caught_up = False
        quiescence.watch(self.idle)

    def idle(self) -> bool:
        """Nothing committed is left unsent (a conductor of simulated time asks)."""
        return self._caught_up and not self._wake.is_set()

    def notify(self) -> None:
        """Wake the relay after a commit; callable from any thread."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._wake.set)

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        quiescence.unwatch(self.idle)

    async def run(self) -> None:
        self._loop = asyncio.get_running_loop()
        producer: AIOKafkaProducer | None = None
        backoff = 0.2
        try:
            while not self._stopping:
                try:
                    if producer is None:
                        if self._before_start is not None:
                            await asyncio.wait_for(self._before_start(), 20)
                        producer = make_producer(self._settings)
                        await asyncio.wait_for(producer.start(), 30)
                        self.connected = True
                    self._wake.clear()  # a commit from now on wakes the next round
                    self._caught_up = False
                    rows = await self._fetch()
                    if rows:
                        sent, error = await self._send(producer, rows)
                        if sent:
                            await self._mark(sent)
                        if error is not None:
                            raise error
                        backoff = 0.2
                    if len(rows) < self._settings.outbox_batch_size:
                        # All that was unsent is sent; a commit since sets the wake-up.
                        self._caught_up = True
                        await self._idle()
                except (Exception, asyncio.CancelledError) as exc:
                    if isinstance(exc, asyncio.CancelledError) and cancelled_from_outside():
                        raise
                    # The broker is down or refused (aiokafka may even leak an internal
                    # cancellation): keep the rows, back off, reconnect.
                    log.warning("%s outbox relay: %r; retrying in %.1fs", self._name, exc, backoff)
                    self.connected = False
                    if producer is not None:
                        await _stop_quietly(producer)
                        producer = None
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, 5.0)
        finally:
            self.connected = False
            if producer is not None:
                await _stop_quietly(producer)
            if self._postgres is not None:
                await self._postgres.close()

    async def _idle(self) -> None:
        """Until a commit (or the poll interval), then a little longer for company."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), self._settings.outbox_poll_interval_s)
            if self._settings.outbox_linger_s:
                await asyncio.sleep(self._settings.outbox_linger_s)

    async def _send(
        self, producer: AIOKafkaProducer, rows: list[_Row]
    ) -> tuple[list[int], Exception | None]:
        futures = [
            await producer.send(row.topic, row.payload, key=row.key.encode(), headers=_HEADERS)
            for row in rows
        ]
        try:
            results = await asyncio.wait_for(asyncio.gather(*futures, return_exceptions=True), SEND_TIMEOUT_S)
        except TimeoutError:
            # aiokafka retries some errors forever (a partition that vanished with a restarted
            # broker); a fresh producer with fresh metadata gets past them.
            for future in futures:
                future.cancel()
            return [], TimeoutError(f"no acknowledgement within {SEND_TIMEOUT_S:g}s")
        sent: list[int] = []
        for row, result in zip(rows, results, strict=True):
            if isinstance(result, Exception):
                # Only the acknowledged prefix is marked sent, so a retry keeps per-key order.
                return sent, result
            sent.append(row.id)
            EVENTS_PUBLISHED.labels(row.topic).inc()
        return sent, None

    async def _fetch(self) -> list[_Row]:
        limit = self._settings.outbox_batch_size
        unsent, count = self._statements.unsent(limit), self._statements.unsent_count()
        if self._postgres is None:
            rows, pending = await asyncio.to_thread(self._read_unsent, unsent, count, limit)
        else:
            async with self._postgres.transaction() as transaction:
                (rows,) = await transaction.all_at_once([unsent])
                pending = len(rows)
                if pending >= limit:
                    (counted,) = await transaction.all_at_once([count])
                    pending = int(counted[0][0])
        OUTBOX_PENDING.set(pending)
        return [_Row(r[0], r[1], r[2], bytes(r[3])) for r in rows]

    def _read_unsent(
        self, unsent: tuple[str, list[Any]], count: tuple[str, list[Any]], limit: int
    ) -> tuple[Sequence[Any], int]:
        with self._engine.connect() as connection:
            rows = connection.exec_driver_sql(unsent[0], tuple(unsent[1])).all()
            pending = len(rows)
            if pending >= limit:
                pending = int(connection.exec_driver_sql(count[0]).scalar_one())
        return rows, pending

    async def _mark(self, ids: list[int]) -> None:
        # sent_at on the service clock, as created_at in the same row: it only marks a row
        # sent, and sent_at - created_at stays the relay's lag in one clock (service seconds).
        statement, params = self._statements.mark_sent(ids, clock.now())
        if self._postgres is None:
            await asyncio.to_thread(self._mark_sqlite, statement, params)
        else:
            async with self._postgres.transaction() as transaction:
                await transaction.run_all([(statement, [params])])
        self.published += len(ids)

    def _mark_sqlite(self, statement: str, params: list[Any]) -> None:
        # Queue with this process's other writers on its lock: waiting on the database's own
        # lock means polling with sleeps, and the writer it held up (an order batch) waited
        # up to 100 ms more.
        with self._writer_lock or contextlib.nullcontext(), self._engine.begin() as connection:
            connection.exec_driver_sql(statement, tuple(params))


async def _stop_quietly(producer: Any) -> None:
    try:
        await asyncio.wait_for(producer.stop(), 5)
    except (Exception, asyncio.CancelledError) as exc:
        if isinstance(exc, asyncio.CancelledError) and cancelled_from_outside():
            raise
        log.debug("producer stop failed", exc_info=True)

