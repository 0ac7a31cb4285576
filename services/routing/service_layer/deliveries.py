"""Recording what happened at a gate: a stop delivered or failed, a vehicle broken down.

A driver's device may still hold a plan that a re-plan superseded: its deliveries are
recorded on the plan that superseded it, where the same stop lives on."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from services.routing.adapters.orm import Plan, StopOutcome
from services.routing.domain import demand as demand_states
from services.routing.domain.plan_result import PlannedVisit, PlanResult
from services.routing.service_layer.access import check_depot_access, visible_plan
from services.routing.service_layer.fleet_state import current_plan, dispatched_plans, recorded_stops
from services.routing.service_layer.unit_of_work import RoutingUnitOfWork
from shared import clock
from shared.auth import Principal
from shared.errors import Conflict, DomainError, NotFound
from shared.events.payloads import OrderDelivered, OrderDeliveryFailed


@dataclass(frozen=True)
class RecordDelivery:
    plan_id: str
    stop_id: str
    outcome: str
    received_by: str | None
    reason: str | None



def record_delivery(uow: RoutingUnitOfWork, command: RecordDelivery, principal: Principal) -> dict[str, Any]:
    plan = current_plan(uow, visible_plan(uow, command.plan_id, principal))
    check_depot_access(principal, plan.depot_ids)
    if plan.status != "dispatched":
        raise Conflict(f"plan {plan.id} is {plan.status}; deliveries need a dispatched plan",
                       code="plan_not_dispatched")
    result = plan.outcome
    stop = result.visit(command.stop_id)
    if stop is None:
        raise NotFound(f"stop {command.stop_id} is not in plan {plan.id}")
    if command.outcome == "delivered" and not command.received_by:
        raise DomainError("received_by is required for a delivered stop", code="missing_received_by")
    if command.outcome == "failed" and not command.reason:
        raise DomainError("reason is required for a failed stop", code="missing_reason")
    existing = uow.plans.outcome(plan.id, command.stop_id)
    if existing is not None:
        if existing.outcome == command.outcome:
            return {"plan_id": plan.id, "stop_id": command.stop_id, "outcome": existing.outcome,
                    "order_ids": list(stop.order_ids), "duplicate": True}
        raise Conflict(f"stop {command.stop_id} was already recorded as {existing.outcome}",
                       code="stop_already_recorded")
    _record(uow, plan, result, stop, command.outcome, command.received_by, command.reason)
    uow.commit()
    return {"plan_id": plan.id, "stop_id": command.stop_id, "outcome": command.outcome,
            "order_ids": list(stop.order_ids), "duplicate": False}


def report_breakdown(uow: RoutingUnitOfWork, vehicle_id: str, reason: str, principal: Principal) -> dict[str, Any]:
    """The vehicle leaves service; every stop of its route not yet recorded fails with the
    reason, so its orders return to demand and the next plan takes them."""
    vehicle = uow.vehicles.get(vehicle_id)
    if vehicle is None or (principal.role != "admin" and vehicle.depot_id not in principal.depot_ids):
        raise NotFound(f"vehicle {vehicle_id} not found")
    vehicle.in_service, vehicle.out_of_service_reason = False, reason
    uow.vehicles.add(vehicle)
    failed: list[str] = []
    returned: list[str] = []
    plan_id = None
    for plan in dispatched_plans(uow, [vehicle.depot_id]):
        recorded = recorded_stops(uow, plan.id)
        result = plan.outcome
        for route in result.routes:
            if route.vehicle_id != vehicle_id:
                continue
            plan_id = plan.id
            for stop in route.pending(recorded):
                returned += _record(uow, plan, result, stop, "failed", None, f"vehicle breakdown: {reason}")
                failed.append(stop.stop_id)
    uow.commit()
    return {"vehicle_id": vehicle_id, "plan_id": plan_id, "failed_stop_ids": failed,
            "returned_order_ids": sorted(returned)}


def _record(
    uow: RoutingUnitOfWork, plan: Plan, result: PlanResult, stop: PlannedVisit, outcome: str,
    received_by: str | None, reason: str | None,
) -> list[str]:
    """Record one stop's outcome and its orders' events; returns the orders it applied to."""
    now = clock.now()
    # An order split over an ambient and a cold stop is delivered with its last part.
    recorded = recorded_stops(uow, plan.id) | {stop.stop_id}
    parts_left = {o for s in result.visits() if s.stop_id not in recorded for o in s.order_ids}
    uow.plans.record(StopOutcome(plan_id=plan.id, stop_id=stop.stop_id, outcome=outcome,
                                 received_by=received_by, reason=reason, recorded_at=now))
    mine = uow.dispatched.of_plan(plan.id, stop.order_ids)
    applied = []
    for order_id in stop.order_ids:
        if order_id not in mine or (outcome == "delivered" and order_id in parts_left):
            continue
        applied.append(order_id)
        row = uow.demand.get(order_id)
        if outcome == "delivered":
            uow.publish(OrderDelivered(order_id=order_id, plan_id=plan.id, stop_id=stop.stop_id,
                                       delivered_at=now, received_by=received_by or ""))
            happened = "delivered"
        else:
            uow.publish(OrderDeliveryFailed(order_id=order_id, plan_id=plan.id, stop_id=stop.stop_id,
                                            failed_at=now, reason=reason or ""))
            happened = "delivery_failed"
            # Back to demand: free the order so a later plan may dispatch it again.
            uow.dispatched.release(order_id)
        if row is not None:
            status = demand_states.next_status(row.status, happened)
            if status is not None:
                row.status = status
                row.delivered_at = now if status == demand_states.DELIVERED else None
                uow.demand.add(row)
    return applied
