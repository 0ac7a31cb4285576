"""The demo city as real processes, and what the fault scenarios do to it: post orders (as
a resident's app would, retrying with its Idempotency-Key where the service says so),
feed stock events as a warehouse system would, and wait for everything to settle."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import httpx
from aiokafka import AIOKafkaProducer

from services.demo.city import build_city
from services.demo.loader import load_city
from tests.faults.checker import query
from tests.faults.harness import ProcessSystem, process_system
from tests.support import eventually, tokens

CITY = build_city(households_per_community=4)
HOUSEHOLDS = [h["id"] for h in CITY.households]
ORDER = {"items": [{"sku": "VEG-BOX", "quantity": 1}, {"sku": "RICE-5KG", "quantity": 1}]}


@contextlib.asynccontextmanager
async def city_system(tmp_path: Path, *, database_link: bool = False) -> AsyncIterator[ProcessSystem]:
    async with process_system(tmp_path, database_link=database_link) as system:
        clients = {service: system.client(service) for service in ("orders", "inventory", "routing")}
        try:
            await load_city(CITY, clients, tokens(system.settings))
        finally:
            for client in clients.values():
                await client.aclose()
        await wait_catalog(system)
        yield system


async def wait_catalog(system: ProcessSystem) -> None:
    """The catalog reaches orders through the broker; until then every SKU is unknown."""
    async def known() -> bool:
        rows = query(system.settings, "orders", "SELECT COUNT(*) AS n FROM catalog_skus")
        return rows[0].n == len(CITY.skus)

    await eventually(known, timeout_s=60, message="catalog in the orders service")


async def post_order(client: httpx.AsyncClient, system: ProcessSystem, household: str) -> str:
    response = await client.post(
        "/v1/orders", headers=system.headers(household, "resident"),
        json=ORDER)
    assert response.status_code == 201, response.text  # accepted whatever the broker is doing
    order_id: str = response.json()["id"]
    return order_id


async def post_orders(
    system: ProcessSystem, households: list[str], *, per_second: float, every_instance: bool = False
) -> list[str]:
    """Post one order per household; with ``every_instance`` round-robin over the running
    orders instances, as a load balancer in front of them would."""
    urls = [i.url for i in system.instances["orders"]] if every_instance else [system.first("orders").url]
    clients = [httpx.AsyncClient(base_url=url, timeout=30) for url in urls]
    accepted = []
    try:
        for n, household in enumerate(households):
            accepted.append(await post_order(clients[n % len(clients)], system, household))
            await asyncio.sleep(1 / per_second)
    finally:
        for client in clients:
            await client.aclose()
    return accepted


async def wait_settled(system: ProcessSystem, accepted: list[str], timeout_s: float = 120) -> None:
    async def settled() -> bool:
        rows = query(system.settings, "orders", "SELECT id, status FROM orders")
        statuses = {row.id: row.status for row in rows}
        return all(statuses.get(oid) in ("reserved", "backordered") for oid in accepted)

    await eventually(settled, timeout_s=timeout_s, interval_s=0.5, message="every accepted order settled")


async def wait_stock_applied(system: ProcessSystem, stock_ids: set[str]) -> None:
    async def applied() -> bool:
        rows = query(system.settings, "inventory",
                     "SELECT COUNT(DISTINCT event_id) AS n FROM stock_ledger WHERE event_id LIKE 'wms-%'")
        return rows[0].n >= len(stock_ids)

    await eventually(applied, timeout_s=60, message="every stock event applied")


async def produce(system: ProcessSystem, topic: str, messages: Sequence[tuple[bytes | None, bytes]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=system.settings.broker_url)
    await producer.start()
    try:
        for key, value in messages:
            await producer.send_and_wait(system.settings.topic(topic), value, key=key)
    finally:
        await producer.stop()


def stock_received(event_id: str, depot_id: str, sku: str, quantity: int) -> tuple[bytes, bytes]:
    """A warehouse system's event, exactly as the external contract (SPEC section 4) says."""
    event = {
        "specversion": "1.0", "id": event_id, "source": "wms/faults", "type": "lifeline.stock.received",
        "time": "2026-11-20T06:30:00Z", "datacontenttype": "application/json",
        "data": {"depot_id": depot_id, "sku": sku, "quantity": quantity},
    }
    return f"{depot_id}:{sku}".encode(), json.dumps(event).encode()


async def post_orders_retrying(
    system: ProcessSystem, households: list[str], *, per_second: float, give_up_s: float = 90
) -> tuple[list[str], int]:
    """Post as a resident's app does when the service may be briefly unable to answer: each
    order with its own Idempotency-Key, sent again (same key) after a 503 or a dropped
    connection until it is placed. The accepted order ids, and how many sends were retries."""
    accepted: list[str] = []
    retries = 0
    async with system.client("orders") as client:
        for household in households:
            key = f"fault-{household}"
            deadline = asyncio.get_running_loop().time() + give_up_s
            while True:
                try:
                    response = await client.post(
                        "/v1/orders", headers={**system.headers(household, "resident"), "Idempotency-Key": key},
                        json=ORDER)
                except httpx.TransportError:
                    response = None
                if response is not None and response.status_code in (200, 201):
                    accepted.append(response.json()["id"])
                    break
                assert response is None or response.status_code == 503, response.text  # never a 500
                assert asyncio.get_running_loop().time() < deadline, f"{household}: not placed in {give_up_s}s"
                retries += 1
                await asyncio.sleep(0.5)
            await asyncio.sleep(1 / per_second)
    return accepted, retries
