"""A day of orders for the demo city, and the depot inventory would reserve each one at.

Deterministic for a seed. Households of sealed communities order most (they cannot go
out), then controlled, prevention and normal ones. Baskets respect the ration limits,
priority follows the orders service's rule (an urgent SKU, or medicine for a priority
household: medical; a priority household: vulnerable), and depots are chosen with the
inventory service's own candidate order (community station, home district centre, other
centres by distance, city reserve) against the opening stock, first come first served.

Orders are placed between 06:00 the day before the service date and 05:30 on it, the
night before a dispatcher plans the day.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Any

from services.demo.city import SEED, DemoCity
from services.inventory.domain.model import Community, Depot, Tier
from services.inventory.domain.policy import candidate_depots

ORDER_RATE = {"sealed": 0.55, "controlled": 0.35, "prevention": 0.12, "normal": 0.06}
PRIORITY_FLAGS = frozenset({"elderly_alone", "disabled", "chronic_illness", "pregnant", "infant"})


@dataclass(frozen=True)
class DemoOrder:
    id: str
    household_id: str
    community_id: str
    priority: str
    items: tuple[tuple[str, int], ...]
    placed_at: datetime
    depot_id: str | None = None  # None: no depot holds every line (backordered)


def _basket(rng: random.Random, household: dict[str, Any]) -> list[tuple[str, int]]:
    members = household["members"]
    flags = set(household["flags"])
    items: list[tuple[str, int]] = []
    if rng.random() < 0.8:
        items.append((rng.choice(["RICE-5KG", "FLOUR-5KG"]), 1 if members < 4 else 2))
    if rng.random() < 0.5:
        items.append(("NOODLES-1KG", rng.randint(1, 3)))
    if rng.random() < 0.35:
        items.append(("OIL-5L", 1))
    if rng.random() < 0.6:
        items.append(("EGGS-30", 1))
    if rng.random() < 0.7:
        items.append(("VEG-BOX", 1))
    else:
        items.append((rng.choice(["CABBAGE-2KG", "POTATO-5KG", "CARROT-2KG", "TOMATO-2KG"]), 1))
    if rng.random() < 0.35:
        items.append((rng.choice(["PORK-1KG", "CHICKEN-1KG", "FISH-1KG"]), rng.randint(1, 2)))
    if rng.random() < 0.3:
        items.append((rng.choice(["MILK-1L", "YOGURT-6"]), rng.randint(1, 4)))
    if "chronic_illness" in flags and rng.random() < 0.5:
        items.append(("ANTIHYPERTENSIVE-30", 1))
    if rng.random() < 0.04:
        items.append(("INSULIN-PEN", 1))
    if rng.random() < 0.1:
        items.append((rng.choice(["PARACETAMOL-20", "COLD-MEDICINE", "ORS-10"]), 1))
    if "infant" in flags:
        items += [("FORMULA-800G", rng.randint(1, 3)), ("DIAPERS-M", 1)]
    if rng.random() < 0.3:
        items.append((rng.choice(["SOAP-4", "TOILET-PAPER-10", "MASKS-50", "DISINFECTANT-1L"]), 1))
    return items


def _priority(household: dict[str, Any], items: list[tuple[str, int]], skus: dict[str, dict[str, Any]]) -> str:
    if any(skus[sku].get("urgent") for sku, _ in items):
        return "medical"
    if set(household["flags"]) & PRIORITY_FLAGS:
        if any(skus[sku]["category"] == "medicine" for sku, _ in items):
            return "medical"
        return "vulnerable"
    return "standard"


def demo_orders(city: DemoCity, service_date: date, tz: tzinfo, *, seed: int = SEED + 1) -> list[DemoOrder]:
    """The orders of the night before ``service_date``, oldest first, each with its depot."""
    rng = random.Random(seed)
    skus = {s["id"]: s for s in city.skus}
    risk = {c["id"]: c["risk_level"] for c in city.communities}
    first = datetime.combine(service_date, time(6), tzinfo=tz) - timedelta(days=1)
    placed: list[DemoOrder] = []
    for household in city.households:
        if rng.random() >= ORDER_RATE[risk[household["community_id"]]]:
            continue
        items = _basket(rng, household)
        placed.append(DemoOrder(
            id=f"O-{household['id'][2:]}", household_id=household["id"],
            community_id=household["community_id"], priority=_priority(household, items, skus),
            items=tuple(items), placed_at=first + timedelta(minutes=rng.randint(0, 23 * 60 + 30)),
        ))
    placed.sort(key=lambda o: (o.placed_at, o.id))
    return _allocate(city, placed, skus)


def _allocate(city: DemoCity, orders: list[DemoOrder], skus: dict[str, dict[str, Any]]) -> list[DemoOrder]:
    depots = [
        Depot(id=d["id"], tier=Tier(d["tier"]), lat=d["lat"], lon=d["lon"], district=d["district"],
              cold_storage=d["cold_storage"], community_ids=frozenset(d["community_ids"]))
        for d in city.depots
    ]
    communities = {
        c["id"]: Community(id=c["id"], district=c["district"], lat=c["lat"], lon=c["lon"])
        for c in city.communities
    }
    stock: Counter[tuple[str, str]] = Counter()
    for item in city.stock:
        stock[(item["depot_id"], item["sku"])] += item["quantity"]
    out = []
    for order in orders:
        cold = any(skus[sku].get("cold_chain") for sku, _ in order.items)
        chosen = None
        for depot in candidate_depots(order.community_id, communities[order.community_id], depots,
                                      needs_cold_chain=cold):
            if all(stock[(depot.id, sku)] >= quantity for sku, quantity in order.items):
                for sku, quantity in order.items:
                    stock[(depot.id, sku)] -= quantity
                chosen = depot.id
                break
        out.append(DemoOrder(**{**order.__dict__, "depot_id": chosen}))
    return out


def demand_by_depot(orders: list[DemoOrder]) -> Counter[str]:
    """Reserved orders per depot, busiest first with ``most_common()``."""
    return Counter(o.depot_id for o in orders if o.depot_id is not None)


def busiest_depot(city: DemoCity) -> str:
    """The depot with the most reserved orders on the demo day (the date does not matter:
    placement times are relative to it)."""
    from zoneinfo import ZoneInfo

    orders = demo_orders(city, date(2026, 11, 20), ZoneInfo("Asia/Shanghai"))
    return demand_by_depot(orders).most_common(1)[0][0]
