"""Small repositories over the unit of work's session, in SQLAlchemy Core: the catalog,
communities, stock rows and the stock ledger (allocations and the backorder queue are in
``allocations``; the reservation path runs its statements on the raw cursor:
``reservation_store``).

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
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, func, insert, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from services.inventory.adapters.orm import (
    Community,
    Depot,
    Sku,
    communities_t,
    depots_t,
    ledger_t,
    skus_t,
    stock_t,
)
from services.inventory.domain import model
from services.inventory.domain.model import Movement


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
