"""The event handlers map ``{TYPE: handler}``: translate a payload into a use case call.

Stock events that can never apply (unknown depot or SKU, an adjustment below zero)
become ``PoisonEvent`` so the shared consumer dead-letters them with the reason at once.
"""

from __future__ import annotations

from typing import Any, cast

from services.inventory.domain.commands import CancelOrder, ReserveOrder, ShipOrder
from services.inventory.domain.model import Line
from services.inventory.domain.stock import StockRuleViolation
from services.inventory.service_layer import handlers, reservations
from services.inventory.service_layer.handlers import Context
from services.inventory.service_layer.unit_of_work import InventoryUnitOfWork
from shared.events import topics
from shared.events.envelope import CloudEvent
from shared.events.payloads import (
    CommunityChanged,
    CommunityRegistered,
    CommunityUpdated,
    OrderCancelled,
    OrderPlaced,
    OrderScheduled,
    StockAdjusted,
    StockCounted,
    StockEvent,
    StockReceived,
)
from shared.messaging.consumer import BatchHandler, Handler, PoisonEvent
from shared.messaging.unit_of_work import SqlUnitOfWork
from shared.priority import Priority
from shared.text import contains_nul

CONSUMED_TOPICS = [
    topics.COMMUNITIES.name,
    topics.ORDERS.name,
    topics.STOCK_UPDATES.name,
    topics.ROUTES.name,
]


def build_handlers(ctx: Context) -> dict[str, Handler]:
    def on_community(uow: SqlUnitOfWork, payload: CommunityChanged, _event: CloudEvent) -> None:
        handlers.record_community(
            _inv(uow), payload.community_id, payload.name, payload.district, payload.lat, payload.lon,
            ctx,
        )

    def on_stock(uow: SqlUnitOfWork, payload: StockEvent, event: CloudEvent) -> None:
        _refuse_nul(event)
        try:
            handlers.apply_stock_event(_inv(uow), payload, event.id, ctx)
        except StockRuleViolation as exc:
            raise PoisonEvent(str(exc)) from exc

    def on_placed(uow: SqlUnitOfWork, payload: OrderPlaced, _event: CloudEvent) -> None:
        handlers.reserve_order(_inv(uow), _reserve(payload), ctx)

    def on_cancelled(uow: SqlUnitOfWork, payload: OrderCancelled, _event: CloudEvent) -> None:
        handlers.cancel_order(_inv(uow), CancelOrder(payload.order_id, payload.reason), ctx)

    def on_scheduled(uow: SqlUnitOfWork, payload: OrderScheduled, _event: CloudEvent) -> None:
        handlers.ship_order(
            _inv(uow), ShipOrder(payload.order_id, payload.depot_id, payload.plan_id), ctx
        )

    table: dict[str, Any] = {
        CommunityRegistered.TYPE: on_community,
        CommunityUpdated.TYPE: on_community,
        StockReceived.TYPE: on_stock,
        StockAdjusted.TYPE: on_stock,
        StockCounted.TYPE: on_stock,
        OrderPlaced.TYPE: on_placed,
        OrderCancelled.TYPE: on_cancelled,
        OrderScheduled.TYPE: on_scheduled,
    }
    return cast(dict[str, Handler], table)


def build_batch_handlers(ctx: Context) -> dict[str, BatchHandler]:
    """Runs of placed orders are reserved together; runs of receipts (the bulk of warehouse
    traffic, and they commute) are applied with one upsert per stock row. A poison event
    in a run fails the run, and the runner then applies its events one by one, which
    dead-letters the poison alone."""

    def on_placed_together(uow: SqlUnitOfWork, events: list[tuple[OrderPlaced, CloudEvent]]) -> None:
        reservations.reserve_orders(_inv(uow), [_reserve(payload) for payload, _ in events], ctx)

    def on_received_together(uow: SqlUnitOfWork, events: list[tuple[StockReceived, CloudEvent]]) -> None:
        for payload, event in events:
            _refuse_nul(event)
            try:
                handlers.require_known(_inv(uow), payload.depot_id, payload.sku, ctx)
            except StockRuleViolation as exc:
                raise PoisonEvent(str(exc)) from exc
        handlers.record_receipts(
            _inv(uow), [handlers.stock_command(payload, event.id) for payload, event in events], ctx
        )

    return {
        OrderPlaced.TYPE: cast(BatchHandler, on_placed_together),
        StockReceived.TYPE: cast(BatchHandler, on_received_together),
    }


def _refuse_nul(event: CloudEvent) -> None:
    if contains_nul(event.model_dump(mode="json")):
        raise PoisonEvent("a stock event must not contain NUL characters")


def _reserve(payload: OrderPlaced) -> ReserveOrder:
    return ReserveOrder(
        order_id=payload.order_id,
        household_id=payload.household_id,
        community_id=payload.community_id,
        priority=Priority(payload.priority),
        placed_at=payload.placed_at,
        lines=[Line(item.sku, item.quantity) for item in payload.items],
    )


def _inv(uow: SqlUnitOfWork) -> InventoryUnitOfWork:
    assert isinstance(uow, InventoryUnitOfWork)
    return uow
