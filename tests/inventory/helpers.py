"""Inventory test helpers: a small city, raw producers and topic readers."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, ConsumerRecord

from shared.events import topics
from shared.events.codec import wrap
from shared.events.envelope import CloudEvent
from shared.events.payloads import (
    CommunityRegistered,
    EventPayload,
    OrderCancelled,
    OrderLine,
    OrderPlaced,
)
from shared.settings import Settings
from tests.support import bearer, eventually, produce, tokens

# One community in district "east", served by a station, two east centres, a west centre
# and the city reserve. Distances from C-E1: DC-E1 ~3 km, DC-E2 ~13 km, DC-W1 ~17 km.
COMMUNITY = {"id": "C-E1", "district": "east", "lat": 39.90, "lon": 116.40}
DEPOTS: dict[str, dict[str, Any]] = {
    "CS-E1": {"name": "C-E1 gate station", "tier": "community", "lat": 39.901, "lon": 116.401,
              "district": "east", "cold_storage": False, "community_ids": ["C-E1"]},
    "DC-E1": {"name": "East centre 1", "tier": "district", "lat": 39.92, "lon": 116.42,
              "district": "east", "cold_storage": True},
    "DC-E2": {"name": "East centre 2", "tier": "district", "lat": 39.99, "lon": 116.50,
              "district": "east", "cold_storage": False},
    "DC-W1": {"name": "West centre 1", "tier": "district", "lat": 39.90, "lon": 116.20,
              "district": "west", "cold_storage": False},
    "CITY-1": {"name": "City reserve", "tier": "city", "lat": 40.10, "lon": 116.60,
               "district": "north", "cold_storage": True},
}
SKUS: dict[str, dict[str, Any]] = {
    "RICE-5KG": {"name": "Rice 5 kg", "category": "staple", "unit_weight_kg": 5.0,
                 "unit_volume_l": 6.0, "cold_chain": False,
                 "ration": {"quantity": 2, "per_days": 7}},
    "OIL-1L": {"name": "Oil 1 l", "category": "staple", "unit_weight_kg": 0.95,
               "unit_volume_l": 1.1, "cold_chain": False},
    "MILK-1L": {"name": "Milk 1 l", "category": "dairy", "unit_weight_kg": 1.03,
                "unit_volume_l": 1.0, "cold_chain": True},
    "INSULIN": {"name": "Insulin pen", "category": "medicine", "unit_weight_kg": 0.05,
                "unit_volume_l": 0.05, "cold_chain": False, "urgent": True},
}


def admin(settings: Settings) -> dict[str, str]:
    return bearer(tokens(settings).mint("ops", "admin"))


def wms(settings: Settings, *depot_ids: str) -> dict[str, str]:
    return bearer(tokens(settings).mint("wms-1", "inventory_system", depot_ids=list(depot_ids)))


async def define_city(client: httpx.AsyncClient, settings: Settings) -> None:
    headers = admin(settings)
    for depot_id, body in DEPOTS.items():
        response = await client.put(f"/v1/depots/{depot_id}", json=body, headers=headers)
        assert response.status_code in (200, 201), response.text
    for sku, body in SKUS.items():
        response = await client.put(f"/v1/skus/{sku}", json=body, headers=headers)
        assert response.status_code in (200, 201), response.text
    await produce_payloads(settings, [community_registered()])


def community_registered(**overrides: Any) -> CommunityRegistered:
    values = {
        "community_id": COMMUNITY["id"], "name": "East Garden", "district": COMMUNITY["district"],
        "lat": COMMUNITY["lat"], "lon": COMMUNITY["lon"], "risk_level": "sealed",
        "receiving_windows": [("07:00", "09:00")], "gate_service_min": 10,
    }
    values.update(overrides)
    return CommunityRegistered(**values)


def stock_event(
    kind: str, depot_id: str, sku: str, quantity: int, *, event_id: str | None = None,
    reason: str | None = None,
) -> dict[str, Any]:
    """A stock event exactly as a warehouse system writes it (SPEC section 4)."""
    data: dict[str, Any] = {"depot_id": depot_id, "sku": sku, "quantity": quantity}
    if reason is not None:
        data["reason"] = reason
    return {
        "specversion": "1.0", "id": event_id or f"wms-{uuid.uuid4().hex[:12]}",
        "source": "wms/test", "type": f"lifeline.stock.{kind}",
        "time": "2026-11-20T06:30:00Z", "datacontenttype": "application/json", "data": data,
    }


async def post_stock(
    client: httpx.AsyncClient, settings: Settings, events: Sequence[object]
) -> dict[str, Any]:
    response = await client.post("/v1/stock-events", json=events, headers=admin(settings))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def placed(
    order_id: str,
    items: dict[str, int],
    *,
    priority: str = "standard",
    community_id: str = "C-E1",
    placed_at: datetime | None = None,
) -> OrderPlaced:
    return OrderPlaced(
        order_id=order_id, household_id=f"H-{order_id}", community_id=community_id,
        priority=priority,  # type: ignore[arg-type]
        items=[OrderLine(sku=s, quantity=q) for s, q in items.items()],
        placed_at=placed_at or datetime.now(UTC),
    )


def cancelled(order_id: str) -> OrderCancelled:
    return OrderCancelled(order_id=order_id, reason="changed my mind")


async def produce_raw(settings: Settings, topic: str, messages: list[tuple[bytes | None, bytes]]) -> None:
    await produce(settings, topic, messages)


async def produce_payloads(settings: Settings, payloads: Sequence[EventPayload]) -> None:
    by_topic: dict[str, list[tuple[bytes | None, bytes]]] = {}
    for payload in payloads:
        event = wrap(payload, source="test")
        by_topic.setdefault(payload.TOPIC.name, []).append((payload.key().encode(), event.to_bytes()))
    for topic, messages in by_topic.items():
        await produce_raw(settings, topic, messages)


async def read_topic(
    settings: Settings,
    topic: str,
    until: Callable[[list[ConsumerRecord[bytes, bytes]]], bool],
    timeout_s: float = 20.0,
) -> list[ConsumerRecord[bytes, bytes]]:
    consumer = AIOKafkaConsumer(
        settings.topic(topic), bootstrap_servers=settings.broker_url,
        auto_offset_reset="earliest", enable_auto_commit=False, group_id=None,
    )
    await consumer.start()
    records: list[ConsumerRecord[bytes, bytes]] = []
    try:
        deadline = asyncio.get_running_loop().time() + timeout_s
        while not until(records):
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"{topic}: condition not met; got {len(records)} records")
            batch = await consumer.getmany(timeout_ms=300)
            for partition_records in batch.values():
                records.extend(partition_records)
    finally:
        await consumer.stop()
    return records


def events_of(records: list[ConsumerRecord[bytes, bytes]], type_: str | None = None) -> list[CloudEvent]:
    decoded = [CloudEvent.from_bytes(r.value) for r in records]
    return [e for e in decoded if type_ is None or e.type == type_]


async def allocation(client: httpx.AsyncClient, settings: Settings, order_id: str) -> dict[str, Any] | None:
    response = await client.get(f"/v1/allocations/{order_id}", headers=admin(settings))
    if response.status_code == 404:
        return None
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def wait_allocation(
    client: httpx.AsyncClient, settings: Settings, order_id: str, status: str, timeout_s: float = 20
) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        found = await allocation(client, settings, order_id)
        return found if found is not None and found["status"] == status else None

    result: dict[str, Any] = await eventually(
        check, timeout_s=timeout_s, message=f"order {order_id} {status}"
    )
    return result


async def stock_of(client: httpx.AsyncClient, settings: Settings, depot_id: str) -> dict[str, dict[str, Any]]:
    response = await client.get(f"/v1/depots/{depot_id}/stock", headers=admin(settings))
    assert response.status_code == 200, response.text
    return {row["sku"]: row for row in response.json()["items"]}


def dumps(value: Any) -> bytes:
    return json.dumps(value).encode()


TOPICS = topics
