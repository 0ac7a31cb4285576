"""What one household puts in one order, within its rations.

A basket is what a household of a sealed community actually asks for every two days or
so: a vegetable line almost always, a staple or two (a bag of rice lasts about a week),
eggs, now and then meat or dairy (cold chain), infant goods where there is an infant,
hygiene goods, and medicine for the share of orders that carry it. Rationed SKUs are
clamped to what the household has left in the rolling period, so that the orders
service refuses none of them for rations. About 5.7 kg and 2.7 lines per order on
average (``SCENARIOS.md`` has the measured figures).
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

MAX_LINES = 6
MIN_LINES = 2
# The orders service counts a past line by its own placement clock, which in compressed
# time may run a little behind the planned instant; counting each line an hour longer
# than its period keeps a planned order from breaching by a few seconds of drift.
RATION_MARGIN_S = 3600.0
PRIORITY_FLAGS = frozenset({"elderly_alone", "disabled", "chronic_illness", "pregnant", "infant"})
ON_BEHALF_FLAGS = frozenset({"elderly_alone", "disabled"})

_VEGETABLE_SINGLES = ("CABBAGE-2KG", "CABBAGE-2KG", "POTATO-5KG", "CARROT-2KG", "TOMATO-2KG", "TOMATO-2KG")
_HYGIENE = ("SOAP-4", "TOILET-PAPER-10", "MASKS-50", "DISINFECTANT-1L", "SANITARY-PADS", "HAND-SANITIZER")
# Medicine a chronically ill household orders: its regular prescription, mostly.
_CHRONIC_MEDICINE = (("ANTIHYPERTENSIVE-30", 0.6), ("INSULIN-PEN", 0.3), ("PARACETAMOL-20", 0.1))
_COMMON_MEDICINE = (("PARACETAMOL-20", 0.4), ("COLD-MEDICINE", 0.3), ("ORS-10", 0.25), ("INSULIN-PEN", 0.05))
# Unrationed, so always possible: what a medicine order falls back to when the chosen
# one is used up for the period, and what tops up a basket that rations left too small.
_MEDICINE_FALLBACK = ("COLD-MEDICINE", "ORS-10")
_FILLERS = ("TOMATO-2KG", "SOAP-4", "HAND-SANITIZER", "SANITARY-PADS", "DISINFECTANT-1L")
# A medicine order is often placed on its own, for speed, instead of with the groceries.
MEDICINE_ONLY_SHARE = 0.35


@dataclass(frozen=True)
class Household:
    id: str
    community_id: str
    members: int
    flags: frozenset[str]

    @property
    def vulnerable(self) -> bool:
        return bool(self.flags & PRIORITY_FLAGS)

    @property
    def medicine_affinity(self) -> float:
        """Relative chance that this household's order carries medicine; the generator
        scales it so that the city-wide share is the scenario's ``medicine_share``."""
        if "chronic_illness" in self.flags:
            return 3.0
        return 1.5 if self.vulnerable else 0.8


@dataclass(frozen=True)
class Catalog:
    category: Mapping[str, str]
    weight_kg: Mapping[str, float]
    urgent: frozenset[str]
    rations: Mapping[str, tuple[int, float]]  # sku: (quantity, counting period in seconds)

    @classmethod
    def of(cls, skus: Iterable[Mapping[str, Any]]) -> Catalog:
        table = list(skus)
        return cls(
            category={s["id"]: s["category"] for s in table},
            weight_kg={s["id"]: float(s["unit_weight_kg"]) for s in table},
            urgent=frozenset(s["id"] for s in table if s.get("urgent")),
            rations={s["id"]: (int(s["ration"]["quantity"]), s["ration"]["per_days"] * 86400.0 + RATION_MARGIN_S)
                     for s in table if s.get("ration")},
        )

    def priority(self, household: Household, items: Iterable[tuple[str, int]]) -> str:
        """The orders service's rule (``services.orders.domain.rules.derive_priority``),
        on the plain tables: an urgent SKU, or medicine for a priority household, is
        medical; a priority household otherwise vulnerable."""
        skus = [sku for sku, _ in items]
        if any(sku in self.urgent for sku in skus):
            return "medical"
        if household.vulnerable:
            if any(self.category[sku] == "medicine" for sku in skus):
                return "medical"
            return "vulnerable"
        return "standard"

    def kg(self, items: Iterable[tuple[str, int]]) -> float:
        return sum(self.weight_kg[sku] * quantity for sku, quantity in items)


class RationLedger:
    """Every rationed line each household has been given, to know what it has left."""

    def __init__(self, catalog: Catalog) -> None:
        self._rations = catalog.rations
        self._lines: dict[tuple[str, str], list[tuple[float, int]]] = {}

    def allowance(self, household_id: str, sku: str, at: float) -> int | None:
        """Units still allowed at ``at`` (POSIX seconds); None when the SKU is not rationed."""
        rule = self._rations.get(sku)
        if rule is None:
            return None
        limit, period = rule
        lines = self._lines.get((household_id, sku))
        if not lines:
            return limit
        since = at - period
        return limit - sum(quantity for placed, quantity in lines if placed >= since)

    def record(self, household_id: str, items: Iterable[tuple[str, int]], at: float) -> None:
        for sku, quantity in items:
            if sku in self._rations:
                self._lines.setdefault((household_id, sku), []).append((at, quantity))


def _pick(rng: random.Random, weighted: tuple[tuple[str, float], ...]) -> str:
    draw = rng.random() * sum(weight for _, weight in weighted)
    for sku, weight in weighted:
        draw -= weight
        if draw < 0:
            return sku
    return weighted[-1][0]


def _medicine(rng: random.Random, household: Household) -> list[tuple[str, int]]:
    if "chronic_illness" in household.flags:
        wanted = _pick(rng, _CHRONIC_MEDICINE)
    elif "infant" in household.flags and rng.random() < 0.5:
        wanted = "KIDS-FEVER-SYRUP"
    else:
        wanted = _pick(rng, _COMMON_MEDICINE)
    return [(wanted, 1), *((sku, 1) for sku in _MEDICINE_FALLBACK)]


def _groceries(rng: random.Random, household: Household) -> list[tuple[str, int]]:
    """Wanted lines, most needed first (a basket cut to size keeps the head)."""
    members, flags, draw = household.members, household.flags, rng.random
    big = members >= 4
    lines: list[tuple[str, int]] = []
    if "infant" in flags:
        if draw() < 0.7:
            lines.append(("FORMULA-800G", 1 + (draw() < 0.4)))
        if draw() < 0.5:
            lines.append(("DIAPERS-M", 1))
        if draw() < 0.25:
            lines.append(("BABY-FOOD-6", 1))
    vegetables = draw()
    if vegetables < 0.15:
        lines.append(("VEG-BOX", 1))
    elif vegetables < 0.9:
        lines.append((rng.choice(_VEGETABLE_SINGLES), 1 + (big and draw() < 0.15)))
    if draw() < 0.2:
        lines.append((rng.choice(("RICE-5KG", "RICE-5KG", "FLOUR-5KG")), 1 + (big and draw() < 0.3)))
    if draw() < 0.25:
        lines.append(("EGGS-30", 1))
    if draw() < 0.22:
        lines.append(("NOODLES-1KG", 1 + (members >= 3)))
    if draw() < 0.05:
        lines.append(("OIL-5L", 1))
    if draw() < 0.06:
        lines.append((rng.choice(("SALT-500G", "SUGAR-1KG")), 1))
    if draw() < 0.28:
        meat = rng.choice(("PORK-1KG", "PORK-1KG", "CHICKEN-1KG", "FISH-1KG"))
        lines.append((meat, 1 + (members >= 3 and draw() < 0.4)))
    if draw() < 0.25:
        milk = 1 + int(draw() * (4 if members >= 3 else 2))
        lines.append(("MILK-1L", milk) if draw() < 0.7 else ("YOGURT-6", 1))
    if draw() < 0.25:
        lines.append((rng.choice(_HYGIENE), 1))
    return lines


def _has_left(allowance: int | None) -> bool:
    return allowance is None or allowance > 0


def compose_basket(
    rng: random.Random, household: Household, ledger: RationLedger, at: float, *, with_medicine: bool
) -> tuple[tuple[str, int], ...]:
    """The lines of one order placed at ``at`` (POSIX seconds), within the household's
    rations, recorded in ``ledger``; 2 to 6 lines, or 1 to 2 for a medicine-only order."""
    medicine_only = with_medicine and rng.random() < MEDICINE_ONLY_SHARE
    wanted: list[tuple[str, int]] = []
    if with_medicine:
        # The first medicine the household may still have (the fallbacks are unrationed).
        medicine = next((line for line in _medicine(rng, household)
                         if _has_left(ledger.allowance(household.id, line[0], at))), None)
        if medicine is not None:
            wanted.append(medicine)
        else:
            medicine_only = False  # never an empty order
    if medicine_only:
        if rng.random() < 0.4:
            wanted.append(("MASKS-50", 1) if rng.random() < 0.5 else ("ORS-10", 1))
    else:
        wanted += _groceries(rng, household)
    basket: dict[str, int] = {}
    for sku, quantity in wanted:
        if sku in basket or len(basket) == MAX_LINES:
            continue
        allowed = ledger.allowance(household.id, sku, at)
        granted = quantity if allowed is None else min(quantity, allowed)
        if granted > 0:
            basket[sku] = granted
    while not medicine_only and len(basket) < MIN_LINES:
        basket.setdefault(rng.choice(_FILLERS), 1)
    items = tuple(basket.items())
    ledger.record(household.id, items, at)
    return items
