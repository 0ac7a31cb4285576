"""The external stock contract (SPEC section 4) with foreign producers: raw bytes from
aiokafka and from librdkafka (confluent-kafka), duplicates, bad events in the DLQ while
the good ones keep flowing, and the same events over POST /v1/stock-events."""

from __future__ import annotations

import asyncio
import json

import httpx

from shared.events import topics
from shared.settings import Settings
from tests.inventory.helpers import (
    admin,
    define_city,
    dumps,
    post_stock,
    produce_raw,
    read_topic,
    stock_event,
    stock_of,
    wms,
)
from tests.support import bearer, eventually, produce_sentinel, running_service, tokens

STOCK = topics.STOCK_UPDATES.name


def keyed(event: dict) -> tuple[bytes, bytes]:
    data = event["data"]
    return f"{data['depot_id']}:{data['sku']}".encode(), dumps(event)


async def after_sentinel(client: httpx.AsyncClient, settings: Settings, after_key: bytes) -> None:
    """Produce a sentinel, one unit of INSULIN received at DC-E1 (a SKU no test here stocks
    there; its key, DC-E1:INSULIN, lands on the partition of DC-E1:RICE-5KG), after the
    events for ``after_key``; return once it is applied, so they were all handled."""
    key, value = keyed(stock_event("received", "DC-E1", "INSULIN", 1))
    await produce_sentinel(settings, STOCK, key, value, after_key=after_key)

    async def applied() -> bool:
        return (await stock_of(client, settings, "DC-E1")).get("INSULIN", {}).get("on_hand") == 1

    await eventually(applied, message="sentinel stock event applied")


async def test_foreign_producer_duplicates_and_poison(settings: Settings) -> None:
    async with running_service("inventory", settings) as (_app, client):
        await define_city(client, settings)
        good = [
            stock_event("received", "DC-E1", "RICE-5KG", 120, event_id="wms-1", reason="truck 88"),
            stock_event("received", "DC-E1", "OIL-1L", 40, event_id="wms-2"),
            stock_event("adjusted", "DC-E1", "RICE-5KG", -20, event_id="wms-3", reason="damage"),
            stock_event("counted", "DC-E1", "OIL-1L", 35, event_id="wms-4"),
            stock_event("received", "CS-E1", "RICE-5KG", 7, event_id="wms-5"),
        ]
        # Extra fields a WMS may send are tolerated (data and envelope).
        good[4]["data"]["lot"] = "L-1"
        good[4]["wmsbatch"] = "b-9"
        poison: list[tuple[bytes, bytes]] = [
            (b"DC-E1:RICE-5KG", b"{not json"),
            keyed(stock_event("received", "NOPE", "RICE-5KG", 5, event_id="bad-depot")),
            keyed(stock_event("received", "DC-E1", "NOPE", 5, event_id="bad-sku")),
            keyed(stock_event("received", "DC-E1", "RICE-5KG", 0, event_id="bad-qty")),
            keyed(stock_event("adjusted", "DC-E1", "RICE-5KG", -5, event_id="no-reason")),
            keyed(stock_event("adjusted", "DC-E1", "OIL-1L", -1000, event_id="below-zero", reason="x")),
        ]
        messages: list[tuple[bytes | None, bytes]] = []
        for index, event in enumerate(good):
            messages.append(keyed(event))
            messages.append(poison[index])
            messages.append(keyed(event))  # every good event twice: applied once
        messages.append(poison[5])
        await produce_raw(settings, STOCK, messages)

        async def settled() -> bool:
            stock = await stock_of(client, settings, "DC-E1")
            station = await stock_of(client, settings, "CS-E1")
            return (
                stock.get("RICE-5KG", {}).get("on_hand") == 100
                and stock.get("OIL-1L", {}).get("on_hand") == 35
                and station.get("RICE-5KG", {}).get("on_hand") == 7
            )

        await eventually(settled, message="good stock events applied once")
        dead = await read_topic(settings, f"{STOCK}.dlq", lambda r: len(r) >= 6)
        reasons = {r.value: dict(r.headers)["dlq.reason"].decode() for r in dead}
        assert len(dead) == 6
        by_id = {
            (json.loads(value)["id"] if value.startswith(b"{\"") else "raw"): reason
            for value, reason in reasons.items()
        }
        assert "malformed JSON" in by_id["raw"]
        assert "unknown depot 'NOPE'" in by_id["bad-depot"]
        assert "unknown SKU 'NOPE'" in by_id["bad-sku"]
        assert "quantity" in by_id["bad-qty"]
        assert "reason" in by_id["no-reason"]
        assert "below zero" in by_id["below-zero"]
        # Nothing more arrives later: duplicates stayed duplicates (wms-3's, the last on its
        # partition, was handled once the sentinel behind it shows).
        await after_sentinel(client, settings, b"DC-E1:RICE-5KG")
        assert (await stock_of(client, settings, "DC-E1"))["RICE-5KG"]["on_hand"] == 100


async def test_librdkafka_producer(settings: Settings) -> None:
    # A declared test dependency (pyproject.toml): a missing install fails here, not skips.
    import confluent_kafka
    async with running_service("inventory", settings) as (_app, client):
        await define_city(client, settings)
        producer = confluent_kafka.Producer(
            {"bootstrap.servers": settings.broker_url, "acks": "all", "enable.idempotence": False}
        )
        events = [stock_event("received", "DC-E2", "OIL-1L", 3, event_id=f"rd-{i}") for i in range(10)]
        for event in [*events, *events[:5]]:
            key, value = keyed(event)
            producer.produce(settings.topic(STOCK), value=value, key=key)
        remaining = await asyncio.to_thread(producer.flush, 15)
        assert remaining == 0

        async def applied() -> bool:
            return (await stock_of(client, settings, "DC-E2")).get("OIL-1L", {}).get("on_hand") == 30

        await eventually(applied, message="librdkafka events applied once")


async def test_http_batch_answers_per_event_and_dedupes_with_the_topic(settings: Settings) -> None:
    async with running_service("inventory", settings) as (_app, client):
        await define_city(client, settings)
        await produce_raw(settings, STOCK, [keyed(stock_event("received", "DC-E1", "RICE-5KG", 10, event_id="t-1"))])

        async def topic_applied() -> bool:
            return (await stock_of(client, settings, "DC-E1")).get("RICE-5KG", {}).get("on_hand") == 10

        await eventually(topic_applied, message="topic event applied")
        batch = [
            stock_event("received", "DC-E1", "RICE-5KG", 10, event_id="t-1"),  # seen on the topic
            stock_event("received", "DC-E1", "RICE-5KG", 5, event_id="h-1"),
            stock_event("received", "DC-E1", "RICE-5KG", 5, event_id="h-1"),  # twice in one batch
            stock_event("received", "NOPE", "RICE-5KG", 5, event_id="h-2"),
            {"specversion": "1.0", "id": "h-3", "type": "lifeline.stock.received"},
            stock_event("shipped", "DC-E1", "RICE-5KG", 5, event_id="h-4"),
            stock_event("counted", "DC-E1", "OIL-1L", 12, event_id="h-5"),
            "not an object",
        ]
        body = await post_stock(client, settings, batch)
        statuses = [(r["id"], r["status"]) for r in body["results"]]
        assert statuses == [
            ("t-1", "duplicate"), ("h-1", "applied"), ("h-1", "duplicate"), ("h-2", "rejected"),
            ("h-3", "rejected"), ("h-4", "rejected"), ("h-5", "applied"), (None, "rejected"),
        ]
        reasons = [r["reason"] for r in body["results"]]
        assert "unknown depot" in reasons[3]
        assert "source" in reasons[4] and "data" in reasons[4]
        assert "not a stock event" in reasons[5]
        assert (body["applied"], body["duplicates"], body["rejected"]) == (2, 2, 4)
        stock = await stock_of(client, settings, "DC-E1")
        assert stock["RICE-5KG"]["on_hand"] == 15 and stock["OIL-1L"]["on_hand"] == 12
        # The topic now sees h-1 as a duplicate too.
        await produce_raw(settings, STOCK, [keyed(stock_event("received", "DC-E1", "RICE-5KG", 5, event_id="h-1"))])
        await after_sentinel(client, settings, b"DC-E1:RICE-5KG")
        assert (await stock_of(client, settings, "DC-E1"))["RICE-5KG"]["on_hand"] == 15

        wrapped = await client.post(
            "/v1/stock-events",
            json={"events": [stock_event("received", "DC-E1", "OIL-1L", 1)]},
            headers=admin(settings),
        )
        assert wrapped.status_code == 200 and wrapped.json()["applied"] == 1


async def test_http_stock_events_auth_scope_and_limits(settings: Settings) -> None:
    async with running_service("inventory", settings) as (_app, client):
        await define_city(client, settings)
        event = stock_event("received", "DC-E1", "RICE-5KG", 5)
        assert (await client.post("/v1/stock-events", json=[event])).status_code == 401
        resident = bearer(tokens(settings).mint("H-1", "resident"))
        assert (await client.post("/v1/stock-events", json=[event], headers=resident)).status_code == 403
        dispatcher = bearer(tokens(settings).mint("d", "dispatcher", depot_ids=["DC-E1"]))
        assert (await client.post("/v1/stock-events", json=[event], headers=dispatcher)).status_code == 403
        scoped = await client.post(
            "/v1/stock-events",
            json=[event, stock_event("received", "DC-E2", "RICE-5KG", 5)],
            headers=wms(settings, "DC-E1"),
        )
        assert scoped.status_code == 200
        assert [r["status"] for r in scoped.json()["results"]] == ["applied", "rejected"]
        assert "not authorised for depot 'DC-E2'" in scoped.json()["results"][1]["reason"]
        too_many = [stock_event("received", "DC-E1", "RICE-5KG", 1) for _ in range(1001)]
        response = await client.post("/v1/stock-events", json=too_many, headers=admin(settings))
        assert response.status_code == 422 and response.json()["detail"]["code"] == "too_many_events"
        empty = await client.post("/v1/stock-events", json=[], headers=admin(settings))
        assert empty.status_code == 422
        garbage = await client.post(
            "/v1/stock-events", content=b"{oops", headers={**admin(settings), "content-type": "application/json"}
        )
        assert garbage.status_code == 422
        # Stock reads: a WMS sees its own depots only.
        mine = await client.get("/v1/depots/DC-E1/stock", headers=wms(settings, "DC-E1"))
        assert mine.status_code == 200 and mine.json()["items"][0]["on_hand"] == 5
        other = await client.get("/v1/depots/DC-E2/stock", headers=wms(settings, "DC-E1"))
        assert other.status_code == 403
        await post_stock(client, settings, [stock_event("received", "DC-E2", "RICE-5KG", 9)])
        by_sku = await client.get("/v1/stock/RICE-5KG", headers=wms(settings, "DC-E1"))
        assert [r["depot_id"] for r in by_sku.json()["items"]] == ["DC-E1"]
        everything = await client.get("/v1/stock/RICE-5KG", headers=admin(settings))
        assert [r["depot_id"] for r in everything.json()["items"]] == ["DC-E1", "DC-E2"]
        assert (await client.get("/v1/stock/NOPE", headers=admin(settings))).status_code == 404
        assert (await client.get("/v1/depots/NOPE/stock", headers=admin(settings))).status_code == 404
