"""Re-planning a dispatched plan: new urgent orders go in, what is done or under way stays.

The old plan's stops are rebuilt with their ids from the orders they carry; the stops
delivered (or failed) and the stop each vehicle is heading to form locked prefixes, pinned
to the service times of the dispatched plan: they have happened (or are happening) then,
and the engine, which otherwise picks each route's start afresh, must not move them.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlmodel import col

from services.routing.adapters.orm import DispatchedOrder, Plan, StopOutcome
from services.routing.engine import RELOAD_TOKEN, Problem, Stop, TimeWindow
from services.routing.service_layer.loading import Loaded, communities_of, demand_of, load_problem
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


def build_reoptimization(uow: RoutingUnitOfWork, plan_id: str, tz: ZoneInfo) -> tuple[Plan, Loaded]:
    plan = uow.session.get(Plan, plan_id)
    if plan is None:
        raise NotFound(f"plan {plan_id} not found")
    if plan.status != "dispatched":
        raise Conflict(f"plan {plan_id} is {plan.status}; only a dispatched plan can be re-optimised",
                       code="plan_not_dispatched")
    # New demand: reserved orders of these depots that no plan carries.
    loaded = load_problem(uow, plan.depot_ids, plan.service_date, tz)
    fresh, fresh_meta = loaded.problem, loaded.meta
    # The old plan's stops, rebuilt with the orders still on board.
    mine = set(uow.session.execute(
        select(col(DispatchedOrder.order_id)).where(col(DispatchedOrder.plan_id) == plan.id)).scalars())
    old = load_problem(uow, plan.depot_ids, plan.service_date, tz, demand=demand_of(uow, sorted(mine)))
    old_stops = {s.id: s for s in old.problem.stops}
    done = {o.stop_id for o in uow.session.execute(
        select(StopOutcome).where(col(StopOutcome.plan_id) == plan.id)).scalars()}
    fixed = fixed_prefixes(plan, done)
    fixed = {v: [s for s in prefix if s == RELOAD_TOKEN or s in old_stops] for v, prefix in fixed.items()}
    locked = {s for prefix in fixed.values() for s in prefix}
    old_stops = {
        stop_id: _pinned(stop, plan.result, datetime.combine(plan.service_date, time(0), tzinfo=tz))
        if stop_id in locked else stop
        for stop_id, stop in old_stops.items()
    }
    stops = list(old_stops.values())
    meta = dict(fresh_meta)
    for stop in fresh.stops:
        stops.append(replace(stop, id=f"{stop.id}+{plan.id}"))
        meta[f"{stop.id}+{plan.id}"] = fresh_meta[stop.id]
    meta.update(old.meta)
    problem = Problem(depots=fresh.depots, vehicles=fresh.vehicles, stops=tuple(stops))
    all_communities = dict(loaded.communities)
    all_communities.update(communities_of(uow, {m.community_id for m in meta.values()}))
    return plan, Loaded(problem, meta, all_communities, loaded.unrouted, fixed)


def _pinned(stop: Stop, dispatched: dict[str, Any], midnight: datetime) -> Stop:
    """The stop with its only window at the service start the dispatched plan gave it."""
    visit = next(s for r in dispatched["routes"] for s in r["stops"] if s["stop_id"] == stop.id)
    at = int((datetime.fromisoformat(visit["service_start"]) - midnight).total_seconds())
    return replace(stop, windows=(TimeWindow(at, at),))
