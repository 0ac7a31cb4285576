"""An order's timeline: one statement and one row shape, whoever writes the row (intake,
status facts from the consumers, a cancellation), on either driver (shared/rawsql.py)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from shared.rawsql import DriverStatements, StatementText

TIMELINE_INSERT = "INSERT INTO order_timeline (order_id, at, status, detail) VALUES (?, ?, ?, ?)"


class TimelineStatements(StatementText):
    def timeline_row(self, order_id: str, at: datetime, status: str, detail: Mapping[str, Any]) -> tuple[Any, ...]:
        return (order_id, self._time(at), status, self._json(dict(detail)))


class TimelineStore(DriverStatements, TimelineStatements):
    """Timeline rows in the unit of work's transaction."""

    def add(self, order_id: str, at: datetime, status: str, detail: Mapping[str, Any]) -> None:
        self._run(TIMELINE_INSERT, [self.timeline_row(order_id, at, status, detail)], many=True)
