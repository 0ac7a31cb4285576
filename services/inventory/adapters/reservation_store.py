"""The reservation path's statements on the raw DB-API cursor of the unit of work's connection.

An order placement runs about a dozen statements; through SQLAlchemy's statement
building, cache keys and coercions each costs 100-300 us of CPU, through the driver's
cursor 5-20 us (bench/stock_events.py reports CPU ms per reservation). The statements run
on the same connection, inside the same transaction as the rest of the unit of work
(savepoints, outbox and inbox included), so atomicity is unchanged, and they are the
same statements the repositories send: the conditional ``UPDATE ... WHERE on_hand -
reserved >= ?`` per line, checked; the allocation row keyed by order id; a ledger row
per movement. Values are stored as the SQLAlchemy column types store them (see
shared/rawsql.py), so the repositories read them back as usual.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from services.inventory.adapters.allocations import AllocationRow
from services.inventory.adapters.repository import LedgerRecord, StockRow
from services.inventory.domain.model import Line
from shared.rawsql import DriverStatements

_STOCK_COLUMNS = "depot_id, sku, on_hand, reserved, low_alerted"


class _LineShort(Exception):
    pass


class ReservationStore(DriverStatements):
    """Raw-cursor twins of the repository methods a reservation needs."""

    def __init__(self, session: Session) -> None:
        super().__init__(session)
        self._savepoints = 0

    # -- reads ---------------------------------------------------------------------------

    def allocation_exists(self, order_id: str) -> bool:
        return bool(self._all("SELECT 1 FROM allocations WHERE order_id = ?", (order_id,)))

    def available_at(self, depot_ids: Sequence[str], skus: Sequence[str]) -> dict[tuple[str, str], int]:
        return _available(self._all(*self._available_query(depot_ids, skus)))

    def _available_query(self, depot_ids: Sequence[str], skus: Sequence[str]) -> tuple[str, list[object]]:
        depots_in, depot_params = self._in(depot_ids)
        skus_in, sku_params = self._in(skus)
        return (
            f"SELECT depot_id, sku, on_hand - reserved FROM stock WHERE depot_id {depots_in} AND sku {skus_in}",
            [*depot_params, *sku_params],
        )

    def cold_chain_of(self, skus: Sequence[str]) -> dict[str, bool]:
        marks = ", ".join("?" * len(skus))
        rows = self._all(f"SELECT id, cold_chain FROM skus WHERE id IN ({marks})", list(skus))
        return {r[0]: bool(r[1]) for r in rows}

    # -- stock ---------------------------------------------------------------------------

    def try_reserve(self, depot_id: str, sku: str, quantity: int, now: datetime) -> StockRow | None:
        """reserved += quantity only if that many are available; None when they are not."""
        rows = self._all(
            "UPDATE stock SET reserved = reserved + ?, updated_at = ? "
            "WHERE depot_id = ? AND sku = ? AND on_hand - reserved >= ? "
            f"RETURNING {_STOCK_COLUMNS}",
            (quantity, self._time(now), depot_id, sku, quantity),
        )
        if not rows:
            return None
        r = rows[0]
        return StockRow(r[0], r[1], r[2], r[3], bool(r[4]))

    def reserve_all(self, depot_id: str, lines: Sequence[Line], now: datetime) -> list[StockRow] | None:
        """Every line at ``depot_id`` or none: the lines taken before a short one are
        undone (a savepoint around them; a single line needs none)."""
        if len(lines) == 1:
            row = self.try_reserve(depot_id, lines[0].sku, lines[0].quantity, now)
            return None if row is None else [row]
        try:
            with self.savepoint():
                taken: list[StockRow] = []
                for line in lines:
                    row = self.try_reserve(depot_id, line.sku, line.quantity, now)
                    if row is None:  # someone took the units between our read and our update
                        raise _LineShort
                    taken.append(row)
                return taken
        except _LineShort:
            return None

    @contextlib.contextmanager
    def savepoint(self) -> Iterator[None]:
        """What runs inside is undone if it raises; the transaction goes on."""
        self._savepoints += 1
        name = f"inv_reserve_{self._savepoints}"
        self._run(f"SAVEPOINT {name}", ())
        try:
            yield
        except BaseException:
            self._run(f"ROLLBACK TO SAVEPOINT {name}", ())
            self._run(f"RELEASE SAVEPOINT {name}", ())
            raise
        self._run(f"RELEASE SAVEPOINT {name}", ())

    def set_low_alerted(self, depot_id: str, sku: str, value: bool) -> None:
        self._run(
            "UPDATE stock SET low_alerted = ? WHERE depot_id = ? AND sku = ?",
            (self._bool(value), depot_id, sku),
        )

    # -- ledger ----------------------------------------------------------------------------

    def add_ledger(self, records: Sequence[LedgerRecord]) -> None:
        rows = [
            (
                r.depot_id, r.sku, r.movement.value, r.quantity, r.on_hand_delta,
                r.reserved_delta, r.order_id, r.event_id, r.reason, self._time(r.created_at),
            )
            for r in records
        ]
        self._run_rows(
            "INSERT INTO stock_ledger (depot_id, sku, movement, quantity, on_hand_delta, "
            "reserved_delta, order_id, event_id, reason, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )

    def net_reserved_since(self, depot_id: str, sku: str, since: datetime, movements: Sequence[str]) -> int:
        marks = ", ".join("?" * len(movements))
        rows = self._all(
            "SELECT COALESCE(SUM(reserved_delta), 0) FROM stock_ledger "
            f"WHERE depot_id = ? AND sku = ? AND created_at >= ? AND movement IN ({marks})",
            (depot_id, sku, self._time(since), *movements),
        )
        return max(0, int(rows[0][0]))

    # -- allocations -----------------------------------------------------------------------

    def add_allocation(self, allocation: AllocationRow, now: datetime) -> None:
        """Raises IntegrityError if the order already has an allocation (primary key)."""
        self.add_allocations([allocation], now)

    def add_allocations(self, allocations: Sequence[AllocationRow], now: datetime) -> None:
        """Raises IntegrityError if an order already has an allocation (primary key)."""
        if not allocations:
            return
        stamp = self._time(now)
        rows = [
            (
                a.order_id, a.status, a.depot_id, a.household_id, a.community_id, a.priority.value,
                a.priority.rank, self._time(a.placed_at),
                self._json([{"sku": x.sku, "quantity": x.quantity} for x in a.lines]),
                a.reason, stamp, stamp,
            )
            for a in allocations
        ]
        self._run_rows(
            "INSERT INTO allocations (order_id, status, depot_id, household_id, community_id, "
            "priority, priority_rank, placed_at, lines, reason, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
        self._run_rows(
            "INSERT INTO allocation_lines (order_id, sku, quantity) VALUES (?, ?, ?)",
            [(a.order_id, x.sku, x.quantity) for a in allocations for x in a.lines],
        )

    def _run_rows(self, statement: str, rows: Sequence[Sequence[object]]) -> None:
        if len(rows) == 1:
            self._run(statement, rows[0])
        elif rows:
            self._run(statement, rows, many=True)

    # -- a batch of reservations -----------------------------------------------------------

    def read_for_reservations(
        self, order_ids: Sequence[str], depot_ids: Sequence[str], skus: Sequence[str]
    ) -> tuple[set[str], dict[tuple[str, str], int]]:
        """The orders among ``order_ids`` that already have an allocation, and the stock
        available at ``depot_ids`` for ``skus``: one round trip on PostgreSQL."""
        orders_in, order_params = self._in(order_ids)
        queries: list[tuple[str, Sequence[object]]] = [
            (f"SELECT order_id FROM allocations WHERE order_id {orders_in}", order_params)
        ]
        if depot_ids and skus:
            queries.append(self._available_query(depot_ids, skus))
        results = self._all_at_once(queries)
        allocated = {row[0] for row in results[0]}
        return allocated, _available(results[1]) if len(results) > 1 else {}

    def reserve_totals(self, totals: Mapping[tuple[str, str], int], now: datetime) -> list[StockRow]:
        """``reserved += total`` for each (depot, SKU), each only if that many are
        available; the rows that moved, in (depot, SKU) order (a fixed lock order, so two
        batches cannot deadlock). Fewer rows than ``totals`` means stock moved since it
        was read: the caller must give the whole transaction up."""
        stamp = self._time(now)
        statement = (
            "UPDATE stock SET reserved = reserved + ?, updated_at = ? "
            "WHERE depot_id = ? AND sku = ? AND on_hand - reserved >= ? "
            f"RETURNING {_STOCK_COLUMNS}"
        )
        results = self._all_at_once([
            (statement, (quantity, stamp, depot_id, sku, quantity))
            for (depot_id, sku), quantity in sorted(totals.items())
        ])
        return [StockRow(r[0], r[1], r[2], r[3], bool(r[4])) for rows in results for r in rows]

    def enqueue_backorders(self, allocations: Sequence[AllocationRow]) -> None:
        """Queue each order on every SKU it waits for (served by priority, then age)."""
        self._run_rows(
            "INSERT INTO backorder_lines (order_id, sku, priority_rank, placed_at) VALUES (?, ?, ?, ?)",
            [(a.order_id, x.sku, a.priority.rank, self._time(a.placed_at)) for a in allocations for x in a.lines],
        )


def _available(rows: Sequence[Any]) -> dict[tuple[str, str], int]:
    return {(r[0], r[1]): int(r[2]) for r in rows}
