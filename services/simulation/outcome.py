"""The outcome of a simulated run: what residents got, read back from the system itself.

Figures come from the services' own databases and topics after the run, the way the fault
suite checks its invariants: each accepted order exists once, was placed once and
delivered at most once; the stock ledger balances per (depot, SKU).
"""

from __future__ import annotations

import json
import logging
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta, tzinfo
from typing import Any

import numpy as np
from sqlalchemy import create_engine, text

from services.demo.city import DemoCity
from services.routing.domain.planning import MEDICINE_SLA, clock_to_seconds
from services.simulation.diagnosis import OrderSeen, diagnose, targets
from services.simulation.driver import DriverLog
from shared.clock import as_utc
from shared.events import topics
from shared.messaging.kafka import read_from_start
from shared.settings import Settings

logger = logging.getLogger(__name__)

MEDICAL_SLA = MEDICINE_SLA  # the promise the plans are built for
VULNERABLE_LIMIT = timedelta(hours=24)
PRIORITIES = ("medical", "vulnerable", "standard")


def query(settings: Settings, service: str, sql: str) -> list[Any]:
    engine = create_engine(settings.database_url(service))  # type: ignore[arg-type]
    try:
        with engine.connect() as connection:
            return list(connection.execute(text(sql)))
    finally:
        engine.dispose()


def _utc(value: Any) -> datetime | None:
    if value is None:
        return None
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return as_utc(moment)


async def topic_events(settings: Settings, topic: str) -> list[dict[str, Any]]:
    """Every decodable event on the topic, from the beginning, without joining a group."""
    events = []
    for raw in await read_from_start(settings, settings.topic(topic)):
        try:
            value = json.loads(raw or b"")
        except ValueError:
            continue
        if isinstance(value, dict) and "type" in value:
            events.append(value)
    return events


def _percentile(values: Sequence[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)), 2) if values else None


async def collect(
    settings: Settings, city: DemoCity, log: DriverLog, *, ended_at: datetime, tz: tzinfo,
) -> dict[str, Any]:
    orders = query(settings, "orders", "SELECT id, household_id, community_id, priority, status, created_at, "
                                       "delivered_at, depot_id FROM orders")
    lines = query(settings, "orders", "SELECT order_id, sku, quantity FROM order_lines")
    weights = {s["id"]: float(s["unit_weight_kg"]) for s in city.skus}
    kg: Counter[str] = Counter()
    for line in lines:
        kg[line.order_id] += weights.get(line.sku, 1.0) * line.quantity

    deliveries, placed_by_hour = [], {p: [0] * 24 for p in PRIORITIES}
    hours_by_priority: dict[str, list[float]] = defaultdict(list)
    placed_per_community: Counter[str] = Counter()
    delivered_per_community: Counter[str] = Counter()
    medical = medical_on_time = 0
    seen: list[OrderSeen] = []
    late_vulnerable: set[str] = set()
    tonnes = 0.0
    for row in orders:
        placed, delivered = _utc(row.created_at), _utc(row.delivered_at)
        assert placed is not None
        seen.append(OrderSeen(row.id, row.priority, row.status, row.community_id, row.depot_id, placed, delivered))
        placed_by_hour.setdefault(row.priority, [0] * 24)[placed.astimezone(tz).hour] += 1
        placed_per_community[row.community_id] += 1
        waited = (delivered or ended_at) - placed
        if row.priority == "medical":
            medical += 1
            on_time = delivered is not None and waited <= MEDICAL_SLA
            medical_on_time += on_time
        if row.priority != "standard" and waited > VULNERABLE_LIMIT and row.status not in ("cancelled", "rejected"):
            late_vulnerable.add(row.household_id)
        if delivered is None:
            continue
        delivered_per_community[row.community_id] += 1
        tonnes += kg[row.id] / 1000
        hours = waited.total_seconds() / 3600
        hours_by_priority[row.priority].append(hours)
        deliveries.append({"order_id": row.id, "priority": row.priority, "community_id": row.community_id,
                           "placed_at": placed.isoformat(), "delivered_at": delivered.isoformat(),
                           "hours": round(hours, 3)})

    diagnosis = diagnose(seen, communities={c["id"]: c for c in city.communities}, vehicles=city.vehicles, tz=tz,
                         ended_at=ended_at, medical_sla=MEDICAL_SLA, vulnerable_limit=VULNERABLE_LIMIT)
    fill = {c: round(delivered_per_community[c] / n, 4) for c, n in sorted(placed_per_community.items())}
    km, busy_h, routes = _fleet_figures(settings)
    audit = await _audit(settings, log, {row.id for row in orders}, len(orders))
    statuses = Counter(row.status for row in orders)
    shift_hours = sum(_shift_hours(v) for v in city.vehicles)
    figures = {
        "medical_orders": medical,
        "medical_within_6h_share": round(medical_on_time / medical, 4) if medical else None,
        # The most the gates' receiving hours allow, and how much of that the run delivered.
        "medical_reachable_within_6h_share": round(diagnosis.medical_reachable / medical, 4) if medical else None,
        "medical_within_6h_share_of_reachable": (round(min(1.0, medical_on_time / diagnosis.medical_reachable), 4)
                                                 if diagnosis.medical_reachable else None),
        "delivery_hours_by_priority": {
            p: {"count": len(v), "median": _percentile(v, 50), "p95": _percentile(v, 95)}
            for p, v in ((p, hours_by_priority.get(p, [])) for p in PRIORITIES)},
        "vulnerable_unserved_over_24h": len(late_vulnerable),
        "fill_rate_by_community": fill,
        "fill_rate_worst_best_ratio": (round(min(fill.values()) / max(fill.values()), 4)
                                       if fill and max(fill.values()) > 0 else None),
        **audit,
        "vehicle_km": round(km, 1), "tonnes_delivered": round(tonnes, 2),
        "vehicle_km_per_tonne": round(km / tonnes, 2) if tonnes else None,
        "vehicle_utilisation": round(busy_h / (shift_hours * diagnosis.days), 4) if shift_hours else None,
    }
    return {
        "targets": targets(figures, diagnosis, seen),
        "depot_load": diagnosis.depot_load(),
        "orders": {"placed": len(orders), "delivered": statuses.get("delivered", 0),
                   "failed_deliveries": statuses.get("delivery_failed", 0), "rejected": statuses.get("rejected", 0),
                   "backordered_open": statuses.get("backordered", 0),
                   "open": sum(n for s, n in statuses.items() if s in ("placed", "reserved", "scheduled")),
                   "refused_at_intake": sum(log.refused.values()), "refusals": dict(log.refused)},
        "actions_failed": sum(log.failed.values()), "failed_actions": dict(log.failed),
        "figures": figures,
        "deliveries": deliveries,
        "placed_by_hour": placed_by_hour,
        "communities": [{k: c[k] for k in ("id", "name", "lat", "lon", "risk_level")} for c in city.communities],
        "depots": [{k: d[k] for k in ("id", "lat", "lon", "tier")} for d in city.depots],
        "routes": routes,
        "events": log.events,
    }


def _shift_hours(vehicle: dict[str, Any]) -> float:
    start, end = vehicle.get("shift_start", "06:00"), vehicle.get("shift_end", "20:00")
    return (clock_to_seconds(end) - clock_to_seconds(start)) / 3600


def _fleet_figures(settings: Settings) -> tuple[float, float, list[dict[str, Any]]]:
    """Distance and busy hours of what was driven: the heads of the re-plan chains (a
    superseded plan's routes live on in the plan that replaced it)."""
    km = busy_h = 0.0
    routes = []
    for row in query(settings, "routing", "SELECT result FROM plan WHERE status = 'dispatched'"):
        result = json.loads(row.result) if isinstance(row.result, str) else row.result
        for route in result.get("routes", []):
            km += route.get("distance_km", 0.0)
            busy_h += route.get("duration_min", 0.0) / 60
            routes.append({"vehicle_id": route["vehicle_id"], "depot_id": route["depot_id"],
                           "points": [[s["lat"], s["lon"]] for s in route["stops"]]})
    return km, busy_h, routes


async def _audit(settings: Settings, log: DriverLog, stored: set[str], rows: int) -> dict[str, Any]:
    accepted = set(log.accepted)
    placed = _ids_per_order(await topic_events(settings, topics.ORDERS.name), "lifeline.order.placed")
    delivered = _ids_per_order(await topic_events(settings, topics.DELIVERIES.name), "lifeline.order.delivered")
    lost = accepted - stored
    doubled = (rows - len(stored)) + len(stored - accepted)
    doubled += sum(1 for ids in placed.values() if len(ids) > 1) + sum(1 for ids in delivered.values() if len(ids) > 1)
    return {"orders_lost": len(lost) + len(accepted - set(placed)), "orders_doubled": doubled,
            "stock_conserved": _stock_conserved(settings)}


def _ids_per_order(events: Iterable[dict[str, Any]], type_: str) -> dict[str, set[str]]:
    ids: dict[str, set[str]] = defaultdict(set)
    for event in events:
        if event.get("type") == type_:
            ids[event["data"]["order_id"]].add(event["id"])
    return ids


#: Each stock row beside the sums of its ledger, in one statement: one snapshot of both, so
#: a shipment committed while the outcome is read cannot fall between two reads.
_STOCK_AGAINST_LEDGER = (
    "SELECT s.depot_id, s.sku, s.on_hand, s.reserved, COALESCE(l.on_hand, 0) AS ledger_on_hand, "
    "COALESCE(l.reserved, 0) AS ledger_reserved FROM stock s LEFT JOIN ("
    "SELECT depot_id, sku, SUM(on_hand_delta) AS on_hand, SUM(reserved_delta) AS reserved "
    "FROM stock_ledger GROUP BY depot_id, sku) l ON l.depot_id = s.depot_id AND l.sku = s.sku"
)


def _stock_conserved(settings: Settings) -> bool:
    """Every (depot, SKU): on hand and reserved are the sums of the ledger, and never oversold."""
    off = [
        row for row in query(settings, "inventory", _STOCK_AGAINST_LEDGER)
        if (row.on_hand, row.reserved) != (row.ledger_on_hand, row.ledger_reserved)
        or not 0 <= row.reserved <= row.on_hand
    ]
    for row in off[:10]:
        logger.warning("stock not conserved at %s/%s: on hand %s reserved %s, ledger %s/%s", row.depot_id, row.sku,
                    row.on_hand, row.reserved, row.ledger_on_hand, row.ledger_reserved)
    return not off
