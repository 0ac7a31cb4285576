"""Play the other services: put their events on the real topics."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from aiokafka import AIOKafkaProducer

from shared.events.codec import wrap
from shared.events.payloads import (
    CommunityRegistered,
    DepotDefined,
    EventPayload,
    OrderLine,
    SkuDefined,
    StockReserved,
)
from shared.messaging.kafka import ensure_topics
from shared.settings import Settings


async def publish(settings: Settings, *payloads: EventPayload) -> None:
    await ensure_topics(settings)
    producer = AIOKafkaProducer(bootstrap_servers=settings.broker_url)
    await producer.start()
    try:
        for payload in payloads:
            event = wrap(payload, source="test/peer")
            await producer.send_and_wait(
                settings.topic(payload.TOPIC.name), event.to_bytes(), key=payload.key().encode()
            )
    finally:
        await producer.stop()


def small_city() -> list[EventPayload]:
    return [
        DepotDefined(depot_id="DC-1", name="DC 1", tier="district", lat=39.92, lon=116.45,
                     district="chaoyang", cold_storage=True),
        SkuDefined(sku="RICE-5KG", name="Rice", category="staple", unit_weight_kg=5, unit_volume_l=6,
                   cold_chain=False),
        SkuDefined(sku="MILK-1L", name="Milk", category="dairy", unit_weight_kg=1, unit_volume_l=1,
                   cold_chain=True),
        CommunityRegistered(community_id="C-1", name="Open 1", district="chaoyang", lat=39.93, lon=116.47,
                            risk_level="normal", receiving_windows=[("08:00", "12:00"), ("13:00", "19:00")],
                            gate_service_min=10),
        CommunityRegistered(community_id="C-2", name="Sealed 2", district="chaoyang", lat=39.91, lon=116.49,
                            risk_level="sealed", receiving_windows=[("07:00", "09:00"), ("15:00", "17:00")],
                            gate_service_min=15),
    ]


def reserved(order_id: str, community_id: str, *, rice: int = 1, milk: int = 0,
             priority: str = "standard", depot_id: str = "DC-1") -> StockReserved:
    lines = [OrderLine(sku="RICE-5KG", quantity=rice)] if rice else []
    if milk:
        lines.append(OrderLine(sku="MILK-1L", quantity=milk))
    return StockReserved(order_id=order_id, depot_id=depot_id, community_id=community_id,
                         priority=priority, lines=lines,  # type: ignore[arg-type]
                         placed_at=datetime.now(UTC) - timedelta(hours=1))
