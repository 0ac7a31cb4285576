"""Who gets scarce stock: backorders by priority then age, and who gives it back first
when a count shows less than was reserved.

Two allocation policies: ``priority`` (Lifeline: medical, vulnerable, standard, first come
first served within a group) and ``fcfs`` (the baseline a city works with without it:
strictly by placement time). Either way ties go by order id. ``serving_key`` is the one
statement of that rule; everything that orders claims on stock goes through it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from services.inventory.domain.model import Line
from shared.priority import Priority

AllocationPolicy = Literal["priority", "fcfs"]


@dataclass(frozen=True)
class Claim:
    """An order waiting for, or holding, stock."""

    order_id: str
    priority: Priority
    placed_at: datetime
    quantity: int = 0


def serving_key(claim: Claim, policy: AllocationPolicy = "priority") -> tuple[int, datetime, str]:
    """Who is served first when stock is short: the lowest key. Under ``priority`` the
    priority group, then placement time; under ``fcfs`` placement time alone (one group).
    Ties by order id."""
    group = claim.priority.rank if policy == "priority" else 0
    return (group, claim.placed_at, claim.order_id)


def serving_order(claims: Iterable[Claim], policy: AllocationPolicy = "priority") -> list[Claim]:
    """Backorders are served medical, vulnerable, standard, first come first within a group
    (``priority``), or first come first served (``fcfs``)."""
    return sorted(claims, key=lambda c: serving_key(c, policy))


def deciding_order(claims: Sequence[Claim], policy: AllocationPolicy = "priority") -> list[int]:
    """The positions of a run of newly placed orders (one consumer poll) in the order they
    are decided. ``priority``: as they arrived, as one by one: placing is first come first
    served, priority orders only the wait for stock (SPEC section 5, flow 2). ``fcfs``: by
    ``serving_key``, i.e. placement time, whatever order the partitions delivered them in.
    Positions rather than claims: an order delivered twice is two claims, decided once."""
    if policy == "priority":
        return list(range(len(claims)))
    return sorted(range(len(claims)), key=lambda i: serving_key(claims[i], policy))


def is_expired(placed_at: datetime, now: datetime, max_age: timedelta) -> bool:
    return now - placed_at > max_age


def to_release(
    reservations: list[Claim], shortage: int, policy: AllocationPolicy = "priority"
) -> list[Claim]:
    """Reservations to give back when a count falls ``shortage`` units below what is
    reserved: the last in serving order first (``priority``: the lowest priority and the
    newest first, so the most urgent and the longest-waiting orders keep their stock;
    ``fcfs``: the newest first). Ties by order id."""
    if shortage <= 0:
        return []

    def last_served_first(claim: Claim) -> tuple[int, float, str]:
        group, placed_at, order_id = serving_key(claim, policy)
        return (-group, -placed_at.timestamp(), order_id)

    ordered = sorted(reservations, key=last_served_first)
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
