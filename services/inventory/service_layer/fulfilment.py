"""How a reservation ends: shipped on a dispatched route, cancelled by the household, or
given back when a count shows less stock than was reserved."""

from __future__ import annotations

import logging

from services.inventory.adapters.allocations import AllocationRow
from services.inventory.adapters.repository import LedgerRecord
from services.inventory.domain import allocation as rules
from services.inventory.domain.commands import CancelOrder, ShipOrder
from services.inventory.domain.model import AllocationStatus, Movement
from services.inventory.service_layer.backorders import serve_backorders
from services.inventory.service_layer.context import BACKORDERED, RESERVED, Context
from services.inventory.service_layer.unit_of_work import InventoryUnitOfWork
from shared.events.payloads import ReservationReleased, StockShipped

log = logging.getLogger(__name__)


def give_back(
    uow: InventoryUnitOfWork, depot_id: str, sku: str, shortage: int, reason: str, ctx: Context
) -> list[AllocationRow]:
    """Release reservations (last in serving order first: under ``priority`` the lowest
    priority, newest first; under ``fcfs`` the newest) until ``shortage`` units of
    ``sku`` at ``depot_id`` are free; the released orders are left backordered."""
    holding = uow.allocations.reserved_holding(depot_id, sku)
    by_id = {a.order_id: a for a, _ in holding}
    chosen = rules.to_release([a.claim(q) for a, q in holding], shortage, ctx.allocation_policy)
    released: list[AllocationRow] = []
    for claim in chosen:
        allocation = by_id[claim.order_id]
        if not uow.allocations.transition(
            allocation.order_id, RESERVED, BACKORDERED, ctx.now(), depot_id=None, reason=reason
        ):
            continue
        _release_lines(uow, allocation, depot_id, reason, ctx)
        uow.publish(ReservationReleased(order_id=allocation.order_id, depot_id=depot_id, reason=reason))
        released.append(allocation)
    return released


def _release_lines(
    uow: InventoryUnitOfWork, allocation: AllocationRow, depot_id: str, reason: str, ctx: Context
) -> None:
    now = ctx.now()
    for line in allocation.lines:
        if not uow.stock.release(depot_id, line.sku, line.quantity, now):
            raise RuntimeError(
                f"stock of {line.sku} at {depot_id} holds less reserved than order "
                f"{allocation.order_id} took"
            )
    uow.ledger.add(*(
        LedgerRecord(
            depot_id=depot_id, sku=line.sku, movement=Movement.RELEASED, quantity=line.quantity,
            on_hand_delta=0, reserved_delta=-line.quantity, created_at=now,
            order_id=allocation.order_id, reason=reason,
        )
        for line in allocation.lines
    ))
    for line in allocation.lines:
        ctx.demand.moved((depot_id, line.sku), -line.quantity)


def cancel_order(uow: InventoryUnitOfWork, cmd: CancelOrder, ctx: Context) -> None:
    allocation = uow.allocations.get(cmd.order_id)
    if allocation is None:
        log.info("cancel for unknown order %s ignored", cmd.order_id)
        return
    now = ctx.now()
    cancelled = AllocationStatus.CANCELLED.value
    if allocation.status == RESERVED and allocation.depot_id is not None:
        if uow.allocations.transition(cmd.order_id, RESERVED, cancelled, now, reason=cmd.reason):
            _release_lines(uow, allocation, allocation.depot_id, cmd.reason, ctx)
            uow.publish(
                ReservationReleased(order_id=cmd.order_id, depot_id=allocation.depot_id, reason=cmd.reason)
            )
            # Units given back go to whoever waits for them, by priority.
            for line in allocation.lines:
                serve_backorders(uow, line.sku, ctx, watch=(allocation.depot_id, line.sku))
    elif allocation.status == BACKORDERED:
        if uow.allocations.transition(cmd.order_id, BACKORDERED, cancelled, now, reason=cmd.reason):
            uow.allocations.dequeue_backorder(cmd.order_id)
    else:
        log.info("cancel for order %s in status %s ignored", cmd.order_id, allocation.status)


def ship_order(uow: InventoryUnitOfWork, cmd: ShipOrder, ctx: Context) -> None:
    """A dispatched route takes the order's reserved units out of the depot."""
    allocation = uow.allocations.get(cmd.order_id)
    if allocation is None or allocation.depot_id is None:
        log.warning("order %s scheduled but holds no reservation here", cmd.order_id)
        return
    if allocation.status != RESERVED:
        if allocation.status != AllocationStatus.SHIPPED.value:
            log.warning("order %s scheduled while %s; nothing shipped", cmd.order_id, allocation.status)
        return
    if cmd.depot_id != allocation.depot_id:
        log.warning(
            "order %s scheduled from %s but reserved at %s; shipping from the reservation",
            cmd.order_id, cmd.depot_id, allocation.depot_id,
        )
    now = ctx.now()
    if not uow.allocations.transition(cmd.order_id, RESERVED, AllocationStatus.SHIPPED.value, now):
        return
    for line in allocation.lines:
        if not uow.stock.ship(allocation.depot_id, line.sku, line.quantity, now):
            raise RuntimeError(f"reserved units of {line.sku} for {cmd.order_id} are missing")
    uow.ledger.add(*(
        LedgerRecord(
            depot_id=allocation.depot_id, sku=line.sku, movement=Movement.SHIPPED,
            quantity=line.quantity, on_hand_delta=-line.quantity, reserved_delta=-line.quantity,
            created_at=now, order_id=cmd.order_id, reason=f"plan {cmd.plan_id}",
        )
        for line in allocation.lines
    ))
    uow.publish(StockShipped(order_id=cmd.order_id, depot_id=allocation.depot_id, plan_id=cmd.plan_id))
