"""Small repositories over the unit of work's session, in SQLAlchemy Core where it is hot
(the reservation path itself runs the same statements on the raw cursor: ``hot``).

Stock figures only change through conditional UPDATEs whose WHERE clause states the
rule (``on_hand - reserved >= :q``); the caller checks the row count. On PostgreSQL a
concurrent writer waits for the row lock and then re-evaluates the WHERE clause on the
committed row, so two consumers can never both take the last units; on SQLite every
write transaction is serialised (BEGIN IMMEDIATE). The CHECK constraints are the net
under both.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, bindparam, delete, func, insert, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from services.inventory.adapters.orm import (
    Community,
    Depot,
    Sku,
    allocation_lines_t,
    allocations_t,
    backorder_lines_t,
    communities_t,
    depots_t,
    ledger_t,
    skus_t,
    stock_t,
)
from services.inventory.domain import model
from services.inventory.domain.allocation import AllocationPolicy
from services.inventory.domain.model import Line, Movement


def as_utc(value: datetime) -> datetime:
    """SQLite hands datetimes back without a zone; they were stored as UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _upsert(session: Session) -> Any:
    return pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert


# --- catalog and read model ------------------------------------------------------------

class CatalogRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def depot(self, depot_id: str) -> Depot | None:
        return self.session.get(Depot, depot_id)

    def sku(self, sku_id: str) -> Sku | None:
        return self.session.get(Sku, sku_id)

    def add(self, row: Depot | Sku) -> None:
        self.session.add(row)

    def flush(self) -> None:
        self.session.flush()

    def list_depots(self) -> Sequence[Depot]:
        return self.session.scalars(select(Depot).order_by(depots_t.c.id)).all()

    def list_skus(self, category: str | None = None) -> Sequence[Sku]:
        query = select(Sku).order_by(skus_t.c.id)
        if category is not None:
            query = query.where(skus_t.c.category == category)
        return self.session.scalars(query).all()

    def domain_depots(self) -> list[model.Depot]:
        rows = self.session.execute(select(depots_t)).mappings()
        return [
            model.Depot(
                id=r["id"], tier=model.Tier(r["tier"]), lat=r["lat"], lon=r["lon"],
                district=r["district"], cold_storage=bool(r["cold_storage"]),
                community_ids=frozenset(r["community_ids"] or ()),
            )
            for r in rows
        ]

    def depot_exists(self, depot_id: str) -> bool:
        found = self.session.execute(select(depots_t.c.id).where(depots_t.c.id == depot_id))
        return found.first() is not None

    def sku_exists(self, sku_id: str) -> bool:
        found = self.session.execute(select(skus_t.c.id).where(skus_t.c.id == sku_id))
        return found.first() is not None

    def cold_chain_of(self, sku_ids: Iterable[str]) -> dict[str, bool]:
        """Known SKUs among ``sku_ids`` and whether each needs the cold chain."""
        rows = self.session.execute(
            select(skus_t.c.id, skus_t.c.cold_chain).where(skus_t.c.id.in_(list(sku_ids)))
        )
        return {r.id: bool(r.cold_chain) for r in rows}

    def categories(self) -> dict[str, str]:
        return {r.id: r.category for r in self.session.execute(select(skus_t.c.id, skus_t.c.category))}


class CommunityRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def upsert(self, community_id: str, name: str, district: str, lat: float, lon: float) -> None:
        values = {"id": community_id, "name": name, "district": district, "lat": lat, "lon": lon}
        statement = _upsert(self.session)(communities_t).values(**values)
        self.session.execute(
            statement.on_conflict_do_update(
                index_elements=[communities_t.c.id],
                set_={k: v for k, v in values.items() if k != "id"},
            )
        )

    def get(self, community_id: str) -> model.Community | None:
        row = self.session.get(Community, community_id)
        if row is None:
            return None
        return model.Community(id=row.id, district=row.district, lat=row.lat, lon=row.lon)


# --- stock -------------------------------------------------------------------------------

@dataclass(frozen=True)
class StockRow:
    depot_id: str
    sku: str
    on_hand: int
    reserved: int
    low_alerted: bool

    @property
    def available(self) -> int:
        return self.on_hand - self.reserved


_STOCK_COLUMNS = (
    stock_t.c.depot_id, stock_t.c.sku, stock_t.c.on_hand, stock_t.c.reserved, stock_t.c.low_alerted
)


def _stock_row(row: Any) -> StockRow:
    return StockRow(row.depot_id, row.sku, row.on_hand, row.reserved, bool(row.low_alerted))


def _key(depot_id: str, sku: str) -> Any:
    return and_(stock_t.c.depot_id == depot_id, stock_t.c.sku == sku)


class StockRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, depot_id: str, sku: str, *, for_update: bool = False) -> StockRow | None:
        query = select(*_STOCK_COLUMNS).where(_key(depot_id, sku))
        if for_update:
            query = query.with_for_update()
        row = self.session.execute(query).first()
        return _stock_row(row) if row is not None else None

    def add_on_hand(self, depot_id: str, sku: str, delta: int, now: datetime) -> StockRow:
        """on_hand += delta, creating the row on first receipt; one statement."""
        statement = _upsert(self.session)(stock_t).values(
            depot_id=depot_id, sku=sku, on_hand=delta, reserved=0, low_alerted=False, updated_at=now
        )
        statement = statement.on_conflict_do_update(
            index_elements=[stock_t.c.depot_id, stock_t.c.sku],
            set_={"on_hand": stock_t.c.on_hand + delta, "updated_at": now},
        ).returning(*_STOCK_COLUMNS)
        return _stock_row(self.session.execute(statement).one())

    def add_on_hand_many(self, deltas: dict[tuple[str, str], int], now: datetime) -> None:
        """Many receipts in one executemany upsert (the bulk path for stock events)."""
        if not deltas:
            return
        statement = _upsert(self.session)(stock_t).values(
            depot_id=bindparam("d"), sku=bindparam("s"), on_hand=bindparam("q"), reserved=0,
            low_alerted=False, updated_at=bindparam("t"),
        )
        statement = statement.on_conflict_do_update(
            index_elements=[stock_t.c.depot_id, stock_t.c.sku],
            set_={
                "on_hand": stock_t.c.on_hand + statement.excluded.on_hand,
                "updated_at": statement.excluded.updated_at,
            },
        )
        self.session.execute(
            statement,
            [{"d": depot, "s": sku, "q": qty, "t": now} for (depot, sku), qty in sorted(deltas.items())],
        )

    def alerted_among(self, keys: Iterable[tuple[str, str]]) -> list[StockRow]:
        """Rows among ``keys`` that have an open low-stock alert."""
        wanted = list(keys)
        if not wanted:
            return []
        rows = self.session.execute(
            select(*_STOCK_COLUMNS).where(
                stock_t.c.low_alerted.is_(True),
                tuple_(stock_t.c.depot_id, stock_t.c.sku).in_(wanted),
            )
        )
        return [_stock_row(r) for r in rows]

    def set_on_hand(self, depot_id: str, sku: str, on_hand: int, now: datetime) -> StockRow:
        """Absolute figure (a count); the caller released reservations above it first."""
        statement = _upsert(self.session)(stock_t).values(
            depot_id=depot_id, sku=sku, on_hand=on_hand, reserved=0, low_alerted=False, updated_at=now
        )
        statement = statement.on_conflict_do_update(
            index_elements=[stock_t.c.depot_id, stock_t.c.sku],
            set_={"on_hand": on_hand, "updated_at": now},
        ).returning(*_STOCK_COLUMNS)
        return _stock_row(self.session.execute(statement).one())

    def try_reserve(self, depot_id: str, sku: str, quantity: int, now: datetime) -> StockRow | None:
        """reserved += quantity only if that many are available; None when they are not."""
        row = self.session.execute(
            update(stock_t)
            .where(_key(depot_id, sku), stock_t.c.on_hand - stock_t.c.reserved >= quantity)
            .values(reserved=stock_t.c.reserved + quantity, updated_at=now)
            .returning(*_STOCK_COLUMNS)
        ).first()
        return _stock_row(row) if row is not None else None

    def release(self, depot_id: str, sku: str, quantity: int, now: datetime) -> bool:
        result = self.session.execute(
            update(stock_t)
            .where(_key(depot_id, sku), stock_t.c.reserved >= quantity)
            .values(reserved=stock_t.c.reserved - quantity, updated_at=now)
        )
        return bool(result.rowcount == 1)  # type: ignore[attr-defined]

    def ship(self, depot_id: str, sku: str, quantity: int, now: datetime) -> bool:
        result = self.session.execute(
            update(stock_t)
            .where(_key(depot_id, sku), stock_t.c.reserved >= quantity)
            .values(
                reserved=stock_t.c.reserved - quantity,
                on_hand=stock_t.c.on_hand - quantity,
                updated_at=now,
            )
        )
        return bool(result.rowcount == 1)  # type: ignore[attr-defined]

    def set_low_alerted(self, depot_id: str, sku: str, value: bool) -> None:
        self.session.execute(update(stock_t).where(_key(depot_id, sku)).values(low_alerted=value))

    def available_at(self, depot_ids: list[str], skus: list[str]) -> dict[tuple[str, str], int]:
        rows = self.session.execute(
            select(stock_t.c.depot_id, stock_t.c.sku, stock_t.c.on_hand - stock_t.c.reserved)
            .where(stock_t.c.depot_id.in_(depot_ids), stock_t.c.sku.in_(skus))
        )
        return {(r[0], r[1]): int(r[2]) for r in rows}

    def list(self, *, depot_id: str | None = None, sku: str | None = None) -> list[StockRow]:
        query = select(*_STOCK_COLUMNS).order_by(stock_t.c.depot_id, stock_t.c.sku)
        if depot_id is not None:
            query = query.where(stock_t.c.depot_id == depot_id)
        if sku is not None:
            query = query.where(stock_t.c.sku == sku)
        return [_stock_row(r) for r in self.session.execute(query)]


# --- ledger --------------------------------------------------------------------------------

@dataclass(frozen=True)
class LedgerRecord:
    depot_id: str
    sku: str
    movement: Movement
    quantity: int
    on_hand_delta: int
    reserved_delta: int
    created_at: datetime
    order_id: str | None = None
    event_id: str | None = None
    reason: str | None = None


_DEMAND = (Movement.RESERVED.value, Movement.RELEASED.value)


class LedgerRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, *records: LedgerRecord) -> None:
        if not records:
            return
        self.session.execute(
            insert(ledger_t),
            [
                {
                    "depot_id": r.depot_id, "sku": r.sku, "movement": r.movement.value,
                    "quantity": r.quantity, "on_hand_delta": r.on_hand_delta,
                    "reserved_delta": r.reserved_delta, "order_id": r.order_id,
                    "event_id": r.event_id, "reason": r.reason, "created_at": r.created_at,
                }
                for r in records
            ],
        )

    def net_reserved_since(self, depot_id: str, sku: str, since: datetime) -> int:
        """Demand: units reserved minus units released again, since ``since``."""
        total = self.session.execute(
            select(func.coalesce(func.sum(ledger_t.c.reserved_delta), 0)).where(
                ledger_t.c.depot_id == depot_id,
                ledger_t.c.sku == sku,
                ledger_t.c.created_at >= since,
                ledger_t.c.movement.in_(_DEMAND),
            )
        ).scalar_one()
        return max(0, int(total))

    def demand_by_sku(self, depot_ids: list[str], since: datetime) -> dict[str, int]:
        rows = self.session.execute(
            select(ledger_t.c.sku, func.sum(ledger_t.c.reserved_delta))
            .where(
                ledger_t.c.depot_id.in_(depot_ids),
                ledger_t.c.created_at >= since,
                ledger_t.c.movement.in_(_DEMAND),
            )
            .group_by(ledger_t.c.sku)
        )
        return {r[0]: max(0, int(r[1] or 0)) for r in rows}

    def totals(self, depot_id: str | None = None, sku: str | None = None) -> dict[str, int]:
        """Sum of on-hand deltas per movement kind (the ledger must add up to on hand)."""
        query = select(ledger_t.c.movement, func.sum(ledger_t.c.on_hand_delta)).group_by(
            ledger_t.c.movement
        )
        if depot_id is not None:
            query = query.where(ledger_t.c.depot_id == depot_id)
        if sku is not None:
            query = query.where(ledger_t.c.sku == sku)
        return {r[0]: int(r[1] or 0) for r in self.session.execute(query)}


# --- allocations -----------------------------------------------------------------------------

@dataclass(frozen=True)
class AllocationRow:
    order_id: str
    status: str
    depot_id: str | None
    household_id: str
    community_id: str
    priority: model.Priority
    placed_at: datetime
    lines: list[Line]
    reason: str | None

    def claim(self, quantity: int = 0) -> Any:
        from services.inventory.domain.allocation import Claim

        return Claim(self.order_id, self.priority, self.placed_at, quantity)


def _allocation(row: Any) -> AllocationRow:
    return AllocationRow(
        order_id=row.order_id, status=row.status, depot_id=row.depot_id,
        household_id=row.household_id, community_id=row.community_id,
        priority=model.Priority(row.priority), placed_at=as_utc(row.placed_at),
        lines=[Line(item["sku"], int(item["quantity"])) for item in row.lines],
        reason=row.reason,
    )


_KEEP: Any = object()


class AllocationRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, order_id: str) -> AllocationRow | None:
        row = self.session.execute(
            select(allocations_t).where(allocations_t.c.order_id == order_id)
        ).first()
        return _allocation(row) if row is not None else None

    def get_many(self, order_ids: list[str]) -> dict[str, AllocationRow]:
        if not order_ids:
            return {}
        rows = self.session.execute(
            select(allocations_t).where(allocations_t.c.order_id.in_(order_ids))
        )
        return {r.order_id: _allocation(r) for r in rows}

    def add(
        self,
        *,
        order_id: str,
        status: str,
        depot_id: str | None,
        household_id: str,
        community_id: str,
        priority: model.Priority,
        placed_at: datetime,
        lines: list[Line],
        reason: str | None,
        now: datetime,
    ) -> None:
        """Raises IntegrityError if the order already has an allocation (primary key)."""
        self.session.execute(
            insert(allocations_t).values(
                order_id=order_id, status=status, depot_id=depot_id, household_id=household_id,
                community_id=community_id, priority=priority.value, priority_rank=priority.rank,
                placed_at=placed_at, lines=[{"sku": x.sku, "quantity": x.quantity} for x in lines],
                reason=reason, created_at=now, updated_at=now,
            )
        )
        if lines:
            self.session.execute(
                insert(allocation_lines_t),
                [{"order_id": order_id, "sku": x.sku, "quantity": x.quantity} for x in lines],
            )

    def transition(
        self,
        order_id: str,
        expected: str | tuple[str, ...],
        new: str,
        now: datetime,
        *,
        depot_id: Any = _KEEP,
        reason: Any = _KEEP,
    ) -> bool:
        """Compare-and-set on the status: False when another transaction got there first."""
        allowed = (expected,) if isinstance(expected, str) else expected
        values: dict[str, Any] = {"status": new, "updated_at": now}
        if depot_id is not _KEEP:
            values["depot_id"] = depot_id
        if reason is not _KEEP:
            values["reason"] = reason
        result = self.session.execute(
            update(allocations_t)
            .where(allocations_t.c.order_id == order_id, allocations_t.c.status.in_(allowed))
            .values(**values)
        )
        return bool(result.rowcount == 1)  # type: ignore[attr-defined]

    def reserved_holding(self, depot_id: str, sku: str) -> list[tuple[AllocationRow, int]]:
        """Reservations at ``depot_id`` with a line for ``sku``, with that line's quantity."""
        rows = self.session.execute(
            select(allocations_t, allocation_lines_t.c.quantity.label("line_quantity"))
            .join(allocation_lines_t, allocation_lines_t.c.order_id == allocations_t.c.order_id)
            .where(
                allocations_t.c.depot_id == depot_id,
                allocations_t.c.status == model.AllocationStatus.RESERVED.value,
                allocation_lines_t.c.sku == sku,
            )
        )
        return [(_allocation(r), int(r.line_quantity)) for r in rows]

    def count_by_status(self) -> dict[str, int]:
        rows = self.session.execute(
            select(allocations_t.c.status, func.count()).group_by(allocations_t.c.status)
        )
        return {r[0]: int(r[1]) for r in rows}

    # --- the backorder queue ---

    def dequeue_backorder(self, order_id: str) -> None:
        self.session.execute(delete(backorder_lines_t).where(backorder_lines_t.c.order_id == order_id))

    def backorders_for(self, sku: str, limit: int, policy: AllocationPolicy = "priority") -> list[str]:
        """The first ``limit`` order ids waiting for ``sku`` in serving order: the order of
        ``allocation.serving_key`` (priority group unless ``fcfs``, placement time, order
        id), which the caller then serves them in."""
        queue = backorder_lines_t.c
        by: tuple[Any, ...] = (queue.placed_at, queue.order_id)
        if policy == "priority":
            by = (queue.priority_rank, *by)
        rows = self.session.execute(
            select(queue.order_id).where(queue.sku == sku).order_by(*by).limit(limit)
        )
        return [r[0] for r in rows]

    def skus_waited_for(self, skus: Iterable[str]) -> set[str]:
        wanted = list(skus)
        if not wanted:
            return set()
        rows = self.session.execute(
            select(backorder_lines_t.c.sku).where(backorder_lines_t.c.sku.in_(wanted)).distinct()
        )
        return {r[0] for r in rows}

    def backorders_placed_before(self, cutoff: datetime, limit: int) -> list[str]:
        rows = self.session.execute(
            select(backorder_lines_t.c.order_id)
            .where(backorder_lines_t.c.placed_at < cutoff)
            .distinct()
            .limit(limit)
        )
        return [r[0] for r in rows]
