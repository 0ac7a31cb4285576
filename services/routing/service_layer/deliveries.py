"""Recording what happened at a gate: a stop delivered or failed, a vehicle broken down."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select
from sqlmodel import col

from services.routing.adapters.orm import DemandOrder, DispatchedOrder, StopOutcome
from services.routing.domain import demand as demand_states
from services.routing.service_layer.access import check_depot_access, visible_plan
from services.routing.service_layer.unit_of_work import RoutingUnitOfWork
from shared import clock
from shared.auth import Principal
from shared.events.payloads import OrderDelivered, OrderDeliveryFailed
from shared.http import Conflict, DomainError, NotFound


@dataclass(frozen=True)
class RecordDelivery:
    plan_id: str
    stop_id: str
    outcome: str
    received_by: str | None
    reason: str | None



def record_delivery(uow: RoutingUnitOfWork, command: RecordDelivery, principal: Principal) -> dict[str, Any]:
    plan = visible_plan(uow, command.plan_id, principal)
    check_depot_access(principal, plan.depot_ids)
    if plan.status != "dispatched":
        raise Conflict(f"plan {plan.id} is {plan.status}; deliveries need a dispatched plan",
                       code="plan_not_dispatched")
    stop = next((s for r in plan.result["routes"] for s in r["stops"] if s["stop_id"] == command.stop_id), None)
    if stop is None:
        raise NotFound(f"stop {command.stop_id} is not in plan {plan.id}")
    if command.outcome == "delivered" and not command.received_by:
        raise DomainError("received_by is required for a delivered stop", code="missing_received_by")
    if command.outcome == "failed" and not command.reason:
        raise DomainError("reason is required for a failed stop", code="missing_reason")
    existing = uow.session.get(StopOutcome, (plan.id, command.stop_id))
    if existing is not None:
        if existing.outcome == command.outcome:
            return {"plan_id": plan.id, "stop_id": command.stop_id, "outcome": existing.outcome,
                    "order_ids": stop["order_ids"], "duplicate": True}
        raise Conflict(f"stop {command.stop_id} was already recorded as {existing.outcome}",
                       code="stop_already_recorded")
    now = clock.now()
    uow.session.add(StopOutcome(plan_id=plan.id, stop_id=command.stop_id, outcome=command.outcome,
                                received_by=command.received_by, reason=command.reason, recorded_at=now))
    mine = set(uow.session.execute(
        select(col(DispatchedOrder.order_id)).where(
            col(DispatchedOrder.order_id).in_(stop["order_ids"]), col(DispatchedOrder.plan_id) == plan.id)
    ).scalars())
    for order_id in stop["order_ids"]:
        if order_id not in mine:
            continue
        row = uow.session.get(DemandOrder, order_id)
        if command.outcome == "delivered":
            uow.publish(OrderDelivered(order_id=order_id, plan_id=plan.id, stop_id=command.stop_id,
                                       delivered_at=now, received_by=command.received_by or ""))
            happened = "delivered"
        else:
            uow.publish(OrderDeliveryFailed(order_id=order_id, plan_id=plan.id, stop_id=command.stop_id,
                                            failed_at=now, reason=command.reason or ""))
            happened = "delivery_failed"
            # Back to demand: free the order so a later plan may dispatch it again.
            uow.session.execute(delete(DispatchedOrder).where(col(DispatchedOrder.order_id) == order_id))
        if row is not None:
            status = demand_states.next_status(row.status, happened)
            if status is not None:
                row.status = status
                uow.session.add(row)
    uow.commit()
    return {"plan_id": plan.id, "stop_id": command.stop_id, "outcome": command.outcome,
            "order_ids": stop["order_ids"], "duplicate": False}

