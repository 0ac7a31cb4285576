"""The steps of reserving an order, shared by ``reservations`` (placed orders, a poll's
worth at once) and ``backorders`` (a waiting order served later): the rows and events of
each outcome, the catalog facts an order needs (cached), and ``allocate``, which reserves
one order's lines at the first candidate depot that holds them all."""

from __future__ import annotations

import logging
from datetime import datetime

from services.inventory.adapters.allocations import AllocationRow
from services.inventory.adapters.repository import LedgerRecord
from services.inventory.domain import allocation as rules
from services.inventory.domain import model
from services.inventory.domain.commands import ReserveOrder
from services.inventory.domain.model import AllocationStatus, Line, Movement
from services.inventory.domain.policy import candidate_depots
from services.inventory.service_layer.context import BACKORDERED, Context
from services.inventory.service_layer.low_stock import check_low
from services.inventory.service_layer.unit_of_work import InventoryUnitOfWork
from shared.clock import as_utc
from shared.events.payloads import OrderBackordered, OrderLine, ReservationRejected, StockReserved

log = logging.getLogger(__name__)


def allocation_of(
    cmd: ReserveOrder, lines: list[Line], status: str, *, depot_id: str | None = None,
    reason: str | None = None,
) -> AllocationRow:
    return AllocationRow(
        order_id=cmd.order_id, status=status, depot_id=depot_id, household_id=cmd.household_id,
        community_id=cmd.community_id, priority=cmd.priority,
        # As the allocation row reads back (UTC), for the row, the queue and the event alike.
        placed_at=as_utc(cmd.placed_at), lines=lines, reason=reason,
    )


def rejected_for_unknown(
    cmd: ReserveOrder, lines: list[Line], unknown: list[str]
) -> tuple[AllocationRow, ReservationRejected]:
    reason = "unknown SKU: " + ", ".join(unknown)
    allocation = allocation_of(cmd, lines, AllocationStatus.REJECTED.value, reason=reason)
    return allocation, ReservationRejected(order_id=cmd.order_id, reason_code="unknown_sku", reason=reason)


def claim_of(cmd: ReserveOrder) -> rules.Claim:
    """A placed order's claim on stock, its placement time in UTC as the allocation row's."""
    return rules.Claim(cmd.order_id, cmd.priority, as_utc(cmd.placed_at))


def backordered(
    cmd: ReserveOrder, lines: list[Line], needs_cold: bool
) -> tuple[AllocationRow, OrderBackordered]:
    reason = _shortage_reason(lines, needs_cold)
    allocation = allocation_of(cmd, lines, BACKORDERED, reason=reason)
    return allocation, OrderBackordered(order_id=cmd.order_id, reason=reason)


def _shortage_reason(lines: list[Line], cold: bool) -> str:
    wanted = ", ".join(f"{line.quantity} x {line.sku}" for line in lines)
    kind = "cold-storage depot" if cold else "depot"
    return f"no {kind} holds all of {wanted}; waiting for stock"


def cold_chain_of(uow: InventoryUnitOfWork, skus: list[str], ctx: Context) -> dict[str, bool]:
    """Known SKUs among ``skus`` and whether each needs the cold chain (cached)."""
    cache = ctx.catalog.cold_chain
    known: dict[str, bool] = {}
    missing: list[str] = []
    for sku in skus:
        cold = cache.get(sku)
        if cold is None:
            missing.append(sku)
        else:
            known[sku] = cold
    if missing:
        for sku, cold in uow.reservation_store.cold_chain_of(missing).items():
            cache.put(sku, cold)
            known[sku] = cold
    return known


def candidates_for(
    uow: InventoryUnitOfWork, community_id: str, needs_cold_chain: bool, ctx: Context
) -> list[model.Depot]:
    """The depots that may serve ``community_id``, best first (cached)."""
    key = (community_id, needs_cold_chain)
    cached = ctx.catalog.candidates.get(key)
    if cached is not None:
        return cached
    depots = ctx.catalog.depots.get(None)
    if depots is None:
        depots = uow.catalog.domain_depots()
        ctx.catalog.depots.put(None, depots)
    candidates = candidate_depots(
        community_id, uow.communities.get(community_id), depots, needs_cold_chain=needs_cold_chain
    )
    ctx.catalog.candidates.put(key, candidates)
    return candidates


def allocate(
    uow: InventoryUnitOfWork,
    order_id: str,
    community_id: str,
    lines: list[Line],
    ctx: Context,
    *,
    needs_cold: bool | None = None,
) -> str | None:
    """Reserve every line at the first candidate depot that holds them all; None if none.
    Which depot that is, is the domain's rule (``allocation.first_depot_holding``)."""
    store = uow.reservation_store
    skus = [line.sku for line in lines]
    if needs_cold is None:
        needs_cold = any(cold_chain_of(uow, skus, ctx).values())
    candidates = candidates_for(uow, community_id, needs_cold, ctx)
    if not candidates:
        return None
    untried = [d.id for d in candidates]
    available = store.available_at(untried, skus)
    now = ctx.now()
    while (depot_id := rules.first_depot_holding(untried, lines, available)) is not None:
        untried = untried[untried.index(depot_id) + 1:]
        # The conditional UPDATE per line decides; all lines or none (read, then update:
        # someone may have taken the units in between, then try the next depot).
        taken = store.reserve_all(depot_id, lines, now)
        if taken is None:
            continue
        store.add_ledger(reserved_ledger(order_id, depot_id, lines, now))
        for line in lines:
            ctx.demand.moved((depot_id, line.sku), line.quantity)
        for row in taken:
            check_low(uow, row, ctx)
        return depot_id
    return None


def reserved_ledger(order_id: str, depot_id: str, lines: list[Line], now: datetime) -> list[LedgerRecord]:
    return [
        LedgerRecord(
            depot_id=depot_id, sku=line.sku, movement=Movement.RESERVED, quantity=line.quantity,
            on_hand_delta=0, reserved_delta=line.quantity, created_at=now, order_id=order_id,
        )
        for line in lines
    ]


def reserved_event(allocation: AllocationRow) -> StockReserved:
    assert allocation.depot_id is not None
    return StockReserved(
        order_id=allocation.order_id, depot_id=allocation.depot_id,
        community_id=allocation.community_id, priority=allocation.priority.value,
        placed_at=allocation.placed_at,
        lines=[OrderLine(sku=x.sku, quantity=x.quantity) for x in allocation.lines],
    )


def publish_reserved(uow: InventoryUnitOfWork, allocation: AllocationRow) -> None:
    uow.publish(reserved_event(allocation))
