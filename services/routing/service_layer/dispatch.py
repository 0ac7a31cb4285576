"""Dispatching a solved plan: its orders are scheduled, a re-plan supersedes its parent.

In four steps: validate (the plan may go, no other plan has its orders), schedule (the
visit that completes each order still reserved, which of them to announce, and which of
the parent's orders the re-plan left out), persist (dispatched orders, demand status, the
parent superseded) and publish (the events).

A re-plan may leave out an order its parent had on a route (an urgent one needed the
room): that order is demand again, stock still reserved, announced as unscheduled. Left on
the superseded plan it would wait for a vehicle no route sends."""

from __future__ import annotations

from dataclasses import dataclass, replace

from sqlalchemy.exc import IntegrityError

from services.routing.adapters.orm import DemandOrder, DispatchedOrder, Plan, StopOutcome
from services.routing.domain import demand as demand_states
from services.routing.domain.plan_result import PlannedRoute, PlannedVisit, PlanResult, changed_assignments
from services.routing.service_layer.access import check_depot_access, visible_plan
from services.routing.service_layer.fleet_state import recorded_stops
from services.routing.service_layer.unit_of_work import RoutingUnitOfWork
from shared import clock
from shared.auth import Principal
from shared.errors import Conflict
from shared.events.payloads import OrderScheduled, OrderUnscheduled, PlanDispatched

#: The demand events a dispatch applies to the orders it takes and leaves (``demand.next_status``).
SCHEDULED = "scheduled"
UNSCHEDULED = "unscheduled"


@dataclass(frozen=True)
class _Checked:
    """A plan that may be dispatched: its result, the plan it re-plans, and the orders of
    that parent's it carries on (a re-plan takes them over)."""

    plan: Plan
    result: PlanResult
    parent: Plan | None
    order_ids: list[str]
    carried: dict[str, DispatchedOrder]


@dataclass(frozen=True)
class _Schedule:
    demand: dict[str, DemandOrder]
    #: The plan's orders no longer reserved (cancelled, released meanwhile): left out.
    gone: list[str]
    #: order id -> the route and visit that complete it.
    visits: dict[str, tuple[PlannedRoute, PlannedVisit]]
    #: The orders to announce: all of a first plan's, a re-plan's new and moved ones.
    changed: set[str]
    #: The parent's orders, still on its routes, that the re-plan left out (their demand rows).
    dropped: dict[str, DemandOrder]


def dispatch(uow: RoutingUnitOfWork, plan_id: str, principal: Principal) -> Plan:
    plan = visible_plan(uow, plan_id, principal)
    check_depot_access(principal, plan.depot_ids)
    if plan.status == "dispatched":
        return plan  # dispatching twice is the same dispatch
    checked = _validate(uow, plan)
    schedule = _schedule(uow, checked)
    # The primary key on dispatched orders must fail at commit, where a concurrent
    # dispatch is turned into a 409, not halfway through as a 500.
    with uow.writes_at_commit():
        _persist(uow, checked, schedule)
        _publish(uow, checked, schedule)
    _commit(uow, checked.order_ids)
    return plan


def _validate(uow: RoutingUnitOfWork, plan: Plan) -> _Checked:
    if plan.status != "solved":
        raise Conflict(f"plan {plan.id} is {plan.status}; only a solved plan can be dispatched",
                       code="plan_not_solved")
    parent = uow.plans.get(plan.parent_plan_id) if plan.parent_plan_id else None
    if parent is not None and parent.status != "dispatched":
        raise Conflict(f"plan {plan.id} re-plans {parent.id}, which is {parent.status} now",
                       code="parent_not_dispatched")
    result = plan.outcome
    order_ids = sorted(result.order_ids())
    taken = _dispatched_orders(uow, order_ids)
    carried = {t.order_id: t for t in taken if parent is not None and t.plan_id == parent.id}
    conflicts = [t for t in taken if t.order_id not in carried]
    if conflicts:
        raise Conflict(
            f"{len(conflicts)} order(s) already dispatched by another plan",
            code="orders_already_dispatched",
            orders={t.order_id: t.plan_id for t in conflicts[:50]},
        )
    return _Checked(plan, result, parent, order_ids, carried)


def _schedule(uow: RoutingUnitOfWork, checked: _Checked) -> _Schedule:
    demand = uow.demand.by_ids(checked.order_ids)

    def schedulable(order_id: str) -> bool:
        row = demand.get(order_id)
        return demand_states.next_status(None if row is None else row.status, SCHEDULED) is not None

    gone = [o for o in checked.order_ids if o not in checked.carried and not schedulable(o)]
    skipped = set(gone)
    visits = {o: placed for o, placed in checked.result.completing_visits().items() if o not in skipped}
    if checked.parent is None:
        changed = set(visits)
    else:
        # A re-plan announces only what changed: new orders and orders that moved. What was
        # delivered (or failed) is history: never announce it again.
        changed = set(changed_assignments(checked.parent.outcome, checked.result))
        recorded = recorded_stops(uow, checked.parent.id)
        changed -= {o for v in checked.result.visits() if v.stop_id in recorded for o in v.order_ids}
    return _Schedule(demand, gone, visits, changed, _dropped(uow, checked))


def _dropped(uow: RoutingUnitOfWork, checked: _Checked) -> dict[str, DemandOrder]:
    if checked.parent is None:
        return {}
    left_out = {o for item in checked.result.unassigned for o in item.order_ids} - set(checked.order_ids)
    still_driven = uow.dispatched.of_plan(checked.parent.id, left_out)
    rows = uow.demand.by_ids(sorted(still_driven))
    return {o: rows[o] for o in sorted(rows) if demand_states.next_status(rows[o].status, UNSCHEDULED)}


def _persist(uow: RoutingUnitOfWork, checked: _Checked, schedule: _Schedule) -> None:
    plan, parent = checked.plan, checked.parent
    for order_id in sorted(schedule.visits):
        row = schedule.demand[order_id]
        if order_id in checked.carried:
            checked.carried[order_id].plan_id = plan.id
            uow.dispatched.add(checked.carried[order_id])
        else:
            uow.dispatched.add(DispatchedOrder(order_id=order_id, plan_id=plan.id))
            row.status = demand_states.next_status(row.status, SCHEDULED) or row.status
        row.plan_id = plan.id
        uow.demand.add(row)
    for order_id, row in schedule.dropped.items():
        uow.dispatched.release(order_id)
        row.status = demand_states.next_status(row.status, UNSCHEDULED) or row.status
        row.plan_id = None
        uow.demand.add(row)
    if parent is not None:
        parent.status = "superseded"
        parent.result = replace(parent.outcome, superseded_by=plan.id).to_json()
        uow.plans.add(parent)
        for outcome in uow.plans.outcomes(parent.id):
            uow.plans.carry(StopOutcome(
                plan_id=plan.id, stop_id=outcome.stop_id, outcome=outcome.outcome,
                received_by=outcome.received_by, reason=outcome.reason, recorded_at=outcome.recorded_at,
            ))
    plan.status, plan.dispatched_at = "dispatched", clock.now()
    plan.result = replace(checked.result, skipped_at_dispatch=tuple(schedule.gone)).to_json()
    uow.plans.add(plan)


def _publish(uow: RoutingUnitOfWork, checked: _Checked, schedule: _Schedule) -> None:
    plan = checked.plan
    for order_id, (route, visit) in sorted(schedule.visits.items()):
        if order_id not in schedule.changed:
            continue
        uow.publish(OrderScheduled(
            order_id=order_id, plan_id=plan.id, depot_id=route.depot_id, vehicle_id=route.vehicle_id,
            stop_id=visit.stop_id, eta=visit.arrival, window_start=visit.window[0], window_end=visit.window[1],
        ))
    for order_id in schedule.dropped:
        uow.publish(OrderUnscheduled(
            order_id=order_id, plan_id=checked.parent.id if checked.parent else "", replaced_by=plan.id,
            reason="left out of the re-plan (another order needed the room); back to demand for the next plan",
        ))
    uow.publish(PlanDispatched(
        plan_id=plan.id, depot_ids=plan.depot_ids, service_date=plan.service_date,
        order_ids=sorted(schedule.visits), vehicle_ids=sorted(checked.result.vehicle_ids()),
    ))


def _commit(uow: RoutingUnitOfWork, order_ids: list[str]) -> None:
    try:
        uow.commit()
    except IntegrityError as exc:
        # Another dispatcher's plan won the race for some of these orders (PostgreSQL
        # lets both transactions run; the primary key on dispatched orders decides).
        uow.rollback()
        winners = _dispatched_orders(uow, order_ids)
        raise Conflict(
            "orders of this plan were dispatched by another plan meanwhile",
            code="orders_already_dispatched",
            orders={t.order_id: t.plan_id for t in winners[:50]},
        ) from exc


def _dispatched_orders(uow: RoutingUnitOfWork, order_ids: list[str]) -> list[DispatchedOrder]:
    return uow.dispatched.taken(order_ids)
