"""When orders are placed and by whom: the order waves of a scenario, hour by hour.

Each local hour gets ``per_household_per_day * scale * households * the hour's share of
the hourly profile`` orders (fractions carried to the next hour, so a day's total is
exact and the count does not depend on the seed). Within the hour each order goes to a
household drawn at random, weighted by its community's current risk level, at a random
second. Priority households are drawn like any other, so they order at their natural
share. A risk change applies from the first whole hour at or after it.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Mapping, Sequence
from datetime import datetime, time, timedelta
from itertools import accumulate

from services.simulation.baskets import Household
from services.simulation.scenario import Scenario

RiskTimeline = Sequence[tuple[datetime, str, str]]  # (at, community id, new risk level)
HOUR = timedelta(hours=1)


def order_arrivals(
    scenario: Scenario,
    households: Sequence[Household],
    risk_levels: Mapping[str, str],
    risk_changes: RiskTimeline,
    *,
    scale: float,
    rng: random.Random,
) -> list[tuple[datetime, Household]]:
    """(placement instant, household) of every order of the scenario, oldest first."""
    if not households:
        return []
    waves = scenario.orders
    shares = waves.hourly_profile.shares()
    levels = dict(risk_levels)

    def cumulative() -> tuple[list[float], float]:
        weights = [waves.risk_weights.of(levels[h.community_id]) for h in households]
        cum = list(accumulate(weights))
        return cum, cum[-1]

    cum, total = cumulative()
    # Rates are relative to the city as it starts: an upgrade to sealed raises demand.
    mean_at_start = total / len(households)
    if mean_at_start <= 0:
        return []
    pending = deque(sorted(risk_changes))
    carry = 0.0
    arrivals: list[tuple[datetime, Household]] = []
    for day in range(1, scenario.days + 1):
        for hour in range(24):
            slot_start = scenario.instant(day, time(hour))
            begin, finish = max(slot_start, scenario.start), min(slot_start + HOUR, scenario.end)
            if finish <= begin:
                continue
            if pending and pending[0][0] <= begin:
                while pending and pending[0][0] <= begin:
                    _, community_id, level = pending.popleft()
                    levels[community_id] = level
                cum, total = cumulative()
            seconds = (finish - begin).total_seconds()
            carry += (waves.per_household_per_day * scale * shares[hour] * total / mean_at_start
                      * seconds / HOUR.total_seconds())
            count = int(carry)
            carry -= count
            if count == 0 or total <= 0:
                continue
            chosen = rng.choices(households, cum_weights=cum, k=count)
            offsets = sorted(int(rng.random() * seconds) for _ in range(count))
            arrivals += [(begin + timedelta(seconds=offset), household)
                         for offset, household in zip(offsets, chosen, strict=True)]
    return arrivals
