"""The event backbone over a real Tansu broker and a real database."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from sqlalchemy import Column, Integer, MetaData, String, Table, func, insert, select

from shared.db import create_schema, make_engine, session_factory
from shared.events import topics
from shared.events.codec import wrap
from shared.events.envelope import CloudEvent
from shared.events.payloads import OrderCancelled
from shared.messaging.broker import EmbeddedBroker, free_port
from shared.messaging.consumer import BatchHandler, ConsumerRunner
from shared.messaging.kafka import ensure_topics, read_from_start
from shared.messaging.relay import OutboxRelay
from shared.messaging.tables import add_messaging_tables
from shared.messaging.unit_of_work import SqlUnitOfWork
from shared.settings import Settings
from tests.support import eventually, key_on_partition_of, make_settings, produce_sentinel

metadata = MetaData()
notes = Table(
    "notes", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("order_id", String(64), nullable=False),
)
tables = add_messaging_tables(metadata)


class Toy:
    """A minimal service: one table, the outbox, the inbox."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.engine = make_engine(settings.database_url("orders"))
        create_schema(self.engine, metadata)
        self.sessions = session_factory(self.engine)
        self.relay = OutboxRelay(self.engine, settings, name="toy")

    def uow(self) -> SqlUnitOfWork:
        return SqlUnitOfWork(
            self.sessions, source="lifeline/toy", topic_name=self.settings.topic,
            on_commit=self.relay.notify,
        )

    def cancel(self, order_id: str) -> None:
        with self.uow() as uow:
            uow.session.execute(insert(notes).values(order_id=order_id))
            uow.publish(OrderCancelled(order_id=order_id))
            uow.commit()

    def note_count(self, order_id: str | None = None) -> int:
        query = select(func.count()).select_from(notes)
        if order_id is not None:
            query = query.where(notes.c.order_id == order_id)
        with self.engine.connect() as connection:
            return int(connection.execute(query).scalar_one())

    def consumer(self, batch_handlers: Mapping[str, BatchHandler] | None = None) -> ConsumerRunner:
        def record(uow: SqlUnitOfWork, payload: OrderCancelled, _event: CloudEvent) -> None:
            uow.session.execute(insert(notes).values(order_id=payload.order_id))

        return ConsumerRunner(
            name="orders", settings=self.settings, topics=[topics.ORDERS.name],
            handlers={OrderCancelled.TYPE: record}, uow_factory=self.uow,
            batch_handlers=batch_handlers,
        )

    def outbox_correlations(self) -> dict[str, str | None]:
        with self.engine.connect() as connection:
            return {
                row.key: CloudEvent.from_bytes(row.payload).correlationid
                for row in connection.execute(select(tables.outbox.c.key, tables.outbox.c.payload))
            }


async def read_topic(settings: Settings, topic: str, expected: int, timeout_s: float = 20) -> list:
    consumer = AIOKafkaConsumer(
        settings.topic(topic), bootstrap_servers=settings.broker_url,
        auto_offset_reset="earliest", enable_auto_commit=False, group_id=None,
    )
    await consumer.start()
    records: list = []
    try:
        deadline = asyncio.get_running_loop().time() + timeout_s
        while len(records) < expected and asyncio.get_running_loop().time() < deadline:
            batch = await consumer.getmany(timeout_ms=300)
            for partition_records in batch.values():
                records.extend(partition_records)
    finally:
        await consumer.stop()
    return records


def test_every_payload_round_trips_through_the_envelope() -> None:
    payload = OrderCancelled(order_id="O-1", reason="changed my mind")
    event = wrap(payload, source="lifeline/orders", correlation_id="c-1")
    decoded = CloudEvent.from_bytes(event.to_bytes())
    assert decoded == event
    assert decoded.specversion == "1.0" and decoded.dataversion == "1"
    assert OrderCancelled.model_validate(decoded.data) == payload
    raw = json.loads(event.to_bytes())
    assert {"specversion", "id", "source", "type", "time", "data", "correlationid"} <= raw.keys()


async def test_outbox_keeps_events_while_the_broker_is_down_and_delivers_them_in_order(
    tmp_path: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="shared.messaging.relay")
    port = free_port()
    own_broker = EmbeddedBroker(port=port)
    settings, _ = make_settings(own_broker.url, tmp_path, orders_database_url=f"sqlite:///{tmp_path}/toy.db")
    toy = Toy(settings)
    relay_task = asyncio.create_task(toy.relay.run())
    try:
        for i in range(50):
            toy.cancel("O-SAME")  # one key: order must be kept
            toy.cancel(f"O-{i}")
        # No broker, so no sentinel: wait instead until the relay has been round its loop
        # and failed to reach the broker twice (it logs each retry), rows waiting.
        def retries() -> int:
            return sum(
                1 for r in caplog.records
                if r.name == "shared.messaging.relay" and "toy outbox relay" in r.getMessage()
            )

        await eventually(lambda: retries() >= 2, message="relay retried twice without a broker")
        assert not toy.relay.connected
        assert toy.relay.published == 0, "nothing can be acknowledged without a broker"
        own_broker.start()
        await ensure_topics(settings)
        await eventually(lambda: toy.relay.published == 100, timeout_s=30, message="outbox drained")
        records = await read_topic(settings, topics.ORDERS.name, 100)
        assert len(records) == 100
        same_key = [CloudEvent.from_bytes(r.value).id for r in records if r.key == b"O-SAME"]
        with toy.engine.connect() as connection:
            outbox_order = [
                row.event_id for row in connection.execute(
                    select(tables.outbox.c.event_id).where(tables.outbox.c.key == "O-SAME")
                    .order_by(tables.outbox.c.id)
                )
            ]
        assert same_key == outbox_order
    finally:
        toy.relay.stop()
        relay_task.cancel()
        await asyncio.gather(relay_task, return_exceptions=True)
        own_broker.stop()


async def test_the_same_event_delivered_twice_has_one_effect(settings: Settings, tmp_path: Path) -> None:
    await ensure_topics(settings)
    toy = Toy(settings.model_copy(update={"orders_database_url": f"sqlite:///{tmp_path}/consumer.db"}))
    event = wrap(OrderCancelled(order_id="O-42"), source="test")
    producer = AIOKafkaProducer(bootstrap_servers=settings.broker_url)
    await producer.start()
    for _ in range(3):
        await producer.send_and_wait(settings.topic(topics.ORDERS.name), event.to_bytes(), key=b"O-42")
    await producer.stop()
    # A sentinel: another order's cancellation, on O-42's partition after the duplicates.
    sentinel_id = key_on_partition_of("O-42", topics.ORDERS.partitions, prefix="O-SENTINEL-")
    sentinel = wrap(OrderCancelled(order_id=sentinel_id), source="test")
    await produce_sentinel(
        settings, topics.ORDERS.name, sentinel_id.encode(), sentinel.to_bytes(), after_key=b"O-42"
    )
    runner = toy.consumer()
    task = asyncio.create_task(runner.run())
    try:
        await eventually(lambda: runner.running, message="consumer running")
        await eventually(lambda: toy.note_count(sentinel_id) == 1, message="sentinel applied")
        assert toy.note_count("O-42") == 1
        assert toy.note_count() == 2
    finally:
        runner.stop()
        await asyncio.wait_for(task, 15)


async def test_poison_messages_go_to_the_dlq_while_good_ones_keep_flowing(
    settings: Settings, tmp_path: Path
) -> None:
    await ensure_topics(settings)
    toy = Toy(settings.model_copy(update={"orders_database_url": f"sqlite:///{tmp_path}/consumer.db"}))
    topic = settings.topic(topics.ORDERS.name)
    poison = [
        b"{not json",
        b'"a string"',
        json.dumps({"specversion": "1.0", "id": "x1", "source": "s", "type": "lifeline.order.cancelled",
                    "data": {"reason": "no order id"}}).encode(),
        json.dumps({"specversion": "1.0", "id": "x2", "source": "s", "type": "lifeline.nope",
                    "data": {}}).encode(),
    ]
    producer = AIOKafkaProducer(bootstrap_servers=settings.broker_url)
    await producer.start()
    for i in range(20):
        if i % 5 == 0:
            await producer.send_and_wait(topic, poison[i // 5], key=b"O-P")
        good = wrap(OrderCancelled(order_id=f"O-{i}"), source="test")
        await producer.send_and_wait(topic, good.to_bytes(), key=b"O-P")
    await producer.stop()
    runner = toy.consumer()
    task = asyncio.create_task(runner.run())
    try:
        await eventually(lambda: toy.note_count() == 20, message="all good events applied")
        dead = await read_topic(settings, f"{topics.ORDERS.name}.dlq", 4)
        assert sorted(r.value for r in dead) == sorted(poison)
        reasons = [dict(r.headers)["dlq.reason"].decode() for r in dead]
        assert any("malformed JSON" in reason for reason in reasons)
        assert any("order_id" in reason for reason in reasons)
        assert any("unknown event type" in reason for reason in reasons)
    finally:
        runner.stop()
        await asyncio.wait_for(task, 15)


async def test_a_batch_handler_applies_a_run_of_events_together_and_falls_back_one_by_one(
    settings: Settings, tmp_path: Path
) -> None:
    """Records fetched from the broker, handed to the runner's batch step as one poll: the
    run of same-type events goes to the batch handler once (the duplicate skipped), what it
    publishes per key carries that key's correlation id, and when it fails the same events
    are applied by the per-event handler instead, each exactly once."""
    await ensure_topics(settings)
    toy = Toy(settings.model_copy(update={"orders_database_url": f"sqlite:///{tmp_path}/consumer.db"}))
    topic = settings.topic(topics.ORDERS.name)
    events = [wrap(OrderCancelled(order_id=f"O-{i}"), source="test", correlation_id=f"trace-{i}")
              for i in range(6)]
    producer = AIOKafkaProducer(bootstrap_servers=settings.broker_url)
    await producer.start()
    for event in [*events, events[2]]:  # the last one delivered twice
        await producer.send_and_wait(topic, event.to_bytes(), key=event.data["order_id"].encode())
    await producer.stop()
    records = await read_topic(settings, topics.ORDERS.name, 7)
    assert len(records) == 7

    runs: list[list[str]] = []

    def together(uow: SqlUnitOfWork, batch: list[tuple[OrderCancelled, CloudEvent]]) -> None:
        runs.append([payload.order_id for payload, _ in batch])
        if len(runs) == 1:
            raise RuntimeError("the first attempt fails")
        uow.session.execute(insert(notes), [{"order_id": payload.order_id} for payload, _ in batch])
        uow.publish_all([OrderCancelled(order_id=payload.order_id, reason="echo") for payload, _ in batch])

    runner = toy.consumer({OrderCancelled.TYPE: together})
    assert runner.process_batch(topic, records).dead_letters == []
    assert len(runs) == 1 and sorted(runs[0]) == [f"O-{i}" for i in range(6)]
    assert toy.note_count() == 6, "the failed run fell back to the per-event handler, once each"
    assert toy.outbox_correlations() == {}

    toy2 = Toy(settings.model_copy(update={"orders_database_url": f"sqlite:///{tmp_path}/second.db"}))
    runner2 = toy2.consumer({OrderCancelled.TYPE: together})
    assert runner2.process_batch(topic, records).dead_letters == []
    assert len(runs) == 2 and sorted(runs[1]) == [f"O-{i}" for i in range(6)]
    assert toy2.note_count() == 6
    assert toy2.outbox_correlations() == {f"O-{i}": f"trace-{i}" for i in range(6)}
    runner2.process_batch(topic, records)  # delivered again: the inbox skips all of it
    assert toy2.note_count() == 6 and len(runs) == 2


async def test_reading_a_topic_from_the_start_returns_every_record_up_to_its_end(settings: Settings) -> None:
    await ensure_topics(settings)
    topic = settings.topic(topics.ORDERS.name)
    producer = AIOKafkaProducer(bootstrap_servers=settings.broker_url)
    await producer.start()
    for i in range(7):  # keys spread them over the topic's partitions
        await producer.send_and_wait(topic, f"record-{i}".encode(), key=f"O-{i}".encode())
    await producer.stop()
    values = await read_from_start(settings, topic)
    assert sorted(value or b"" for value in values) == sorted(f"record-{i}".encode() for i in range(7))
    assert await read_from_start(settings, settings.topic("nothing.here")) == []
