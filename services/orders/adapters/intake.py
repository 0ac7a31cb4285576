"""The order-intake hot path on the driver's cursor (see shared/rawsql.py for why and how).

``POST /v1/orders`` runs a handful of statements: on PostgreSQL the reads go in one
pipeline and the writes in another (bench/orders_intake.py measures it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.orders.domain.model import CatalogItem, Line, RationRule
from services.orders.domain.rules import PastLine
from shared.rawsql import DriverStatements


@dataclass(frozen=True)
class IntakeFacts:
    community_id: str
    members: int
    flags: frozenset[str]
    catalog: dict[str, CatalogItem]
    recent_order_times: list[datetime]
    #: The caller's Idempotency-Key was used before: replay that order.
    key_used: bool


class IntakeStore(DriverStatements):
    keeps_connection = True  # one plain transaction per request, no savepoints

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
