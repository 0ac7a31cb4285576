"""Applying status facts on the raw DB-API cursor of the unit of work's connection.

Consumers move orders along the status machine on every reservation, schedule and delivery
event. Through the ORM (load with populate_existing, flush, a Core INSERT for the timeline)
that cost ~1.5 ms of CPU per event; here it is one SELECT of what the machine reads, one
conditional UPDATE and one timeline INSERT through the driver's cursor. The statements run
on the same connection, inside the same transaction and savepoint as the rest of the unit of
work (the consumer's inbox row included), so atomicity is unchanged.

Values are stored as the SQLAlchemy column types store them (shared/rawsql.py).

Only this module writes an order's status from events; the rules stay in
``services.orders.domain.status``. The session's identity map never holds orders in a
consumer transaction (nothing there loads them through the ORM), so nothing goes stale.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from services.orders.adapters.timeline import TIMELINE_INSERT, TimelineStatements
from services.orders.domain.model import OrderStatus
from services.orders.domain.status import Change, Tracking
from shared.rawsql import DriverStatements, is_integrity_error

# The orders columns a status fact may set, and how each is stored.
_TIME_COLUMNS = frozenset(
    {"updated_at", "eta", "window_start", "window_end", "scheduled_fact_at", "delivered_at"}
)
_JSON_COLUMNS = frozenset({"closed_plan_ids"})
_PLAIN_COLUMNS = frozenset(
    {"status", "status_reason", "depot_id", "plan_id", "vehicle_id", "stop_id", "received_by"}
)
_COLUMNS = _TIME_COLUMNS | _JSON_COLUMNS | _PLAIN_COLUMNS


class OrderChangedUnderneath(RuntimeError):
    """The row no longer had the status it was read with (cannot happen while the read
    holds the row lock; raised rather than overwrite). The consumer retries the event."""


class StatusStore(DriverStatements, TimelineStatements):
    def __init__(self, session: Session) -> None:
        super().__init__(session)
        self._updates: dict[tuple[str, ...], str] = {}
        # On PostgreSQL the row stays locked until the transaction ends: one writer per order.
        self._select = self._sql(
            "SELECT status, plan_id, closed_plan_ids, scheduled_fact_at FROM orders WHERE id = ?"
            + ("" if self._sqlite else " FOR UPDATE")
        )
        self._timeline = self._sql(TIMELINE_INSERT)

    # -- how values are stored -------------------------------------------------------------

    def _stored(self, column: str, value: Any) -> Any:
        if column in _TIME_COLUMNS:
            return self._time(value)
        if column in _JSON_COLUMNS:
            return self._json(value)
        return value

    # -- statements ------------------------------------------------------------------------

    def tracking(self, order_id: str) -> Tracking | None:
        """What the status machine reads of the order (the row locked on PostgreSQL), or
        None for an unknown order."""
        cursor = self._dbapi().cursor()
        try:
            cursor.execute(self._select, (order_id,))
            row = cursor.fetchone()
        finally:
            cursor.close()
        if row is None:
            return None
        status, plan_id, closed, scheduled_at = row
        return Tracking(
            status=OrderStatus(status),
            plan_id=plan_id,
            closed_plan_ids=frozenset(self._read_json(closed) or ()),
            scheduled_fact_at=self._read_time(scheduled_at) if scheduled_at is not None else None,
        )

    def _update_sql(self, columns: tuple[str, ...]) -> str:
        statement = self._updates.get(columns)
        if statement is None:
            unknown = set(columns) - _COLUMNS
            if unknown:
                raise ValueError(f"not a status column: {sorted(unknown)}")
            mark = "?" if self._sqlite else "%s"
            assignments = ", ".join(f"{column} = {mark}" for column in columns)
            statement = self._updates[columns] = (
                f"UPDATE orders SET {assignments} WHERE id = {mark} AND status = {mark}"
            )
        return statement

    def apply(
        self,
        order_id: str,
        read_status: OrderStatus,
        values: Mapping[str, Any],
        at: datetime,
        changes: Sequence[Change],
    ) -> None:
        """Write the order's new values, provided it still has ``read_status``, and one
        timeline row per change."""
        columns = tuple(values)
        params = [self._stored(column, values[column]) for column in columns]
        params += [order_id, read_status.value]
        rows = [self.timeline_row(order_id, at, change.status.value, change.detail) for change in changes]
        cursor = self._dbapi().cursor()
        try:
            cursor.execute(self._update_sql(columns), params)
            if cursor.rowcount != 1:
                raise OrderChangedUnderneath(
                    f"order {order_id} is no longer {read_status.value}"
                )
            if len(rows) == 1:
                cursor.execute(self._timeline, rows[0])
            else:
                cursor.executemany(self._timeline, rows)
        except Exception as exc:
            if is_integrity_error(exc):
                raise IntegrityError("status fact", params, exc) from exc
            raise
        finally:
            cursor.close()

    def note(self, order_id: str, at: datetime, detail: Mapping[str, Any]) -> bool:
        """A timeline row in the order's current status; False for an unknown order."""
        cursor = self._dbapi().cursor()
        try:
            cursor.execute(self._select, (order_id,))
            row = cursor.fetchone()
            if row is None:
                return False
            cursor.execute(self._timeline, self.timeline_row(order_id, at, row[0], detail))
            return True
        finally:
            cursor.close()
