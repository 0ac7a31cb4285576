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
from dataclasses import dataclass
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


@dataclass(frozen=True)
class IntakeFacts:
    community_id: str
    members: int
    flags: frozenset[str]
    catalog: dict[str, CatalogItem]
    recent_order_times: list[datetime]
    #: The caller's Idempotency-Key was used before: replay that order.
    key_used: bool


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

    def _all_at_once(self, queries: Sequence[tuple[str, Sequence[Any]]]) -> list[list[Any]]:
        """Run read statements in order; on PostgreSQL in one pipeline (one round trip)."""
        if self._sqlite:
            return [self._all(statement, params) for statement, params in queries]
        cursors = [self._dbapi.cursor() for _ in queries]
        try:
            with self._dbapi.pipeline():
                for cursor, (statement, params) in zip(cursors, queries, strict=True):
                    cursor.execute(self._sql(statement), params)
            return [list(cursor.fetchall()) for cursor in cursors]
        finally:
            for cursor in cursors:
                cursor.close()

    # -- reads ---------------------------------------------------------------------------

    def read_for_intake(
        self, household_id: str, caller: str, idempotency_key: str | None, skus: Sequence[str],
        orders_since: datetime,
    ) -> IntakeFacts | None:
        """What placing an order checks, read in one go; None for an unknown household.

        The household row comes first and locked until the transaction ends (on SQLite the
        writer lock does that), so the later reads see every earlier order of the
        household: one household's orders are checked and written one at a time."""
        lock = "" if self._sqlite else " FOR UPDATE"
        marks = ", ".join("?" * len(skus))
        queries: list[tuple[str, Sequence[Any]]] = [
            ("SELECT community_id, members, flags FROM households WHERE id = ?" + lock, (household_id,)),
            ("SELECT sku, category, urgent, ration_quantity, ration_per_days FROM catalog_skus "
             f"WHERE sku IN ({marks})", list(skus)),
            ("SELECT created_at FROM orders WHERE household_id = ? AND created_at > ?",
             (household_id, self._time(orders_since))),
        ]
        if idempotency_key is not None:
            queries.append(("SELECT 1 FROM orders WHERE caller = ? AND idempotency_key = ?",
                            (caller, idempotency_key)))
        household, catalog, recent, *replay = self._all_at_once(queries)
        if not household:
            return None
        community_id, members, flags = household[0]
        return IntakeFacts(
            community_id=community_id, members=members, flags=frozenset(self._read_json(flags)),
            catalog={
                sku: CatalogItem(
                    sku, category, bool(urgent),
                    RationRule(quantity, days) if quantity is not None and days is not None else None,
                )
                for sku, category, urgent, quantity, days in catalog
            },
            recent_order_times=[self._read_time(row[0]) for row in recent],
            key_used=bool(replay and replay[0]),
        )

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
