"""After a fault: drain the topics, read the databases, and check the invariants.

Jepsen's queue checks, in Lifeline's terms: no accepted order lost, no effect applied twice,
stock conserved per (depot, SKU), and nothing on a consumed topic left unseen.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from services.simulation.outcome import query
from shared.events import topics
from shared.messaging.kafka import read_from_start
from shared.settings import Settings

ORDERS_HANDLES = {
    "lifeline.stock.reserved", "lifeline.order.backordered", "lifeline.reservation.rejected",
    "lifeline.reservation.released",
}
INVENTORY_HANDLES = {
    "lifeline.order.placed", "lifeline.order.cancelled",
    "lifeline.stock.received", "lifeline.stock.adjusted", "lifeline.stock.counted",
}


@dataclass
class Drained:
    """Every record of a topic, decoded where it is a CloudEvent."""

    events: list[dict[str, Any]] = field(default_factory=list)
    undecodable: int = 0

    def of_type(self, type_: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e.get("type") == type_]


async def drain(settings: Settings, topic: str, *, without_dead_letters: bool = True) -> Drained:
    """The topic's events; by default without those a consumer dead-lettered (poison)."""
    drained = await _read_all(settings, settings.topic(topic))
    if without_dead_letters:
        dead = {event.get("id") for event in (await _read_all(settings, settings.topic(topic) + ".dlq")).events}
        drained.events = [event for event in drained.events if event.get("id") not in dead]
    return drained


async def _read_all(settings: Settings, name: str) -> Drained:
    drained = Drained()
    for raw in await read_from_start(settings, name):
        try:
            value = json.loads(raw or b"")
        except ValueError:
            value = None
        if isinstance(value, dict) and "type" in value:
            drained.events.append(value)
        else:
            drained.undecodable += 1
    return drained


async def check_orders_invariants(settings: Settings, accepted: list[str]) -> None:
    """Every accepted order exists once, settled once, and went through the broker once in effect."""
    rows = query(settings, "orders", "SELECT id, status FROM orders")
    stored = {row.id: row.status for row in rows}
    assert len(rows) == len(stored)
    missing = set(accepted) - set(stored)
    assert not missing, f"accepted orders lost: {sorted(missing)[:5]}"
    assert set(stored) == set(accepted), f"orders nobody accepted: {sorted(set(stored) - set(accepted))[:5]}"
    unsettled = {oid: status for oid, status in stored.items() if status not in ("reserved", "backordered")}
    assert not unsettled, f"orders not settled: {list(unsettled.items())[:5]}"

    timeline = Counter(
        (row.order_id, row.status)
        for row in query(settings, "orders", "SELECT order_id, status FROM order_timeline")
    )
    twice = {key: n for key, n in timeline.items() if n > 1}
    assert not twice, f"a status entered twice: {list(twice.items())[:5]}"

    placed = (await drain(settings, topics.ORDERS.name)).of_type("lifeline.order.placed")
    placed_ids: dict[str, set[str]] = defaultdict(set)
    for event in placed:
        placed_ids[event["data"]["order_id"]].add(event["id"])
    assert set(placed_ids) == set(accepted), "an accepted order never reached the orders topic"
    assert all(len(ids) == 1 for ids in placed_ids.values()), "one order, several placed events"

    reservations = await drain(settings, topics.RESERVATIONS.name)
    outcome_ids: dict[tuple[str, str], set[str]] = defaultdict(set)
    for event in reservations.events:
        if not isinstance(event.get("data"), dict) or "order_id" not in event["data"]:
            continue
        outcome_ids[(event["data"]["order_id"], event["type"])].add(event["id"])
    doubled = {key: ids for key, ids in outcome_ids.items() if len(ids) > 1}
    assert not doubled, f"one outcome published twice: {list(doubled.items())[:3]}"
    await check_nothing_unseen(settings, "orders", reservations, ORDERS_HANDLES)


async def check_inventory_invariants(
    settings: Settings, accepted: list[str], stock_event_ids: set[str] | None = None
) -> None:
    """One allocation per order, a balanced ledger, every stock event applied exactly once."""
    allocations = query(settings, "inventory", "SELECT order_id, status, depot_id FROM allocations")
    assert {row.order_id for row in allocations} == set(accepted)

    reserved_rows = Counter(
        (row.order_id, row.sku)
        for row in query(settings, "inventory",
                         "SELECT order_id, sku FROM stock_ledger WHERE movement = 'reserved'")
    )
    assert all(n == 1 for n in reserved_rows.values()), "an order line reserved twice"

    ledger = {
        (row.depot_id, row.sku): (row.on_hand, row.reserved)
        for row in query(settings, "inventory",
                         "SELECT depot_id, sku, SUM(on_hand_delta) AS on_hand, SUM(reserved_delta) AS reserved "
                         "FROM stock_ledger GROUP BY depot_id, sku")
    }
    held = {
        (row.depot_id, row.sku): row.quantity
        for row in query(settings, "inventory",
                         "SELECT a.depot_id, l.sku, SUM(l.quantity) AS quantity FROM allocations a "
                         "JOIN allocation_lines l ON l.order_id = a.order_id "
                         "WHERE a.status = 'reserved' GROUP BY a.depot_id, l.sku")
    }
    for row in query(settings, "inventory", "SELECT depot_id, sku, on_hand, reserved FROM stock"):
        key = (row.depot_id, row.sku)
        assert ledger.get(key, (0, 0)) == (row.on_hand, row.reserved), f"ledger does not balance for {key}"
        assert row.reserved == held.get(key, 0), f"reserved stock differs from reserved orders at {key}"
        assert 0 <= row.reserved <= row.on_hand, f"oversold at {key}"

    applied = Counter(
        (row.event_id, row.depot_id, row.sku)
        for row in query(settings, "inventory",
                         "SELECT event_id, depot_id, sku FROM stock_ledger "
                         "WHERE movement IN ('received', 'adjusted', 'counted')")
    )
    assert all(n == 1 for n in applied.values()), "a stock event applied twice"
    if stock_event_ids is not None:
        missing = stock_event_ids - {event_id for event_id, _d, _s in applied}
        assert not missing, f"stock events never applied: {sorted(missing)[:5]}"

    for topic in (topics.ORDERS.name, topics.STOCK_UPDATES.name):
        await check_nothing_unseen(settings, "inventory", await drain(settings, topic), INVENTORY_HANDLES)


async def check_nothing_unseen(settings: Settings, service: str, drained: Drained, handles: set[str]) -> None:
    """Every event of a type the service handles, on a topic it consumes, is in its inbox."""
    seen = {row.event_id for row in query(settings, service, "SELECT event_id FROM inbox")}
    unseen = {event["id"] for event in drained.events if event.get("type") in handles} - seen
    assert not unseen, f"{service} never handled {len(unseen)} events, e.g. {sorted(unseen)[:3]}"
