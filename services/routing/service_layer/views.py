"""Read-only queries the API serves (cosmicpython's views): no rule, no write."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Collection
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Any

from sqlalchemy import select
from sqlmodel import col

from services.routing.adapters.orm import Community, DemandOrder, Depot, Plan, Sku, Vehicle, VehiclePosition
from services.routing.domain import demand as demand_states
from services.routing.domain.demand import SkuSize, load_of
from services.routing.domain.planning import MEDICINE_SLA
from services.routing.service_layer.fleet_state import dispatched_plans, recorded_stops
from services.routing.service_layer.unit_of_work import RoutingUnitOfWork
from shared.auth import Principal


def plans_of(
    uow: RoutingUnitOfWork, principal: Principal, depot_id: str | None, service_date: date | None, limit: int,
) -> list[Plan]:
    """Plans newest first, of ``depot_id`` (or every depot the principal may see)."""
    query = select(Plan).order_by(col(Plan.created_at).desc(), col(Plan.id).desc())
    if service_date is not None:
        query = query.where(col(Plan.service_date) == service_date)
    visible = None if principal.role == "admin" else principal.depot_ids
    wanted = {depot_id} if depot_id is not None else visible
    found: list[Plan] = []
    # depot_ids is a JSON list: filtered here (a depot has tens of plans a day, not millions)
    for plan in uow.session.execute(query).scalars():
        depots = set(plan.depot_ids)
        if (wanted is None or depots & wanted) and (visible is None or depots & visible):
            found.append(plan)
            if len(found) >= limit:
                break
    return found


def depots_of(uow: RoutingUnitOfWork, depot_ids: Collection[str]) -> list[dict[str, Any]]:
    """Where the depots are (a plan's map)."""
    depots = uow.session.execute(select(Depot).where(col(Depot.id).in_(depot_ids))).scalars()
    return [{"id": d.id, "lat": d.lat, "lon": d.lon} for d in depots]


def vehicles_of(uow: RoutingUnitOfWork, principal: Principal, depot_id: str | None) -> list[Vehicle]:
    """The vehicles of ``depot_id`` (or of every depot the principal may see), by id."""
    query = select(Vehicle).order_by(col(Vehicle.id))
    if depot_id is not None:
        query = query.where(col(Vehicle.depot_id) == depot_id)
    if principal.role != "admin":
        query = query.where(col(Vehicle.depot_id).in_(principal.depot_ids))
    return list(uow.session.execute(query).scalars())


def demand_of(uow: RoutingUnitOfWork, depot_id: str) -> list[dict[str, Any]]:
    """Reserved, unscheduled orders of a depot, grouped by community."""
    orders = uow.session.execute(
        select(DemandOrder).where(col(DemandOrder.depot_id) == depot_id,
                                  col(DemandOrder.status) == demand_states.RESERVED)
    ).scalars().all()
    sizes = {
        s.id: SkuSize(s.unit_weight_kg, s.unit_volume_l, s.cold_chain)
        for s in uow.session.execute(select(Sku)).scalars()
    }
    communities = {
        c.id: c for c in uow.session.execute(
            select(Community).where(col(Community.id).in_({o.community_id for o in orders}))
        ).scalars()
    }
    grouped: dict[str, list[DemandOrder]] = defaultdict(list)
    for order in orders:
        grouped[order.community_id].append(order)
    result = []
    for community_id, members in sorted(grouped.items()):
        loads = [load_of(o.lines, sizes) for o in members]
        community = communities.get(community_id)
        placed = [o.placed_at for o in members if o.placed_at is not None]
        result.append({
            "community_id": community_id,
            "community_name": community.name if community else None,
            "risk_level": community.risk_level if community else None,
            "orders": len(members),
            "weight_kg": round(sum(load.kg for load in loads), 2),
            "volume_l": round(sum(load.litres for load in loads), 2),
            "cold_kg": round(sum(load.cold_kg for load in loads), 2),
            "priority_counts": dict(Counter(o.priority for o in members)),
            "oldest_placed_at": min(placed).isoformat() if placed else None,
            "order_ids": sorted(o.order_id for o in members),
        })
    return result


MEDICAL_SLA = MEDICINE_SLA
VULNERABLE_LIMIT = timedelta(hours=24)


def fleet_of(uow: RoutingUnitOfWork, depot_ids: set[str], today: date) -> list[dict[str, Any]]:
    """Each vehicle: in service or not, where it was last seen, and how far along its route is."""
    positions = {p.vehicle_id: p for p in uow.session.execute(select(VehiclePosition)).scalars()}
    progress: dict[str, dict[str, Any]] = {}
    # Today's routes, else the next day's (a plan dispatched the evening before).
    upcoming = sorted((p for p in dispatched_plans(uow, depot_ids) if p.service_date >= today),
                      key=lambda p: p.service_date, reverse=True)
    for plan in upcoming:
        recorded = recorded_stops(uow, plan.id)
        for route in plan.outcome.routes:
            pending = route.pending(recorded)
            progress[route.vehicle_id] = {
                "plan_id": plan.id, "stops_done": len(route.visits) - len(pending),
                "stops_total": len(route.visits), "next_stop": pending[0].community_name if pending else None,
                "route_end": route.end.isoformat(), "date": plan.service_date,
            }
    vehicles = uow.session.execute(
        select(Vehicle).where(col(Vehicle.depot_id).in_(depot_ids)).order_by(col(Vehicle.id))).scalars()
    out = []
    for vehicle in vehicles:
        seen = positions.get(vehicle.id)
        out.append({
            "vehicle_id": vehicle.id, "depot_id": vehicle.depot_id, "in_service": vehicle.in_service,
            "out_of_service_reason": vehicle.out_of_service_reason,
            "position": None if seen is None else {"lat": seen.lat, "lon": seen.lon, "state": seen.state,
                                                    "at": seen.at, "next_stop_id": seen.next_stop_id},
            "route": progress.get(vehicle.id),
        })
    return out


def outcomes_since(uow: RoutingUnitOfWork, depot_ids: set[str], since: datetime, now: datetime) -> dict[str, Any]:
    """The supply office's figures for the orders placed since ``since``: medicine within
    6 h, vulnerable orders waiting over 24 h, and the fill rate per community."""
    rows = uow.session.execute(
        select(DemandOrder).where(col(DemandOrder.depot_id).in_(depot_ids), col(DemandOrder.placed_at) >= since)
    ).scalars().all()
    medical = [r for r in rows if r.priority == "medical"]
    on_time = [r for r in medical if r.delivered_at is not None and r.placed_at is not None
               and r.delivered_at - r.placed_at <= MEDICAL_SLA]
    waiting = [r for r in rows if r.priority != "standard" and r.status != demand_states.DELIVERED
               and r.placed_at is not None and now - r.placed_at > VULNERABLE_LIMIT]
    placed = Counter(r.community_id for r in rows if r.status != demand_states.CANCELLED)
    delivered = Counter(r.community_id for r in rows if r.status == demand_states.DELIVERED)
    hours = sorted((r.delivered_at - r.placed_at).total_seconds() / 3600 for r in rows
                   if r.delivered_at is not None and r.placed_at is not None)
    return {
        "since": since, "orders": len(rows), "delivered": sum(delivered.values()),
        "medical_orders": len(medical), "medical_delivered_within_6h": len(on_time),
        "medical_within_6h_share": round(len(on_time) / len(medical), 4) if medical else None,
        "priority_orders_waiting_over_24h": len(waiting),
        "median_hours_to_delivery": round(hours[len(hours) // 2], 2) if hours else None,
        "fill_rate_by_community": {c: round(delivered[c] / n, 4) for c, n in sorted(placed.items())},
    }


def start_of_day(now: datetime, tz: tzinfo) -> datetime:
    return datetime.combine(now.astimezone(tz).date(), time(0), tzinfo=tz)
