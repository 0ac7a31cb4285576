"""Reserving the placed orders of one consumer poll together.

One order at a time, a reservation waits on about five PostgreSQL round trips (is it
allocated already, what is available, a conditional update per line, the writes); under
load the consumer spent 83 % of its time waiting on them. Here the whole poll's orders
share them: one read of what is allocated and available, every order decided in memory
against that and the orders before it (in arrival order, as one by one; by placement time
under the ``fcfs`` allocation policy: ``allocation.deciding_order``), then one
conditional ``UPDATE`` per (depot, SKU) for the batch's total and the writes, in one
pipeline. If any of those updates finds less stock than was read, another writer moved
it in between: ``StockMovedDuringBatch`` rolls the transaction back, and the consumer
reserves the orders one by one through ``reserve_order``, a run of one that is decided
again on fresh figures when stock moves under it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from services.inventory.adapters.allocations import AllocationRow
from services.inventory.adapters.repository import LedgerRecord
from services.inventory.domain import reserving
from services.inventory.domain.commands import ReserveOrder
from services.inventory.domain.model import Line, merge_lines
from services.inventory.service_layer.allocating import (
    allocation_of,
    backordered,
    candidates_for,
    claim_of,
    cold_chain_of,
    rejected_for_unknown,
    reserved_event,
    reserved_ledger,
)
from services.inventory.service_layer.context import RESERVED, Context
from services.inventory.service_layer.low_stock import check_low
from services.inventory.service_layer.unit_of_work import InventoryUnitOfWork
from shared.events.payloads import EventPayload

log = logging.getLogger(__name__)


#: A run of one decided again on fresh figures this many times before the transaction
#: is given up (the consumer then retries it whole).
DECIDE_AGAIN = 3


class StockMovedDuringBatch(Exception):
    """Stock changed between the batch's read and its updates (another writer took it)."""


def reserve_order(uow: InventoryUnitOfWork, cmd: ReserveOrder, ctx: Context) -> None:
    """One placed order: a run of one. If another writer moves the stock between its read
    and its update, the run is undone to a savepoint and decided again on fresh figures,
    which is how it ends at the next depot that still holds the lines."""
    for attempt in range(1, DECIDE_AGAIN + 1):
        try:
            with uow.reservation_store.savepoint():
                reserve_orders(uow, [cmd], ctx)
            return
        except StockMovedDuringBatch:
            if attempt == DECIDE_AGAIN:
                raise
            log.info("stock moved under order %s; deciding it again", cmd.order_id)


def reserve_orders(uow: InventoryUnitOfWork, cmds: Sequence[ReserveOrder], ctx: Context) -> None:
    """Read, decide (``domain.reserving.decide``), write: raises ``StockMovedDuringBatch``
    if a conditional update finds less stock than was read, with the transaction to be
    given up."""
    store = uow.reservation_store
    now = ctx.now()
    lines_of = {cmd.order_id: merge_lines(cmd.lines) for cmd in cmds}
    skus = sorted({line.sku for lines in lines_of.values() for line in lines})
    cold_chain = cold_chain_of(uow, skus, ctx)
    run = [_placed_order(uow, cmd, lines_of[cmd.order_id], cold_chain, ctx) for cmd in cmds]
    depot_ids = sorted({depot_id for order in run for depot_id in order.candidates})
    allocated, available = store.read_for_reservations(list(lines_of), depot_ids, skus)
    decided = reserving.decide(run, available, allocated, ctx.allocation_policy)

    ledger: list[LedgerRecord] = []
    allocations: list[AllocationRow] = []
    waiting: list[AllocationRow] = []
    outcomes: list[EventPayload] = []
    for decision in decided.decisions:
        cmd, order = cmds[decision.position], run[decision.position]
        lines = lines_of[cmd.order_id]
        if decision.outcome == "rejected":
            row, rejected = rejected_for_unknown(cmd, lines, list(order.unknown_skus))
            outcomes.append(rejected)
        elif decision.outcome == "backordered":
            row, backorder = backordered(cmd, lines, any(cold_chain[line.sku] for line in lines))
            waiting.append(row)
            outcomes.append(backorder)
        else:
            assert decision.depot_id is not None
            ledger.extend(reserved_ledger(cmd.order_id, decision.depot_id, lines, now))
            row = allocation_of(cmd, lines, RESERVED, depot_id=decision.depot_id)
            outcomes.append(reserved_event(row))
        allocations.append(row)
    skipped = len(cmds) - len(decided.decisions)
    if skipped:
        log.info("%d placed order(s) already allocated; ignoring a second placement", skipped)

    totals = decided.totals
    with store.batch():
        moved = store.reserve_totals(totals, now) if totals else []
        if len(moved) != len(totals):
            raise StockMovedDuringBatch(
                f"{len(totals) - len(moved)} of {len(totals)} stock rows changed during the batch"
            )
        store.add_ledger(ledger)
        store.add_allocations(allocations, now)
        store.enqueue_backorders(waiting)
        if outcomes:
            uow.publish_all(outcomes)
    for (depot_id, sku), quantity in totals.items():
        ctx.demand.moved((depot_id, sku), quantity)
    for stock_row in moved:
        check_low(uow, stock_row, ctx)


def _placed_order(
    uow: InventoryUnitOfWork, cmd: ReserveOrder, lines: list[Line], cold_chain: dict[str, bool], ctx: Context
) -> reserving.PlacedOrder:
    unknown = [line.sku for line in lines if line.sku not in cold_chain]
    if unknown:
        return reserving.PlacedOrder(claim_of(cmd), lines, unknown_skus=unknown)
    needs_cold = any(cold_chain[line.sku] for line in lines)
    candidates = [depot.id for depot in candidates_for(uow, cmd.community_id, needs_cold, ctx)]
    return reserving.PlacedOrder(claim_of(cmd), lines, candidates=candidates)
