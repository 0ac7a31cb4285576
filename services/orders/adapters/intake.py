"""The order-intake hot path on the raw DB-API cursor of the unit of work's connection.

``POST /v1/orders`` runs about eight statements; through SQLAlchemy's statement building,
caching and ORM each costs 60-140 us of CPU, through the driver's cursor 3-10 us (see
bench/orders_intake.py). The statements run on the same connection, inside the same
transaction as the rest of the unit of work (outbox included), so atomicity is unchanged.
Values are stored exactly as the SQLAlchemy column types store them, so the ORM reads
them back as usual: SQLite datetimes as 'YYYY-MM-DD HH:MM:SS.ffffff' (UTC) and JSON as
text; PostgreSQL gets native types.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from services.orders.domain.model import CatalogItem, Line, RationRule
from services.orders.domain.rules import PastLine


def _is_integrity_error(exc: Exception) -> bool:
    # sqlite3.IntegrityError and psycopg.IntegrityError (and its subclasses such as
    # UniqueViolation) share the DB-API name, not a base class.
    return any(cls.__name__ == "IntegrityError" for cls in type(exc).__mro__)


class IntakeStore:
    def __init__(self, session: Session) -> None:
        connection = session.connection()  # begins the transaction (BEGIN IMMEDIATE on SQLite)
        self._dbapi: Any = connection.connection.driver_connection
        self._sqlite = connection.dialect.name == "sqlite"
        if not self._sqlite:
            from psycopg.types.json import Json

            self._json_type = Json

    # -- dialect details -----------------------------------------------------------------

    def _sql(self, statement: str) -> str:
        return statement if self._sqlite else statement.replace("?", "%s")

    def _time(self, value: datetime) -> Any:
        if self._sqlite:
            return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
        return value

    def _read_time(self, value: Any) -> datetime:
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        assert isinstance(value, datetime)
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)

    def _json(self, value: Any) -> Any:
        return json.dumps(value) if self._sqlite else self._json_type(value)

    def _read_json(self, value: Any) -> Any:
        return json.loads(value) if isinstance(value, str) else value

    def _all(self, statement: str, params: Sequence[Any]) -> list[Any]:
        cursor = self._dbapi.cursor()
        try:
            cursor.execute(self._sql(statement), params)
            return list(cursor.fetchall())
        finally:
            cursor.close()

    def _run(self, statement: str, params: Sequence[Any], many: bool = False) -> None:
        cursor = self._dbapi.cursor()
        try:
            if many:
                cursor.executemany(self._sql(statement), params)
            else:
                cursor.execute(self._sql(statement), params)
        except Exception as exc:
            # Callers handle constraint clashes (a concurrent idempotent retry) the same
            # whether the statement went through SQLAlchemy or not.
            if _is_integrity_error(exc):
                raise IntegrityError(statement, params, exc) from exc
            raise
        finally:
            cursor.close()

    # -- reads ---------------------------------------------------------------------------

    def lock_household(self, household_id: str) -> tuple[str, int, frozenset[str]] | None:
        """(community id, members, flags), the row locked until the transaction ends: one
        household's orders are checked and written one at a time (rations, rate)."""
        lock = "" if self._sqlite else " FOR UPDATE"
        rows = self._all(
            "SELECT community_id, members, flags FROM households WHERE id = ?" + lock,
            (household_id,),
        )
        if not rows:
            return None
        community_id, members, flags = rows[0]
        return community_id, members, frozenset(self._read_json(flags))

    def has_idempotency_key(self, caller: str, key: str) -> bool:
        return bool(self._all(
            "SELECT 1 FROM orders WHERE caller = ? AND idempotency_key = ?", (caller, key)
        ))

    def catalog(self, skus: Sequence[str]) -> dict[str, CatalogItem]:
        marks = ", ".join("?" * len(skus))
        rows = self._all(
            "SELECT sku, category, urgent, ration_quantity, ration_per_days FROM catalog_skus "
            f"WHERE sku IN ({marks})",
            list(skus),
        )
        return {
            sku: CatalogItem(
                sku, category, bool(urgent),
                RationRule(quantity, days) if quantity is not None and days is not None else None,
            )
            for sku, category, urgent, quantity, days in rows
        }

    def recent_order_times(self, household_id: str, since: datetime) -> list[datetime]:
        rows = self._all(
            "SELECT created_at FROM orders WHERE household_id = ? AND created_at > ?",
            (household_id, self._time(since)),
        )
        return [self._read_time(row[0]) for row in rows]

    def ration_history(
        self, household_id: str, skus: Sequence[str], since: datetime, not_counting: Sequence[str]
    ) -> list[PastLine]:
        sku_marks = ", ".join("?" * len(skus))
        status_marks = ", ".join("?" * len(not_counting))
        rows = self._all(
            "SELECT l.sku, l.quantity, o.created_at FROM order_lines l "
            "JOIN orders o ON o.id = l.order_id "
            f"WHERE o.household_id = ? AND o.created_at > ? AND o.status NOT IN ({status_marks}) "
            f"AND l.sku IN ({sku_marks})",
            [household_id, self._time(since), *not_counting, *skus],
        )
        return [PastLine(sku, quantity, self._read_time(at)) for sku, quantity, at in rows]

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """On PostgreSQL, send the statements inside as one pipeline (one round trip
        instead of one each); errors surface when it ends. SQLite runs them as usual."""
        if self._sqlite:
            yield
            return
        try:
            with self._dbapi.pipeline():
                yield
        except Exception as exc:
            if _is_integrity_error(exc):
                raise IntegrityError("pipelined intake statements", None, exc) from exc
            raise

    # -- writes --------------------------------------------------------------------------

    def insert_order(
        self, order: dict[str, Any], lines: Sequence[Line], timeline: dict[str, Any]
    ) -> None:
        self._run(
            "INSERT INTO orders (id, household_id, community_id, status, priority, contactless, "
            "note, created_at, updated_at, closed_plan_ids, caller, idempotency_key, "
            "request_fingerprint) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                order["id"], order["household_id"], order["community_id"], order["status"],
                order["priority"], order["contactless"], order["note"],
                self._time(order["created_at"]), self._time(order["updated_at"]),
                self._json(order["closed_plan_ids"]), order["caller"],
                order["idempotency_key"], order["request_fingerprint"],
            ),
        )
        self._run(
            "INSERT INTO order_lines (order_id, position, sku, quantity) VALUES (?, ?, ?, ?)",
            [(order["id"], i, line.sku, line.quantity) for i, line in enumerate(lines)],
            many=True,
        )
        self._run(
            "INSERT INTO order_timeline (order_id, at, status, detail) VALUES (?, ?, ?, ?)",
            (timeline["order_id"], self._time(timeline["at"]), timeline["status"],
             self._json(timeline["detail"])),
        )

    def insert_outbox(
        self, *, event_id: str, topic: str, key: str, event_type: str, payload: bytes,
        created_at: datetime,
    ) -> None:
        self._run(
            "INSERT INTO outbox (event_id, topic, key, event_type, payload, created_at, attempts) "
            "VALUES (?, ?, ?, ?, ?, ?, 0)",
            (event_id, topic, key, event_type, payload, self._time(created_at)),
        )
