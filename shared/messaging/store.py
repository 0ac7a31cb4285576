"""The outbox and inbox rows of a unit of work, written through the driver's cursor.

Every event a service publishes and every event it consumes passes here, so these are
among the hottest statements of all: through SQLAlchemy's Core an outbox insert cost
~0.7 ms of CPU (a third of a reservation's), through the cursor a few microseconds
(see shared/rawsql.py).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shared.messaging.tables import INBOX, OUTBOX
from shared.rawsql import DriverStatements, StatementText


@dataclass(frozen=True)
class OutboxRow:
    event_id: str
    topic: str
    key: str
    event_type: str
    payload: bytes
    created_at: datetime


@dataclass(frozen=True)
class InboxRow:
    event_id: str
    topic: str
    event_type: str


class MessagingStatements(StatementText):
    def outbox_insert(self, rows: Sequence[OutboxRow]) -> tuple[str, list[Sequence[Any]]]:
        return (
            f"INSERT INTO {OUTBOX} (event_id, topic, key, event_type, payload, created_at, attempts) "
            "VALUES (?, ?, ?, ?, ?, ?, 0)",
            [(r.event_id, r.topic, r.key, r.event_type, r.payload, self._time(r.created_at))
             for r in rows],
        )


    # -- the relay's (shared/messaging/relay.py): the statements as the driver runs them --

    def unsent(self, limit: int) -> tuple[str, list[Any]]:
        statement = f"SELECT id, topic, key, payload FROM {OUTBOX} WHERE sent_at IS NULL ORDER BY id LIMIT ?"
        return self._sql(statement), [limit]

    def unsent_count(self) -> tuple[str, list[Any]]:
        return f"SELECT count(*) FROM {OUTBOX} WHERE sent_at IS NULL", []

    def mark_sent(self, ids: Sequence[int], at: datetime) -> tuple[str, list[Any]]:
        ids_in, params = self._in(ids)
        return (self._sql(f"UPDATE {OUTBOX} SET sent_at = ?, attempts = attempts + 1 WHERE id {ids_in}"),
                [self._time(at), *params])


class MessagingStore(DriverStatements, MessagingStatements):
    def insert_outbox(self, rows: Sequence[OutboxRow]) -> None:
        statement, params = self.outbox_insert(rows)
        self._run(statement, params, many=True)

    def processed_among(self, event_ids: Collection[str]) -> set[str]:
        """The ids among these that the inbox holds already."""
        ids_in, params = self._in(sorted(event_ids))
        return {row[0] for row in self._all(f"SELECT event_id FROM {INBOX} WHERE event_id {ids_in}", params)}

    def insert_inbox(self, rows: Sequence[InboxRow], processed_at: datetime) -> None:
        at = self._time(processed_at)
        self._run(
            f"INSERT INTO {INBOX} (event_id, topic, event_type, processed_at) VALUES (?, ?, ?, ?)",
            [(r.event_id, r.topic, r.event_type, at) for r in rows],
            many=True,
        )
