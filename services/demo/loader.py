"""Loads the demo city into a running system through the public APIs, as an admin would."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import httpx

from services.demo.city import DemoCity
from shared.auth import TokenService

log = logging.getLogger(__name__)


#: A service that answers "not now" (503, 429) is asked again after its Retry-After, this
#: many times: every call here is idempotent (PUT by id, stock events by event id). So is
#: a call whose connection broke (a keep-alive connection the server closed as we sent).
ATTEMPTS = 5

Call = Callable[[], Awaitable[httpx.Response]]


async def _answered(call: Call) -> httpx.Response:
    for attempt in range(1, ATTEMPTS + 1):
        try:
            response = await call()
        except httpx.TransportError as exc:
            if attempt == ATTEMPTS:
                raise
            log.info("call failed (%r), trying again", exc)
            await asyncio.sleep(0.2 * attempt)
            continue
        if response.status_code not in (429, 503) or attempt == ATTEMPTS:
            return response
        wait_s = min(float(response.headers.get("Retry-After", "1")), 10.0)
        log.info("%s %s: %s, asking again in %.0f s", response.request.method, response.request.url,
                 response.status_code, wait_s)
        await asyncio.sleep(wait_s)
    raise AssertionError("unreachable")


async def _bounded(calls: Iterable[Call], limit: int = 16) -> None:
    semaphore = asyncio.Semaphore(limit)

    async def run(call: Call) -> None:
        async with semaphore:
            response = await _answered(call)
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

    def put(client: httpx.AsyncClient, path: str, item: dict[str, Any]) -> Call:
        return lambda: client.put(f"{path}/{item['id']}", json=_without_id(item), headers=admin)

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
        chunk = events[start:start + 1000]
        response = await _answered(functools.partial(
            inventory.post, "/v1/stock-events", json={"events": chunk}, headers=admin))
        if response.status_code != 200:
            raise RuntimeError(f"stock events refused: {response.status_code} {response.text[:300]}")
    return {"skus": len(city.skus), "communities": len(city.communities), "depots": len(city.depots),
            "vehicles": len(city.vehicles), "households": len(city.households),
            "stock_events": len(events)}
