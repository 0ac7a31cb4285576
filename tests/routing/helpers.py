"""Driving the routing service in tests: fleet, demand, plans, and the events it publishes."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable, Sequence
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer

from shared.events import topics
from shared.settings import Settings
from tests.support import bearer, eventually, tokens

VEHICLES = {
    "V-TRUCK": {"depot_id": "DC-1", "capacity_kg": 1000, "capacity_l": 5000},
    "V-REEFER-CL": {"depot_id": "DC-1", "capacity_kg": 500, "capacity_l": 3000,
                    "refrigerated": True, "closed_loop": True},
}


async def setup_fleet(client: httpx.AsyncClient, settings: Settings, depot_id: str | Sequence[str] = "DC-1",
                      vehicles: dict[str, dict[str, Any]] | None = None) -> dict[str, str]:
    """Put the fleet through the API; the headers of a dispatcher of the depot (or depots)."""
    depot_ids = [depot_id] if isinstance(depot_id, str) else list(depot_id)
    headers = bearer(tokens(settings).mint("disp-1", "dispatcher", depot_ids=depot_ids))
    for vehicle_id, body in (vehicles or VEHICLES).items():
        response = await client.put(f"/v1/vehicles/{vehicle_id}", json=body, headers=headers)
        assert response.status_code == 200, response.text
    return headers


async def wait_for_demand(client: httpx.AsyncClient, headers: dict[str, str], order_ids: Iterable[str], *,
                          depot_id: str = "DC-1", unknown: Iterable[str] = (), weight_kg: float | None = None,
                          timeout_s: float = 20) -> list:
    """Until the demand holds exactly these orders and every community but the ``unknown``
    ones is known (communities and reservations travel on different topics); with
    ``weight_kg``, until it weighs that much (the catalog, on a third topic, is in)."""
    wanted, strangers = set(order_ids), set(unknown)

    async def check() -> list | None:
        body = (await client.get(f"/v1/demand?depot_id={depot_id}", headers=headers)).json()
        ids = {o for c in body for o in c["order_ids"]}
        known = all(c["community_name"] or c["community_id"] in strangers for c in body)
        weighed = weight_kg is None or abs(sum(c["weight_kg"] for c in body) - weight_kg) < 0.5
        return body if ids == wanted and known and weighed else None

    result: list = await eventually(check, timeout_s=timeout_s, message=f"demand of {sorted(wanted)[:5]}...")
    return result


async def request_plan(client: httpx.AsyncClient, headers: dict[str, str], body: dict[str, Any]) -> str:
    """Request a plan; while the depot's definition (catalog topic) is not in yet, ask again."""

    async def attempt() -> httpx.Response | None:
        response = await client.post("/v1/plans", headers=headers, json=body)
        unknown_depot = response.status_code == 404 and "unknown depot" in response.text
        return None if unknown_depot else response

    response: httpx.Response = await eventually(attempt, message="the depot known to routing")
    assert response.status_code == 202, response.text
    plan_id: str = response.json()["id"]
    return plan_id


async def solved(client: httpx.AsyncClient, headers: dict[str, str], plan_id: str, timeout_s: float = 90) -> dict:
    async def check() -> dict | None:
        body = (await client.get(f"/v1/plans/{plan_id}", headers=headers)).json()
        return body if body["status"] != "solving" else None

    plan: dict = await eventually(check, timeout_s=timeout_s, interval_s=0.25, message=f"plan {plan_id} solved")
    return plan


async def routes_events(settings: Settings, until: Any, *, idle_s: float = 1.5, timeout_s: float = 20) -> list[dict]:
    """Every event on the routes topic, read until ``until(events)`` holds and nothing new
    came for ``idle_s`` (one dispatch publishes its events together)."""
    consumer = AIOKafkaConsumer(
        settings.topic(topics.ROUTES.name), bootstrap_servers=settings.broker_url,
        auto_offset_reset="earliest", enable_auto_commit=False, group_id=None,
    )
    await consumer.start()
    events: list[dict] = []
    loop = asyncio.get_running_loop()
    deadline, quiet_since = loop.time() + timeout_s, loop.time()
    try:
        while loop.time() < deadline:
            batch = await consumer.getmany(timeout_ms=250)
            records = [r for partition in batch.values() for r in partition]
            if records:
                events.extend(json.loads(r.value) for r in records)
                quiet_since = loop.time()
            elif until(events) and loop.time() - quiet_since >= idle_s:
                return events
    finally:
        await consumer.stop()
    raise AssertionError(f"routes events incomplete after {timeout_s}s: {[e['type'] for e in events]}")
