"""Where the fleet stands: the dispatched plans, what of them is recorded, who is on the road."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from services.routing.adapters.orm import Plan
from services.routing.service_layer.unit_of_work import RoutingUnitOfWork


def dispatched_plans(uow: RoutingUnitOfWork, depot_ids: Iterable[str], service_date: date | None = None) -> list[Plan]:
    """The plans being driven (dispatched, not superseded) that serve any of ``depot_ids``."""
    return uow.plans.dispatched(depot_ids, service_date)


def recorded_stops(uow: RoutingUnitOfWork, plan_id: str) -> set[str]:
    return uow.plans.recorded_stops(plan_id)


def current_plan(uow: RoutingUnitOfWork, plan: Plan) -> Plan:
    """The plan that (transitively) superseded ``plan``, or ``plan`` itself."""
    seen = {plan.id}
    while plan.status == "superseded" and (successor_id := plan.outcome.superseded_by):
        successor = uow.plans.get(successor_id)
        if successor is None or successor.id in seen:
            break
        seen.add(successor.id)
        plan = successor
    return plan


def vehicles_on_the_road(uow: RoutingUnitOfWork, depot_ids: Iterable[str], service_date: date) -> dict[str, str]:
    """vehicle id -> the dispatched plan whose route it is still driving (a stop unrecorded)."""
    on_road: dict[str, str] = {}
    for plan in dispatched_plans(uow, depot_ids, service_date):
        recorded = recorded_stops(uow, plan.id)
        for route in plan.outcome.routes:
            if route.pending(recorded):
                on_road[route.vehicle_id] = plan.id
    return on_road
