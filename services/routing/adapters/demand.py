"""The demand read model's writes on the raw DB-API cursor of the unit of work's connection.

Every placed and every reserved order passes through here. Through the ORM (``session.get``,
attribute changes, a flush at the savepoint's end) an event cost ~1-1.5 ms of CPU; here it
is one upsert for a placed order and one SELECT plus one INSERT or conditional UPDATE for a
status change, through the driver's cursor. The statements run on the same connection,
inside the same transaction and savepoint as the consumer's inbox row, so atomicity is
unchanged. Which status follows which stays in ``services.routing.domain.demand``.

Values are stored as the SQLAlchemy column types store them (``UtcTimestamp``: UTC; JSON
as text on SQLite), so the ORM reads the rows back as usual. The consumer's other handlers
never load ``DemandOrder`` through the ORM, so the session's identity map holds no stale
copy of a row written here.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from shared.rawsql import DriverStatements

_COLUMNS = ("order_id", "community_id", "depot_id", "priority", "placed_at", "lines", "status",
            "plan_id")
_INSERT = f"INSERT INTO demandorder ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})"
# A placed order: create the row, or refresh what the placement states. Lines are kept once
# known (a reservation's lines are the ones that count).
_PLACED = (
    _INSERT + " ON CONFLICT (order_id) DO UPDATE SET priority = excluded.priority, "
    "placed_at = excluded.placed_at, lines = CASE WHEN json_array_length(demandorder.lines) = 0 "
    "THEN excluded.lines ELSE demandorder.lines END"
)
_SELECT = "SELECT status FROM demandorder WHERE order_id = ?"
_UPDATABLE = frozenset({"community_id", "depot_id", "priority", "placed_at", "lines", "status",
                        "plan_id"})


class DemandChangedUnderneath(RuntimeError):
    """The row no longer had the status it was read with (cannot happen while the read
    holds the row lock); raised rather than overwrite. The consumer retries the event."""


class DemandStore(DriverStatements):
    def status(self, order_id: str) -> str | None:
        """The row's status (the row locked on PostgreSQL), None when there is no row."""
        lock = "" if self._sqlite else " FOR UPDATE"
        cursor = self._dbapi().cursor()
        try:
            cursor.execute(self._sql(_SELECT + lock), (order_id,))
            row = cursor.fetchone()
        finally:
            cursor.close()
        return None if row is None else str(row[0])

    def record_placed(
        self, order_id: str, *, community_id: str, priority: str, placed_at: datetime,
        lines: list[dict[str, Any]],
    ) -> None:
        self._run(_PLACED, (order_id, community_id, None, priority, self._time(placed_at),
                            self._json(lines), "placed", None))

    def insert(
        self, order_id: str, *, community_id: str, status: str, depot_id: str | None = None,
        priority: str = "standard", placed_at: datetime | None = None,
        lines: list[dict[str, Any]] | None = None,
    ) -> None:
        self._run(_INSERT, (order_id, community_id, depot_id, priority, self._time(placed_at),
                            self._json(lines or []), status, None))

    def update(self, order_id: str, read_status: str, values: Mapping[str, Any]) -> None:
        """Set ``values`` on the row, provided it still has ``read_status``."""
        unknown = set(values) - _UPDATABLE
        if unknown:
            raise ValueError(f"not a demand column: {sorted(unknown)}")
        params = [self._time(value) if name == "placed_at"
                  else self._json(value) if name == "lines" else value
                  for name, value in values.items()]
        assignments = ", ".join(f"{name} = ?" for name in values)
        changed = self._run(
            f"UPDATE demandorder SET {assignments} WHERE order_id = ? AND status = ?",
            [*params, order_id, read_status],
        )
        if changed != 1:
            raise DemandChangedUnderneath(f"demand order {order_id} is no longer {read_status}")
