"""From demand, fleet and communities to the engine's problem, and from its solution
back to what a dispatcher reads: routes with local times, reasons, KPIs.

Pure: takes plain values, returns plain values; the engine model is pure Python too.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Any

from services.routing.domain.demand import Load
from services.routing.engine import Depot, Location, Problem, Solution, Stop, TimeWindow, Vehicle

MEDICINE_SLA = timedelta(hours=6)
PRIORITY_RANK = {"standard": 0, "vulnerable": 1, "medical": 2}


@dataclass(frozen=True)
class CommunityInfo:
    id: str
    name: str
    lat: float
    lon: float
    risk_level: str
    receiving_windows: Sequence[Sequence[str]]
    gate_service_min: int


@dataclass(frozen=True)
class DepotInfo:
    id: str
    lat: float
    lon: float


@dataclass(frozen=True)
class VehicleInfo:
    id: str
    depot_id: str
    capacity_kg: float
    capacity_l: float
    refrigerated: bool
    closed_loop: bool
    shift_start: str
    shift_end: str
    max_trips: int
    fixed_cost: int


@dataclass(frozen=True)
class DemandInfo:
    order_id: str
    depot_id: str
    community_id: str
    priority: str
    placed_at: datetime
    load: Load
    has_medicine: bool = False


@dataclass(frozen=True)
class StopMeta:
    community_id: str
    cold: bool


def clock_to_seconds(value: str) -> int:
    hours, minutes = value.split(":")
    return int(hours) * 3600 + int(minutes) * 60


def build_problem(
    *,
    service_date: date,
    now: datetime,
    tz: tzinfo,
    depots: Iterable[DepotInfo],
    vehicles: Iterable[VehicleInfo],
    communities: Mapping[str, CommunityInfo],
    demand: Iterable[DemandInfo],
) -> tuple[Problem, dict[str, StopMeta]]:
    """One stop per (depot, community, temperature): cold-chain lines need their own
    refrigerated stop; the engine splits a stop that no single vehicle can carry."""
    midnight = datetime.combine(service_date, time(0), tzinfo=tz)
    groups: dict[tuple[str, str, bool], list[DemandInfo]] = defaultdict(list)
    for order in demand:
        if order.community_id not in communities:
            continue  # cannot route to a gate we have not heard of yet
        if order.load.ambient_kg > 0 or order.load.ambient_l > 0 or order.load.cold_kg == 0:
            groups[(order.depot_id, order.community_id, False)].append(order)
        if order.load.cold_kg > 0 or order.load.cold_l > 0:
            groups[(order.depot_id, order.community_id, True)].append(order)
    stops: list[Stop] = []
    meta: dict[str, StopMeta] = {}
    for (depot_id, community_id, cold), orders in sorted(groups.items()):
        community = communities[community_id]
        stop_id = f"{depot_id}/{community_id}/{'cold' if cold else 'ambient'}"
        oldest = min(o.placed_at for o in orders)
        priority = max((o.priority for o in orders), key=PRIORITY_RANK.__getitem__)
        stops.append(
            Stop(
                id=stop_id,
                location=Location(community.lat, community.lon),
                depot_id=depot_id,
                demand_kg=round(sum(o.load.cold_kg if cold else o.load.ambient_kg for o in orders), 3),
                demand_l=round(sum(o.load.cold_l if cold else o.load.ambient_l for o in orders), 3),
                windows=_windows(community.receiving_windows),
                service_s=community.gate_service_min * 60,
                refrigerated=cold,
                sealed=community.risk_level == "sealed",
                priority=priority,  # type: ignore[arg-type]
                waiting_s=max(0, int((now - oldest).total_seconds())),
                deadline_s=_deadline(orders, midnight),
                order_ids=tuple(sorted(o.order_id for o in orders)),
            )
        )
        meta[stop_id] = StopMeta(community_id, cold)
    depot_list = [Depot(d.id, Location(d.lat, d.lon)) for d in depots]
    fleet = [
        Vehicle(
            id=v.id, depot_id=v.depot_id, capacity_kg=v.capacity_kg, capacity_l=v.capacity_l,
            refrigerated=v.refrigerated, closed_loop=v.closed_loop,
            shift_start_s=clock_to_seconds(v.shift_start), shift_end_s=clock_to_seconds(v.shift_end),
            fixed_cost=v.fixed_cost, max_trips=v.max_trips,
        )
        for v in vehicles
    ]
    return Problem(depots=tuple(depot_list), vehicles=tuple(fleet), stops=tuple(stops)), meta


def _windows(raw: Sequence[Sequence[str]]) -> tuple[TimeWindow, ...]:
    spans = sorted((clock_to_seconds(a), clock_to_seconds(b)) for a, b in raw)
    return tuple(TimeWindow(a, b) for a, b in spans) or (TimeWindow(0, 86_399),)


def _deadline(orders: Sequence[DemandInfo], midnight: datetime) -> int | None:
    """Medicine must arrive within the SLA of its order; only a deadline that falls on
    the service day binds (one already missed is flagged by priority, not by dropping)."""
    deadlines = [
        int((o.placed_at + MEDICINE_SLA - midnight).total_seconds())
        for o in orders
        if o.has_medicine and o.priority == "medical"
    ]
    live = [d for d in deadlines if 0 < d <= 86_400]
    return min(live) if live else None


def describe_solution(
    solution: Solution,
    problem: Problem,
    meta: Mapping[str, StopMeta],
    communities: Mapping[str, CommunityInfo],
    *,
    service_date: date,
    tz: tzinfo,
) -> dict[str, Any]:
    """The plan as the API and the console show it."""
    midnight = datetime.combine(service_date, time(0), tzinfo=tz)
    stops = {s.id: s for s in problem.stops}
    vehicles = {v.id: v for v in problem.vehicles}

    def at(seconds: int) -> str:
        return (midnight + timedelta(seconds=seconds)).isoformat()

    routes = []
    for route in solution.routes:
        if not route.visits:
            continue
        visits = []
        for visit in route.visits:
            base_id = _base_stop_id(visit.stop_id, stops)
            stop_meta = meta[base_id]
            community = communities[stop_meta.community_id]
            visits.append({
                "stop_id": visit.stop_id,
                "community_id": community.id,
                "community_name": community.name,
                "risk_level": community.risk_level,
                "cold": stop_meta.cold,
                "trip": visit.trip,
                "arrival": at(visit.arrival_s),
                "service_start": at(visit.start_s),
                "departure": at(visit.departure_s),
                "window": [at(visit.window.start_s), at(visit.window.end_s)],
                "load_kg": round(visit.load_kg, 2),
                "load_l": round(visit.load_l, 2),
                "order_ids": list(visit.order_ids),
                "lat": community.lat,
                "lon": community.lon,
            })
        routes.append({
            "vehicle_id": route.vehicle_id,
            "depot_id": vehicles[route.vehicle_id].depot_id,
            "start": at(route.start_s),
            "end": at(route.end_s),
            "distance_km": round(route.distance_m / 1000, 2),
            "duration_min": round(route.duration_s / 60, 1),
            "stops": visits,
        })
    unassigned = []
    for item in solution.unassigned:
        base_id = _base_stop_id(item.stop_id, stops)
        stop_meta = meta[base_id]
        community = communities[stop_meta.community_id]
        unassigned.append({
            "stop_id": item.stop_id,
            "community_id": community.id,
            "community_name": community.name,
            "order_ids": list(item.order_ids),
            "reason_code": item.reason_code,
            "reason": item.reason,
            "lat": community.lat,
            "lon": community.lon,
        })
    return {
        "routes": routes,
        "unassigned": unassigned,
        "kpis": kpis(solution, problem),
        "feasible": solution.is_feasible(),
        "cost": solution.cost,
    }


def _base_stop_id(stop_id: str, stops: Mapping[str, Stop]) -> str:
    # A split stop comes back as "<id>#<part>"; its community is that of the original.
    if stop_id in stops:
        return stop_id
    return stop_id.split("#", 1)[0]


def kpis(solution: Solution, problem: Problem) -> dict[str, Any]:
    stops = {s.id: s for s in problem.stops}
    served: set[str] = set()
    on_time = visits = 0
    for route in solution.routes:
        for visit in route.visits:
            visits += 1
            served.update(visit.order_ids)
            on_time += visit.window.start_s <= visit.start_s <= visit.window.end_s
    all_orders = {o for s in problem.stops for o in s.order_ids}
    unserved = {o for item in solution.unassigned for o in item.order_ids}
    served -= unserved  # an order split over two stops counts only if all parts go
    priority_orders = {
        o for s in stops.values() if s.priority != "standard" for o in s.order_ids
    }
    return {
        "vehicles_used": sum(1 for r in solution.routes if r.visits),
        "vehicles_available": len(problem.vehicles),
        "distance_km": round(solution.distance_m / 1000, 2),
        "duration_h": round(solution.duration_s / 3600, 2),
        "stops": len(problem.stops),
        "orders_total": len(all_orders),
        "orders_served": len(served),
        "on_time_share": round(on_time / visits, 4) if visits else 1.0,
        "priority_orders": len(priority_orders),
        "priority_served_share": (
            round(len(priority_orders & served) / len(priority_orders), 4) if priority_orders else 1.0
        ),
    }


def changed_assignments(parent: dict[str, Any], child: dict[str, Any]) -> dict[str, tuple[str, str, str]]:
    """order id -> (vehicle, stop, arrival) for orders whose assignment is new or moved."""
    def assignments(result: dict[str, Any]) -> dict[str, tuple[str, str, str]]:
        out = {}
        for route in result.get("routes", []):
            for stop in route["stops"]:
                for order_id in stop["order_ids"]:
                    out[order_id] = (route["vehicle_id"], stop["stop_id"].split("+", 1)[0], stop["arrival"])
        return out

    before, after = assignments(parent), assignments(child)
    return {o: a for o, a in after.items() if before.get(o) != a}
