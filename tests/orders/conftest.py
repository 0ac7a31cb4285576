"""Fixtures for the orders tests: the service on the real broker, tokens, and a way to
play the other services by producing their events onto the topics."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from fastapi import FastAPI

from shared.events.codec import wrap
from shared.events.envelope import CloudEvent
from shared.events.payloads import EventPayload, Ration, SkuDefined
from shared.messaging.kafka import ensure_topics
from shared.settings import Settings
from tests.support import bearer, eventually, running_service, tokens

COMMUNITY = {
    "name": "Jinsong community",
    "district": "chaoyang",
    "lat": 39.88,
    "lon": 116.46,
    "risk_level": "sealed",
    "receiving_windows": [["07:00", "09:00"], ["15:00", "17:00"]],
    "gate_service_min": 10,
}

CATALOG = [
    SkuDefined(sku="RICE-5KG", name="Rice 5 kg", category="staple", unit_weight_kg=5,
               unit_volume_l=6, cold_chain=False, ration=Ration(quantity=2, per_days=7)),
    SkuDefined(sku="VEG-BOX", name="Vegetable box", category="vegetable", unit_weight_kg=3,
               unit_volume_l=10, cold_chain=False),
    SkuDefined(sku="INSULIN", name="Insulin pen", category="medicine", unit_weight_kg=0.1,
               unit_volume_l=0.2, cold_chain=True),
    SkuDefined(sku="NITRO", name="Nitroglycerin", category="medicine", unit_weight_kg=0.05,
               unit_volume_l=0.1, cold_chain=False, urgent=True),
    SkuDefined(sku="MILK-1L", name="Milk 1 l", category="dairy", unit_weight_kg=1,
               unit_volume_l=1, cold_chain=True),
]


@dataclass
class Orders:
    """The running orders service and helpers to drive it."""

    settings: Settings
    client: httpx.AsyncClient
    producer: AIOKafkaProducer
    app: FastAPI

    @property
    def applied(self) -> int:
        """Events the consumer has handled (applied or deliberately ignored)."""
        processed: int = self.app.state.runtime.consumer.processed
        return processed

    async def play_and_settle(self, *payloads: EventPayload) -> list[CloudEvent]:
        """Produce events and wait until the consumer has handled them all."""
        before = self.applied
        events = await self.play(*payloads)
        await eventually(lambda: self.applied >= before + len(payloads),
                         message=f"{len(payloads)} events handled")
        return events

    def token(self, subject: str, role: str, **scope: Any) -> dict[str, str]:
        return bearer(tokens(self.settings).mint(subject, role, **scope))  # type: ignore[arg-type]

    @property
    def admin(self) -> dict[str, str]:
        return self.token("admin-1", "admin")

    def resident(self, household_id: str) -> dict[str, str]:
        return self.token(household_id, "resident")

    def worker(self, *community_ids: str) -> dict[str, str]:
        return self.token("worker-1", "community_worker", community_ids=list(community_ids))

    @property
    def dispatcher(self) -> dict[str, str]:
        return self.token("dispatcher-1", "dispatcher", depot_ids=["DC-1"])

    async def community(self, community_id: str, **changes: Any) -> httpx.Response:
        response = await self.client.put(
            f"/v1/communities/{community_id}", json={**COMMUNITY, **changes}, headers=self.admin
        )
        assert response.status_code in (200, 201), response.text
        return response

    async def household(
        self, household_id: str, community_id: str = "C-1", flags: Sequence[str] = ()
    ) -> httpx.Response:
        response = await self.client.put(
            f"/v1/households/{household_id}",
            json={"community_id": community_id, "members": 2, "flags": list(flags)},
            headers=self.admin,
        )
        assert response.status_code in (200, 201), response.text
        return response

    async def play(self, *payloads: EventPayload, event_id: str | None = None) -> list[CloudEvent]:
        """Produce events as the service owning their topic would."""
        events = []
        for payload in payloads:
            event = wrap(payload, source="lifeline/test", event_id=event_id)
            await self.producer.send_and_wait(
                self.settings.topic(payload.TOPIC.name), event.to_bytes(),
                key=payload.key().encode(),
            )
            events.append(event)
        return events

    async def replay(self, event: CloudEvent, topic: str) -> None:
        key = (event.subject or "").encode()
        await self.producer.send_and_wait(self.settings.topic(topic), event.to_bytes(), key=key)

    async def order(
        self, headers: dict[str, str], items: Sequence[tuple[str, int]] = (("VEG-BOX", 1),),
        **extra: Any,
    ) -> httpx.Response:
        body = {"items": [{"sku": s, "quantity": q} for s, q in items], **extra}
        return await self.client.post("/v1/orders", json=body, headers=headers)

    async def status_of(self, order_id: str) -> str:
        response = await self.client.get(f"/v1/orders/{order_id}", headers=self.admin)
        assert response.status_code == 200, response.text
        return str(response.json()["status"])

    async def wait_status(self, order_id: str, wanted: str, timeout_s: float = 20) -> dict[str, Any]:
        async def check() -> dict[str, Any] | None:
            response = await self.client.get(f"/v1/orders/{order_id}", headers=self.admin)
            body: dict[str, Any] = response.json()
            return body if body["status"] == wanted else None

        result: dict[str, Any] = await eventually(
            check, timeout_s=timeout_s, message=f"order {order_id} {wanted}"
        )
        return result


@contextlib.asynccontextmanager
async def start_orders(settings: Settings) -> AsyncIterator[Orders]:
    """Orders running with community C-1 (households H-A, H-B and the vulnerable H-V)
    and C-2 (H-X), and the catalog above delivered over the catalog topic."""
    await ensure_topics(settings)
    producer = AIOKafkaProducer(bootstrap_servers=settings.broker_url)
    await producer.start()
    try:
        async with running_service("orders", settings) as (app, client):
            service = Orders(settings, client, producer, app)
            await service.play(*CATALOG)
            await service.community("C-1")
            await service.community("C-2", name="Panjiayuan")
            await service.household("H-A")
            await service.household("H-B")
            await service.household("H-V", flags=["elderly_alone"])
            await service.household("H-X", community_id="C-2")

            async def catalog_loaded() -> bool:
                response = await client.get("/v1/catalog", headers=service.admin)
                return len(response.json()) == len(CATALOG)

            await eventually(catalog_loaded, message="catalog read model loaded")
            yield service
    finally:
        await producer.stop()


@pytest.fixture
async def orders(settings: Settings) -> AsyncIterator[Orders]:
    async with start_orders(settings) as service:
        yield service


async def read_topic(settings: Settings, topic: str, expected: int, timeout_s: float = 15) -> list[CloudEvent]:
    """The events on a topic (from the start), once ``expected`` arrived or on timeout."""
    consumer = AIOKafkaConsumer(
        settings.topic(topic), bootstrap_servers=settings.broker_url,
        auto_offset_reset="earliest", enable_auto_commit=False, group_id=None,
    )
    await consumer.start()
    events: list[CloudEvent] = []
    try:
        deadline = asyncio.get_running_loop().time() + timeout_s
        while len(events) < expected and asyncio.get_running_loop().time() < deadline:
            batch = await consumer.getmany(timeout_ms=300)
            for records in batch.values():
                events.extend(CloudEvent.from_bytes(r.value) for r in records)
    finally:
        await consumer.stop()
    return events
