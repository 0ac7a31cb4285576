"""The order status machine (SPEC section 9) as a pure function over facts.

placed -> reserved | backordered | rejected | cancelled
backordered -> reserved | rejected | cancelled
reserved -> scheduled | cancelled
scheduled -> delivered | delivery_failed (-> reserved again, for re-planning)
scheduled -> reserved (unscheduled: a re-plan left it out; the next plan takes it)

Facts come from three topics, so they can arrive late, twice or out of order. The rule
is that an order never moves backwards and never applies the same fact twice:
 - a fact that implies an earlier step we have not seen yet skips over it (a scheduled
   order was reserved, a delivered order was scheduled), taking what it tells us;
 - a fact older than what we know is ignored (a late ``reserved`` after ``scheduled``);
 - terminal statuses (delivered, rejected, cancelled) absorb everything;
 - a plan whose delivery failed is closed: its late ``scheduled`` cannot bring it back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from services.orders.domain.model import CANCELLABLE, OrderStatus

TERMINAL: frozenset[OrderStatus] = frozenset(
    {OrderStatus.DELIVERED, OrderStatus.REJECTED, OrderStatus.CANCELLED}
)

# How far along the happy path a status is; facts may only move an order forward.
_RANK: dict[OrderStatus, int] = {
    OrderStatus.PLACED: 0,
    OrderStatus.BACKORDERED: 1,
    OrderStatus.RESERVED: 2,
    OrderStatus.SCHEDULED: 3,
    OrderStatus.DELIVERY_FAILED: 3,
}


@dataclass(frozen=True)
class Tracking:
    """The part of an order the status machine reads."""

    status: OrderStatus
    plan_id: str | None = None
    closed_plan_ids: frozenset[str] = frozenset()
    scheduled_fact_at: datetime | None = None


# --- facts (past tense: they happened elsewhere) ------------------------------------

@dataclass(frozen=True)
class StockWasReserved:
    depot_id: str


@dataclass(frozen=True)
class OrderWasBackordered:
    reason: str


@dataclass(frozen=True)
class ReservationWasRejected:
    reason_code: str
    reason: str


@dataclass(frozen=True)
class OrderWasScheduled:
    plan_id: str
    depot_id: str
    vehicle_id: str
    stop_id: str
    eta: datetime
    window_start: datetime
    window_end: datetime
    # When the fact was stated (event time): orders re-optimised twice keep the newest.
    stated_at: datetime


@dataclass(frozen=True)
class OrderWasDelivered:
    plan_id: str
    stop_id: str
    delivered_at: datetime
    received_by: str


@dataclass(frozen=True)
class DeliveryHasFailed:
    plan_id: str
    stop_id: str
    failed_at: datetime
    reason: str


@dataclass(frozen=True)
class OrderWasUnscheduled:
    plan_id: str
    replaced_by: str
    reason: str
    stated_at: datetime


Fact = (
    StockWasReserved
    | OrderWasBackordered
    | ReservationWasRejected
    | OrderWasScheduled
    | OrderWasDelivered
    | DeliveryHasFailed
    | OrderWasUnscheduled
)


@dataclass(frozen=True)
class Change:
    """One status change, one timeline row."""

    status: OrderStatus
    detail: dict[str, Any] = field(default_factory=dict)


def advance(order: Tracking, fact: Fact) -> list[Change]:
    """The status changes ``fact`` causes on ``order``; empty means the fact is ignored."""
    current = order.status
    if current in TERMINAL:
        return []
    rank = _RANK[current]
    match fact:
        case StockWasReserved(depot_id=depot):
            if rank < _RANK[OrderStatus.RESERVED]:
                return [Change(OrderStatus.RESERVED, {"depot_id": depot})]
            return []
        case OrderWasBackordered(reason=reason):
            if current is OrderStatus.PLACED:
                return [Change(OrderStatus.BACKORDERED, {"reason": reason})]
            return []
        case ReservationWasRejected(reason_code=code, reason=reason):
            if current in (OrderStatus.PLACED, OrderStatus.BACKORDERED):
                return [Change(OrderStatus.REJECTED, {"reason_code": code, "reason": reason})]
            return []
        case OrderWasScheduled():
            return _scheduled(order, fact)
        case OrderWasDelivered(plan_id=plan, stop_id=stop, delivered_at=at, received_by=who):
            # Delivery is the final fact: it wins over any missing intermediate step.
            return [Change(OrderStatus.DELIVERED, {
                "plan_id": plan, "stop_id": stop, "delivered_at": at.isoformat(),
                "received_by": who,
            })]
        case DeliveryHasFailed(plan_id=plan, stop_id=stop, failed_at=at, reason=reason):
            if plan in order.closed_plan_ids:
                return []
            return [
                Change(OrderStatus.DELIVERY_FAILED, {
                    "plan_id": plan, "stop_id": stop, "failed_at": at.isoformat(),
                    "reason": reason,
                }),
                # Stock stays reserved at the depot; routing takes it back as demand.
                Change(OrderStatus.RESERVED, {"reason": "returned for re-planning"}),
            ]
        case OrderWasUnscheduled(plan_id=plan, replaced_by=successor, reason=reason, stated_at=at):
            # Only a schedule older than the statement is undone: a later plan that took
            # the order again (its ``scheduled`` stated after) keeps it.
            fresh = order.scheduled_fact_at is None or at >= order.scheduled_fact_at
            if current is not OrderStatus.SCHEDULED or not fresh:
                return []
            return [Change(OrderStatus.RESERVED, {"plan_id": plan, "replaced_by": successor, "reason": reason})]
    return []  # pragma: no cover - the match is exhaustive


def _scheduled(order: Tracking, fact: OrderWasScheduled) -> list[Change]:
    if fact.plan_id in order.closed_plan_ids:
        return []
    detail = {
        "plan_id": fact.plan_id, "depot_id": fact.depot_id, "vehicle_id": fact.vehicle_id,
        "stop_id": fact.stop_id, "eta": fact.eta.isoformat(),
        "window_start": fact.window_start.isoformat(), "window_end": fact.window_end.isoformat(),
    }
    if order.status is OrderStatus.SCHEDULED:
        # A re-optimised plan re-states the schedule; only a newer statement replaces it.
        if order.scheduled_fact_at is not None and fact.stated_at <= order.scheduled_fact_at:
            return []
        return [Change(OrderStatus.SCHEDULED, {**detail, "rescheduled": True})]
    return [Change(OrderStatus.SCHEDULED, detail)]


def cancellation_refusal(status: OrderStatus) -> str | None:
    """Why an order in ``status`` can no longer be cancelled (None: it can)."""
    if status in CANCELLABLE or status is OrderStatus.CANCELLED:
        return None
    if status in (OrderStatus.SCHEDULED, OrderStatus.DELIVERY_FAILED):
        return "the order is already on a dispatched route"
    if status is OrderStatus.DELIVERED:
        return "the order has been delivered"
    return "the order was rejected"
