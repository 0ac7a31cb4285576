"""The order-intake hot path on the driver's cursor (see shared/rawsql.py for why and how).

A batch of orders (shared/group_commit.py) costs the same handful of statements as one:
the reads of the whole batch go in one round trip, the ration history in a second when
a rationed SKU is asked for, and the writes in a third, a statement per table
(bench/orders_intake.py measures it).
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
class HouseholdFacts:
    community_id: str
    members: int
    flags: frozenset[str]


@dataclass(frozen=True)
class IntakeFacts:
    """What placing a batch of orders checks, as the database has it before the batch."""

    households: dict[str, HouseholdFacts]
    catalog: dict[str, CatalogItem]
    #: Per household, when its orders of the last minute were placed (rate limit).
    recent_order_times: dict[str, list[datetime]]
    #: The (caller, Idempotency-Key) pairs among those asked about that were used before.
    used_keys: set[tuple[str, str]]


class IntakeStore(DriverStatements):
    keeps_connection = True  # one plain transaction per batch, no savepoints

    # -- reads ---------------------------------------------------------------------------

    def read_for_intake(
        self, household_ids: Sequence[str], keys: Sequence[tuple[str, str]], skus: Sequence[str],
        orders_since: datetime,
    ) -> IntakeFacts:
        """Households, catalog, recent orders and used keys for a whole batch, in one go
        (one round trip on PostgreSQL); an unknown household is missing from the answer.

        The household rows are locked until the transaction ends, in id order (so that
        concurrent batches cannot deadlock; on SQLite the writer lock does it), and the
        later reads therefore see every earlier order of these households."""
        lock = "" if self._sqlite else " ORDER BY id FOR UPDATE"
        queries: list[tuple[str, Sequence[Any]]] = [
            (f"SELECT id, community_id, members, flags FROM households WHERE id IN ({_marks(household_ids)})"
             + lock, household_ids),
            ("SELECT sku, category, urgent, ration_quantity, ration_per_days FROM catalog_skus "
             f"WHERE sku IN ({_marks(skus)})", skus),
            (f"SELECT household_id, created_at FROM orders WHERE household_id IN ({_marks(household_ids)}) "
             "AND created_at > ?", [*household_ids, self._time(orders_since)]),
        ]
        if keys:
            callers = sorted({caller for caller, _ in keys})
            values = sorted({key for _, key in keys})
            queries.append((
                f"SELECT caller, idempotency_key FROM orders WHERE caller IN ({_marks(callers)}) "
                f"AND idempotency_key IN ({_marks(values)})", [*callers, *values],
            ))
        households, catalog, recent, *used = self._all_at_once(queries)
        recent_times: dict[str, list[datetime]] = {}
        for household_id, created_at in recent:
            recent_times.setdefault(household_id, []).append(self._read_time(created_at))
        return IntakeFacts(
            households={
                household_id: HouseholdFacts(community_id, members, frozenset(self._read_json(flags)))
                for household_id, community_id, members, flags in households
            },
            catalog={
                sku: CatalogItem(
                    sku, category, bool(urgent),
                    RationRule(quantity, days) if quantity is not None and days is not None else None,
                )
                for sku, category, urgent, quantity, days in catalog
            },
            recent_order_times=recent_times,
            used_keys={(caller, key) for caller, key in used[0]} & set(keys) if used else set(),
        )

    def ration_history(
        self, household_ids: Sequence[str], skus: Sequence[str], since: datetime,
        not_counting: Sequence[str],
    ) -> dict[str, list[PastLine]]:
        """Per household, its lines of these SKUs in orders since ``since`` that count."""
        rows = self._all(
            "SELECT o.household_id, l.sku, l.quantity, o.created_at FROM order_lines l "
            "JOIN orders o ON o.id = l.order_id "
            f"WHERE o.household_id IN ({_marks(household_ids)}) AND o.created_at > ? "
            f"AND o.status NOT IN ({_marks(not_counting)}) AND l.sku IN ({_marks(skus)})",
            [*household_ids, self._time(since), *not_counting, *skus],
        )
        history: dict[str, list[PastLine]] = {}
        for household_id, sku, quantity, at in rows:
            history.setdefault(household_id, []).append(PastLine(sku, quantity, self._read_time(at)))
        return history

    # -- writes --------------------------------------------------------------------------

    def insert_orders(self, orders: Sequence[NewOrder]) -> None:
        """The orders with their lines and first timeline rows (a statement per table)."""
        self._run(
            "INSERT INTO orders (id, household_id, community_id, status, priority, contactless, "
            "note, created_at, updated_at, closed_plan_ids, caller, idempotency_key, "
            "request_fingerprint) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (o.id, o.household_id, o.community_id, o.status, o.priority, o.contactless,
                 o.note, self._time(o.placed_at), self._time(o.placed_at), self._json([]),
                 o.caller, o.idempotency_key, o.request_fingerprint)
                for o in orders
            ],
            many=True,
        )
        self._run(
            "INSERT INTO order_lines (order_id, position, sku, quantity) VALUES (?, ?, ?, ?)",
            [(o.id, i, line.sku, line.quantity) for o in orders for i, line in enumerate(o.lines)],
            many=True,
        )
        self._run(
            "INSERT INTO order_timeline (order_id, at, status, detail) VALUES (?, ?, ?, ?)",
            [(o.id, self._time(o.placed_at), o.status,
              self._json({"priority": o.priority, "by": o.caller})) for o in orders],
            many=True,
        )

    def insert_outbox(self, rows: Sequence[OutboxRow]) -> None:
        self._run(
            "INSERT INTO outbox (event_id, topic, key, event_type, payload, created_at, attempts) "
            "VALUES (?, ?, ?, ?, ?, ?, 0)",
            [(r.event_id, r.topic, r.key, r.event_type, r.payload, self._time(r.created_at))
             for r in rows],
            many=True,
        )


@dataclass(frozen=True)
class NewOrder:
    id: str
    household_id: str
    community_id: str
    status: str
    priority: str
    contactless: bool
    note: str | None
    placed_at: datetime
    caller: str
    idempotency_key: str | None
    request_fingerprint: str
    lines: Sequence[Line]


@dataclass(frozen=True)
class OutboxRow:
    event_id: str
    topic: str
    key: str
    event_type: str
    payload: bytes
    created_at: datetime


def _marks(values: Sequence[Any]) -> str:
    return ", ".join("?" * len(values))
