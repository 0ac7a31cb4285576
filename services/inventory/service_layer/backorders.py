"""Orders waiting for stock: served in serving order when stock arrives or is given back,
rejected once they have waited longer than the configured limit."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from services.inventory.adapters.allocations import AllocationRow
from services.inventory.domain import allocation as rules
from services.inventory.domain.model import AllocationStatus
from services.inventory.service_layer.allocating import allocate, publish_reserved
from services.inventory.service_layer.context import BACKORDERED, RESERVED, Context
from services.inventory.service_layer.unit_of_work import InventoryUnitOfWork
from shared.events.payloads import OrderBackordered, ReservationRejected


def reserve_backordered(uow: InventoryUnitOfWork, allocation: AllocationRow, ctx: Context) -> bool:
    """Try to turn one backordered order into a reservation; True when it got one."""
    now = ctx.now()
    savepoint = uow.session.begin_nested()
    # Claim the order first (status compare-and-set) so that a concurrent cancel and
    # this reservation cannot both win; then take the stock.
    if not uow.allocations.transition(allocation.order_id, BACKORDERED, RESERVED, now):
        savepoint.rollback()
        return False
    depot_id = allocate(uow, allocation.order_id, allocation.community_id, allocation.lines, ctx)
    if depot_id is None:
        savepoint.rollback()
        return False
    uow.allocations.transition(allocation.order_id, RESERVED, RESERVED, now, depot_id=depot_id, reason=None)
    uow.allocations.dequeue_backorder(allocation.order_id)
    savepoint.commit()
    publish_reserved(uow, replace(allocation, status=RESERVED, depot_id=depot_id, reason=None))
    return True


def enqueue_backorder(uow: InventoryUnitOfWork, allocation: AllocationRow, reason: str, ctx: Context) -> None:
    uow.allocations.transition(allocation.order_id, BACKORDERED, BACKORDERED, ctx.now(), reason=reason)
    uow.reservation_store.enqueue_backorders([allocation])
    uow.publish(OrderBackordered(order_id=allocation.order_id, reason=reason))


def serve_backorders(
    uow: InventoryUnitOfWork, sku: str, ctx: Context, *, watch: tuple[str, str] | None = None
) -> int:
    """Serve orders waiting for ``sku`` in serving order (``rules.serving_order``: medical,
    vulnerable, standard, oldest first; or oldest first under ``fcfs``). Stops once the
    watched stock row (the one that just grew) has nothing left."""
    policy = ctx.allocation_policy
    order_ids = uow.allocations.backorders_for(sku, ctx.config.backorder_batch, policy)
    if not order_ids:
        return 0
    found = uow.allocations.get_many(order_ids)
    waiting: dict[str, AllocationRow] = {}
    for order_id in order_ids:
        allocation = found.get(order_id)
        if allocation is None or allocation.status != BACKORDERED:
            uow.allocations.dequeue_backorder(order_id)  # a stale queue row
        else:
            waiting[order_id] = allocation
    max_age = timedelta(hours=ctx.config.backorder_max_age_h)
    served = 0
    for claim in rules.serving_order([a.claim() for a in waiting.values()], policy):
        allocation = waiting[claim.order_id]
        if rules.is_expired(allocation.placed_at, ctx.now(), max_age):
            reject_backorder(uow, allocation, ctx)
            continue
        if reserve_backordered(uow, allocation, ctx):
            served += 1
            if watch is not None:
                row = uow.stock.get(*watch)
                if row is None or row.available <= 0:
                    break
    return served


def reject_backorder(uow: InventoryUnitOfWork, allocation: AllocationRow, ctx: Context) -> bool:
    hours = ctx.config.backorder_max_age_h
    reason = f"backordered for more than {hours:g} h without stock"
    if not uow.allocations.transition(
        allocation.order_id, BACKORDERED, AllocationStatus.REJECTED.value, ctx.now(), reason=reason
    ):
        return False
    uow.allocations.dequeue_backorder(allocation.order_id)
    uow.publish(
        ReservationRejected(order_id=allocation.order_id, reason_code="backorder_expired", reason=reason)
    )
    return True


def expire_backorders(uow: InventoryUnitOfWork, ctx: Context, limit: int = 1000) -> int:
    """Reject backorders older than the configured limit (run periodically)."""
    with uow:
        cutoff = ctx.now() - timedelta(hours=ctx.config.backorder_max_age_h)
        ids = uow.allocations.backorders_placed_before(cutoff, limit)
        rejected = sum(
            1 for a in uow.allocations.get_many(ids).values()
            if a.status == BACKORDERED and reject_backorder(uow, a, ctx)
        )
        uow.commit()
    return rejected
