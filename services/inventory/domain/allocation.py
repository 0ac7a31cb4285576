"""Who gets scarce stock: backorders by priority then age, and who gives it back first
when a count shows less than was reserved."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from services.inventory.domain.model import Line, Priority


@dataclass(frozen=True)
class Claim:
    """An order waiting for, or holding, stock."""

    order_id: str
    priority: Priority
    placed_at: datetime
    quantity: int = 0


def serving_order(claims: list[Claim]) -> list[Claim]:
    """Backorders are served medical, vulnerable, standard; first come first within a class."""
    return sorted(claims, key=lambda c: (c.priority.rank, c.placed_at, c.order_id))


def is_expired(placed_at: datetime, now: datetime, max_age: timedelta) -> bool:
    return now - placed_at > max_age


def to_release(reservations: list[Claim], shortage: int) -> list[Claim]:
    """Reservations to give back when a count falls ``shortage`` units below what is
    reserved: the lowest priority and the newest first, so the most urgent and the
    longest-waiting orders keep their stock."""
    if shortage <= 0:
        return []
    ordered = sorted(
        reservations, key=lambda c: (-c.priority.rank, -c.placed_at.timestamp(), c.order_id)
    )
    chosen: list[Claim] = []
    freed = 0
    for claim in ordered:
        if freed >= shortage:
            break
        chosen.append(claim)
        freed += claim.quantity
    return chosen


def first_depot_holding(
    candidates: Sequence[str], lines: Sequence[Line], available: Mapping[tuple[str, str], int]
) -> str | None:
    """The first of ``candidates`` (best first) whose available stock covers every line:
    an order is served from one depot, whole, or waits."""
    for depot_id in candidates:
        if all(available.get((depot_id, line.sku), 0) >= line.quantity for line in lines):
            return depot_id
    return None
