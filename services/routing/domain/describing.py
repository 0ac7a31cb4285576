"""From the engine's solution back to what a dispatcher reads: a ``PlanResult`` of routes
with local times, the stops left out with their reasons, and the plan's KPIs.

Pure: takes plain values, returns the immutable result.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import date, datetime, time, timedelta, tzinfo

from services.routing.domain.plan_result import PART_MARK, LeftOut, PlannedRoute, PlannedVisit, PlanResult
from services.routing.domain.planning import (
    COMMUNITY_UNKNOWN,
    CommunityInfo,
    DemandInfo,
    StopMeta,
    gate_windows,
    kpis,
)
from services.routing.engine import Problem, Solution, Stop


def describe_solution(
    solution: Solution,
    problem: Problem,
    meta: Mapping[str, StopMeta],
    communities: Mapping[str, CommunityInfo],
    *,
    service_date: date,
    tz: tzinfo,
    unrouted: Sequence[DemandInfo] = (),
) -> PlanResult:
    """The plan as the API and the console show it; ``unrouted`` orders (unknown community)
    are listed as unassigned with the reason code ``community_unknown``."""
    midnight = datetime.combine(service_date, time(0), tzinfo=tz)
    stops = {s.id: s for s in problem.stops}
    vehicles = {v.id: v for v in problem.vehicles}

    def at(seconds: int) -> datetime:
        return midnight + timedelta(seconds=seconds)

    routes = []
    for route in solution.routes:
        if not route.visits:
            continue
        visits = []
        for visit in route.visits:
            stop_meta = meta[_base_stop_id(visit.stop_id, stops)]
            community = communities[stop_meta.community_id]
            # The gate's receiving window the service falls in (a re-plan pins the stops
            # already done or under way to their time; the gate's window is what people read).
            window = next(
                (w for w in gate_windows(community.receiving_windows) if w.start_s <= visit.start_s <= w.end_s),
                visit.window,
            )
            visits.append(PlannedVisit(
                stop_id=visit.stop_id, community_id=community.id, community_name=community.name,
                risk_level=community.risk_level, cold=stop_meta.cold, trip=visit.trip,
                arrival=at(visit.arrival_s), service_start=at(visit.start_s), departure=at(visit.departure_s),
                window=(at(window.start_s), at(window.end_s)),
                load_kg=round(visit.load_kg, 2), load_l=round(visit.load_l, 2),
                order_ids=tuple(visit.order_ids), lat=community.lat, lon=community.lon,
            ))
        routes.append(PlannedRoute(
            vehicle_id=route.vehicle_id, depot_id=vehicles[route.vehicle_id].depot_id,
            start=at(route.start_s), end=at(route.end_s), distance_km=round(route.distance_m / 1000, 2),
            duration_min=round(route.duration_s / 60, 1), visits=tuple(visits),
        ))
    unassigned = []
    for item in solution.unassigned:
        community = communities[meta[_base_stop_id(item.stop_id, stops)].community_id]
        unassigned.append(LeftOut(
            stop_id=item.stop_id, community_id=community.id, community_name=community.name,
            order_ids=tuple(item.order_ids), reason_code=item.reason_code, reason=item.reason,
            lat=community.lat, lon=community.lon,
        ))
    unassigned.extend(unroutable_entries(unrouted))
    return PlanResult(
        routes=tuple(routes), unassigned=tuple(unassigned), kpis=kpis(solution, problem, unrouted, meta),
        feasible=solution.is_feasible(), cost=solution.cost,
    )


def unroutable_entries(orders: Sequence[DemandInfo]) -> list[LeftOut]:
    """Unassigned entries (one per depot and community) for orders of unknown communities."""
    groups: dict[tuple[str, str], list[str]] = defaultdict(list)
    for order in orders:
        groups[(order.depot_id, order.community_id)].append(order.order_id)
    return [
        LeftOut(
            stop_id=None, community_id=community_id, community_name=None, order_ids=tuple(sorted(order_ids)),
            reason_code=COMMUNITY_UNKNOWN,
            reason=(
                f"community {community_id} is not registered with routing yet (its registration "
                "event has not arrived), so its gate location and receiving windows are unknown; "
                "plan again once it is registered"
            ),
            lat=None, lon=None,
        )
        for (_depot_id, community_id), order_ids in sorted(groups.items())
    ]


def _base_stop_id(stop_id: str, stops: Mapping[str, Stop]) -> str:
    # A split stop comes back as "<id>#<part>"; its community is that of the original.
    if stop_id in stops:
        return stop_id
    return stop_id.split(PART_MARK, 1)[0]
