"""Deciding a batch of orders at intake: what the database holds before the batch
(``IntakeFacts``) and the rules each order meets against it and the batch's orders
before it. Pure: the one-by-one path is a batch of one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from services.orders.domain import rules
from services.orders.domain.model import CatalogItem, HouseholdProfile, Line, OrderStatus
from shared.priority import Priority

#: Orders whose lines no longer count against a ration: they delivered nothing.
NOT_COUNTING: tuple[str, ...] = (OrderStatus.CANCELLED.value, OrderStatus.REJECTED.value)
#: The rolling window of the per-household rate limit.
RATE_WINDOW = timedelta(minutes=1)


@dataclass(frozen=True)
class IntakeFacts:
    """What placing a batch of orders checks, as the database has it before the batch."""

    households: dict[str, HouseholdProfile]
    catalog: dict[str, CatalogItem]
    #: Per household, when its orders within ``RATE_WINDOW`` were placed (rate limit).
    recent_order_times: dict[str, list[datetime]]
    #: The (caller, Idempotency-Key) pairs among those asked about that were used before.
    used_keys: set[tuple[str, str]]
    #: Per household, its lines of rationed SKUs within their ration periods (at least)
    #: in orders that still count.
    ration_history: dict[str, list[rules.PastLine]]


@dataclass
class IntakeBook:
    """The facts, kept up to date as the batch's orders are accepted: the rate limit and
    the rations count the batch's own orders too."""

    facts: IntakeFacts
    now: datetime
    rate_per_minute: int

    def household(self, household_id: str) -> HouseholdProfile:
        household = self.facts.households.get(household_id)
        if household is None:
            raise rules.RuleViolation(
                f"household {household_id} is not registered", code="unknown_household", field="household_id",
            )
        return household

    def admit(self, household: HouseholdProfile, lines: Sequence[Line]) -> Priority:
        """The order's priority if it meets every rule; raises ``RuleViolation`` or
        ``RateLimited`` otherwise. Nothing is counted until :meth:`count`."""
        catalog: Mapping[str, CatalogItem] = self.facts.catalog
        rules.require_known_skus(lines, catalog)
        rules.check_rate(self.facts.recent_order_times.get(household.id, []), self.rate_per_minute, self.now,
                         window_s=int(RATE_WINDOW.total_seconds()))
        rules.check_rations(lines, catalog, self.facts.ration_history.get(household.id, []), self.now)
        return rules.derive_priority(household, lines, catalog)

    def count(self, household: HouseholdProfile, lines: Sequence[Line]) -> None:
        """An accepted order: later orders of the batch see it."""
        self.facts.recent_order_times.setdefault(household.id, []).append(self.now)
        self.facts.ration_history.setdefault(household.id, []).extend(
            rules.PastLine(line.sku, line.quantity, self.now) for line in lines
        )
