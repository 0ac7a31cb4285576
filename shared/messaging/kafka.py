"""aiokafka clients built from settings, and idempotent topic creation."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from shared.events.topics import ALL_TOPICS, TopicSpec
from shared.settings import Settings

log = logging.getLogger(__name__)


def client_options(settings: Settings) -> dict[str, Any]:
    options: dict[str, Any] = {
        "bootstrap_servers": settings.broker_url,
        "security_protocol": settings.kafka_security_protocol,
    }
    if settings.kafka_sasl_mechanism:
        options["sasl_mechanism"] = settings.kafka_sasl_mechanism
        options["sasl_plain_username"] = settings.kafka_sasl_username
        if settings.kafka_sasl_password is not None:
            options["sasl_plain_password"] = settings.kafka_sasl_password.get_secret_value()
    if settings.kafka_security_protocol in ("SSL", "SASL_SSL"):
        from aiokafka.helpers import create_ssl_context

        options["ssl_context"] = create_ssl_context(cafile=settings.kafka_ssl_cafile)
    return options


def make_producer(settings: Settings, **overrides: Any) -> AIOKafkaProducer:
    acks: int | str = settings.kafka_acks if settings.kafka_acks == "all" else int(settings.kafka_acks)
    return AIOKafkaProducer(
        **client_options(settings),
        acks=acks,
        enable_idempotence=settings.kafka_idempotence,
        linger_ms=2,
        request_timeout_ms=10_000,
        **overrides,
    )


def make_consumer(settings: Settings, *topics: str, group_id: str, **overrides: Any) -> AIOKafkaConsumer:
    options: dict[str, Any] = {
        "group_id": group_id,
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        "max_poll_records": 500,
        "session_timeout_ms": 10_000,
        "heartbeat_interval_ms": 1_000,
        "metadata_max_age_ms": 5_000,
        # How long a fetch may wait for new records. The embedded broker answers an empty
        # fetch only when this runs out, even if records arrive meanwhile, so every hop of a
        # flow (orders -> inventory -> ...) waited up to aiokafka's 500 ms default.
        "fetch_max_wait_ms": 50,
    }
    options.update(overrides)
    return AIOKafkaConsumer(*topics, **client_options(settings), **options)


async def partitions_of(consumer: AIOKafkaConsumer, topic: str) -> list[TopicPartition]:
    """The topic's partitions, from its metadata, without joining a consumer group."""
    await consumer._client.add_topic(topic)  # aiokafka fetches metadata only for topics it knows
    return [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]


async def read_from_start(settings: Settings, topic: str) -> list[bytes | None]:
    """Every record's value on ``topic`` (its full name) from the beginning to its end offsets
    when called, without joining a group: what a checker or a report reads after the fact."""
    consumer = AIOKafkaConsumer(**client_options(settings), enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = await partitions_of(consumer, topic)
        if not partitions:
            return []
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        values: list[bytes | None] = []
        while any([await consumer.position(tp) < ends[tp] for tp in partitions]):
            for records in (await consumer.getmany(timeout_ms=500)).values():
                values.extend(record.value for record in records)
        return values
    finally:
        await consumer.stop()


def topic_specs(settings: Settings, *, with_dlq: bool = True) -> list[TopicSpec]:
    specs = []
    for spec in ALL_TOPICS:
        name = settings.topic(spec.name)
        specs.append(TopicSpec(name, spec.partitions, spec.compacted))
        if with_dlq:
            specs.append(TopicSpec(f"{name}.dlq", 1, False))
    return specs


async def ensure_topics(settings: Settings, *, replication_factor: int | None = None) -> list[str]:
    """Create every topic that is missing; safe to call from every service at start-up."""
    replication_factor = replication_factor or settings.kafka_replication_factor
    admin = AIOKafkaAdminClient(**client_options(settings), request_timeout_ms=10_000)
    await asyncio.wait_for(admin.start(), 15)
    try:
        existing = set(await admin.list_topics())
        wanted = [spec for spec in topic_specs(settings) if spec.name not in existing]
        if wanted:
            new_topics = [
                NewTopic(
                    name=spec.name,
                    num_partitions=spec.partitions,
                    replication_factor=replication_factor,
                    topic_configs={"cleanup.policy": "compact"} if spec.compacted else {},
                )
                for spec in wanted
            ]
            # Another service may win the race; that is the point of idempotent creation.
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(new_topics)
            log.info("created topics: %s", ", ".join(spec.name for spec in wanted))
        return [spec.name for spec in wanted]
    finally:
        await admin.close()


async def wait_for_broker(settings: Settings, timeout_s: float = 30.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        admin = AIOKafkaAdminClient(**client_options(settings), request_timeout_ms=2_000)
        try:
            await admin.start()
            await admin.list_topics()
            return
        except Exception:
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.3)
        finally:
            await admin.close()
