"""Play the other services: put their events on the real topics."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

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
from tests.support import produce


async def publish(settings: Settings, *payloads: EventPayload) -> None:
    await ensure_topics(settings)
    # One topic after another would reorder events across topics: a run per topic, in order.
    run: list[EventPayload] = []
    for payload in payloads:
        if run and run[0].TOPIC.name != payload.TOPIC.name:
            await _send(settings, run)
            run = []
        run.append(payload)
    if run:
        await _send(settings, run)


async def _send(settings: Settings, run: list[EventPayload]) -> None:
    await produce(settings, run[0].TOPIC.name,
                  [(p.key().encode(), wrap(p, source="test/peer").to_bytes()) for p in run])


def small_city() -> list[EventPayload]:
    return [
        DepotDefined(depot_id="DC-1", name="DC 1", tier="district", lat=39.92, lon=116.45,
                     district="chaoyang", cold_storage=True),
        SkuDefined(sku="RICE-5KG", name="Rice", category="staple", unit_weight_kg=5, unit_volume_l=6,
                   cold_chain=False),
        SkuDefined(sku="MILK-1L", name="Milk", category="dairy", unit_weight_kg=1, unit_volume_l=1,
                   cold_chain=True),
        SkuDefined(sku="ANTIHYPERTENSIVE-30", name="Antihypertensive", category="medicine",
                   unit_weight_kg=0.05, unit_volume_l=0.1, cold_chain=False, urgent=True),
        CommunityRegistered(community_id="C-1", name="Open 1", district="chaoyang", lat=39.93, lon=116.47,
                            risk_level="normal", receiving_windows=[("08:00", "12:00"), ("13:00", "19:00")],
                            gate_service_min=10),
        CommunityRegistered(community_id="C-2", name="Sealed 2", district="chaoyang", lat=39.91, lon=116.49,
                            risk_level="sealed", receiving_windows=[("07:00", "09:00"), ("15:00", "17:00")],
                            gate_service_min=15),
    ]


def community(community_id: str, *, risk_level: str = "normal", lat: float = 39.94, lon: float = 116.44,
              windows: list[tuple[str, str]] | None = None) -> CommunityRegistered:
    return CommunityRegistered(community_id=community_id, name=f"Community {community_id}", district="chaoyang",
                               lat=lat, lon=lon, risk_level=risk_level,  # type: ignore[arg-type]
                               receiving_windows=windows or [("08:00", "12:00"), ("13:00", "19:00")],
                               gate_service_min=10)


def reserved(order_id: str, community_id: str, *, rice: int = 1, milk: int = 0, medicine: int = 0,
             priority: str = "standard", depot_id: str = "DC-1", placed_at: datetime | None = None) -> StockReserved:
    lines = [OrderLine(sku="RICE-5KG", quantity=rice)] if rice else []
    if milk:
        lines.append(OrderLine(sku="MILK-1L", quantity=milk))
    if medicine:
        lines.append(OrderLine(sku="ANTIHYPERTENSIVE-30", quantity=medicine))
    return StockReserved(order_id=order_id, depot_id=depot_id, community_id=community_id,
                         priority=priority, lines=lines,  # type: ignore[arg-type]
                         placed_at=placed_at or datetime.now(UTC) - timedelta(hours=1))
