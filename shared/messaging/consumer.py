"""The consumer runner: at-least-once delivery made exactly-once in effect.

Per partition batch: decode, handle every event in one DB transaction together with
its inbox records, commit, and only then commit the offsets. When an event of the batch
fails, the batch is rolled back and its events are applied one transaction each. An
event that cannot be decoded, or keeps failing after bounded retries, goes to
``<topic>.dlq`` with the reason in headers, and the consumer goes on.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError

from shared import quiescence
from shared.db import database_unavailable
from shared.events.codec import SchemaViolation, UnknownEventType, unwrap
from shared.events.envelope import CloudEvent, EnvelopeError
from shared.events.payloads import EventPayload
from shared.messaging.kafka import make_consumer, make_producer
from shared.messaging.unit_of_work import SqlUnitOfWork
from shared.observability import EVENTS_CONSUMED
from shared.settings import Settings

log = logging.getLogger(__name__)

TOPIC_CHECK_INTERVAL_S = 5.0
#: Records per partition batch (one transaction). On SQLite a batch holds the process's
#: writer lock, so its length is what an HTTP write may wait behind: bounded, not 500.
MAX_BATCH_RECORDS = 100

Handler = Callable[[SqlUnitOfWork, Any, CloudEvent], None]
#: Applies a run of consecutive events of one type together, in the batch's transaction,
#: with fewer statements than one by one (e.g. a poll's placed orders reserved together).
#: If it raises, the batch falls back to the per-event ``Handler``s, so both must agree.
BatchHandler = Callable[[SqlUnitOfWork, list[tuple[Any, CloudEvent]]], None]


class DatabaseUnavailable(Exception):
    """The database is away: the batch is neither dead-lettered nor committed. The consumer
    restarts from its committed offsets (with backoff) and the inbox skips what was kept."""


class PoisonEvent(Exception):
    """Raised by a handler for an event that no retry can make valid (unknown depot, ...)."""


@dataclass
class _Decoded:
    record: ConsumerRecord[bytes, bytes]
    event: CloudEvent
    payload: EventPayload


@dataclass
class BatchOutcome:
    dead_letters: list[tuple[ConsumerRecord[bytes, bytes], str, str]] = field(default_factory=list)


class ConsumerRunner:
    def __init__(
        self,
        *,
        name: str,
        settings: Settings,
        topics: list[str],
        handlers: Mapping[str, Handler],
        uow_factory: Callable[[], SqlUnitOfWork],
        max_attempts: int = 3,
        before_start: Callable[[], Awaitable[object]] | None = None,
        batch_handlers: Mapping[str, BatchHandler] | None = None,
    ) -> None:
        self._before_start = before_start
        self._batch_handlers = dict(batch_handlers or {})
        self._name = name
        self._settings = settings
        self._topics = [settings.topic(t) for t in topics]
        quiescence.consumes(self._topics)
        self._handlers = dict(handlers)
        self._uow_factory = uow_factory
        self._max_attempts = max_attempts
        self._stopping = False
        self.running = False
        self.processed = 0

    def stop(self) -> None:
        self._stopping = True

    async def run(self) -> None:
        backoff = 0.5
        while not self._stopping:
            consumer = make_consumer(
                self._settings, *self._topics, group_id=self._settings.group_id(self._name)  # type: ignore[arg-type]
            )
            producer = make_producer(self._settings)
            try:
                # Bounded: with the broker away, aiokafka's start-up can wait indefinitely.
                if self._before_start is not None:
                    # e.g. recreate topics: a memory-only broker forgets them on restart
                    await asyncio.wait_for(self._before_start(), 20)
                await asyncio.wait_for(consumer.start(), 30)
                await asyncio.wait_for(producer.start(), 30)
                self.running = True
                backoff = 0.5
                await self._poll(consumer, producer)
            except (Exception, asyncio.CancelledError) as exc:
                # aiokafka can leak an internal cancellation when the broker vanishes; only a
                # cancellation of this task itself means stop.
                if isinstance(exc, asyncio.CancelledError) and cancelled_from_outside():
                    raise
                # Whatever happened, resume from the last committed offsets: the inbox
                # absorbs what is delivered again.
                log.warning("%s consumer: %r; restarting in %.1fs", self._name, exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
            finally:
                self.running = False
                await _quietly(consumer.stop())
                await _quietly(producer.stop())

    async def _poll(self, consumer: AIOKafkaConsumer, producer: AIOKafkaProducer) -> None:
        layout = await self._topic_layout(consumer)
        next_check = time.monotonic() + TOPIC_CHECK_INTERVAL_S
        while not self._stopping:
            if time.monotonic() >= next_check:
                await self._check_topics(consumer, layout)
                next_check = time.monotonic() + TOPIC_CHECK_INTERVAL_S
            batches = await consumer.getmany(timeout_ms=200, max_records=MAX_BATCH_RECORDS)
            if not batches:
                continue
            with quiescence.holding():
                await self._apply_fetched(consumer, producer, batches)

    async def _apply_fetched(self, consumer: AIOKafkaConsumer, producer: AIOKafkaProducer,
                     batches: dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]]) -> None:
        # One thread hop, one transaction per topic and one offset commit for all the
        # partitions fetched together (per-partition order is kept: each partition's
        # records stay in order within its topic's batch). Per partition, these fixed
        # costs were paid for two or three records each under load.
        by_topic: dict[str, list[ConsumerRecord[bytes, bytes]]] = {}
        for partition, records in batches.items():
            by_topic.setdefault(partition.topic, []).extend(records)
        outcomes = await asyncio.to_thread(self._process_topics, by_topic)
        for outcome in outcomes:
            for record, reason, error_class in outcome.dead_letters:
                await self._dead_letter(producer, record, reason, error_class)
        offsets = {partition: records[-1].offset + 1 for partition, records in batches.items()}
        await self._commit(consumer, offsets)
        for partition, offset in offsets.items():
            quiescence.consumed(partition.topic, partition.partition, offset)

    def _process_topics(self, by_topic: Mapping[str, list[ConsumerRecord[bytes, bytes]]]) -> list[BatchOutcome]:
        return [self.process_batch(topic, records) for topic, records in by_topic.items()]

    async def _topic_layout(self, consumer: AIOKafkaConsumer) -> dict[str, int]:
        available = await consumer.topics()  # refreshes metadata
        return {
            topic: len(consumer.partitions_for_topic(topic) or ()) if topic in available else 0
            for topic in self._topics
        }

    async def _check_topics(self, consumer: AIOKafkaConsumer, layout: dict[str, int]) -> None:
        # A broker that lost its state (the memory-only embedded one, restarted) comes back
        # with topics missing or auto-created with other partitions, and aiokafka carries on
        # quietly at stale positions. Raising sends us through the restart path: topics are
        # recreated and a new member starts from the committed (or earliest) offsets.
        now = await self._topic_layout(consumer)
        if now != layout:
            raise RuntimeError(f"topic layout changed on the broker (restarted?): {layout} -> {now}")

    async def _commit(self, consumer: AIOKafkaConsumer, offsets: dict[TopicPartition, int]) -> None:
        try:
            await consumer.commit(offsets)
        except (CommitFailedError, IllegalStateError) as exc:
            # The partition moved to another member during a rebalance; it will see these
            # records again and its inbox will skip what we already applied.
            log.info("%s: offset commit skipped after rebalance: %s", self._name, exc)

    async def _dead_letter(
        self, producer: AIOKafkaProducer, record: ConsumerRecord[bytes, bytes], reason: str, error_class: str
    ) -> None:
        headers = [
            *(record.headers or ()),
            ("dlq.reason", reason.encode()[:4000]),
            ("dlq.error", error_class.encode()),
            ("dlq.source.topic", record.topic.encode()),
            ("dlq.source.partition", str(record.partition).encode()),
            ("dlq.source.offset", str(record.offset).encode()),
            ("dlq.consumer", self._name.encode()),
        ]
        await producer.send_and_wait(
            f"{record.topic}.dlq", record.value, key=record.key, headers=headers
        )
        log.warning("%s: %s@%s -> DLQ: %s", self._name, record.topic, record.offset, reason)

    # --- synchronous part, run in a worker thread ------------------------------------

    def process_batch(self, topic: str, records: list[ConsumerRecord[bytes, bytes]]) -> BatchOutcome:
        outcome = BatchOutcome()
        decoded: list[_Decoded] = []
        for record in records:
            try:
                event = CloudEvent.from_bytes(record.value)
                if event.type not in self._handlers:
                    unwrap(event)  # an unknown type is poison; a known one we don't need is not
                    EVENTS_CONSUMED.labels(topic, "ignored").inc()
                    continue
                decoded.append(_Decoded(record, event, unwrap(event)))
            except (EnvelopeError, SchemaViolation, UnknownEventType) as exc:
                outcome.dead_letters.append((record, str(exc), type(exc).__name__))
                EVENTS_CONSUMED.labels(topic, "dead_lettered").inc()
        if not decoded:
            return outcome
        try:
            applied = self._apply_batch(topic, decoded)
        except Exception as exc:
            if database_unavailable(exc):
                raise DatabaseUnavailable(str(exc)) from exc
            # Optimistic: the batch is one transaction without a savepoint per event (on
            # PostgreSQL two round trips each). When any event fails, nothing of the batch
            # was kept; every event is then applied alone, poison to the DLQ, the rest kept.
            level = logging.INFO if isinstance(exc, PoisonEvent) else logging.WARNING
            log.log(level, "%s: batch failed (%r); applying its events one by one", self._name, exc)
            for item in decoded:
                self._apply_alone(topic, item, outcome)
            return outcome
        self.processed += len(applied)
        EVENTS_CONSUMED.labels(topic, "applied").inc(len(applied))
        return outcome

    def _apply_batch(self, topic: str, decoded: list[_Decoded]) -> list[CloudEvent]:
        with self._uow_factory() as uow:
            seen = uow.processed_among({item.event.id for item in decoded})
            applied: list[CloudEvent] = []
            run: list[_Decoded] = []  # consecutive events of one type with a batch handler
            for item in decoded:
                if item.event.id in seen:
                    EVENTS_CONSUMED.labels(topic, "duplicate").inc()
                    continue
                seen.add(item.event.id)
                applied.append(item.event)
                if item.event.type in self._batch_handlers:
                    if run and run[0].event.type != item.event.type:
                        self._handle_run(uow, run)
                    run.append(item)
                    continue
                self._handle_run(uow, run)
                self._handle(uow, item)
            self._handle_run(uow, run)
            uow.mark_all_processed(applied, topic)
            uow.commit()
        return applied

    def _handle_run(self, uow: SqlUnitOfWork, run: list[_Decoded]) -> None:
        """Apply ``run`` (events of one type, in order) together, then empty it."""
        if not run:
            return
        # What the handler publishes for a key (say, an order id) continues the trace of
        # the consumed event with that key.
        uow.correlation_id = None
        uow.correlation_by_key = {
            item.record.key.decode(): item.event.correlationid or item.event.id
            for item in run
            if item.record.key is not None
        }
        try:
            self._batch_handlers[run[0].event.type](uow, [(item.payload, item.event) for item in run])
        finally:
            uow.correlation_by_key = {}
        run.clear()

    def _handle(self, uow: SqlUnitOfWork, item: _Decoded) -> None:
        uow.correlation_id = item.event.correlationid or item.event.id
        self._handlers[item.event.type](uow, item.payload, item.event)

    def _apply(self, uow: SqlUnitOfWork, topic: str, item: _Decoded) -> None:
        if not uow.apply_once(item.event, topic, lambda: self._handle(uow, item)):
            EVENTS_CONSUMED.labels(topic, "duplicate").inc()
            return
        self.processed += 1
        EVENTS_CONSUMED.labels(topic, "applied").inc()

    def _apply_alone(self, topic: str, item: _Decoded, outcome: BatchOutcome) -> None:
        error: Exception | None = None
        for attempt in range(1, self._max_attempts + 1):
            try:
                with self._uow_factory() as uow:
                    self._apply(uow, topic, item)
                    uow.commit()
                return
            except PoisonEvent as exc:
                error = exc
                break
            except Exception as exc:
                if database_unavailable(exc):
                    raise DatabaseUnavailable(str(exc)) from exc
                error = exc
                log.warning("%s: %s failed (attempt %d): %s", self._name, item.event.id, attempt, exc)
                time.sleep(0.05 * 2**attempt)
        assert error is not None
        outcome.dead_letters.append((item.record, str(error) or repr(error), type(error).__name__))
        EVENTS_CONSUMED.labels(topic, "dead_lettered").inc()


def cancelled_from_outside() -> bool:
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


async def _quietly(awaitable: Any) -> None:
    try:
        await asyncio.wait_for(awaitable, 10)
    except asyncio.CancelledError:
        if cancelled_from_outside():
            raise
        log.debug("stop cancelled internally", exc_info=True)
    except Exception:
        log.debug("stop failed", exc_info=True)
