"""Stock movements from warehouse systems: received, adjusted and counted events, one by
one (the topic consumer), a run of receipts at once, or a batch over HTTP. A movement
may give reservations back (a count below what is reserved) and serve backorders."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError

from services.inventory.adapters.allocations import AllocationRow
from services.inventory.adapters.repository import LedgerRecord, StockRow
from services.inventory.domain import allocation as rules
from services.inventory.domain.commands import RecordStockMovement
from services.inventory.domain.model import Movement
from services.inventory.domain.stock import StockRuleViolation, UnknownStockTarget, on_hand_delta
from services.inventory.service_layer.backorders import enqueue_backorder, reserve_backordered, serve_backorders
from services.inventory.service_layer.context import Context
from services.inventory.service_layer.fulfilment import give_back
from services.inventory.service_layer.low_stock import check_low
from services.inventory.service_layer.unit_of_work import InventoryUnitOfWork
from shared.events.codec import SchemaViolation, UnknownEventType, unwrap
from shared.events.envelope import CloudEvent, describe_validation_error
from shared.events.payloads import StockAdjusted, StockCounted, StockEvent, StockReceived
from shared.text import contains_nul

STOCK_EVENT_KINDS: dict[str, str] = {
    StockReceived.TYPE: "received",
    StockAdjusted.TYPE: "adjusted",
    StockCounted.TYPE: "counted",
}


def record_stock_movement(uow: InventoryUnitOfWork, cmd: RecordStockMovement, ctx: Context) -> None:
    """Apply one received / adjusted / counted event. Raises StockRuleViolation (and its
    UnknownStockTarget) for events that can never apply."""
    _require_known(uow, cmd.depot_id, cmd.sku, ctx)
    now = ctx.now()
    if cmd.kind == "received":
        delta = on_hand_delta("received", cmd.quantity, 0)
        row = uow.stock.add_on_hand(cmd.depot_id, cmd.sku, delta, now)
        uow.ledger.add(_ledger(cmd, Movement.RECEIVED, delta, now))
        serve_backorders(uow, cmd.sku, ctx, watch=(cmd.depot_id, cmd.sku))
        if row.low_alerted:
            check_low(uow, _reread(uow, row), ctx)
        return
    current = uow.stock.get(cmd.depot_id, cmd.sku, for_update=True)
    on_hand = current.on_hand if current else 0
    reserved = current.reserved if current else 0
    delta = on_hand_delta(cmd.kind, cmd.quantity, on_hand)
    target = on_hand + delta
    released: list[AllocationRow] = []
    if target < reserved:
        why = f"{cmd.kind} at {cmd.depot_id} left {target} of {cmd.sku} for {reserved} reserved"
        released = give_back(uow, cmd.depot_id, cmd.sku, reserved - target, why, ctx)
    row = uow.stock.set_on_hand(cmd.depot_id, cmd.sku, target, now)
    uow.ledger.add(_ledger(cmd, Movement(cmd.kind), delta, now))
    # Re-home what was released in serving order, so the most urgent get what is left.
    by_id = {a.order_id: a for a in released}
    for claim in rules.serving_order([a.claim() for a in released], ctx.allocation_policy):
        allocation = by_id[claim.order_id]
        if not reserve_backordered(uow, allocation, ctx):
            enqueue_backorder(uow, allocation, f"stock at {cmd.depot_id} fell short; waiting for stock", ctx)
    if delta > 0 or released:
        serve_backorders(uow, cmd.sku, ctx, watch=(cmd.depot_id, cmd.sku))
    check_low(uow, _reread(uow, row), ctx)


def record_receipts(uow: InventoryUnitOfWork, receipts: list[RecordStockMovement], ctx: Context) -> None:
    """Many ``received`` events at once (a run of them in one consumer poll): one upsert per stock
    row, the ledger rows in one statement, then backorders served once per SKU. The
    caller has checked depots and SKUs (``require_known``)."""
    if not receipts:
        return
    now = ctx.now()
    deltas: dict[tuple[str, str], int] = {}
    for cmd in receipts:
        delta = on_hand_delta("received", cmd.quantity, 0)
        deltas[(cmd.depot_id, cmd.sku)] = deltas.get((cmd.depot_id, cmd.sku), 0) + delta
    uow.stock.add_on_hand_many(deltas, now)
    uow.ledger.add(*(_ledger(cmd, Movement.RECEIVED, cmd.quantity, now) for cmd in receipts))
    waited_for = uow.allocations.skus_waited_for({sku for _, sku in deltas})
    for depot_id, sku in sorted(deltas):
        if sku in waited_for:
            serve_backorders(uow, sku, ctx, watch=(depot_id, sku))
    for row in uow.stock.alerted_among(deltas):
        check_low(uow, row, ctx)


def require_known(uow: InventoryUnitOfWork, depot_id: str, sku: str, ctx: Context) -> None:
    """Raises UnknownStockTarget for a depot or SKU the catalog does not hold."""
    _require_known(uow, depot_id, sku, ctx)


def _require_known(uow: InventoryUnitOfWork, depot_id: str, sku: str, ctx: Context) -> None:
    if depot_id not in ctx.known_depots:
        if not uow.catalog.depot_exists(depot_id):
            raise UnknownStockTarget(f"unknown depot {depot_id!r}")
        ctx.known_depots.add(depot_id)
    if sku not in ctx.known_skus:
        if not uow.catalog.sku_exists(sku):
            raise UnknownStockTarget(f"unknown SKU {sku!r}")
        ctx.known_skus.add(sku)


def _ledger(cmd: RecordStockMovement, movement: Movement, delta: int, now: datetime) -> LedgerRecord:
    return LedgerRecord(
        depot_id=cmd.depot_id, sku=cmd.sku, movement=movement, quantity=cmd.quantity,
        on_hand_delta=delta, reserved_delta=0, created_at=now, event_id=cmd.event_id,
        reason=cmd.reason,
    )


def _reread(uow: InventoryUnitOfWork, row: StockRow) -> StockRow:
    return uow.stock.get(row.depot_id, row.sku) or row


def apply_stock_event(uow: InventoryUnitOfWork, payload: StockEvent, event_id: str, ctx: Context) -> None:
    """A warehouse's stock event, from the topic or over HTTP (each deduplicated by the
    inbox around it)."""
    record_stock_movement(uow, stock_command(payload, event_id), ctx)


def stock_command(payload: StockEvent, event_id: str) -> RecordStockMovement:
    return RecordStockMovement(
        event_id=event_id, kind=STOCK_EVENT_KINDS[payload.TYPE], depot_id=payload.depot_id,
        sku=payload.sku, quantity=payload.quantity, reason=payload.reason,
    )


@dataclass(frozen=True)
class StockEventResult:
    index: int
    id: str | None
    status: str  # applied | duplicate | rejected
    reason: str | None = None


def apply_stock_batch(
    uow: InventoryUnitOfWork,
    raw_events: list[Any],
    may_write: Callable[[str], bool],
    ctx: Context,
    *,
    inbox_topic: str,
) -> list[StockEventResult]:
    """The HTTP twin of the topic consumer: one transaction, a savepoint per event, and
    the same inbox table, so an id seen on the topic is a duplicate here and vice versa."""
    with uow:
        results = [
            _apply_raw(uow, index, raw, may_write, ctx, inbox_topic)
            for index, raw in enumerate(raw_events)
        ]
        uow.commit()
    return results


def _apply_raw(
    uow: InventoryUnitOfWork,
    index: int,
    raw: Any,
    may_write: Callable[[str], bool],
    ctx: Context,
    inbox_topic: str,
) -> StockEventResult:
    raw_id = raw.get("id") if isinstance(raw, dict) else None
    event_id = raw_id if isinstance(raw_id, str) else None
    if not isinstance(raw, dict):
        return StockEventResult(index, None, "rejected", "an event must be a JSON object")
    if contains_nul(raw):
        # Never reaches the database (PostgreSQL refuses NUL in text; the whole batch failed).
        return StockEventResult(index, None, "rejected", "an event must not contain NUL characters")
    try:
        event = CloudEvent.model_validate(raw)
    except ValidationError as exc:
        return StockEventResult(index, event_id, "rejected", f"not a CloudEvent: {describe_validation_error(exc)}")
    if event.type not in STOCK_EVENT_KINDS:
        return StockEventResult(
            index, event.id, "rejected",
            f"type {event.type!r} is not a stock event (expected one of "
            + ", ".join(sorted(STOCK_EVENT_KINDS)) + ")",
        )
    try:
        payload = unwrap(event)
    except (SchemaViolation, UnknownEventType) as exc:
        return StockEventResult(index, event.id, "rejected", str(exc))
    assert isinstance(payload, StockEvent)
    if not may_write(payload.depot_id):
        return StockEventResult(
            index, event.id, "rejected", f"not authorised for depot {payload.depot_id!r}"
        )
    try:
        with uow.session.begin_nested():
            if not uow.apply_once(event, inbox_topic, lambda: apply_stock_event(uow, payload, event.id, ctx)):
                return StockEventResult(index, event.id, "duplicate")
    except StockRuleViolation as exc:
        return StockEventResult(index, event.id, "rejected", str(exc))
    except IntegrityError:
        # The topic consumer applied the same id concurrently and committed first.
        if uow.already_processed(event.id):
            return StockEventResult(index, event.id, "duplicate")
        raise
    return StockEventResult(index, event.id, "applied")

