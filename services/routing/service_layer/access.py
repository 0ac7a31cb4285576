"""Who may see and plan what: a dispatcher works only for their own depots."""

from __future__ import annotations

from services.routing.adapters.orm import Plan
from services.routing.service_layer.unit_of_work import RoutingUnitOfWork
from shared.auth import Principal
from shared.errors import Forbidden, NotFound


def check_depot_access(principal: Principal, depot_ids: list[str]) -> None:
    if principal.role == "admin":
        return
    outside = sorted(set(depot_ids) - principal.depot_ids)
    if outside:
        raise Forbidden(f"not a dispatcher of depot(s) {', '.join(outside)}", depot_ids=outside)


def visible_plan(uow: RoutingUnitOfWork, plan_id: str, principal: Principal) -> Plan:
    """Another depot's plan is "not found", like a missing one, so plan ids cannot be probed."""
    plan = uow.plans.get(plan_id)
    if plan is None or (principal.role != "admin" and not set(plan.depot_ids) & principal.depot_ids):
        raise NotFound(f"plan {plan_id} not found")
    return plan

