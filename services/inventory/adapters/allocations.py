"""Allocations (one per placed order: its status, depot and lines) and the backorder
queue, over the unit of work's session in SQLAlchemy Core (the reservation path writes
them on the raw cursor: ``reservation_store``).

Status changes are compare-and-set (``transition``): the UPDATE names the status it
expects and the caller checks the row count, so of two transactions racing for one order
(a cancel and a reservation) only one wins.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from services.inventory.adapters.orm import allocation_lines_t, allocations_t, backorder_lines_t
from services.inventory.domain import model
from services.inventory.domain.allocation import AllocationPolicy
from services.inventory.domain.model import Line
from shared.clock import as_utc
from shared.priority import Priority


@dataclass(frozen=True)
class AllocationRow:
    order_id: str
    status: str
    depot_id: str | None
    household_id: str
    community_id: str
    priority: Priority
    placed_at: datetime
    lines: list[Line]
    reason: str | None

    def claim(self, quantity: int = 0) -> Any:
        from services.inventory.domain.allocation import Claim

        return Claim(self.order_id, self.priority, self.placed_at, quantity)


def _allocation(row: Any) -> AllocationRow:
    return AllocationRow(
        order_id=row.order_id, status=row.status, depot_id=row.depot_id,
        household_id=row.household_id, community_id=row.community_id,
        priority=Priority(row.priority), placed_at=as_utc(row.placed_at),
        lines=[Line(item["sku"], int(item["quantity"])) for item in row.lines],
        reason=row.reason,
    )


_KEEP: Any = object()


class AllocationRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, order_id: str) -> AllocationRow | None:
        row = self.session.execute(
            select(allocations_t).where(allocations_t.c.order_id == order_id)
        ).first()
        return _allocation(row) if row is not None else None

    def get_many(self, order_ids: list[str]) -> dict[str, AllocationRow]:
        if not order_ids:
            return {}
        rows = self.session.execute(
            select(allocations_t).where(allocations_t.c.order_id.in_(order_ids))
        )
        return {r.order_id: _allocation(r) for r in rows}

    def transition(
        self,
        order_id: str,
        expected: str | tuple[str, ...],
        new: str,
        now: datetime,
        *,
        depot_id: Any = _KEEP,
        reason: Any = _KEEP,
    ) -> bool:
        """Compare-and-set on the status: False when another transaction got there first."""
        allowed = (expected,) if isinstance(expected, str) else expected
        values: dict[str, Any] = {"status": new, "updated_at": now}
        if depot_id is not _KEEP:
            values["depot_id"] = depot_id
        if reason is not _KEEP:
            values["reason"] = reason
        result = self.session.execute(
            update(allocations_t)
            .where(allocations_t.c.order_id == order_id, allocations_t.c.status.in_(allowed))
            .values(**values)
        )
        return bool(result.rowcount == 1)  # type: ignore[attr-defined]

    def reserved_holding(self, depot_id: str, sku: str) -> list[tuple[AllocationRow, int]]:
        """Reservations at ``depot_id`` with a line for ``sku``, with that line's quantity."""
        rows = self.session.execute(
            select(allocations_t, allocation_lines_t.c.quantity.label("line_quantity"))
            .join(allocation_lines_t, allocation_lines_t.c.order_id == allocations_t.c.order_id)
            .where(
                allocations_t.c.depot_id == depot_id,
                allocations_t.c.status == model.AllocationStatus.RESERVED.value,
                allocation_lines_t.c.sku == sku,
            )
        )
        return [(_allocation(r), int(r.line_quantity)) for r in rows]

    # --- the backorder queue ---

    def dequeue_backorder(self, order_id: str) -> None:
        self.session.execute(delete(backorder_lines_t).where(backorder_lines_t.c.order_id == order_id))

    def backorders_for(self, sku: str, limit: int, policy: AllocationPolicy = "priority") -> list[str]:
        """The first ``limit`` order ids waiting for ``sku`` in serving order: the order of
        ``allocation.serving_key`` (priority group unless ``fcfs``, placement time, order
        id), which the caller then serves them in."""
        queue = backorder_lines_t.c
        by: tuple[Any, ...] = (queue.placed_at, queue.order_id)
        if policy == "priority":
            by = (queue.priority_rank, *by)
        rows = self.session.execute(
            select(queue.order_id).where(queue.sku == sku).order_by(*by).limit(limit)
        )
        return [r[0] for r in rows]

    def skus_waited_for(self, skus: Iterable[str]) -> set[str]:
        wanted = list(skus)
        if not wanted:
            return set()
        rows = self.session.execute(
            select(backorder_lines_t.c.sku).where(backorder_lines_t.c.sku.in_(wanted)).distinct()
        )
        return {r[0] for r in rows}

    def backorders_placed_before(self, cutoff: datetime, limit: int) -> list[str]:
        rows = self.session.execute(
            select(backorder_lines_t.c.order_id)
            .where(backorder_lines_t.c.placed_at < cutoff)
            .distinct()
            .limit(limit)
        )
        return [r[0] for r in rows]
