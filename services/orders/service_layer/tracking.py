"""Orders after intake: reading them (each principal sees only its own), cancelling,
and following the facts other services publish along the status machine.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.orders.adapters.orm import Order, TimelineEntry
from services.orders.domain import status
from services.orders.domain.commands import (
    CancelOrder,
)
from services.orders.domain.model import Line, OrderStatus, OrderView
from services.orders.service_layer.unit_of_work import OrdersUnitOfWork
from shared import clock
from shared.auth import Principal
from shared.clock import as_utc
from shared.errors import Conflict, NotFound
from shared.events import payloads
from shared.messaging.consumer import PoisonEvent

log = logging.getLogger(__name__)


def order_view(order: Order) -> OrderView:
    return OrderView(
        id=order.id, household_id=order.household_id, community_id=order.community_id,
        status=order.status, priority=order.priority, contactless=order.contactless,
        note=order.note, created_at=as_utc(order.created_at), updated_at=as_utc(order.updated_at),
        status_reason=order.status_reason, depot_id=order.depot_id, plan_id=order.plan_id,
        vehicle_id=order.vehicle_id, stop_id=order.stop_id, eta=as_utc(order.eta),
        window_start=as_utc(order.window_start), window_end=as_utc(order.window_end),
        delivered_at=as_utc(order.delivered_at), received_by=order.received_by,
    )


@dataclass
class OrderDetails:
    order: OrderView
    lines: list[Line]
    timeline: Sequence[TimelineEntry] | None = None



def can_see(principal: Principal, order: Order) -> bool:
    if principal.role in ("admin", "dispatcher"):
        return True
    if principal.role == "resident":
        return order.household_id == principal.subject
    if principal.role == "community_worker":
        return order.community_id in principal.community_ids
    return False


def get_order(order_id: str, principal: Principal, uow: OrdersUnitOfWork) -> OrderDetails:
    with uow:
        order = uow.orders.get(order_id)
        # Someone else's order is "not found", never "forbidden": no object-level leak.
        if order is None or not can_see(principal, order):
            raise NotFound(f"order {order_id} not found", order_id=order_id)
        return OrderDetails(order_view(order), uow.orders.lines([order.id])[order.id],
                            uow.orders.timeline(order.id))


def list_orders(
    principal: Principal,
    uow: OrdersUnitOfWork,
    *,
    status_filter: str | None,
    before_id: str | None,
    limit: int,
) -> tuple[list[OrderDetails], str | None]:
    scope: dict[str, Any] = {}
    if principal.role == "resident":
        scope["household_id"] = principal.subject
    elif principal.role == "community_worker":
        scope["community_ids"] = sorted(principal.community_ids)
    with uow:
        orders = uow.orders.page(
            status=status_filter, before_id=before_id, limit=limit + 1, **scope
        )
        more = len(orders) > limit
        orders = orders[:limit]
        lines = uow.orders.lines([order.id for order in orders])
        items = [OrderDetails(order_view(order), lines[order.id]) for order in orders]
    return items, (orders[-1].id if more and orders else None)


def cancel_order(cmd: CancelOrder, principal: Principal, uow: OrdersUnitOfWork) -> OrderDetails:
    with uow:
        order = uow.orders.get(cmd.order_id, for_update=True)
        if order is None or not can_see(principal, order):
            raise NotFound(f"order {cmd.order_id} not found", order_id=cmd.order_id)
        current = OrderStatus(order.status)
        # Cancelling twice is harmless: the second answer is the cancelled order, no event.
        if current is not OrderStatus.CANCELLED:
            refusal = status.cancellation_refusal(current)
            if refusal is not None:
                raise Conflict(
                    f"order {order.id} cannot be cancelled: {refusal}",
                    code="not_cancellable", status=current.value,
                )
            now = clock.now()
            order.status = OrderStatus.CANCELLED.value
            order.status_reason = cmd.reason
            order.updated_at = now
            uow.session.flush()
            uow.orders.add_timeline(order.id, now, OrderStatus.CANCELLED.value, {
                "reason": cmd.reason, "by": f"{principal.role}:{principal.subject}",
            })
            uow.publish(payloads.OrderCancelled(order_id=order.id, reason=cmd.reason))
        details = OrderDetails(order_view(order), uow.orders.lines([order.id])[order.id],
                               uow.orders.timeline(order.id))
        uow.commit()
        return details


def apply_fact(order_id: str, fact: status.Fact, at: datetime, uow: OrdersUnitOfWork) -> None:
    """Move an order along the status machine; ignored facts change nothing.

    Read, decide, write through ``uow.statuses`` (driver-level statements, see
    adapters/status.py): each fact reads what the previous one in the batch left."""
    store = uow.statuses
    tracking = store.tracking(order_id)
    if tracking is None:
        # Orders are created here before any service hears of them: an unknown id can
        # never become valid.
        raise PoisonEvent(f"unknown order {order_id}")
    changes = status.advance(tracking, fact)
    if not changes:
        log.info("order %s: %s ignored in status %s", order_id, type(fact).__name__,
                 tracking.status.value)
        return
    values = _fact_values(fact, tracking)
    values["status"] = changes[-1].status.value
    values["updated_at"] = clock.now()
    store.apply(order_id, tracking.status, values, at, changes)


def _fact_values(fact: status.Fact, order: status.Tracking) -> dict[str, Any]:
    match fact:
        case status.StockWasReserved(depot_id=depot):
            return {"depot_id": depot, "status_reason": None}
        case status.OrderWasBackordered(reason=reason):
            return {"status_reason": reason}
        case status.ReservationWasRejected(reason=reason):
            return {"status_reason": reason}
        case status.OrderWasScheduled():
            return {
                "depot_id": fact.depot_id, "plan_id": fact.plan_id, "vehicle_id": fact.vehicle_id,
                "stop_id": fact.stop_id, "eta": fact.eta, "window_start": fact.window_start,
                "window_end": fact.window_end, "scheduled_fact_at": fact.stated_at,
                "status_reason": None,
            }
        case status.OrderWasDelivered():
            return {"plan_id": fact.plan_id, "stop_id": fact.stop_id,
                    "delivered_at": fact.delivered_at, "received_by": fact.received_by,
                    "status_reason": None}
        case status.DeliveryHasFailed() | status.OrderWasUnscheduled():
            # Off the route: the order waits, reserved, for the next plan.
            closed = sorted({*order.closed_plan_ids, fact.plan_id})
            return {"closed_plan_ids": closed, "status_reason": fact.reason, "plan_id": None,
                    "vehicle_id": None, "stop_id": None, "eta": None, "window_start": None,
                    "window_end": None, "scheduled_fact_at": None}
    return {}  # pragma: no cover


def note_release(payload: payloads.ReservationReleased, at: datetime, uow: OrdersUnitOfWork) -> None:
    """A released reservation changes no status (inventory releases after a cancel, or to
    re-allocate); it is kept on the timeline so the history stays explainable."""
    noted = uow.statuses.note(payload.order_id, at, {
        "note": "reservation released", "depot_id": payload.depot_id, "reason": payload.reason,
    })
    if not noted:
        raise PoisonEvent(f"unknown order {payload.order_id}")
