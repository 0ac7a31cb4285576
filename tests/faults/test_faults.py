"""Faults against real processes: the broker goes away, services are SIGKILLed mid-stream, a
second instance joins and leaves the group, poison arrives on every topic. After each one the
checker drains the topics and reads the databases: nothing lost, nothing twice, stock conserved.
"""

from __future__ import annotations

import asyncio
import json
import signal
import uuid
from pathlib import Path

import httpx
import pytest

from shared.events import topics
from tests.faults.checker import check_inventory_invariants, check_orders_invariants, drain
from tests.faults.city import (
    CITY,
    HOUSEHOLDS,
    city_system,
    post_orders,
    produce,
    stock_received,
    wait_settled,
    wait_stock_applied,
)
from tests.faults.harness import ProcessSystem
from tests.support import eventually

pytestmark = [pytest.mark.faults, pytest.mark.e2e]


async def test_broker_gone_for_30_s_while_orders_are_posted(run_dir: Path) -> None:
    async with city_system(run_dir) as system:
        async def outage() -> None:
            await asyncio.sleep(3)
            await asyncio.to_thread(system.link.cut)
            await asyncio.sleep(30)
            await asyncio.to_thread(system.link.restore)

        outage_task = asyncio.create_task(outage())
        accepted = await post_orders(system, HOUSEHOLDS[:120], per_second=3)
        await outage_task
        await wait_settled(system, accepted)
        await check_orders_invariants(system.settings, accepted)
        await check_inventory_invariants(system.settings, accepted)


async def test_inventory_sigkilled_repeatedly_while_it_consumes(run_dir: Path) -> None:
    async with city_system(run_dir) as system:
        stock_ids = [f"wms-{uuid.uuid4().hex[:10]}" for _ in range(60)]
        skus = [sku["id"] for sku in CITY.skus]
        messages = [stock_received(eid, "DC-CY-1", skus[i % len(skus)], 5) for i, eid in enumerate(stock_ids)]
        messages += messages[::5]  # warehouse systems resend; the same id must apply once

        async def killer() -> int:
            kills = 0
            for _ in range(5):
                await asyncio.sleep(3)
                system.kill(system.first("inventory"), signal.SIGKILL)
                kills += 1
                system.start("inventory")
            await system.ready(system.first("inventory"))
            return kills

        async def stock_feed() -> None:
            for start in range(0, len(messages), 6):
                await produce(system, topics.STOCK_UPDATES.name, messages[start:start + 6])
                await asyncio.sleep(1)

        kills, _feed, accepted = await asyncio.gather(
            killer(), stock_feed(), post_orders(system, HOUSEHOLDS[:90], per_second=5))
        assert kills == 5
        await wait_settled(system, accepted)

        await wait_stock_applied(system, set(stock_ids))
        await check_orders_invariants(system.settings, accepted)
        await check_inventory_invariants(system.settings, accepted, set(stock_ids))


async def test_orders_killed_between_commit_and_broker_ack(run_dir: Path) -> None:
    async with city_system(run_dir) as system:
        # The broker appends what the relay sends but its answers never come back: the rows
        # are committed and published, yet not marked sent when the process dies.
        await asyncio.to_thread(system.link.mute_responses)
        accepted = await post_orders(system, HOUSEHOLDS[:20], per_second=20)
        await asyncio.sleep(3)
        system.kill(system.first("orders"), signal.SIGKILL)
        await asyncio.to_thread(system.link.unmute_responses)
        await system.ready(system.start("orders"))
        await wait_settled(system, accepted)

        placed = (await drain(system.settings, topics.ORDERS.name)).of_type("lifeline.order.placed")
        assert len(placed) > len({e["id"] for e in placed}), "the restart should have re-sent unacked events"
        await check_orders_invariants(system.settings, accepted)
        await check_inventory_invariants(system.settings, accepted)


async def test_a_second_instance_joins_and_leaves_the_group_under_load(run_dir: Path) -> None:
    async with city_system(run_dir) as system:
        async def churn() -> None:
            await asyncio.sleep(3)
            second = system.start("inventory", extra_instance=True)
            await system.ready(second)
            await asyncio.sleep(8)
            system.kill(second, signal.SIGTERM)  # leaves the group cleanly: another rebalance
            await asyncio.sleep(3)
            third = system.start("inventory", extra_instance=True)
            await system.ready(third)
            await asyncio.sleep(3)
            system.kill(third, signal.SIGKILL)  # vanishes: the group notices by session timeout

        _churn, accepted = await asyncio.gather(churn(), post_orders(system, HOUSEHOLDS[:120], per_second=5))
        await wait_settled(system, accepted)
        await check_orders_invariants(system.settings, accepted)
        await check_inventory_invariants(system.settings, accepted)


async def test_two_instances_of_each_service_share_the_load(run_dir: Path) -> None:
    async with city_system(run_dir) as system:
        seconds = [system.start(service, extra_instance=True) for service in ("orders", "inventory", "routing")]
        await asyncio.gather(*(system.ready(instance) for instance in seconds))
        accepted = await post_orders(system, HOUSEHOLDS[:120], per_second=10, every_instance=True)
        await wait_settled(system, accepted)
        await check_orders_invariants(system.settings, accepted)
        await check_inventory_invariants(system.settings, accepted)
        orders_topic = system.settings.topic(topics.ORDERS.name)
        for instance in system.instances["inventory"]:  # both consumed orders: the partitions were shared
            async with httpx.AsyncClient(base_url=instance.url, timeout=10) as client:
                metrics = (await client.get("/metrics")).text
            applied = sum(
                float(line.rsplit(" ", 1)[1]) for line in metrics.splitlines()
                if line.startswith("lifeline_events_consumed_total{")
                and f'topic="{orders_topic}"' in line and 'outcome="applied"' in line)
            assert applied > 0, f"inventory on port {instance.port} applied no orders"


POISON: dict[str, bytes] = {
    "not-json": b"\x00\xffnot json at all",
    "not-a-cloudevent": b'{"hello": "world"}',
    "unknown-type": json.dumps({
        "specversion": "1.0", "id": "poison-unknown", "source": "x", "type": "lifeline.nonsense.v9",
        "data": {}}).encode(),
    "schema-violation": json.dumps({
        "specversion": "1.0", "id": "poison-schema", "source": "x", "type": "lifeline.order.placed",
        "data": {"order_id": 42}}).encode(),
}

CONSUMERS = {  # topic -> the services that consume it
    topics.COMMUNITIES.name: ("inventory", "routing"),
    topics.CATALOG.name: ("orders", "routing"),
    topics.ORDERS.name: ("inventory", "routing"),
    topics.STOCK_UPDATES.name: ("inventory",),
    topics.RESERVATIONS.name: ("orders", "routing"),
    topics.ROUTES.name: ("orders", "inventory"),
    topics.DELIVERIES.name: ("orders",),
}


async def test_poison_on_every_consumed_topic_goes_to_the_dlq_and_consumers_keep_going(run_dir: Path) -> None:
    async with city_system(run_dir) as system:
        for topic in CONSUMERS:
            # One key per poison: two of these topics are compacted, and a compacted topic may
            # keep only the newest record of a key (on Kafka, as soon as its cleaner runs).
            await produce(system, topic, [(f"poison-{kind}".encode(), value) for kind, value in POISON.items()])
        # A stock event for a depot nobody knows is valid JSON but fails the handler: poison too.
        await produce(system, topics.STOCK_UPDATES.name, [stock_received("wms-ghost", "DC-NOWHERE", "RICE-5KG", 1)])

        accepted = await post_orders(system, HOUSEHOLDS[:5], per_second=10)
        await wait_settled(system, accepted)  # orders -> inventory -> orders still flows

        for topic, consumers in CONSUMERS.items():
            expected = len(POISON) * len(consumers) + (1 if topic == topics.STOCK_UPDATES.name else 0)

            async def dead_lettered(topic: str = topic, expected: int = expected) -> bool:
                return await dlq_count(system, topic) >= expected

            await eventually(dead_lettered, timeout_s=60, message=f"{topic}: poison in the DLQ")
        await check_orders_invariants(system.settings, accepted)
        await check_inventory_invariants(system.settings, accepted)


async def dlq_count(system: ProcessSystem, topic: str) -> int:
    drained = await drain(system.settings, topics.dlq_name(topic))
    return len(drained.events) + drained.undecodable
