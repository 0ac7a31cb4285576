"""Deciding a run of newly placed orders against the stock one read found: which are
reserved where, which wait for stock and which are refused. Pure: the service layer reads
the figures, calls ``decide``, then writes what it says (``reservations.reserve_orders``);
one order on its own is a run of one.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from services.inventory.domain.allocation import (
    AllocationPolicy,
    Claim,
    deciding_order,
    first_depot_holding,
)
from services.inventory.domain.model import Line

Outcome = Literal["reserved", "backordered", "rejected"]


@dataclass(frozen=True)
class PlacedOrder:
    """One placed order as the decision sees it. ``candidates`` are the depots that may
    serve it, best first; ``unknown_skus`` the SKUs the catalog does not know (then the
    order is refused, whatever the stock)."""

    claim: Claim
    lines: Sequence[Line]
    candidates: Sequence[str] = ()
    unknown_skus: Sequence[str] = ()


@dataclass(frozen=True)
class Decision:
    position: int  # in the run, so the caller finds its command again
    outcome: Outcome
    depot_id: str | None = None


@dataclass(frozen=True)
class RunDecision:
    decisions: list[Decision]
    #: Units to reserve per (depot, SKU), the run's total: one conditional update each.
    totals: Counter[tuple[str, str]]


def decide(
    run: Sequence[PlacedOrder],
    available: Mapping[tuple[str, str], int],
    already_allocated: Collection[str],
    policy: AllocationPolicy = "priority",
) -> RunDecision:
    """Each order of ``run``, in deciding order (``allocation.deciding_order``), against
    ``available`` less what the orders decided before it took. An order already allocated,
    or delivered twice in the run, is decided once and then skipped."""
    left = dict(available)
    seen = set(already_allocated)
    decisions: list[Decision] = []
    totals: Counter[tuple[str, str]] = Counter()
    for position in deciding_order([order.claim for order in run], policy):
        order = run[position]
        if order.claim.order_id in seen:
            continue
        seen.add(order.claim.order_id)
        if order.unknown_skus:
            decisions.append(Decision(position, "rejected"))
            continue
        depot_id = first_depot_holding(order.candidates, order.lines, left)
        if depot_id is None:
            decisions.append(Decision(position, "backordered"))
            continue
        for line in order.lines:
            left[(depot_id, line.sku)] = left.get((depot_id, line.sku), 0) - line.quantity
            totals[(depot_id, line.sku)] += line.quantity
        decisions.append(Decision(position, "reserved", depot_id))
    return RunDecision(decisions, totals)
