"""Where the fleet stands: the dispatched plans, what of them is recorded, who is on the road."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from sqlalchemy import select
from sqlmodel import col

from services.routing.adapters.orm import Plan, StopOutcome
from services.routing.service_layer.unit_of_work import RoutingUnitOfWork


def dispatched_plans(uow: RoutingUnitOfWork, depot_ids: Iterable[str], service_date: date | None = None) -> list[Plan]:
    """The plans being driven (dispatched, not superseded) that serve any of ``depot_ids``."""
    wanted = set(depot_ids)
    query = select(Plan).where(col(Plan.status) == "dispatched")
    if service_date is not None:
        query = query.where(col(Plan.service_date) == service_date)
    return [p for p in uow.session.execute(query.order_by(col(Plan.id))).scalars() if wanted & set(p.depot_ids)]


def recorded_stops(uow: RoutingUnitOfWork, plan_id: str) -> set[str]:
    return set(uow.session.execute(
        select(col(StopOutcome.stop_id)).where(col(StopOutcome.plan_id) == plan_id)).scalars())


def current_plan(uow: RoutingUnitOfWork, plan: Plan) -> Plan:
    """The plan that (transitively) superseded ``plan``, or ``plan`` itself."""
    seen = {plan.id}
    while plan.status == "superseded" and (successor_id := plan.outcome.superseded_by):
        successor = uow.session.get(Plan, successor_id)
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
