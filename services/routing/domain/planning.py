"""From demand, fleet and communities to the engine's problem, and the plan's KPIs. The
way back, from the engine's solution to the routes a dispatcher reads, is ``describing``.

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
from services.routing.engine.instance import eligible
from services.routing.engine.model import orders_penalty
from shared.priority import Priority, most_urgent

MEDICINE_SLA = timedelta(hours=6)
#: A medicine deadline the night made impossible is moved to this long after the gate opens.
MEDICINE_CATCH_UP = timedelta(hours=1)
#: A sixth reason code next to the engine's five (SPEC section 6): the order's community
#: has not reached routing's read model yet, so there is no gate to route to.
COMMUNITY_UNKNOWN = "community_unknown"


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
    #: The stop's orders that are themselves medical or vulnerable (the stop takes the
    #: highest priority of its orders; the KPI counts orders by their own priority).
    priority_orders: frozenset[str] = frozenset()
    #: Those of them that are medical (the others are vulnerable).
    medical_orders: frozenset[str] = frozenset()


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
    not_before: datetime | None = None,
    started: frozenset[str] = frozenset(),
) -> tuple[Problem, dict[str, StopMeta]]:
    """One stop per (depot, community, temperature): cold-chain lines need their own
    refrigerated stop; the engine splits a stop that no single vehicle can carry.

    A stop's drop penalty is the sum over its orders of each order's priority weight and
    waiting-age bonus (``engine.model.orders_penalty``): leaving out 30 households costs
    30 times one, and one medical order outweighs every standard order of its depot.

    Medicine orders with a deadline on the service day form their own (small) stops,
    ``.../urgent``, so that the deadline binds them and not the whole community's load:
    a community is never dropped because one of its orders cannot make its deadline.

    Same-day planning passes ``not_before`` (now): no gate is served and no vehicle leaves
    before it, except the vehicles in ``started``, already on the road, whose shift stands."""
    midnight = datetime.combine(service_date, time(0), tzinfo=tz)
    earliest_s = None if not_before is None else int((not_before - midnight).total_seconds())
    fleet = []
    for v in vehicles:
        shift_start_s, shift_end_s = clock_to_seconds(v.shift_start), clock_to_seconds(v.shift_end)
        if earliest_s is not None and v.id not in started:
            shift_start_s = max(shift_start_s, earliest_s)
            if shift_start_s >= shift_end_s:
                continue  # its shift is over for the day
        fleet.append(Vehicle(
            id=v.id, depot_id=v.depot_id, capacity_kg=v.capacity_kg, capacity_l=v.capacity_l,
            refrigerated=v.refrigerated, closed_loop=v.closed_loop,
            shift_start_s=shift_start_s, shift_end_s=shift_end_s,
            fixed_cost=v.fixed_cost, max_trips=v.max_trips,
        ))
    groups: dict[tuple[str, str, bool, bool], list[DemandInfo]] = defaultdict(list)
    for order in demand:
        if order.community_id not in communities:
            continue  # no gate to route to yet: see unroutable() and describing.describe_solution()
        urgent = _sla_deadline(order, midnight) is not None
        if order.load.ambient_kg > 0 or order.load.ambient_l > 0 or order.load.cold_kg == 0:
            groups[(order.depot_id, order.community_id, False, urgent)].append(order)
        if order.load.cold_kg > 0 or order.load.cold_l > 0:
            groups[(order.depot_id, order.community_id, True, urgent)].append(order)
    stops: list[Stop] = []
    meta: dict[str, StopMeta] = {}
    for (depot_id, community_id, cold, urgent), orders in sorted(groups.items()):
        community = communities[community_id]
        stop_id = f"{depot_id}/{community_id}/{'cold' if cold else 'ambient'}{'/urgent' if urgent else ''}"
        oldest = min(o.placed_at for o in orders)
        priority = most_urgent(o.priority for o in orders)
        penalty = orders_penalty((o.priority, _waiting_s(o, now)) for o in orders)
        windows = _not_before(gate_windows(community.receiving_windows), earliest_s)
        shifts = [v.shift_start_s for v in fleet if v.depot_id == depot_id]
        stops.append(
            Stop(
                id=stop_id,
                location=Location(community.lat, community.lon),
                depot_id=depot_id,
                demand_kg=round(sum(o.load.cold_kg if cold else o.load.ambient_kg for o in orders), 3),
                demand_l=round(sum(o.load.cold_l if cold else o.load.ambient_l for o in orders), 3),
                windows=windows,
                service_s=community.gate_service_min * 60,
                refrigerated=cold,
                sealed=community.risk_level == "sealed",
                priority=priority,  # type: ignore[arg-type]
                drop_penalty=penalty,
                waiting_s=max(0, int((now - oldest).total_seconds())),
                deadline_s=_deadline(orders, midnight, windows, min(shifts, default=0)),
                order_ids=tuple(sorted(o.order_id for o in orders)),
            )
        )
        meta[stop_id] = StopMeta(
            community_id, cold, frozenset(o.order_id for o in orders if o.priority != Priority.STANDARD),
            frozenset(o.order_id for o in orders if o.priority == Priority.MEDICAL),
        )
    depot_list = [Depot(d.id, Location(d.lat, d.lon)) for d in depots]
    return Problem(depots=tuple(depot_list), vehicles=tuple(fleet), stops=tuple(stops)), meta


def _waiting_s(order: DemandInfo, now: datetime) -> int:
    return max(0, int((now - order.placed_at).total_seconds()))


def unroutable(demand: Iterable[DemandInfo], communities: Mapping[str, CommunityInfo]) -> list[DemandInfo]:
    """The orders build_problem leaves out: their community is not known to routing yet."""
    return [o for o in demand if o.community_id not in communities]


def gate_windows(raw: Sequence[Sequence[str]]) -> tuple[TimeWindow, ...]:
    """A gate's receiving windows (``"HH:MM"`` pairs) in seconds of the day; none: all day."""
    spans = sorted((clock_to_seconds(a), clock_to_seconds(b)) for a, b in raw)
    return tuple(TimeWindow(a, b) for a, b in spans) or (TimeWindow(0, 86_399),)


def _not_before(windows: tuple[TimeWindow, ...], earliest_s: int | None) -> tuple[TimeWindow, ...]:
    """Today's windows from ``earliest_s`` on. When all have closed, one empty window at
    ``earliest_s`` remains, which no vehicle can reach: the stop is reported
    ``window_unreachable`` and waits for tomorrow's windows."""
    if earliest_s is None or earliest_s <= 0:
        return windows
    left = tuple(TimeWindow(max(w.start_s, earliest_s), w.end_s) for w in windows if w.end_s >= earliest_s)
    return left or (TimeWindow(earliest_s, earliest_s),)


def _sla_deadline(order: DemandInfo, midnight: datetime) -> int | None:
    """Seconds after the service day's midnight by which the order's medicine is due, when
    that falls on the service day. One already missed on an earlier day is flagged by its
    priority (and waiting age), not by dropping; a later one does not bind today's plan."""
    if not (order.has_medicine and order.priority == "medical"):
        return None
    deadline = int((order.placed_at + MEDICINE_SLA - midnight).total_seconds())
    return deadline if 0 < deadline <= 86_400 else None


def _deadline(
    orders: Sequence[DemandInfo], midnight: datetime, windows: Sequence[TimeWindow], first_shift_s: int
) -> int | None:
    """The stop's latest service start: its orders' earliest medicine deadline, but never
    earlier than an hour after the gate can first be served (its first window, or the
    depot's first shift if later). A deadline that falls in the night cannot be met any
    more; the medicine then goes first thing, instead of the stop being dropped as
    ``deadline_unreachable``."""
    deadlines = [d for d in (_sla_deadline(o, midnight) for o in orders) if d is not None]
    if not deadlines:
        return None
    earliest = max(windows[0].start_s, first_shift_s) + int(MEDICINE_CATCH_UP.total_seconds())
    return max(min(deadlines), earliest)


def kpis(
    solution: Solution,
    problem: Problem,
    unrouted: Sequence[DemandInfo] = (),
    meta: Mapping[str, StopMeta] | None = None,
) -> dict[str, Any]:
    """Plan KPIs. With ``meta`` priority orders are counted by their own priority; without,
    every order of a medical or vulnerable stop counts as an order of the stop's priority.

    ``medical_orders_left_out`` / ``vulnerable_orders_left_out``: orders of that priority
    the plan does not deliver (dropped, or of an unknown community).
    ``vehicles_idle_while_dropping``: vehicles without a single visit that could carry
    (depot, cold chain, closed loop) a stop left out although it could be served on its own
    (``fleet_capacity_exhausted``): the fleet had a van at home, yet something was dropped."""
    stops = {s.id: s for s in problem.stops}
    served: set[str] = set()
    on_time = visits = 0
    for route in solution.routes:
        for visit in route.visits:
            visits += 1
            served.update(visit.order_ids)
            on_time += visit.window.start_s <= visit.start_s <= visit.window.end_s
    all_orders = {o for s in problem.stops for o in s.order_ids} | {o.order_id for o in unrouted}
    unserved = {o for item in solution.unassigned for o in item.order_ids}
    served -= unserved  # an order split over two stops counts only if all parts go
    if meta is not None:
        priority_orders = {o for s in stops if s in meta for o in meta[s].priority_orders}
        medical_orders = {o for s in stops if s in meta for o in meta[s].medical_orders}
    else:
        priority_orders = {o for s in stops.values() if s.priority != "standard" for o in s.order_ids}
        medical_orders = {o for s in stops.values() if s.priority == "medical" for o in s.order_ids}
    priority_orders |= {o.order_id for o in unrouted if o.priority != "standard"}
    medical_orders |= {o.order_id for o in unrouted if o.priority == "medical"}
    vulnerable_orders = priority_orders - medical_orders
    dropped = [stops[u.stop_id] for u in solution.unassigned
               if u.reason_code == "fleet_capacity_exhausted" and u.stop_id in stops]
    busy = {r.vehicle_id for r in solution.routes if r.visits}
    idle = [v for v in problem.vehicles if v.id not in busy and any(eligible(v, s) for s in dropped)]
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
        "medical_orders_left_out": len(medical_orders - served),
        "vulnerable_orders_left_out": len(vulnerable_orders - served),
        "vehicles_idle_while_dropping": len(idle),
    }

