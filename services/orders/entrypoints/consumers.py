"""The events orders consumes, keyed by type: translate payload -> fact -> handler."""

from __future__ import annotations

from typing import Any

from services.orders.domain import status
from services.orders.service_layer import handlers
from services.orders.service_layer.unit_of_work import OrdersUnitOfWork
from shared.clock import as_utc
from shared.events import payloads, topics
from shared.events.envelope import CloudEvent
from shared.messaging.consumer import Handler

CONSUMED_TOPICS = [
    topics.CATALOG.name,
    topics.RESERVATIONS.name,
    topics.ROUTES.name,
    topics.DELIVERIES.name,
]


def on_sku_defined(uow: OrdersUnitOfWork, payload: payloads.SkuDefined, _event: CloudEvent) -> None:
    handlers.define_sku(payload, uow)


def on_stock_reserved(
    uow: OrdersUnitOfWork, payload: payloads.StockReserved, event: CloudEvent
) -> None:
    handlers.apply_fact(payload.order_id, status.StockWasReserved(payload.depot_id), event.time, uow)


def on_backordered(
    uow: OrdersUnitOfWork, payload: payloads.OrderBackordered, event: CloudEvent
) -> None:
    handlers.apply_fact(payload.order_id, status.OrderWasBackordered(payload.reason), event.time, uow)


def on_rejected(
    uow: OrdersUnitOfWork, payload: payloads.ReservationRejected, event: CloudEvent
) -> None:
    fact = status.ReservationWasRejected(payload.reason_code, payload.reason)
    handlers.apply_fact(payload.order_id, fact, event.time, uow)


def on_released(
    uow: OrdersUnitOfWork, payload: payloads.ReservationReleased, event: CloudEvent
) -> None:
    handlers.note_release(payload, event.time, uow)




def on_scheduled(uow: OrdersUnitOfWork, payload: payloads.OrderScheduled, event: CloudEvent) -> None:
    fact = status.OrderWasScheduled(
        plan_id=payload.plan_id, depot_id=payload.depot_id, vehicle_id=payload.vehicle_id,
        # Routing states local times with their offset; the database keeps UTC (SQLite would
        # otherwise drop the offset and the API would label a local time as UTC).
        stop_id=payload.stop_id, eta=as_utc(payload.eta), window_start=as_utc(payload.window_start),
        window_end=as_utc(payload.window_end), stated_at=event.time,
    )
    handlers.apply_fact(payload.order_id, fact, event.time, uow)


def on_delivered(uow: OrdersUnitOfWork, payload: payloads.OrderDelivered, event: CloudEvent) -> None:
    fact = status.OrderWasDelivered(
        plan_id=payload.plan_id, stop_id=payload.stop_id, delivered_at=payload.delivered_at,
        received_by=payload.received_by,
    )
    handlers.apply_fact(payload.order_id, fact, event.time, uow)


def on_delivery_failed(
    uow: OrdersUnitOfWork, payload: payloads.OrderDeliveryFailed, event: CloudEvent
) -> None:
    fact = status.DeliveryHasFailed(
        plan_id=payload.plan_id, stop_id=payload.stop_id, failed_at=payload.failed_at,
        reason=payload.reason,
    )
    handlers.apply_fact(payload.order_id, fact, event.time, uow)


def on_unscheduled(uow: OrdersUnitOfWork, payload: payloads.OrderUnscheduled, event: CloudEvent) -> None:
    fact = status.OrderWasUnscheduled(plan_id=payload.plan_id, replaced_by=payload.replaced_by,
                                      reason=payload.reason, stated_at=event.time)
    handlers.apply_fact(payload.order_id, fact, event.time, uow)


_HANDLERS: dict[str, Any] = {
    payloads.SkuDefined.TYPE: on_sku_defined,
    payloads.StockReserved.TYPE: on_stock_reserved,
    payloads.OrderBackordered.TYPE: on_backordered,
    payloads.ReservationRejected.TYPE: on_rejected,
    payloads.ReservationReleased.TYPE: on_released,
    payloads.OrderScheduled.TYPE: on_scheduled,
    payloads.OrderUnscheduled.TYPE: on_unscheduled,
    payloads.OrderDelivered.TYPE: on_delivered,
    payloads.OrderDeliveryFailed.TYPE: on_delivery_failed,
}
HANDLERS: dict[str, Handler] = _HANDLERS
