"""Re-planning a dispatched plan: new urgent orders go in, what is done or under way stays.

The old plan's stops are rebuilt with their ids from the orders they carry; the stops
delivered (or failed) and the stop each vehicle is heading to form locked prefixes.
"""

from __future__ import annotations

from dataclasses import replace
from zoneinfo import ZoneInfo

from sqlalchemy import select

from services.routing.adapters.orm import DispatchedOrder, Plan, StopOutcome
from services.routing.domain.planning import CommunityInfo, StopMeta
from services.routing.engine import RELOAD_TOKEN, Problem, Stop
from services.routing.service_layer.planning import communities_of, demand_of, load_problem
from services.routing.service_layer.unit_of_work import RoutingUnitOfWork
from shared.http import Conflict, NotFound


def fixed_prefixes(plan: Plan, done: set[str]) -> dict[str, list[str]]:
    """Per vehicle: its visits up to and including the first one not yet recorded."""
    fixed: dict[str, list[str]] = {}
    for route in plan.result["routes"]:
        prefix: list[str] = []
        trip = route["stops"][0]["trip"] if route["stops"] else 0
        for stop in route["stops"]:
            if stop["trip"] != trip:
                prefix.append(RELOAD_TOKEN)
                trip = stop["trip"]
            prefix.append(stop["stop_id"])
            if stop["stop_id"] not in done:
                break  # the stop the vehicle is heading to: locked, the rest is free
        fixed[route["vehicle_id"]] = prefix
    return fixed


def build_reoptimization(
    uow: RoutingUnitOfWork, plan_id: str, tz: ZoneInfo
) -> tuple[Plan, Problem, dict[str, StopMeta], dict[str, CommunityInfo], dict[str, list[str]]]:
    plan = uow.session.get(Plan, plan_id)
    if plan is None:
        raise NotFound(f"plan {plan_id} not found")
    if plan.status != "dispatched":
        raise Conflict(f"plan {plan_id} is {plan.status}; only a dispatched plan can be re-optimised",
                       code="plan_not_dispatched")
    # New demand: reserved orders of these depots that no plan carries.
    fresh, fresh_meta, communities = load_problem(uow, plan.depot_ids, plan.service_date, tz)
    # The old plan's stops, rebuilt with the orders still on board.
    mine = set(uow.session.execute(
        select(DispatchedOrder.order_id).where(DispatchedOrder.plan_id == plan.id)).scalars())
    old_stops = _old_stops(uow, plan, mine, tz)
    stops = list(old_stops.values())
    meta = dict(fresh_meta)
    for stop in fresh.stops:
        stops.append(replace(stop, id=f"{stop.id}+{plan.id}"))
        meta[f"{stop.id}+{plan.id}"] = fresh_meta[stop.id]
    for stop_id in old_stops:
        base = stop_id.split("+", 1)[0]
        community_id, temperature = base.split("/")[1], base.split("/")[2]
        meta[stop_id] = StopMeta(community_id, temperature == "cold")
    done = {o.stop_id for o in uow.session.execute(
        select(StopOutcome).where(StopOutcome.plan_id == plan.id)).scalars()}
    fixed = fixed_prefixes(plan, done)
    fixed = {v: [s for s in prefix if s == RELOAD_TOKEN or s in old_stops] for v, prefix in fixed.items()}
    problem = Problem(depots=fresh.depots, vehicles=fresh.vehicles, stops=tuple(stops))
    all_communities = dict(communities)
    all_communities.update(communities_of(uow, {m.community_id for m in meta.values()}))
    return plan, problem, meta, all_communities, fixed


def _old_stops(uow: RoutingUnitOfWork, plan: Plan, mine: set[str], tz: ZoneInfo) -> dict[str, Stop]:
    on_board = demand_of(uow, sorted(mine))
    problem, _meta, _communities = load_problem(uow, plan.depot_ids, plan.service_date, tz, demand=on_board)
    return {s.id: s for s in problem.stops}
