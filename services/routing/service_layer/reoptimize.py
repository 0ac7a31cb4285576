"""Re-planning a dispatched plan: new urgent orders go in, what is done or under way stays.

The old plan's stops are rebuilt with their ids from the orders they carry; the stops
delivered (or failed) and the stop each vehicle is heading to form locked prefixes, pinned
to the service times of the dispatched plan: they have happened (or are happening) then,
and the engine, which otherwise picks each route's start afresh, must not move them.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import replace
from datetime import datetime, time
from zoneinfo import ZoneInfo

from services.routing.adapters.orm import Plan
from services.routing.domain.plan_result import PlanResult
from services.routing.domain.planning import StopMeta, build_problem
from services.routing.engine import RELOAD_TOKEN, Problem, Stop, TimeWindow
from services.routing.engine.model import summed_penalty
from services.routing.service_layer.fleet_state import recorded_stops
from services.routing.service_layer.loading import (
    Horizon,
    Loaded,
    communities_of,
    demand_of,
    depots_and_fleet,
    load_problem,
)
from services.routing.service_layer.unit_of_work import RoutingUnitOfWork
from shared import clock
from shared.errors import Conflict, NotFound
from shared.priority import most_urgent


def fixed_prefixes(result: PlanResult, done: set[str]) -> dict[str, list[str]]:
    """Per vehicle: its visits up to and including the first one not yet recorded."""
    fixed: dict[str, list[str]] = {}
    for route in result.routes:
        prefix: list[str] = []
        trip = route.visits[0].trip if route.visits else 0
        for visit in route.visits:
            if visit.trip != trip:
                prefix.append(RELOAD_TOKEN)
                trip = visit.trip
            prefix.append(visit.stop_id)
            if visit.stop_id not in done:
                break  # the stop the vehicle is heading to: locked, the rest is free
        fixed[route.vehicle_id] = prefix
    return fixed


def build_reoptimization(
    uow: RoutingUnitOfWork, plan_id: str, tz: ZoneInfo, *, horizon: Horizon | None = None,
    vehicle_ids: Collection[str] | None = None,
) -> tuple[Plan, Loaded]:
    """The dispatched plan's problem again, with the new demand in it. ``horizon`` plans
    from now (the operations loop); ``vehicle_ids`` keeps only those vehicles: a vehicle
    left out takes its finished prefix with it (those stops are history)."""
    plan = uow.plans.get(plan_id)
    if plan is None:
        raise NotFound(f"plan {plan_id} not found")
    if plan.status != "dispatched":
        raise Conflict(f"plan {plan_id} is {plan.status}; only a dispatched plan can be re-optimised",
                       code="plan_not_dispatched")
    done = recorded_stops(uow, plan.id)
    dispatched = plan.outcome
    fixed = fixed_prefixes(dispatched, done)
    if horizon is not None:
        horizon = replace(horizon, started=frozenset(v for v, prefix in fixed.items() if prefix))
    # New demand: reserved orders of these depots that no plan carries.
    loaded = load_problem(uow, plan.depot_ids, plan.service_date, tz, vehicle_ids=vehicle_ids, horizon=horizon)
    fresh, fresh_meta = loaded.problem, loaded.meta
    # The old plan's stops, rebuilt with the orders still on board.
    mine = uow.dispatched.of_plan(plan.id, dispatched.order_ids())
    old_stops, old_meta = _rebuild_stops(uow, plan, dispatched, mine, tz, fresh, horizon)
    present = {v.id for v in fresh.vehicles}
    # A vehicle out of service (or left out) keeps nothing: its recorded stops are history.
    history = {s for v, prefix in fixed.items() if v not in present for s in prefix}
    fixed = {v: [s for s in prefix if s == RELOAD_TOKEN or s in old_stops]
             for v, prefix in fixed.items() if v in present}
    locked = {s for prefix in fixed.values() for s in prefix}
    old_stops = {
        stop_id: _pinned(stop, dispatched, datetime.combine(plan.service_date, time(0), tzinfo=tz))
        if stop_id in locked else stop
        for stop_id, stop in old_stops.items() if stop_id not in history or stop_id in locked
    }
    stops = list(old_stops.values())
    meta = dict(fresh_meta)
    for stop in fresh.stops:
        stops.append(replace(stop, id=f"{stop.id}+{plan.id}"))
        meta[f"{stop.id}+{plan.id}"] = fresh_meta[stop.id]
    meta.update(old_meta)
    problem = Problem(depots=fresh.depots, vehicles=fresh.vehicles, stops=tuple(stops))
    all_communities = dict(loaded.communities)
    all_communities.update(communities_of(uow, {m.community_id for m in meta.values()}))
    return plan, Loaded(problem, meta, all_communities, loaded.unrouted, fixed)


def _rebuild_stops(
    uow: RoutingUnitOfWork, plan: Plan, dispatched: PlanResult, mine: set[str], tz: ZoneInfo, fresh: Problem,
    horizon: Horizon | None,
) -> tuple[dict[str, Stop], dict[str, StopMeta]]:
    """The plan's stops under their own ids, each with the orders it still carries. Built
    stop by stop: a chain of re-plans holds several stops of one community (``X`` and
    ``X+P-...``), and a done one must never take another's orders with it."""
    demand = {d.order_id: d for d in demand_of(uow, sorted(mine))}
    communities = communities_of(uow, {d.community_id for d in demand.values()})
    depots, vehicles = depots_and_fleet(uow, plan.depot_ids, {v.id for v in fresh.vehicles})
    stops: dict[str, Stop] = {}
    meta: dict[str, StopMeta] = {}
    for visit in dispatched.visits():
        orders = [demand[o] for o in visit.order_ids if o in demand]
        if not orders:
            continue
        built, built_meta = build_problem(
            service_date=plan.service_date, now=clock.now(), tz=tz, depots=depots, vehicles=vehicles,
            communities=communities, demand=orders,
            not_before=None if horizon is None else horizon.not_before,
            started=frozenset() if horizon is None else horizon.started,
        )
        same_temperature = [s for s in built.stops if built_meta[s.id].cold == visit.cold]
        if not same_temperature:
            continue
        stops[visit.stop_id] = replace(_merged(same_temperature), id=visit.stop_id)
        meta[visit.stop_id] = built_meta[same_temperature[0].id]
    return stops, meta


def _merged(parts: list[Stop]) -> Stop:
    """One stop from parts the rebuild split again (an order's urgency changed with time)."""
    if len(parts) == 1:
        return parts[0]
    deadlines = [p.deadline_s for p in parts if p.deadline_s is not None]
    return replace(
        parts[0], priority=most_urgent(p.priority for p in parts),
        # Each part carries its own orders' weight: the merged stop carries all of them.
        drop_penalty=summed_penalty(p.penalty for p in parts),
        demand_kg=round(sum(p.demand_kg for p in parts), 3),
        demand_l=round(sum(p.demand_l for p in parts), 3),
        order_ids=tuple(sorted(o for p in parts for o in p.order_ids)),
        deadline_s=min(deadlines) if deadlines else None,
    )


def _pinned(stop: Stop, dispatched: PlanResult, midnight: datetime) -> Stop:
    """The stop with its only window at the service start the dispatched plan gave it."""
    visit = dispatched.visit(stop.id)
    if visit is None:
        raise ValueError(f"stop {stop.id} is not in the dispatched plan")
    at = int((visit.service_start - midnight).total_seconds())
    return replace(stop, windows=(TimeWindow(at, at),))
