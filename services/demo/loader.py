"""Loads the demo city into a running system through the public APIs, as an admin would."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Iterable
from typing import Any

import httpx

from shared.auth import TokenService
from services.demo.city import DemoCity

log = logging.getLogger(__name__)


class Endpoints:
    def __init__(self, orders: str, inventory: str, routing: str) -> None:
        self.orders, self.inventory, self.routing = orders, inventory, routing


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


async def load_city(city: DemoCity, endpoints: Endpoints, tokens: TokenService) -> dict[str, int]:
    admin = {"Authorization": f"Bearer {tokens.mint('demo-admin', 'admin')}"}
    async with httpx.AsyncClient(headers=admin, timeout=60) as client:
        await _bounded(client.put(f"{endpoints.inventory}/v1/skus/{s['id']}", json=_without_id(s))
                       for s in city.skus)
        await _bounded(client.put(f"{endpoints.orders}/v1/communities/{c['id']}", json=_without_id(c))
                       for c in city.communities)
        await _bounded(client.put(f"{endpoints.inventory}/v1/depots/{d['id']}", json=_without_id(d))
                       for d in city.depots)
        await _bounded(client.put(f"{endpoints.routing}/v1/vehicles/{v['id']}", json=_without_id(v))
                       for v in city.vehicles)
        await _bounded((client.put(f"{endpoints.orders}/v1/households/{h['id']}", json=_without_id(h))
                        for h in city.households), limit=32)
        events = [
            {"specversion": "1.0", "id": f"demo-stock-{i}", "source": "wms/demo",
             "type": "lifeline.stock.received", "datacontenttype": "application/json",
             "data": {**item, "reason": "opening stock"}}
            for i, item in enumerate(city.stock)
        ]
        for start in range(0, len(events), 1000):
            response = await client.post(f"{endpoints.inventory}/v1/stock-events",
                                         json={"events": events[start:start + 1000]})
            response.raise_for_status()
    return {"skus": len(city.skus), "communities": len(city.communities), "depots": len(city.depots),
            "vehicles": len(city.vehicles), "households": len(city.households),
            "stock_events": len(events)}
