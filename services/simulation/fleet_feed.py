"""What the fleet simulator reads from Kafka: dispatched plans, and where the depots are.

Dispatches come from ``lifeline.routes.v1`` in the simulator's own consumer group. The
simulator keeps its itineraries in memory, so an offset is committed only past the
dispatches of plans no vehicle still drives: a restarted simulator reads the dispatches
of the plans under way again, fetches them afresh and carries on (stops it handed over
before are recorded again as duplicates, which routing answers with 200).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TypeVar

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from services.simulation.fleet_itinerary import Point
from shared import quiescence
from shared.events.codec import SchemaViolation, unwrap
from shared.events.envelope import CloudEvent, EnvelopeError
from shared.events.payloads import DepotDefined, EventPayload, PlanDispatched

log = logging.getLogger(__name__)

P = TypeVar("P", bound=EventPayload)
OnDispatched = Callable[[PlanDispatched, datetime], Awaitable[None]]


def _payload(record: ConsumerRecord[bytes, bytes], wanted: type[P]) -> tuple[P, CloudEvent] | None:
    """The record's payload when it is a ``wanted`` event; None for other types. Records
    that cannot be read are logged and passed over: not ours to dead-letter, the services
    that own the topic do that."""
    try:
        event = CloudEvent.from_bytes(record.value)
        if event.type != wanted.TYPE:
            return None
        payload = unwrap(event)
    except (EnvelopeError, SchemaViolation) as exc:
        log.warning("unreadable record at %s/%d@%d: %s", record.topic, record.partition, record.offset, exc)
        return None
    assert isinstance(payload, wanted)
    return payload, event


class CommitWatermark:
    """Per partition, the offset that is safe to commit: the earliest dispatch of a plan
    still driven, or past everything read when none is."""

    def __init__(self) -> None:
        self._held: dict[TopicPartition, list[tuple[int, str]]] = {}
        self._read_up_to: dict[TopicPartition, int] = {}
        self._committed: dict[TopicPartition, int] = {}

    def read(self, partition: TopicPartition, offset: int, plan_id: str | None = None) -> None:
        if plan_id is not None:
            self._held.setdefault(partition, []).append((offset, plan_id))
        self._read_up_to[partition] = offset + 1

    def to_commit(self, live_plan_ids: set[str]) -> dict[TopicPartition, int]:
        """The offsets that moved since the last call."""
        moved = {}
        for partition, read_up_to in self._read_up_to.items():
            held = [(o, p) for o, p in self._held.get(partition, []) if p in live_plan_ids]
            self._held[partition] = held
            offset = min((o for o, _p in held), default=read_up_to)
            if self._committed.get(partition) != offset:
                moved[partition] = offset
        return moved

    def committed(self, offsets: dict[TopicPartition, int]) -> None:
        self._committed.update(offsets)


class DispatchFeed:
    def __init__(self, consumer: AIOKafkaConsumer, on_dispatched: OnDispatched,
                 live_plan_ids: Callable[[], set[str]]) -> None:
        self._consumer = consumer
        self._on_dispatched = on_dispatched
        self._live_plan_ids = live_plan_ids
        self._watermark = CommitWatermark()

    async def run(self) -> None:
        """Until cancelled; the caller starts and stops the consumer."""
        while True:
            batch = await self._consumer.getmany(timeout_ms=1000)
            for partition, records in batch.items():
                for record in records:
                    await self._handle(partition, record)
            # Also after an empty poll: plans finish while nothing new arrives.
            await self._commit()

    async def _handle(self, partition: TopicPartition, record: ConsumerRecord[bytes, bytes]) -> None:
        found = _payload(record, PlanDispatched)
        if found is None:
            self._watermark.read(partition, record.offset)
            quiescence.consumed(partition.topic, partition.partition, record.offset + 1)
            return
        payload, event = found
        self._watermark.read(partition, record.offset, payload.plan_id)
        await self._on_dispatched(payload, event.time)
        quiescence.consumed(partition.topic, partition.partition, record.offset + 1)

    async def _commit(self) -> None:
        offsets = self._watermark.to_commit(self._live_plan_ids())
        if offsets:
            await self._consumer.commit(offsets)
            self._watermark.committed(offsets)


class DepotLocations:
    """Depot coordinates from ``lifeline.catalog.v1`` (a compacted topic, read whole at
    every start without a consumer group): a plan's routes name their depot, not where
    it is, and a vehicle waiting at its depot has to be drawn somewhere."""

    def __init__(self, consumer: AIOKafkaConsumer) -> None:
        self._consumer = consumer
        self._locations: dict[str, Point] = {}

    def get(self, depot_id: str) -> Point | None:
        return self._locations.get(depot_id)

    async def run(self) -> None:
        """Until cancelled; the caller starts and stops the consumer."""
        while True:
            batch = await self._consumer.getmany(timeout_ms=1000)
            for records in batch.values():
                for record in records:
                    self._take(record)

    def _take(self, record: ConsumerRecord[bytes, bytes]) -> None:
        found = _payload(record, DepotDefined)
        if found is not None:
            depot = found[0]
            self._locations[depot.depot_id] = (depot.lat, depot.lon)
