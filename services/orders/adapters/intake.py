"""The order-intake hot path on the driver's cursor (see shared/rawsql.py for why and how).

A batch of orders (shared/group_commit.py) costs the same handful of statements as one:
on PostgreSQL the reads of the whole batch go in one round trip and the writes, a
statement per table, in a second (bench/orders_intake.py measures it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from services.orders.adapters.timeline import TIMELINE_INSERT, TimelineStatements
from services.orders.domain.intake import IntakeFacts
from services.orders.domain.model import CatalogItem, HouseholdProfile, Line, OrderView, RationRule
from services.orders.domain.rules import PastLine, ration_window_start
from shared.messaging.store import MessagingStatements, OutboxRow
from shared.pipelined import PipelinedTransaction
from shared.rawsql import DriverStatements


class IntakeStatements(TimelineStatements):
    """The statements of placing a batch of orders, whichever driver runs them."""

    def read_queries(
        self, household_ids: Sequence[str], keys: Sequence[tuple[str, str]], skus: Sequence[str],
        *, now: datetime, rate_window: timedelta, not_counting: Sequence[str],
    ) -> list[tuple[str, Sequence[Any]]]:
        """Households, catalog, recent orders, used keys and (on PostgreSQL) ration history
        for a whole batch, to run in one go (one round trip on PostgreSQL).

        The household rows are locked until the transaction ends, in id order (so that
        concurrent batches cannot deadlock; on SQLite the writer lock does it), and the
        later reads therefore see every earlier order of these households."""
        lock = "" if self._sqlite else " ORDER BY id FOR UPDATE"
        households_in, household_params = self._in(household_ids)
        skus_in, sku_params = self._in(skus)
        queries: list[tuple[str, Sequence[Any]]] = [
            (f"SELECT id, community_id, members, flags FROM households WHERE id {households_in}" + lock,
             household_params),
            ("SELECT sku, category, urgent, ration_quantity, ration_per_days FROM catalog_skus "
             f"WHERE sku {skus_in}", sku_params),
            (f"SELECT household_id, created_at FROM orders WHERE household_id {households_in} "
             "AND created_at > ?", [*household_params, self._time(now - rate_window)]),
        ]
        if keys:
            callers_in, caller_params = self._in(sorted({caller for caller, _ in keys}))
            keys_in, key_params = self._in(sorted({key for _, key in keys}))
            queries.append((
                f"SELECT caller, idempotency_key FROM orders WHERE caller {callers_in} "
                f"AND idempotency_key {keys_in}", [*caller_params, *key_params],
            ))
        if not self._sqlite:
            # Each SKU's own ration period, computed by the server: no round trip to learn
            # the periods first.
            statuses_not_in, status_params = self._in(not_counting, negate=True)
            queries.append((
                "SELECT o.household_id, l.sku, l.quantity, o.created_at FROM order_lines l "
                "JOIN orders o ON o.id = l.order_id JOIN catalog_skus c ON c.sku = l.sku "
                f"WHERE o.household_id {households_in} AND l.sku {skus_in} "
                "AND c.ration_per_days IS NOT NULL "
                "AND o.created_at > ? - make_interval(days => c.ration_per_days) "
                f"AND o.status {statuses_not_in}",
                [*household_params, *sku_params, now, *status_params],
            ))
        return queries

    def facts(self, results: Sequence[list[Any]], keys: Sequence[tuple[str, str]],
              history_rows: list[Any] | None = None) -> IntakeFacts:
        """What ``read_queries`` found; on SQLite with the ration history read after them."""
        households, catalog, recent, *rest = results
        used = rest.pop(0) if keys else []
        history: dict[str, list[PastLine]] = {}
        for household_id, sku, quantity, at in (rest[0] if history_rows is None else history_rows):
            history.setdefault(household_id, []).append(PastLine(sku, quantity, self._read_time(at)))
        recent_times: dict[str, list[datetime]] = {}
        for household_id, created_at in recent:
            recent_times.setdefault(household_id, []).append(self._read_time(created_at))
        return IntakeFacts(
            households={
                household_id: HouseholdProfile(household_id, community_id, members, frozenset(self._read_json(flags)))
                for household_id, community_id, members, flags in households
            },
            catalog=self.catalog_items(catalog),
            recent_order_times=recent_times,
            used_keys={(caller, key) for caller, key in used} & set(keys),
            ration_history=history,
        )

    @staticmethod
    def catalog_items(rows: Sequence[Any]) -> dict[str, CatalogItem]:
        return {
            sku: CatalogItem(
                sku, category, bool(urgent),
                RationRule(quantity, days) if quantity is not None and days is not None else None,
            )
            for sku, category, urgent, quantity, days in rows
        }

    def insert_statements(self, orders: Sequence[NewOrder]) -> list[tuple[str, list[Sequence[Any]]]]:
        """The orders with their lines and first timeline rows (a statement per table)."""
        statements: list[tuple[str, list[Sequence[Any]]]] = [
            ("INSERT INTO orders (id, household_id, community_id, status, priority, contactless, "
             "note, created_at, updated_at, closed_plan_ids, caller, idempotency_key, "
             "request_fingerprint) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
             [(o.order.id, o.order.household_id, o.order.community_id, o.order.status,
               o.order.priority, o.order.contactless, o.order.note, self._time(o.order.created_at),
               self._time(o.order.updated_at), self._json([]), o.caller, o.idempotency_key,
               o.request_fingerprint)
              for o in orders]),
            ("INSERT INTO order_lines (order_id, position, sku, quantity) VALUES (?, ?, ?, ?)",
             [(o.order.id, i, line.sku, line.quantity) for o in orders for i, line in enumerate(o.lines)]),
            (TIMELINE_INSERT,
             [self.timeline_row(o.order.id, o.order.created_at, o.order.status,
                                {"priority": o.order.priority, "by": o.caller}) for o in orders]),
        ]
        return statements


class IntakeStore(DriverStatements, IntakeStatements):
    """Intake's statements in a unit of work's transaction (SQLite, or PostgreSQL's fallback)."""

    keeps_connection = True  # one plain transaction per batch, no savepoints

    def read_for_intake(
        self, household_ids: Sequence[str], keys: Sequence[tuple[str, str]], skus: Sequence[str],
        *, now: datetime, rate_window: timedelta, not_counting: Sequence[str],
    ) -> IntakeFacts:
        """An unknown household is missing from the answer."""
        queries = self.read_queries(
            household_ids, keys, skus, now=now, rate_window=rate_window, not_counting=not_counting
        )
        results = self._all_at_once(queries)
        if not self._sqlite:
            return self.facts(results, keys)
        # SQLite cannot take each SKU's own period in the query: read back to the longest.
        catalog = self.catalog_items(results[1])
        since = ration_window_start(catalog, skus, now)
        rationed = sorted(sku for sku, item in catalog.items() if item.ration is not None)
        history_rows = self._ration_lines(household_ids, rationed, since, not_counting) if since else []
        return self.facts(results, keys, history_rows)

    def _ration_lines(
        self, household_ids: Sequence[str], skus: Sequence[str], since: datetime,
        not_counting: Sequence[str],
    ) -> list[Any]:
        households_in, household_params = self._in(household_ids)
        statuses_not_in, status_params = self._in(not_counting, negate=True)
        skus_in, sku_params = self._in(skus)
        return self._all(
            "SELECT o.household_id, l.sku, l.quantity, o.created_at FROM order_lines l "
            "JOIN orders o ON o.id = l.order_id "
            f"WHERE o.household_id {households_in} AND o.created_at > ? "
            f"AND o.status {statuses_not_in} AND l.sku {skus_in}",
            [*household_params, self._time(since), *status_params, *sku_params],
        )

    def insert_orders(self, orders: Sequence[NewOrder]) -> None:
        for statement, rows in self.insert_statements(orders):
            self._run(statement, rows, many=True)


@dataclass(frozen=True)
class NewOrder:
    """An order as placed, with what only the write needs: who asked, and with which key."""

    order: OrderView
    caller: str
    idempotency_key: str | None
    request_fingerprint: str
    lines: Sequence[Line]


class PipelinedIntake(IntakeStatements, MessagingStatements):
    """Intake's statements on PostgreSQL's async connection (see shared/pipelined.py): the
    reads of a batch in one round trip, its writes (orders, lines, timeline, outbox) in
    another."""

    def __init__(self, transaction: PipelinedTransaction) -> None:
        super().__init__(sqlite=False)
        self._transaction = transaction

    async def read_for_intake(
        self, household_ids: Sequence[str], keys: Sequence[tuple[str, str]], skus: Sequence[str],
        *, now: datetime, rate_window: timedelta, not_counting: Sequence[str],
    ) -> IntakeFacts:
        """An unknown household is missing from the answer."""
        queries = self.read_queries(
            household_ids, keys, skus, now=now, rate_window=rate_window, not_counting=not_counting
        )
        results = await self._transaction.all_at_once([(self._sql(q), params) for q, params in queries])
        return self.facts(results, keys)

    async def write(self, orders: Sequence[NewOrder], outbox: Sequence[OutboxRow]) -> None:
        statements = [*self.insert_statements(orders), self.outbox_insert(outbox)]
        await self._transaction.run_all([(self._sql(statement), rows) for statement, rows in statements])

    async def placed(self, order_ids: Sequence[str]) -> set[str]:
        """Which of these orders the database holds (after a COMMIT whose answer was lost)."""
        [rows] = await self._transaction.all_at_once(
            [(self._sql("SELECT id FROM orders WHERE id = ANY(?)"), [list(order_ids)])])
        return {row[0] for row in rows}
