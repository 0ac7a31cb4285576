"""Dispatching a solved plan: its orders are scheduled, a re-plan supersedes its parent."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlmodel import col

from services.routing.adapters.orm import DemandOrder, DispatchedOrder, Plan, StopOutcome
from services.routing.domain import demand as demand_states
from services.routing.domain.planning import changed_assignments
from services.routing.service_layer.access import check_depot_access, visible_plan
from services.routing.service_layer.unit_of_work import RoutingUnitOfWork
from shared import clock
from shared.auth import Principal
from shared.events.payloads import OrderScheduled, PlanDispatched
from shared.http import Conflict


def dispatch(uow: RoutingUnitOfWork, plan_id: str, principal: Principal) -> Plan:
    plan = visible_plan(uow, plan_id, principal)
    check_depot_access(principal, plan.depot_ids)
    if plan.status == "dispatched":
        return plan  # dispatching twice is the same dispatch
    if plan.status != "solved":
        raise Conflict(f"plan {plan_id} is {plan.status}; only a solved plan can be dispatched",
                       code="plan_not_solved")
    parent = uow.session.get(Plan, plan.parent_plan_id) if plan.parent_plan_id else None
    if parent is not None and parent.status != "dispatched":
        raise Conflict(f"plan {plan_id} re-plans {parent.id}, which is {parent.status} now",
                       code="parent_not_dispatched")
    stops = [(route, stop) for route in plan.result["routes"] for stop in route["stops"]]
    order_ids = sorted({o for _route, stop in stops for o in stop["order_ids"]})
    taken = uow.session.execute(
        select(DispatchedOrder).where(col(DispatchedOrder.order_id).in_(order_ids))
    ).scalars().all()
    carried = {t.order_id: t for t in taken if parent is not None and t.plan_id == parent.id}
    conflicts = [t for t in taken if t.order_id not in carried]
    if conflicts:
        raise Conflict(
            f"{len(conflicts)} order(s) already dispatched by another plan",
            code="orders_already_dispatched",
            orders={t.order_id: t.plan_id for t in conflicts[:50]},
        )
    demand = {
        o.order_id: o for o in uow.session.execute(
            select(DemandOrder).where(col(DemandOrder.order_id).in_(order_ids))
        ).scalars()
    }
    gone = sorted(
        o for o in order_ids
        if o not in carried and (demand.get(o) is None or demand[o].status != "reserved")
    )
    schedule: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}
    for route, stop in stops:
        for order_id in stop["order_ids"]:
            if order_id in gone:
                continue
            # An order split over an ambient and a cold stop is complete at its later stop.
            current = schedule.get(order_id)
            if current is None or stop["arrival"] > current[1]["arrival"]:
                schedule[order_id] = (route, stop)
    # A re-plan announces only what changed: new orders and orders that moved.
    changed = (
        set(changed_assignments(parent.result, plan.result)) if parent is not None else set(schedule)
    )
    if parent is not None:
        # What was delivered (or failed) is history: never announce it again.
        recorded = set(uow.session.execute(
            select(col(StopOutcome.stop_id)).where(col(StopOutcome.plan_id) == parent.id)).scalars())
        changed -= {o for _route, stop in stops if stop["stop_id"] in recorded for o in stop["order_ids"]}
    # No autoflush: the primary key on dispatched orders must fail at commit, where a
    # concurrent dispatch is turned into a 409, not halfway through as a 500.
    with uow.session.no_autoflush:
        for order_id, (route, stop) in sorted(schedule.items()):
            row = demand[order_id]
            if order_id in carried:
                carried[order_id].plan_id = plan_id
                uow.session.add(carried[order_id])
            else:
                uow.session.add(DispatchedOrder(order_id=order_id, plan_id=plan_id))
                row.status = demand_states.SCHEDULED
            row.plan_id = plan_id
            uow.session.add(row)
            if order_id not in changed:
                continue
            uow.publish(OrderScheduled(
                order_id=order_id, plan_id=plan_id, depot_id=route["depot_id"],
                vehicle_id=route["vehicle_id"], stop_id=stop["stop_id"],
                eta=datetime.fromisoformat(stop["arrival"]),
                window_start=datetime.fromisoformat(stop["window"][0]),
                window_end=datetime.fromisoformat(stop["window"][1]),
            ))
        if parent is not None:
            parent.status = "superseded"
            parent.result = {**parent.result, "superseded_by": plan_id}
            uow.session.add(parent)
            for outcome in uow.session.execute(
                select(StopOutcome).where(col(StopOutcome.plan_id) == parent.id)
            ).scalars():
                uow.session.merge(StopOutcome(
                    plan_id=plan_id, stop_id=outcome.stop_id, outcome=outcome.outcome,
                    received_by=outcome.received_by, reason=outcome.reason, recorded_at=outcome.recorded_at,
                ))
        uow.publish(PlanDispatched(
            plan_id=plan_id, depot_ids=plan.depot_ids, service_date=plan.service_date,
            order_ids=sorted(schedule), vehicle_ids=sorted({r["vehicle_id"] for r in plan.result["routes"]}),
        ))
        plan.status, plan.dispatched_at = "dispatched", clock.now()
        plan.result = {**plan.result, "skipped_at_dispatch": gone}
        uow.session.add(plan)
    try:
        uow.commit()
    except IntegrityError as exc:
        # Another dispatcher's plan won the race for some of these orders (PostgreSQL
        # lets both transactions run; the primary key on dispatched orders decides).
        uow.rollback()
        winners = uow.session.execute(
            select(DispatchedOrder).where(col(DispatchedOrder.order_id).in_(order_ids))
        ).scalars().all()
        raise Conflict(
            "orders of this plan were dispatched by another plan meanwhile",
            code="orders_already_dispatched",
            orders={t.order_id: t.plan_id for t in winners[:50]},
        ) from exc
    return plan

