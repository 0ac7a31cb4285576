"""The intake rules of an order and of a community, as pure functions.

Each violated rule raises ``RuleViolation`` carrying the field it concerns and the
figures a client needs to correct the request; the HTTP edge turns it into a 4xx.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from services.orders.domain.model import CatalogItem, HouseholdProfile, Line
from shared.priority import Priority

MAX_LINES = 50
MAX_QUANTITY_PER_LINE = 100


class RuleViolation(Exception):
    """A request that breaks a business rule; ``field`` names the offending input."""

    def __init__(self, message: str, *, code: str, field: str, **context: Any) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.field = field
        self.context = context


class RateLimited(Exception):
    def __init__(self, retry_after_s: int, limit: int) -> None:
        super().__init__(f"at most {limit} orders per minute per household")
        self.retry_after_s = retry_after_s
        self.limit = limit


# --- communities -------------------------------------------------------------------

def _minutes(clock: str) -> int:
    hours, minutes = clock.split(":")
    return int(hours) * 60 + int(minutes)


def validate_receiving_windows(windows: Sequence[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    """Windows must each start before they end and must not overlap; returned sorted."""
    ordered = sorted(windows, key=lambda w: _minutes(w[0]))
    for index, (start, end) in enumerate(ordered):
        if _minutes(start) >= _minutes(end):
            raise RuleViolation(
                f"receiving window {start}-{end} must start before it ends",
                code="invalid_window", field="receiving_windows", window=[start, end],
            )
        if index and _minutes(start) < _minutes(ordered[index - 1][1]):
            previous = ordered[index - 1]
            raise RuleViolation(
                f"receiving windows {previous[0]}-{previous[1]} and {start}-{end} overlap",
                code="overlapping_windows", field="receiving_windows",
                windows=[list(previous), [start, end]],
            )
    return tuple((start, end) for start, end in ordered)


# --- orders ------------------------------------------------------------------------

def merge_lines(lines: Iterable[Line]) -> tuple[Line, ...]:
    """Lines naming the same SKU are summed (first position kept), then capped.

    Merging instead of refusing: a client that adds the same item twice means "more of it";
    the cap still applies to the merged quantity so it cannot be dodged by splitting.
    """
    totals: dict[str, int] = {}
    for line in lines:
        totals[line.sku] = totals.get(line.sku, 0) + line.quantity
    if not totals:
        raise RuleViolation("an order needs at least one line", code="empty_order", field="items")
    if len(totals) > MAX_LINES:
        raise RuleViolation(
            f"an order holds at most {MAX_LINES} lines", code="too_many_lines", field="items",
            limit=MAX_LINES,
        )
    for sku, quantity in totals.items():
        if quantity > MAX_QUANTITY_PER_LINE:
            raise RuleViolation(
                f"quantity of {sku} ({quantity}) is over the maximum of {MAX_QUANTITY_PER_LINE}",
                code="quantity_too_large", field="items", sku=sku, quantity=quantity,
                limit=MAX_QUANTITY_PER_LINE,
            )
    return tuple(Line(sku, quantity) for sku, quantity in totals.items())


def require_known_skus(lines: Sequence[Line], catalog: Mapping[str, CatalogItem]) -> None:
    unknown = [line.sku for line in lines if line.sku not in catalog]
    if unknown:
        raise RuleViolation(
            "unknown SKU: " + ", ".join(unknown), code="unknown_sku", field="items",
            skus=unknown,
        )


def derive_priority(
    household: HouseholdProfile, lines: Sequence[Line], catalog: Mapping[str, CatalogItem]
) -> Priority:
    """medical: an urgent SKU, or medicine for a priority household; vulnerable: a
    priority household; standard otherwise (SPEC section 2, priority groups)."""
    items = [catalog[line.sku] for line in lines]
    if any(item.urgent for item in items):
        return Priority.MEDICAL
    if household.is_vulnerable:
        if any(item.category == "medicine" for item in items):
            return Priority.MEDICAL
        return Priority.VULNERABLE
    return Priority.STANDARD


@dataclass(frozen=True)
class PastLine:
    """A line of one of the household's earlier, still counting orders."""

    sku: str
    quantity: int
    ordered_at: datetime


def ration_window_start(catalog: Mapping[str, CatalogItem], skus: Iterable[str], now: datetime) -> datetime | None:
    """How far back history is needed for the rationed SKUs among ``skus`` (None: none)."""
    days = [catalog[s].ration.per_days for s in skus if s in catalog and catalog[s].ration]  # type: ignore[union-attr]
    return now - timedelta(days=max(days)) if days else None


def check_rations(
    lines: Sequence[Line],
    catalog: Mapping[str, CatalogItem],
    history: Iterable[PastLine],
    now: datetime,
) -> None:
    """A ration is ``quantity`` per rolling ``per_days`` per household, over its orders
    that still count (not cancelled, not rejected)."""
    past = list(history)
    for line in lines:
        rule = catalog[line.sku].ration
        if rule is None:
            continue
        since = now - timedelta(days=rule.per_days)
        already = sum(p.quantity for p in past if p.sku == line.sku and p.ordered_at > since)
        if already + line.quantity > rule.quantity:
            raise RuleViolation(
                f"ration exceeded for {line.sku}: at most {rule.quantity} per {rule.per_days} "
                f"days per household, {already} already ordered, {line.quantity} requested",
                code="ration_exceeded", field="items", sku=line.sku, limit=rule.quantity,
                period_days=rule.per_days, already_ordered=already, requested=line.quantity,
                remaining=max(rule.quantity - already, 0),
            )


def check_rate(recent: Sequence[datetime], limit: int, now: datetime, window_s: int = 60) -> None:
    """At most ``limit`` orders per household in any rolling ``window_s`` seconds."""
    since = now - timedelta(seconds=window_s)
    in_window = sorted(t for t in recent if t > since)
    if len(in_window) >= limit:
        # The oldest order in the window must leave it before another one fits.
        oldest = in_window[len(in_window) - limit]
        wait = (oldest + timedelta(seconds=window_s) - now).total_seconds()
        raise RateLimited(max(1, math.ceil(wait)), limit)
