"""Benchmark: CPU per event of the orders and routing consumers, without a broker.

Builds each service's real runtime (engine, unit of work, ``ConsumerRunner`` with its real
handlers) on a real database and feeds ``ConsumerRunner.process_batch`` batches of
ConsumerRecord-like objects carrying real CloudEvent bytes, as the Kafka poll loop would.
Reports CPU ms per event (``time.process_time``: this process only, so on PostgreSQL the
server's own work is not counted) and events/s, and checks the effect afterwards:

 - orders: N orders placed through the intake path, then ``lifeline.stock.reserved`` for
   each; then the same events again (inbox duplicates) and the same facts under new event
   ids (status-machine duplicates) and late ``backordered`` facts (out of order), which must
   change nothing: every order ends ``reserved`` with exactly two timeline rows.
 - routing: ``lifeline.order.placed`` then ``lifeline.stock.reserved`` for N orders; every
   demand row ends ``reserved`` at its depot with its lines.

    nice -n 19 .venv/bin/python bench/consumers.py --orders 2000
    nice -n 19 .venv/bin/python bench/consumers.py --database-url postgresql://postgres@127.0.0.1:5432/test
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import create_engine, text

from services.orders.bootstrap import build_runtime as build_orders
from services.orders.domain.commands import (
    PlaceOrder,
    RegisterCommunity,
    RegisterHousehold,
)
from services.orders.domain.model import Line
from services.orders.service_layer import handlers as orders_handlers
from services.routing.bootstrap import build_runtime as build_routing
from shared.auth import Principal
from shared.clock import as_utc
from shared.events import topics
from shared.events.codec import wrap
from shared.events.payloads import (
    EventPayload,
    OrderBackordered,
    OrderCancelled,
    OrderLine,
    OrderPlaced,
    ReservationReleased,
    SkuDefined,
    StockReserved,
)
from shared.messaging.consumer import ConsumerRunner
from shared.settings import Settings

SKUS = ["RICE-5KG", "OIL-1L", "VEG-BOX"]
ADMIN = Principal(subject="bench", role="admin")


@dataclass
class Record:
    """What ``process_batch`` reads of an aiokafka ConsumerRecord."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    headers: Sequence[tuple[str, bytes]] = field(default_factory=tuple)


def _psycopg(url: str) -> str:
    return url.replace("postgresql://", "postgresql+psycopg://", 1) if url.startswith("postgresql://") else url


def make_database(url: str | None, workdir: Path, tag: str, service: str) -> str:
    if not url:
        return f"sqlite:///{workdir}/{service}.db"
    engine = create_engine(_psycopg(url))
    with engine.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "bench_{service}_{tag}"'))
    engine.dispose()
    separator = "&" if "?" in url else "?"
    return f"{_psycopg(url)}{separator}options=-csearch_path%3Dbench_{service}_{tag}"


def drop_database(url: str | None, tag: str, service: str) -> None:
    if url:
        engine = create_engine(_psycopg(url))
        with engine.begin() as connection:
            connection.execute(text(f'DROP SCHEMA IF EXISTS "bench_{service}_{tag}" CASCADE'))
        engine.dispose()


def records(topic: str, payloads: Sequence[EventPayload], source: str, *, start: int = 0) -> list[Record]:
    out = []
    for offset, payload in enumerate(payloads, start):
        event = wrap(payload, source=source)
        out.append(Record(topic, 0, offset, payload.key().encode(), event.to_bytes()))
    return out


@dataclass
class Phase:
    name: str
    events: int
    cpu_s: float
    wall_s: float

    def line(self) -> str:
        return (f"  {self.name:<44} {self.events:>6} events  {1000 * self.cpu_s / self.events:7.3f} CPU ms/event"
                f"  {self.events / self.cpu_s:8.0f} events/CPU-s  {self.events / self.wall_s:8.0f} events/s")

    def as_dict(self) -> dict[str, Any]:
        return {"events": self.events, "cpu_ms_per_event": round(1000 * self.cpu_s / self.events, 4),
                "events_per_s": round(self.events / self.wall_s, 1)}


def feed(name: str, runner: ConsumerRunner, topic: str, batch: list[Record], size: int) -> Phase:
    cpu, wall = time.process_time(), time.perf_counter()
    for i in range(0, len(batch), size):
        outcome = runner.process_batch(topic, batch[i:i + size])  # type: ignore[arg-type]
        if outcome.dead_letters:
            raise SystemExit(f"{name}: dead letters: {outcome.dead_letters[:3]}")
    return Phase(name, len(batch), time.process_time() - cpu, time.perf_counter() - wall)


def floor(name: str, runtime: Any, settings: Settings, topic: str, payloads: Sequence[EventPayload],
          size: int) -> Phase:
    """The shared runner's own cost per event (decode, savepoint, inbox check and row) with
    a handler that does nothing: the part no service-side change can remove."""
    noop = ConsumerRunner(name="bench-floor", settings=settings, topics=[],
                          handlers={StockReserved.TYPE: lambda _uow, _p, _e: None},
                          uow_factory=runtime.uow)
    return feed(name, noop, topic, records(topic, payloads, "bench"), size)


def reserved_for(order_id: str, community_id: str, placed_at: datetime, depot: str) -> StockReserved:
    return StockReserved(
        order_id=order_id, depot_id=depot, community_id=community_id, priority="standard",
        lines=[OrderLine(sku=SKUS[0], quantity=1), OrderLine(sku=SKUS[2], quantity=2)],
        placed_at=placed_at,
    )


# --- orders ---------------------------------------------------------------------------

def place_orders(runtime: Any, households: Sequence[str], n: int) -> list[tuple[str, datetime]]:
    placed: list[tuple[str, datetime]] = []
    for i in range(n):
        details, _ = orders_handlers.place_order(PlaceOrder(
            caller="bench", household_id=households[i % len(households)],
            lines=(Line(SKUS[0], 1), Line(SKUS[2], 2)), contactless=True, note=None,
            idempotency_key=None, request_fingerprint="x",
        ), ADMIN, runtime.uow(), rate_per_minute=10**9)
        placed.append((details.order.id, details.order.created_at))
    return placed


def check_failed_events_leave_nothing(runtime: Any, households: Sequence[str], topic: str) -> None:
    """An event that fails half-way (its timeline INSERT refused by a trigger) must leave no
    trace in the batch that commits around it: redelivered later, it applies in full."""
    placed = place_orders(runtime, households, 10)
    doomed = [placed[3][0], placed[6][0]]
    sqlite = runtime.engine.dialect.name == "sqlite"
    names = ", ".join(f"'{oid}'" for oid in doomed)
    with runtime.engine.begin() as connection:
        if sqlite:
            connection.execute(text(
                f"CREATE TRIGGER bench_sabotage BEFORE INSERT ON order_timeline "
                f"WHEN NEW.order_id IN ({names}) BEGIN SELECT RAISE(ABORT, 'sabotage'); END"))
        else:
            connection.execute(text(
                "CREATE FUNCTION bench_sabotage() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                f"IF NEW.order_id IN ({names}) THEN RAISE EXCEPTION 'sabotage'; END IF; "
                "RETURN NEW; END $$"))
            connection.execute(text(
                "CREATE TRIGGER bench_sabotage BEFORE INSERT ON order_timeline "
                "FOR EACH ROW EXECUTE FUNCTION bench_sabotage()"))
    batch = records(topic, [reserved_for(oid, "C-1", at, "DC-2") for oid, at in placed],
                    "lifeline/inventory", start=10**6)
    logging.disable(logging.WARNING)  # the runner logs each failed attempt
    try:
        outcome = runtime.consumer.process_batch(topic, batch)
    finally:
        logging.disable(logging.NOTSET)
    failed = sorted(json.loads(record.value)["data"]["order_id"] for record, _, _ in outcome.dead_letters)
    if failed != sorted(doomed):
        # (None failing means the retry found the first attempt's UPDATE: half-written.)
        raise SystemExit(f"orders: expected {doomed} to fail, got {failed}: half-written state?")
    with runtime.engine.begin() as connection:
        connection.execute(text("DROP TRIGGER bench_sabotage" + ("" if sqlite else " ON order_timeline")))
        if not sqlite:
            connection.execute(text("DROP FUNCTION bench_sabotage()"))
    again = [record for record in batch if json.loads(record.value)["data"]["order_id"] in doomed]
    if runtime.consumer.process_batch(topic, again).dead_letters:
        raise SystemExit("orders: redelivered events failed")
    ids = ", ".join(f"'{oid}'" for oid, _ in placed)
    with runtime.engine.connect() as connection:
        rows = connection.execute(text(
            f"SELECT o.id, o.status, o.depot_id, count(t.id) FROM orders o JOIN order_timeline t "
            f"ON t.order_id = o.id WHERE o.id IN ({ids}) GROUP BY o.id, o.status, o.depot_id")).all()
    if sorted(rows) != sorted((oid, "reserved", "DC-2", 2) for oid, _ in placed):
        raise SystemExit(f"orders: a failed event left half its writes: {sorted(rows)}")


def bench_orders(settings: Settings, n: int, size: int) -> list[Phase]:
    runtime = build_orders(settings)
    runtime.create_schema()
    runner = runtime.consumer
    catalog_topic = settings.topic(topics.CATALOG.name)
    feed("seed catalog", runner, catalog_topic, records(catalog_topic, [
        SkuDefined(sku=sku, name=sku, category="staple", unit_weight_kg=1, unit_volume_l=1,
                   cold_chain=False) for sku in SKUS], "lifeline/inventory"), 50)
    orders_handlers.register_community(RegisterCommunity(
        "C-1", "Bench community", "chaoyang", 39.9, 116.4, "sealed", (("07:00", "09:00"),), 10,
    ), runtime.uow())
    households = [f"H-{i}" for i in range(max(1, n // 20))]
    for household in households:
        orders_handlers.register_household(
            RegisterHousehold(household, "C-1", 3, frozenset()), ADMIN, runtime.uow()
        )
    placed = place_orders(runtime, households, n)
    topic = settings.topic(topics.RESERVATIONS.name)
    facts = [reserved_for(oid, "C-1", at, "DC-1") for oid, at in placed]
    reserved = records(topic, facts, "lifeline/inventory")
    phases = [floor("orders: runner floor (no-op handler)", runtime, settings, topic, facts, size),
              feed("orders: apply stock.reserved", runner, topic, reserved, size)]
    # The same records again: the inbox skips them.
    phases.append(feed("orders: same events again (inbox)", runner, topic, reserved, size))
    # The same facts under new event ids, and late backorders: the status machine ignores them.
    again = records(topic, [reserved_for(oid, "C-1", at, "DC-1") for oid, at in placed]
                    + [OrderBackordered(order_id=oid, reason="late") for oid, _ in placed],
                    "lifeline/inventory", start=len(reserved))
    phases.append(feed("orders: same facts, new ids + late backorder", runner, topic, again, size))

    check_failed_events_leave_nothing(runtime, households, topic)
    n += 10
    with runtime.engine.connect() as connection:
        statuses: dict[str, int] = dict(
            connection.execute(text("SELECT status, count(*) FROM orders GROUP BY status")).all())  # type: ignore[arg-type]
        timeline: dict[str, int] = dict(connection.execute(text(
            "SELECT status, count(*) FROM order_timeline GROUP BY status")).all())
        depots = connection.execute(text("SELECT count(*) FROM orders WHERE depot_id LIKE 'DC-%' "
                                         "AND status_reason IS NULL")).scalar_one()
        inbox = connection.execute(text("SELECT count(*) FROM inbox")).scalar_one()
        sample = connection.execute(text("SELECT updated_at, created_at FROM orders LIMIT 1")).one()
    expected_inbox = len(SKUS) + 2 * len(reserved) + len(again) + 10
    if statuses != {"reserved": n} or timeline != {"placed": n, "reserved": n} or depots != n \
            or inbox != expected_inbox:
        raise SystemExit(f"orders: wrong end state: {statuses} {timeline} depots={depots} inbox={inbox}")
    # What the ORM reads back must still be what it would have written itself.
    with runtime.uow() as uow:
        order = uow.orders.get(placed[0][0])
        assert order is not None and as_utc(order.updated_at) >= as_utc(order.created_at), sample
        entries = uow.orders.timeline(order.id)
        assert [e.status for e in entries] == ["placed", "reserved"], entries
        assert entries[1].detail == {"depot_id": "DC-1"}, entries[1].detail
    runtime.engine.dispose()
    return phases


# --- routing --------------------------------------------------------------------------

def check_transitions(runtime: Any, settings: Settings, now: datetime) -> None:
    """Routing's view of an order never moves backwards, within one batch or across."""
    orders_topic = settings.topic(topics.ORDERS.name)
    topic = settings.topic(topics.RESERVATIONS.name)

    def placed(oid: str) -> OrderPlaced:
        return OrderPlaced(order_id=oid, household_id="H-0", community_id="C-0", priority="medical",
                           placed_at=now, items=[OrderLine(sku=SKUS[0], quantity=1)])

    def released(oid: str) -> ReservationReleased:
        return ReservationReleased(order_id=oid, depot_id="DC-0", reason="bench")

    def reserved(oid: str) -> StockReserved:
        return reserved_for(oid, "C-0", now, "DC-0")

    steps: list[tuple[str, list[EventPayload]]] = [
        (orders_topic, [OrderCancelled(order_id="X"), placed("Y"), placed("Z")]),
        (topic, [reserved("X"), reserved("Y"), released("Y"), reserved("Y"), released("Y")]),
        (orders_topic, [OrderCancelled(order_id="Z"), placed("Z"), placed("X")]),
        (topic, [reserved("Z")]),
    ]
    for offset, (where, payloads) in enumerate(steps):
        batch = records(where, payloads, "bench", start=10**6 + 10 * offset)
        if runtime.consumer.process_batch(where, batch).dead_letters:
            raise SystemExit("routing: transitions dead-lettered")
    with runtime.engine.connect() as connection:
        rows = dict(connection.execute(text(
            "SELECT order_id, status FROM demandorder WHERE order_id IN ('X', 'Y', 'Z')")).all())
    if rows != {"X": "cancelled", "Y": "released", "Z": "cancelled"}:
        raise SystemExit(f"routing: wrong transitions: {rows}")


def bench_routing(settings: Settings, n: int, size: int) -> list[Phase]:
    runtime = build_routing(settings)
    runtime.create_schema()
    runner = runtime.consumer
    now = datetime.now(UTC)
    ids = [f"01BENCH{i:019d}" for i in range(n)]
    orders_topic = settings.topic(topics.ORDERS.name)
    placed = records(orders_topic, [
        OrderPlaced(order_id=oid, household_id=f"H-{i % 50}", community_id=f"C-{i % 7}",
                    priority="standard", placed_at=now - timedelta(seconds=n - i),
                    items=[OrderLine(sku=SKUS[0], quantity=1), OrderLine(sku=SKUS[2], quantity=2)])
        for i, oid in enumerate(ids)], "lifeline/orders")
    topic = settings.topic(topics.RESERVATIONS.name)
    facts = [reserved_for(oid, f"C-{i % 7}", now - timedelta(seconds=n - i), f"DC-{i % 3}")
             for i, oid in enumerate(ids)]
    reserved = records(topic, facts, "lifeline/inventory")
    phases = [
        floor("routing: runner floor (no-op handler)", runtime, settings, topic, facts, size),
        feed("routing: record order.placed", runner, orders_topic, placed, size),
        feed("routing: record stock.reserved", runner, topic, reserved, size),
    ]
    # A late placed (new event id) must not undo the reservation.
    late = records(orders_topic, [
        OrderPlaced(order_id=oid, household_id="H-0", community_id="C-late", priority="standard",
                    placed_at=now, items=[OrderLine(sku=SKUS[1], quantity=9)]) for oid in ids[:50]],
        "lifeline/orders", start=len(placed))
    phases.append(feed("routing: late order.placed", runner, orders_topic, late, size))
    check_transitions(runtime, settings, now)
    with runtime.engine.connect() as connection:
        statuses: dict[str, int] = dict(connection.execute(text(
            "SELECT status, count(*) FROM demandorder WHERE order_id LIKE '01BENCH%' "
            "GROUP BY status")).all())
        rows = connection.execute(text(
            "SELECT order_id, depot_id, community_id, lines FROM demandorder "
            "WHERE order_id LIKE '01BENCH%' ORDER BY order_id")).all()
    if statuses != {"reserved": n}:
        raise SystemExit(f"routing: wrong end state: {statuses}")
    for i, (oid, depot, community, lines) in enumerate(rows):
        lines = json.loads(lines) if isinstance(lines, str) else lines
        if oid != ids[i] or depot != f"DC-{i % 3}" or community != f"C-{i % 7}" or lines != [
                {"sku": SKUS[0], "quantity": 1}, {"sku": SKUS[2], "quantity": 2}]:
            raise SystemExit(f"routing: wrong row {oid} {depot} {community} {lines}")
    from services.routing.adapters.orm import DemandOrder
    with runtime.uow() as uow:
        row = uow.session.get(DemandOrder, ids[0])
        assert row is not None and row.placed_at is not None and row.placed_at.tzinfo is not None, row
        assert row.priority == "standard", row
    runtime.engine.dispose()
    return phases


def run(args: argparse.Namespace) -> dict[str, Any]:
    tag = uuid.uuid4().hex[:8]
    workdir = Path(tempfile.mkdtemp(prefix="lifeline-bench-consumers-"))
    results: dict[str, Any] = {"database": "postgresql" if args.database_url else "sqlite",
                               "orders": args.orders, "batch": args.batch}
    jobs: list[tuple[str, Callable[[Settings, int, int], list[Phase]]]] = []
    if args.service in ("orders", "all"):
        jobs.append(("orders", bench_orders))
    if args.service in ("routing", "all"):
        jobs.append(("routing", bench_routing))
    print(f"{results['database']}, {args.orders} orders, batches of {args.batch}")
    for service, job in jobs:
        url = make_database(args.database_url, workdir, tag, service)
        settings = Settings(mode="test", var_dir=str(workdir), topic_prefix=f"bench{tag}.",
                            **cast(dict[str, Any], {f"{service}_database_url": url}))
        try:
            for phase in job(settings, args.orders, args.batch):
                print(phase.line())
                results[phase.name] = phase.as_dict()
        finally:
            drop_database(args.database_url, tag, service)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=10, help="records per process_batch call")
    parser.add_argument("--service", choices=("orders", "routing", "all"), default="all")
    parser.add_argument("--database-url", help="PostgreSQL URL (default: a SQLite file)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON too")
    args = parser.parse_args()
    results = run(args)
    if args.json:
        print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
