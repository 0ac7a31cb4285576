"""Loads the demo city into a running system through the public APIs, as an admin would."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Iterable
from typing import Any

import httpx

from services.demo.city import DemoCity
from shared.auth import TokenService

log = logging.getLogger(__name__)


async def _bounded(calls: Iterable[Awaitable[httpx.Response]], limit: int = 16) -> None:
    semaphore = asyncio.Semaphore(limit)

    async def run(call: Awaitable[httpx.Response]) -> None:
        async with semaphore:
            response = await call
            if response.status_code >= 400:
                raise RuntimeError(f"{response.request.method} {response.request.url}: "
                                   f"{response.status_code} {response.text[:300]}")

    await asyncio.gather(*(run(call) for call in calls))


def _without_id(item: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in item.items() if k != "id"}


async def load_city(city: DemoCity, clients: dict[str, httpx.AsyncClient], tokens: TokenService) -> dict[str, int]:
    """``clients`` maps each service name to a client with its base URL."""
    admin = {"Authorization": f"Bearer {tokens.mint('demo-admin', 'admin')}"}
    orders, inventory, routing = clients["orders"], clients["inventory"], clients["routing"]

    def put(client: httpx.AsyncClient, path: str, item: dict[str, Any]) -> Awaitable[httpx.Response]:
        return client.put(f"{path}/{item['id']}", json=_without_id(item), headers=admin)

    await _bounded(put(inventory, "/v1/skus", s) for s in city.skus)
    await _bounded(put(orders, "/v1/communities", c) for c in city.communities)
    await _bounded(put(inventory, "/v1/depots", d) for d in city.depots)
    await _bounded(put(routing, "/v1/vehicles", v) for v in city.vehicles)
    await _bounded((put(orders, "/v1/households", h) for h in city.households), limit=32)
    events = [
        {"specversion": "1.0", "id": f"demo-stock-{i}", "source": "wms/demo",
         "type": "lifeline.stock.received", "datacontenttype": "application/json",
         "data": {**item, "reason": "opening stock"}}
        for i, item in enumerate(city.stock)
    ]
    for start in range(0, len(events), 1000):
        response = await inventory.post("/v1/stock-events", json={"events": events[start:start + 1000]},
                                        headers=admin)
        if response.status_code != 200:
            raise RuntimeError(f"stock events refused: {response.status_code} {response.text[:300]}")
    return {"skus": len(city.skus), "communities": len(city.communities), "depots": len(city.depots),
            "vehicles": len(city.vehicles), "households": len(city.households),
            "stock_events": len(events)}
