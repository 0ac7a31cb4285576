"""Benchmark: warehouse stock events and order reservations through the inventory consumer.

Starts an embedded Tansu broker (or uses --broker), produces N stock events on
``lifeline.stock-updates.v1`` exactly as a foreign WMS would (with some duplicates),
then runs the inventory consumer and measures events/s until all are applied, and checks
the exactly-once effect (on hand per depot and SKU = sum of distinct events). Then it
places M orders on ``lifeline.orders.v1`` and measures reservations/s. Both phases also
report CPU per event: the whole process (consumer, relay, this script's polling) and the
consumer's batch processing alone (thread CPU inside ``process_batch``); on a shared
machine these are steadier than the rates.

    .venv/bin/python bench/stock_events.py --events 20000 --orders 2000
    .venv/bin/python bench/stock_events.py --database-url postgresql://postgres@127.0.0.1:5432/test
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import random
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

from aiokafka import AIOKafkaProducer
from sqlalchemy import create_engine, func, select, text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from services.inventory.adapters.orm import allocations_t, messaging, stock_t
from services.inventory.bootstrap import build_runtime
from services.inventory.config import InventoryConfig
from services.inventory.domain.commands import DefineDepot, DefineSku
from services.inventory.service_layer import handlers
from services.inventory.service_layer.handlers import Context
from shared.events import topics
from shared.events.codec import wrap
from shared.events.payloads import OrderLine, OrderPlaced
from shared.messaging.broker import EmbeddedBroker, free_port
from shared.messaging.kafka import ensure_topics
from shared.settings import Settings

log = logging.getLogger("bench.stock_events")


def _psycopg(url: str) -> str:
    return url.replace("postgresql://", "postgresql+psycopg://", 1) if url.startswith("postgresql://") else url


def make_database(url: str | None, workdir: Path, tag: str) -> str:
    if not url:
        return f"sqlite:///{workdir}/inventory.db"
    engine = create_engine(_psycopg(url))
    with engine.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "bench_{tag}"'))
    engine.dispose()
    separator = "&" if "?" in url else "?"
    return f"{_psycopg(url)}{separator}options=-csearch_path%3Dbench_{tag}"


def drop_database(url: str | None, tag: str) -> None:
    if url:
        engine = create_engine(_psycopg(url))
        with engine.begin() as connection:
            connection.execute(text(f'DROP SCHEMA IF EXISTS "bench_{tag}" CASCADE'))
        engine.dispose()


async def produce(settings: Settings, topic: str, messages: list[tuple[bytes, bytes]]) -> float:
    producer = AIOKafkaProducer(bootstrap_servers=settings.broker_url, linger_ms=10, max_batch_size=256 * 1024)
    await producer.start()
    started = time.perf_counter()
    try:
        futures = [await producer.send(settings.topic(topic), value, key=key) for key, value in messages]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return time.perf_counter() - started


async def wait_until(check, timeout_s: float) -> None:  # type: ignore[no-untyped-def]
    deadline = time.perf_counter() + timeout_s
    while not await asyncio.to_thread(check):
        if time.perf_counter() > deadline:
            raise TimeoutError("benchmark did not finish in time")
        await asyncio.sleep(0.05)


async def run(args: argparse.Namespace) -> dict[str, object]:
    tag = uuid.uuid4().hex[:8]
    workdir = Path(tempfile.mkdtemp(prefix="lifeline-bench-"))
    broker = None
    broker_url = args.broker
    if not broker_url:
        broker = EmbeddedBroker(port=free_port(), log_path=workdir / "tansu.log")
        broker.start()
        broker_url = broker.url
    database_url = make_database(args.database_url, workdir, tag)
    settings = Settings(
        mode="test", broker_url=broker_url, topic_prefix=f"bench{tag}.", consumer_group_suffix=f"-{tag}",
        var_dir=str(workdir), inventory_database_url=database_url, outbox_poll_interval_s=0.05,
    )
    ctx = Context(config=InventoryConfig(low_stock_units=0))
    runtime = build_runtime(settings, ctx)
    runtime.create_schema()
    rng = random.Random(args.seed)
    depots = [f"DC-{i}" for i in range(args.depots)]
    skus = [f"SKU-{i}" for i in range(args.skus)]
    for i, depot in enumerate(depots):
        command = DefineDepot(depot, depot, "district", 39.9 + i / 100, 116.4, "east", True)
        handlers.define_depot(runtime.uow(), command, ctx)
    for sku in skus:
        handlers.define_sku(runtime.uow(), DefineSku(sku, sku, "staple", 1.0, 1.0, False), ctx)
    await ensure_topics(settings)

    # --- stock events, as a foreign producer writes them ---------------------------------
    expected: dict[tuple[str, str], int] = defaultdict(int)
    messages: list[tuple[bytes, bytes]] = []
    distinct = 0
    for n in range(args.events):
        depot, sku = rng.choice(depots), rng.choice(skus)
        quantity = rng.randint(1, 5) + args.orders  # enough for every order to be reservable
        event = {
            "specversion": "1.0", "id": f"wms-{tag}-{n}", "source": "wms/bench",
            "type": "lifeline.stock.received", "time": "2026-11-20T06:30:00Z",
            "datacontenttype": "application/json",
            "data": {"depot_id": depot, "sku": sku, "quantity": quantity, "reason": "bench"},
        }
        body = json.dumps(event).encode()
        key = f"{depot}:{sku}".encode()
        messages.append((key, body))
        expected[(depot, sku)] += quantity
        distinct += 1
        if rng.random() < args.duplicates:
            messages.append((key, body))  # the same id again: must apply once
    produce_s = await produce(settings, topics.STOCK_UPDATES.name, messages)

    engine = runtime.engine
    inbox = messaging.inbox

    def inbox_count() -> int:
        with engine.connect() as connection:
            return int(connection.execute(select(func.count()).select_from(inbox)).scalar_one())

    # CPU seconds spent inside the consumer's batch processing (its worker threads), by
    # wrapping process_batch; process CPU adds the loop, relay and the polling below.
    consumer_cpu = [0.0]
    process_batch = runtime.consumer.process_batch

    def timed_batch(topic, records):  # type: ignore[no-untyped-def]
        started = time.thread_time()
        try:
            return process_batch(topic, records)
        finally:
            consumer_cpu[0] += time.thread_time() - started

    runtime.consumer.process_batch = timed_batch  # type: ignore[method-assign]
    consumer_task = asyncio.create_task(runtime.consumer.run())
    relay_task = asyncio.create_task(runtime.relay.run())
    results: dict[str, object] = {}
    try:
        started = time.perf_counter()
        cpu_started, consumer_started = time.process_time(), consumer_cpu[0]
        await wait_until(lambda: inbox_count() >= distinct, args.timeout)
        stock_s = time.perf_counter() - started
        stock_cpu = time.process_time() - cpu_started
        stock_consumer_cpu = consumer_cpu[0] - consumer_started
        await asyncio.sleep(1.0)  # let stragglers (duplicates) pass, then check exactly-once
        with engine.connect() as connection:
            actual = {
                (r.depot_id, r.sku): r.on_hand
                for r in connection.execute(select(stock_t.c.depot_id, stock_t.c.sku, stock_t.c.on_hand))
            }
        exactly_once = actual == dict(expected) and inbox_count() == distinct
        results["stock_events"] = {
            "messages": len(messages), "distinct": distinct, "duplicates": len(messages) - distinct,
            "produce_s": round(produce_s, 3), "consume_s": round(stock_s, 3),
            "events_per_s": round(len(messages) / stock_s, 1), "exactly_once": exactly_once,
            "process_cpu_ms_per_event": round(1000 * stock_cpu / len(messages), 3),
            "consumer_cpu_ms_per_event": round(1000 * stock_consumer_cpu / len(messages), 3),
        }

        # --- reservations ------------------------------------------------------------------
        now = datetime.now(UTC)
        orders = [
            OrderPlaced(
                order_id=f"O-{tag}-{n}", household_id=f"H-{n}", community_id="C-1",
                priority=rng.choice(["medical", "vulnerable", "standard"]),
                items=[OrderLine(sku=rng.choice(skus), quantity=1)], placed_at=now,
            )
            for n in range(args.orders)
        ]
        order_messages = [(o.key().encode(), wrap(o, source="bench").to_bytes()) for o in orders]
        before = inbox_count()
        await produce(settings, topics.ORDERS.name, order_messages)
        started = time.perf_counter()
        cpu_started, consumer_started = time.process_time(), consumer_cpu[0]

        def allocated() -> bool:
            with engine.connect() as connection:
                count = connection.execute(select(func.count()).select_from(allocations_t)).scalar_one()
            return int(count) >= len(orders)

        await wait_until(allocated, args.timeout)
        orders_s = time.perf_counter() - started
        orders_cpu = time.process_time() - cpu_started
        orders_consumer_cpu = consumer_cpu[0] - consumer_started
        with engine.connect() as connection:
            reserved = int(connection.execute(
                select(func.count()).select_from(allocations_t).where(allocations_t.c.status == "reserved")
            ).scalar_one())
            total_reserved = int(connection.execute(select(func.sum(stock_t.c.reserved))).scalar_one() or 0)
        results["reservations"] = {
            "orders": len(orders), "reserved": reserved, "units_reserved": total_reserved,
            "seconds": round(orders_s, 3), "orders_per_s": round(len(orders) / orders_s, 1),
            "process_cpu_ms_per_order": round(1000 * orders_cpu / len(orders), 3),
            "consumer_cpu_ms_per_order": round(1000 * orders_consumer_cpu / len(orders), 3),
            "consistent": reserved == len(orders) == total_reserved and inbox_count() - before == len(orders),
        }
        results["database"] = engine.dialect.name
    finally:
        runtime.consumer.stop()
        runtime.relay.stop()
        for task in (consumer_task, relay_task):
            task.cancel()
        await asyncio.gather(consumer_task, relay_task, return_exceptions=True)
        runtime.engine.dispose()
        drop_database(args.database_url, tag)
        if broker is not None:
            broker.stop()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--duplicates", type=float, default=0.05, help="share of events sent twice")
    parser.add_argument("--orders", type=int, default=2_000)
    parser.add_argument("--depots", type=int, default=4)
    parser.add_argument("--skus", type=int, default=50)
    parser.add_argument("--broker", help="host:port of a running broker (default: start Tansu)")
    parser.add_argument("--database-url", help="PostgreSQL URL (default: a SQLite file)")
    parser.add_argument("--timeout", type=float, default=600)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    results = asyncio.run(run(args))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
