"""Use cases: each takes a command or payload and an open unit of work (event handlers)
or opens one itself (HTTP), changes state, stages events in the outbox, and commits
them together. Rules come from ``domain``; row-level guarantees from the repositories.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError

from services.inventory.adapters.orm import Depot, DepotPublic, Sku, SkuPublic
from services.inventory.adapters.repository import AllocationRow, LedgerRecord, StockRow
from services.inventory.config import InventoryConfig
from services.inventory.domain import allocation as rules
from services.inventory.domain import model
from services.inventory.domain.commands import (
    CancelOrder,
    DefineDepot,
    DefineSku,
    RecordStockMovement,
    ReserveOrder,
    ShipOrder,
)
from services.inventory.domain.model import (
    AllocationStatus,
    Category,
    Line,
    Movement,
    Tier,
    merge_lines,
)
from services.inventory.domain.policy import candidate_depots
from services.inventory.domain.stock import (
    StockRuleViolation,
    UnknownStockTarget,
    days_of_supply,
    is_low,
    on_hand_delta,
)
from services.inventory.service_layer.caches import CatalogCache, DemandCache
from services.inventory.service_layer.unit_of_work import InventoryUnitOfWork
from shared.events.codec import SchemaViolation, UnknownEventType, unwrap
from shared.events.envelope import CloudEvent, describe_validation_error, utcnow
from shared.events.payloads import (
    DepotDefined,
    OrderBackordered,
    OrderLine,
    Ration,
    ReservationRejected,
    ReservationReleased,
    SkuDefined,
    StockAdjusted,
    StockCounted,
    StockEvent,
    StockLow,
    StockReceived,
    StockReserved,
    StockShipped,
)
from shared.http import DomainError, NotFound, contains_nul

log = logging.getLogger(__name__)

RESERVED = AllocationStatus.RESERVED.value
# Ledger movements that make up demand (reserved, minus released again).
DEMAND_MOVEMENTS = (Movement.RESERVED.value, Movement.RELEASED.value)
BACKORDERED = AllocationStatus.BACKORDERED.value
STOCK_EVENT_KINDS: dict[str, str] = {
    StockReceived.TYPE: "received",
    StockAdjusted.TYPE: "adjusted",
    StockCounted.TYPE: "counted",
}


@dataclass
class Context:
    """What every handler may need besides the unit of work: tunables, a clock, who gets
    scarce stock first (``allocation_policy``, from Settings), a positive cache of catalog
    ids (depots and SKUs are never deleted, so a hit is final), and the reservation path's
    caches of catalog facts and recent demand (``caches``)."""

    config: InventoryConfig = field(default_factory=InventoryConfig)
    clock: Callable[[], datetime] = utcnow
    allocation_policy: rules.AllocationPolicy = "priority"
    known_depots: set[str] = field(default_factory=set)
    known_skus: set[str] = field(default_factory=set)
    catalog: CatalogCache = field(init=False)
    demand: DemandCache = field(init=False)

    def __post_init__(self) -> None:
        self.catalog = CatalogCache(self.config.catalog_cache_s)
        self.demand = DemandCache(self.config.demand_cache_s)

    def now(self) -> datetime:
        return self.clock()


# --- catalog -------------------------------------------------------------------------------

def define_depot(uow: InventoryUnitOfWork, cmd: DefineDepot, ctx: Context) -> tuple[DepotPublic, bool]:
    if cmd.community_ids and cmd.tier != Tier.COMMUNITY.value:
        raise DomainError(
            "community_ids only applies to community-tier depots (transit stations)",
            code="invalid_field", field="community_ids",
        )
    with uow:
        row = uow.catalog.depot(cmd.depot_id)
        created = row is None
        values: dict[str, Any] = {
            "name": cmd.name, "tier": cmd.tier, "lat": cmd.lat, "lon": cmd.lon,
            "district": cmd.district, "cold_storage": cmd.cold_storage,
            "community_ids": sorted(set(cmd.community_ids)),
        }
        if row is None:
            row = Depot(id=cmd.depot_id, updated_at=ctx.now(), **values)
            uow.catalog.add(row)
        elif all(getattr(row, k) == v for k, v in values.items()):
            return _depot_public(row), False  # an identical PUT changes nothing, publishes nothing
        else:
            for key, value in values.items():
                setattr(row, key, value)
            row.updated_at = ctx.now()
        uow.catalog.flush()
        uow.publish(DepotDefined(depot_id=cmd.depot_id, **values))
        uow.commit()
        ctx.catalog.depot_changed()
        return _depot_public(row), created


def define_sku(uow: InventoryUnitOfWork, cmd: DefineSku, ctx: Context) -> tuple[SkuPublic, bool]:
    with uow:
        row = uow.catalog.sku(cmd.sku)
        created = row is None
        values: dict[str, Any] = {
            "name": cmd.name, "category": cmd.category, "unit_weight_kg": cmd.unit_weight_kg,
            "unit_volume_l": cmd.unit_volume_l, "cold_chain": cmd.cold_chain,
            "urgent": cmd.urgent, "ration": cmd.ration,
        }
        if row is None:
            row = Sku(id=cmd.sku, updated_at=ctx.now(), **values)
            uow.catalog.add(row)
        elif all(getattr(row, k) == v for k, v in values.items()):
            return _sku_public(row), False
        else:
            for key, value in values.items():
                setattr(row, key, value)
            row.updated_at = ctx.now()
        uow.catalog.flush()
        ration = Ration(**cmd.ration) if cmd.ration else None
        uow.publish(SkuDefined(sku=cmd.sku, **{**values, "ration": ration}))
        uow.commit()
        ctx.catalog.sku_changed(cmd.sku)
        return _sku_public(row), created


def _depot_public(row: Depot) -> DepotPublic:
    return DepotPublic.model_validate(row, from_attributes=True)


def _sku_public(row: Sku) -> SkuPublic:
    return SkuPublic.model_validate(row, from_attributes=True)


def list_depots(uow: InventoryUnitOfWork) -> list[DepotPublic]:
    with uow:
        return [_depot_public(row) for row in uow.catalog.list_depots()]


def list_skus(uow: InventoryUnitOfWork, category: str | None = None) -> list[SkuPublic]:
    with uow:
        return [_sku_public(row) for row in uow.catalog.list_skus(category)]


def record_community(
    uow: InventoryUnitOfWork, community_id: str, name: str, district: str, lat: float, lon: float,
    ctx: Context | None = None,
) -> None:
    uow.communities.upsert(community_id, name, district, lat, lon)
    if ctx is not None:
        ctx.catalog.community_changed(community_id)


# --- stock movements from warehouse systems -------------------------------------------------

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
        if not _serve_one(uow, allocation, ctx):
            _enqueue(uow, allocation, f"stock at {cmd.depot_id} fell short; waiting for stock", ctx)
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
            if uow.already_processed(event.id):
                return StockEventResult(index, event.id, "duplicate")
            record_stock_movement(uow, stock_command(payload, event.id), ctx)
            uow.mark_processed(event, inbox_topic)
    except StockRuleViolation as exc:
        return StockEventResult(index, event.id, "rejected", str(exc))
    except IntegrityError:
        # The topic consumer applied the same id concurrently and committed first.
        if uow.already_processed(event.id):
            return StockEventResult(index, event.id, "duplicate")
        raise
    return StockEventResult(index, event.id, "applied")


# --- reservations ------------------------------------------------------------------------------

def reserve_order(uow: InventoryUnitOfWork, cmd: ReserveOrder, ctx: Context) -> None:
    """The hot path of the service (one call per placed order): its statements go
    through the raw cursor (``uow.hot``), catalog facts come from ``ctx.catalog``, and
    nothing just written is read back. A poll's worth of orders goes through
    ``reservations.reserve_orders`` instead; this is its one-by-one fallback."""
    hot = uow.hot
    if hot.allocation_exists(cmd.order_id):
        log.info("order %s already allocated; ignoring a second placement", cmd.order_id)
        return
    now = ctx.now()
    lines = merge_lines(cmd.lines)
    known = cold_chain_of(uow, [line.sku for line in lines], ctx)
    unknown = [line.sku for line in lines if line.sku not in known]
    if unknown:
        allocation, rejected = rejected_for_unknown(cmd, lines, unknown)
        hot.add_allocation(allocation, now)
        uow.publish(rejected)
        return
    needs_cold = any(known.values())
    candidates_for(uow, cmd.community_id, needs_cold, ctx)  # cached now: no ORM query in the pipeline
    # On PostgreSQL one pipeline: the writes (savepoint, ledger, allocation, outbox) travel
    # with the next read or at the end, in order, instead of a round trip each.
    with hot.batch():
        depot_id = _allocate(uow, cmd.order_id, cmd.community_id, lines, ctx, needs_cold=needs_cold)
        if depot_id is not None:
            allocation = allocation_of(cmd, lines, RESERVED, depot_id=depot_id)
            hot.add_allocation(allocation, now)
            _publish_reserved(uow, allocation)
    if depot_id is not None:
        return
    allocation, waiting = backordered(cmd, lines, needs_cold)
    hot.add_allocation(allocation, now)
    hot.enqueue_backorders([allocation])
    uow.publish(waiting)


def allocation_of(
    cmd: ReserveOrder, lines: list[Line], status: str, *, depot_id: str | None = None,
    reason: str | None = None,
) -> AllocationRow:
    return AllocationRow(
        order_id=cmd.order_id, status=status, depot_id=depot_id, household_id=cmd.household_id,
        community_id=cmd.community_id, priority=cmd.priority,
        # As the allocation row reads back (UTC), for the row, the queue and the event alike.
        placed_at=_utc(cmd.placed_at), lines=lines, reason=reason,
    )


def rejected_for_unknown(
    cmd: ReserveOrder, lines: list[Line], unknown: list[str]
) -> tuple[AllocationRow, ReservationRejected]:
    reason = "unknown SKU: " + ", ".join(unknown)
    allocation = allocation_of(cmd, lines, AllocationStatus.REJECTED.value, reason=reason)
    return allocation, ReservationRejected(order_id=cmd.order_id, reason_code="unknown_sku", reason=reason)


def claim_of(cmd: ReserveOrder) -> rules.Claim:
    """A placed order's claim on stock, its placement time in UTC as the allocation row's."""
    return rules.Claim(cmd.order_id, cmd.priority, _utc(cmd.placed_at))


def backordered(
    cmd: ReserveOrder, lines: list[Line], needs_cold: bool
) -> tuple[AllocationRow, OrderBackordered]:
    reason = _shortage_reason(lines, needs_cold)
    allocation = allocation_of(cmd, lines, BACKORDERED, reason=reason)
    return allocation, OrderBackordered(order_id=cmd.order_id, reason=reason)


def _utc(value: datetime) -> datetime:
    # What the allocation row hands back: SQLite keeps no zone and reads back as UTC.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


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
        for sku, cold in uow.hot.cold_chain_of(missing).items():
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


def _allocate(
    uow: InventoryUnitOfWork,
    order_id: str,
    community_id: str,
    lines: list[Line],
    ctx: Context,
    *,
    needs_cold: bool | None = None,
) -> str | None:
    """Reserve every line at the first candidate depot that holds them all; None if none."""
    hot = uow.hot
    skus = [line.sku for line in lines]
    if needs_cold is None:
        needs_cold = any(cold_chain_of(uow, skus, ctx).values())
    candidates = candidates_for(uow, community_id, needs_cold, ctx)
    if not candidates:
        return None
    available = hot.available_at([d.id for d in candidates], skus)
    now = ctx.now()
    for depot in candidates:
        if any(available.get((depot.id, line.sku), 0) < line.quantity for line in lines):
            continue
        # The conditional UPDATE per line decides; all lines or none (read, then update:
        # someone may have taken the units in between, then try the next depot).
        taken = hot.reserve_all(depot.id, lines, now)
        if taken is None:
            continue
        hot.add_ledger(reserved_ledger(order_id, depot.id, lines, now))
        for line in lines:
            ctx.demand.moved((depot.id, line.sku), line.quantity)
        for row in taken:
            check_low(uow, row, ctx)
        return depot.id
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


def _publish_reserved(uow: InventoryUnitOfWork, allocation: AllocationRow) -> None:
    uow.publish(reserved_event(allocation))


def _serve_one(uow: InventoryUnitOfWork, allocation: AllocationRow, ctx: Context) -> bool:
    """Try to turn one backordered order into a reservation; True when it got one."""
    now = ctx.now()
    savepoint = uow.session.begin_nested()
    # Claim the order first (status compare-and-set) so that a concurrent cancel and
    # this reservation cannot both win; then take the stock.
    if not uow.allocations.transition(allocation.order_id, BACKORDERED, RESERVED, now):
        savepoint.rollback()
        return False
    depot_id = _allocate(uow, allocation.order_id, allocation.community_id, allocation.lines, ctx)
    if depot_id is None:
        savepoint.rollback()
        return False
    uow.allocations.transition(allocation.order_id, RESERVED, RESERVED, now, depot_id=depot_id, reason=None)
    uow.allocations.dequeue_backorder(allocation.order_id)
    savepoint.commit()
    _publish_reserved(uow, replace(allocation, status=RESERVED, depot_id=depot_id, reason=None))
    return True


def _enqueue(uow: InventoryUnitOfWork, allocation: AllocationRow, reason: str, ctx: Context) -> None:
    uow.allocations.transition(allocation.order_id, BACKORDERED, BACKORDERED, ctx.now(), reason=reason)
    uow.hot.enqueue_backorders([allocation])
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
        if _serve_one(uow, allocation, ctx):
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


# --- supply figures and alerts --------------------------------------------------------------------

def check_low(uow: InventoryUnitOfWork, row: StockRow, ctx: Context) -> None:
    """Publish StockLow once when a depot's SKU dips under the threshold; re-arm on recovery.
    Recent demand comes from ``ctx.demand`` (the ledger SUM at most once per TTL)."""
    config = ctx.config
    now = ctx.now()
    key = (row.depot_id, row.sku)
    units = ctx.demand.get(key, now)
    if units is None:
        since = now - timedelta(days=config.demand_window_days)
        units = uow.hot.net_reserved_since(row.depot_id, row.sku, since, DEMAND_MOVEMENTS)
        ctx.demand.put(key, units, now)
    daily = units / config.demand_window_days
    low, dos = is_low(
        row.available, daily, threshold_days=config.low_stock_days, threshold_units=config.low_stock_units
    )
    if low and not row.low_alerted:
        uow.hot.set_low_alerted(row.depot_id, row.sku, True)
        uow.publish(
            StockLow(
                depot_id=row.depot_id, sku=row.sku, available=row.available,
                days_of_supply=dos, threshold_days=config.low_stock_days,
            )
        )
    elif not low and row.low_alerted:
        uow.hot.set_low_alerted(row.depot_id, row.sku, False)


def outlook(uow: InventoryUnitOfWork, district: str | None, ctx: Context) -> dict[str, Any]:
    window = ctx.config.demand_window_days
    with uow:
        depots = [d for d in uow.catalog.list_depots() if district is None or d.district == district]
        if district is not None and not depots:
            raise NotFound(f"no depot in district {district!r}", field="district")
        depot_ids = [d.id for d in depots]
        categories = uow.catalog.categories()
        rows = [r for r in uow.stock.list() if r.depot_id in set(depot_ids)]
        demand = uow.ledger.demand_by_sku(depot_ids, ctx.now() - timedelta(days=window)) if depot_ids else {}
    figures = {c.value: {"on_hand": 0, "reserved": 0, "available": 0, "demand": 0} for c in Category}
    for row in rows:
        bucket = figures.get(categories.get(row.sku, ""))
        if bucket is not None:
            bucket["on_hand"] += row.on_hand
            bucket["reserved"] += row.reserved
            bucket["available"] += row.available
    for sku, units in demand.items():
        bucket = figures.get(categories.get(sku, ""))
        if bucket is not None:
            bucket["demand"] += units
    return {
        "district": district,
        "depot_ids": depot_ids,
        "window_days": window,
        "categories": [
            {
                "category": category,
                "on_hand": f["on_hand"],
                "reserved": f["reserved"],
                "available": f["available"],
                "daily_demand": round(f["demand"] / window, 3),
                "days_of_supply": days_of_supply(f["on_hand"], f["demand"] / window),
            }
            for category, f in figures.items()
        ],
    }


def stock_rows(
    uow: InventoryUnitOfWork, *, depot_id: str | None = None, sku: str | None = None,
    depots: Iterable[str] | None = None,
) -> list[StockRow]:
    with uow:
        if depot_id is not None and uow.catalog.depot(depot_id) is None:
            raise NotFound(f"unknown depot {depot_id!r}", field="depot_id")
        if sku is not None and uow.catalog.sku(sku) is None:
            raise NotFound(f"unknown SKU {sku!r}", field="sku")
        rows = uow.stock.list(depot_id=depot_id, sku=sku)
    if depots is not None:
        allowed = set(depots)
        rows = [r for r in rows if r.depot_id in allowed]
    return rows


def get_allocation(uow: InventoryUnitOfWork, order_id: str) -> AllocationRow:
    with uow:
        allocation = uow.allocations.get(order_id)
    if allocation is None:
        raise NotFound(f"no allocation for order {order_id!r}", field="order_id")
    return allocation
