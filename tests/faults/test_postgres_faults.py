"""Faults of the production database: PostgreSQL ends every service's connections under
load, again and again, and PostgreSQL is cut away from the services for 20 s. Clients may
get a 503 (and retry with their Idempotency-Key), never a 500; afterwards the same checks as
every fault: nothing accepted lost, nothing applied twice, stock conserved, nothing unseen,
and no good event dead-lettered because the database was away."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from shared.events import topics
from tests.faults.checker import check_inventory_invariants, check_orders_invariants, drain
from tests.faults.city import (
    CITY,
    HOUSEHOLDS,
    city_system,
    post_orders_retrying,
    produce,
    stock_received,
    wait_settled,
    wait_stock_applied,
)
from tests.faults.harness import ProcessSystem
from tests.support import NEEDS_POSTGRES, TEST_DATABASE_URL, psycopg_url

pytestmark = [pytest.mark.faults, pytest.mark.e2e, NEEDS_POSTGRES]

def terminate_service_backends() -> int:
    """pg_terminate_backend for every connection of a Lifeline service (they name themselves)."""
    engine = create_engine(psycopg_url(TEST_DATABASE_URL or ""))
    try:
        with engine.connect() as connection:
            return len(connection.execute(text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE application_name LIKE 'lifeline-%' AND pid <> pg_backend_pid()")).all())
    finally:
        engine.dispose()


async def check_all(system: ProcessSystem, accepted: list[str], stock_ids: set[str] | None = None) -> None:
    await wait_settled(system, accepted)
    if stock_ids:
        await wait_stock_applied(system, stock_ids)
    await check_orders_invariants(system.settings, accepted)
    await check_inventory_invariants(system.settings, accepted, stock_ids)
    for topic in topics.ALL_TOPICS:
        dead = await drain(system.settings, topics.dlq_name(topic.name), without_dead_letters=False)
        assert not dead.events and not dead.undecodable, f"good events dead-lettered on {topic.name}"


async def test_every_service_backend_terminated_repeatedly_while_orders_are_posted(run_dir: Path) -> None:
    async with city_system(run_dir) as system:
        async def terminator() -> list[int]:
            ended = []
            for _ in range(6):
                await asyncio.sleep(2.5)
                ended.append(await asyncio.to_thread(terminate_service_backends))
            return ended

        ended, (accepted, retries) = await asyncio.gather(
            terminator(), post_orders_retrying(system, HOUSEHOLDS[:100], per_second=5))
        assert all(n > 0 for n in ended), f"every round ended service connections: {ended}"
        await check_all(system, accepted)
        print(f"backends ended per round: {ended}; client retries: {retries}")


async def test_the_database_cut_away_for_20_s_while_orders_are_posted(run_dir: Path) -> None:
    async with city_system(run_dir, database_link=True) as system:
        link = system.database_link
        assert link is not None

        async def outage() -> None:
            await asyncio.sleep(3)
            await asyncio.to_thread(link.cut)
            await asyncio.sleep(20)
            await asyncio.to_thread(link.restore)

        # A warehouse system goes on publishing while the database is away: the inventory
        # consumer must wait for it, not dead-letter good events.
        stock_ids = [f"wms-{uuid.uuid4().hex[:10]}" for _ in range(24)]
        skus = [sku["id"] for sku in CITY.skus]

        async def stock_feed() -> None:
            for i, event_id in enumerate(stock_ids):
                event = stock_received(event_id, "DC-CY-1", skus[i % len(skus)], 5)
                await produce(system, topics.STOCK_UPDATES.name, [event])
                await asyncio.sleep(1)

        _outage, _feed, (accepted, retries) = await asyncio.gather(
            outage(), stock_feed(), post_orders_retrying(system, HOUSEHOLDS[:80], per_second=3))
        assert retries > 0, "orders were posted while the database was away"
        await check_all(system, accepted, set(stock_ids))
