"""What the simulator does, when: a scenario turned into a time-ordered list of actions.

``plan_actions`` is pure and deterministic: the same scenario, seed and scale give the
same list, action for action. Order waves and event picks (``vehicle: any``, ``count: 6``)
draw from two separate random streams derived from the seed, so that adding or moving
an event does not reshuffle every order of the scenario.

Each action says what happens in the world; the simulator performs it against the
public APIs (an order placed, a warehouse receipt or adjustment, a community upgraded,
a vehicle breaking down...) and the services decide the rest. ``PlaceOrder.priority_hint``
is the priority the generator expects the orders service to derive, not an input to it.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.demo.city import DemoCity
from services.simulation.baskets import ON_BEHALF_FLAGS, Catalog, Household, RationLedger, compose_basket
from services.simulation.scenario import (
    BadStockBatchEvent,
    BreakdownEvent,
    FailedHandoverEvent,
    LateArrivalEvent,
    RiskChangeEvent,
    Scenario,
    ShortageEvent,
)
from services.simulation.waves import order_arrivals


@dataclass(frozen=True)
class PlaceOrder:
    at: datetime
    household_id: str
    community_id: str
    items: tuple[tuple[str, int], ...]  # (sku, quantity), one line per SKU
    on_behalf: bool  # placed by a community worker for the household
    priority_hint: str  # medical, vulnerable or standard, as the orders service should derive it


@dataclass(frozen=True)
class StockArrival:
    at: datetime
    depot_id: str
    sku: str
    quantity: int
    reason: str


@dataclass(frozen=True)
class StockShortage:
    at: datetime
    depot_id: str
    sku: str
    fraction: float  # share of the depot's stock of the SKU that is lost (of what is available now)
    reason: str


@dataclass(frozen=True)
class RiskChange:
    at: datetime
    community_id: str
    risk_level: str


@dataclass(frozen=True)
class VehicleBreakdown:
    at: datetime
    vehicle_id: str


@dataclass(frozen=True)
class FailedHandover:
    at: datetime
    community_id: str  # the community's gate refuses its next hand-over
    reason: str


@dataclass(frozen=True)
class LateArrival:
    at: datetime
    vehicle_id: str
    minutes: int


@dataclass(frozen=True)
class BadStockEvents:
    at: datetime
    depot_id: str
    duplicates: int  # events sent again with the id of one already sent
    malformed: int  # events the inventory service must refuse


Action = (PlaceOrder | StockArrival | StockShortage | RiskChange | VehicleBreakdown | FailedHandover
          | LateArrival | BadStockEvents)

# At the same instant the world changes first (a night's upgrade, the dawn delivery),
# then the fleet's mishaps, and orders last, so they meet the day as it now is.
_SAME_INSTANT_RANK: dict[type[Any], int] = {
    RiskChange: 0, StockArrival: 1, StockShortage: 2, BadStockEvents: 3, VehicleBreakdown: 4,
    LateArrival: 5, FailedHandover: 6, PlaceOrder: 7,
}


def sort_key(action: Action) -> tuple[datetime, int]:
    """The list's order; Python's stable sort keeps generation order among equal keys."""
    return action.at, _SAME_INSTANT_RANK[type(action)]


def plan_actions(scenario: Scenario, city: DemoCity, *, scale: float = 1.0) -> list[Action]:
    """Every action of ``scenario`` in ``city``, oldest first; ``scale`` multiplies the
    order rate and the stock arrivals (so that supply keeps pace with demand)."""
    if not (math.isfinite(scale) and scale > 0):
        raise ValueError(f"scale must be a positive number, not {scale}")
    picks = random.Random(f"{scenario.seed}/events")  # str seeds hash with SHA-512, not hash()
    risk_changes = _risk_changes(scenario, city, picks)
    actions: list[Action] = [*risk_changes]
    actions += _stock_arrivals(scenario, city, scale)
    actions += _incidents(scenario, city, risk_changes, picks)
    actions += _orders(scenario, city, risk_changes, scale, random.Random(f"{scenario.seed}/orders"))
    actions.sort(key=sort_key)
    return actions


# --- stock ---------------------------------------------------------------------------

def _depots(city: DemoCity, choices: tuple[str, ...]) -> list[dict[str, Any]]:
    """The depots an entry list names (``all``, tiers, ids), in the city's order."""
    wanted = set(choices)
    return [d for d in city.depots if "all" in wanted or d["tier"] in wanted or d["id"] in wanted]


def _stocks(depot: dict[str, Any], sku: dict[str, Any]) -> bool:
    # Cold-chain goods only go where they can be kept cold, as the city's opening stock.
    return not sku.get("cold_chain") or bool(depot["cold_storage"])


def _stock_arrivals(scenario: Scenario, city: DemoCity, scale: float) -> list[Action]:
    arrivals: list[Action] = []
    for rule in scenario.stock_arrivals:
        skus = [s for s in city.skus if s["category"] in rule.categories or s["id"] in rule.skus]
        quantity = max(1, round(rule.quantity * scale))
        for day in range(1, scenario.days + 1):
            at = scenario.instant(day, rule.at)
            if not rule.fires_on(day) or not scenario.start <= at < scenario.end:
                continue
            arrivals += [StockArrival(at, depot["id"], sku["id"], quantity, rule.reason)
                         for depot in _depots(city, rule.depots) for sku in skus if _stocks(depot, sku)]
    return arrivals


# --- events --------------------------------------------------------------------------

def _risk_changes(scenario: Scenario, city: DemoCity, picks: random.Random) -> list[RiskChange]:
    levels = {c["id"]: c["risk_level"] for c in city.communities}
    changes: list[RiskChange] = []
    events = sorted((e for e in scenario.events if isinstance(e, RiskChangeEvent)),
                    key=lambda e: scenario.instant(e.day, e.at))
    for event in events:
        at = scenario.instant(event.day, event.at)
        if event.count is None:
            targets = list(event.communities)
        else:
            # Sorted first: the pick depends on the seed only, not on dict order.
            candidates = sorted(c for c, level in levels.items() if level == event.from_level)
            targets = sorted(picks.sample(candidates, min(event.count, len(candidates))))
        for community_id in targets:
            levels[community_id] = event.risk_level
            changes.append(RiskChange(at, community_id, event.risk_level))
    return changes


def _incidents(scenario: Scenario, city: DemoCity, risk_changes: list[RiskChange],
               picks: random.Random) -> list[Action]:
    """Shortages, breakdowns, refused hand-overs, late vehicles and bad batches, with
    every ``any`` resolved in time order (a broken-down vehicle is not picked again)."""
    skus = {s["id"]: s for s in city.skus}
    # District centres run most routes, so a random mishap happens to one of theirs.
    tier = {d["id"]: d["tier"] for d in city.depots}
    busy_vehicles = sorted(v["id"] for v in city.vehicles if tier[v["depot_id"]] == "district")
    broken: set[str] = set()
    actions: list[Action] = []
    for event in sorted(scenario.events, key=lambda e: scenario.instant(e.day, e.at)):
        at = scenario.instant(event.day, event.at)
        if isinstance(event, ShortageEvent):
            actions += [StockShortage(at, depot["id"], sku["id"], event.fraction, event.reason)
                        for depot in _depots(city, event.depots) for sku in skus.values()
                        if sku["category"] == event.category and _stocks(depot, sku)]
        elif isinstance(event, BreakdownEvent | LateArrivalEvent):
            vehicle_id = event.vehicle
            if vehicle_id == "any":
                vehicle_id = picks.choice([v for v in busy_vehicles if v not in broken] or busy_vehicles)
            if isinstance(event, BreakdownEvent):
                broken.add(vehicle_id)
                actions.append(VehicleBreakdown(at, vehicle_id))
            else:
                actions.append(LateArrival(at, vehicle_id, event.minutes))
        elif isinstance(event, FailedHandoverEvent):
            community_id = event.community
            if community_id == "any":
                community_id = picks.choice(_strictest_gates(city, risk_changes, at))
            actions.append(FailedHandover(at, community_id, event.reason))
        elif isinstance(event, BadStockBatchEvent):
            actions.append(BadStockEvents(at, event.depot, event.duplicates, event.malformed))
    return actions


def _strictest_gates(city: DemoCity, risk_changes: list[RiskChange], at: datetime) -> list[str]:
    """The communities at the highest risk level at ``at``: their gates refuse most."""
    levels = {c["id"]: c["risk_level"] for c in city.communities}
    levels.update({change.community_id: change.risk_level for change in risk_changes if change.at <= at})
    for level in ("sealed", "controlled", "prevention", "normal"):
        found = sorted(c for c, current in levels.items() if current == level)
        if found:
            return found
    raise ValueError("the city has no communities")


# --- orders --------------------------------------------------------------------------

def _orders(scenario: Scenario, city: DemoCity, risk_changes: list[RiskChange], scale: float,
            rng: random.Random) -> list[Action]:
    waves = scenario.orders
    catalog = Catalog.of(city.skus)
    households = [Household(h["id"], h["community_id"], h["members"], frozenset(h["flags"]))
                  for h in city.households]
    if not households:
        return []
    # Medicine goes mostly to the chronically ill and other priority households; the
    # per-household chance is scaled so that the city-wide share is what was asked for.
    mean_affinity = sum(h.medicine_affinity for h in households) / len(households)
    medicine_chance = {h.id: min(1.0, waves.medicine_share * h.medicine_affinity / mean_affinity)
                       for h in households}
    ledger = RationLedger(catalog)
    arrivals = order_arrivals(
        scenario, households, {c["id"]: c["risk_level"] for c in city.communities},
        [(change.at, change.community_id, change.risk_level) for change in risk_changes],
        scale=scale, rng=rng,
    )
    orders: list[Action] = []
    for at, household in arrivals:
        items = compose_basket(rng, household, ledger, at.timestamp(),
                               with_medicine=rng.random() < medicine_chance[household.id])
        on_behalf = bool(household.flags & ON_BEHALF_FLAGS) and rng.random() < waves.on_behalf_share
        orders.append(PlaceOrder(at, household.id, household.community_id, items, on_behalf,
                                 catalog.priority(household, items)))
    return orders

