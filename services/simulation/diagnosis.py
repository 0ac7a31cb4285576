"""Why a run missed a target: the supply office's figures taken apart by cause.

A share below its target says nothing about what to change. Taken apart it does: a
medical order placed when no receiving window of its gate opens within 6 h could not be
delivered in time by any plan (the gates' hours decide, not the fleet); one that could
have been and was not points at the depot that served it, whose load per vehicle says
whether its fleet is too small; a vulnerable order waiting on backorder is short of
stock, one still reserved is waiting for a vehicle.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta, tzinfo
from typing import Any

from services.routing.domain.planning import clock_to_seconds

Windows = Sequence[Sequence[str]]


def window_opens_within(placed: datetime, windows: Windows, shift: tuple[str, str], tz: tzinfo,
                        within: timedelta) -> bool:
    """Whether the gate receives goods, during the fleet's shift, at some moment between
    ``placed`` and ``placed + within``: the most any plan could do for the order."""
    deadline = placed + within
    local = placed.astimezone(tz)
    shift_start, shift_end = clock_to_seconds(shift[0]), clock_to_seconds(shift[1])
    for day_offset in range(int(within / timedelta(days=1)) + 2):
        midnight = datetime.combine((local + timedelta(days=day_offset)).date(), time(0), tz)
        for start, end in windows:
            opens = midnight + timedelta(seconds=max(clock_to_seconds(start), shift_start))
            closes = midnight + timedelta(seconds=min(clock_to_seconds(end), shift_end))
            if opens < closes and opens <= deadline and closes >= placed:
                return True
    return False


@dataclass(frozen=True)
class OrderSeen:
    """One order as the outcome reads it back."""

    id: str
    priority: str
    status: str
    community_id: str
    depot_id: str | None
    placed: datetime
    delivered: datetime | None


@dataclass
class Diagnosis:
    medical_late: int = 0
    medical_reachable: int = 0
    medical_late_unreachable: int = 0
    medical_late_reachable: Counter[str] = field(default_factory=Counter)  # by depot
    vulnerable_late: Counter[str] = field(default_factory=Counter)  # by state
    vulnerable_late_by_depot: Counter[str] = field(default_factory=Counter)
    orders_by_depot: Counter[str] = field(default_factory=Counter)
    delivered_by_depot: Counter[str] = field(default_factory=Counter)
    vehicles_by_depot: Counter[str] = field(default_factory=Counter)
    days: float = 1.0

    def depot_load(self) -> list[dict[str, Any]]:
        """Orders per vehicle and day and the share delivered, heaviest depot first."""
        rows = []
        for depot_id, orders in self.orders_by_depot.items():
            vehicles = self.vehicles_by_depot.get(depot_id, 0)
            rows.append({
                "depot_id": depot_id, "orders": orders, "vehicles": vehicles,
                "orders_per_vehicle_day": round(orders / vehicles / self.days, 1) if vehicles else None,
                "delivered_share": round(self.delivered_by_depot[depot_id] / orders, 4),
            })
        return sorted(rows, key=lambda r: -(r["orders_per_vehicle_day"] or float("inf")))


#: How much less of its demand the most loaded depot must deliver than the least loaded one
#: before the report calls its fleet too small.
FLEET_GAP = 0.1

#: The state a vulnerable order waits in, in words: what would have served it.
_WAITING = {"backordered": "backordered (stock short)", "delivery_failed": "hand-over failed",
            "delivered": "delivered after 24 h"}


def diagnose(orders: Iterable[OrderSeen], *, communities: Mapping[str, Mapping[str, Any]],
             vehicles: Sequence[Mapping[str, Any]], tz: tzinfo, ended_at: datetime, medical_sla: timedelta,
             vulnerable_limit: timedelta) -> Diagnosis:
    shifts: dict[str, tuple[str, str]] = {}
    for vehicle in vehicles:
        start, end = vehicle.get("shift_start", "06:00"), vehicle.get("shift_end", "20:00")
        known = shifts.get(vehicle["depot_id"], (start, end))
        shifts[vehicle["depot_id"]] = (min(known[0], start), max(known[1], end))
    city_shift = (min((s for s, _ in shifts.values()), default="00:00"),
                  max((e for _, e in shifts.values()), default="23:59"))
    found = Diagnosis(vehicles_by_depot=Counter(v["depot_id"] for v in vehicles))
    first = ended_at
    for order in orders:
        first = min(first, order.placed)
        depot = order.depot_id or "no depot"
        found.orders_by_depot[depot] += 1
        found.delivered_by_depot[depot] += order.delivered is not None
        waited = (order.delivered or ended_at) - order.placed
        if order.priority == "medical":
            windows = communities.get(order.community_id, {}).get("receiving_windows", ())
            shift = shifts.get(order.depot_id or "", city_shift)
            reachable = window_opens_within(order.placed, windows, shift, tz, medical_sla)
            found.medical_reachable += reachable
            if order.delivered is None or waited > medical_sla:
                found.medical_late += 1
                if reachable:
                    found.medical_late_reachable[depot] += 1
                else:
                    found.medical_late_unreachable += 1
        if (order.priority != "standard" and waited > vulnerable_limit
                and order.status not in ("cancelled", "rejected")):
            found.vulnerable_late[_WAITING.get(order.status, "open: no vehicle took it in time")] += 1
            found.vulnerable_late_by_depot[depot] += 1
    found.days = max(1.0, (ended_at - first).total_seconds() / 86400)
    return found


def _most(counter: Counter[str], n: int = 3) -> str:
    return ", ".join(f"{key} {count}" for key, count in counter.most_common(n))


def _load_sentence(diagnosis: Diagnosis) -> str:
    load = [r for r in diagnosis.depot_load() if r["orders_per_vehicle_day"] is not None]
    if len(load) < 2:
        return ""
    heavy, light = load[0], load[-1]
    figures = (f"orders per vehicle and day: {heavy['depot_id']} {heavy['orders_per_vehicle_day']} "
               f"({heavy['delivered_share']:.0%} delivered) against {light['depot_id']} "
               f"{light['orders_per_vehicle_day']} ({light['delivered_share']:.0%})")
    if light["delivered_share"] - heavy["delivered_share"] >= FLEET_GAP:
        return figures + ": the heavy depots' fleets are too small for their demand"
    return figures + ": the delivered shares are close, so fleet size per depot is not what limits"


def medical_why(diagnosis: Diagnosis, medical: int) -> str:
    late = diagnosis.medical_late
    if not late:
        return ""
    unreachable = diagnosis.medical_late_unreachable
    reachable_late = sum(diagnosis.medical_late_reachable.values())
    parts = [f"{unreachable} of the {late} late medical orders were placed when no receiving window of their "
             f"gate opens within 6 h during the fleet's shift, so no plan could deliver them in time: the gates' "
             f"hours allow at most {diagnosis.medical_reachable / medical:.1%} within 6 h"]
    if reachable_late:
        parts.append(f"the other {reachable_late} could have made it and did not (by depot: "
                     f"{_most(diagnosis.medical_late_reachable)})")
        load = _load_sentence(diagnosis)
        if load:
            parts.append(load)
    return "; ".join(parts)


def vulnerable_why(diagnosis: Diagnosis) -> str:
    if not diagnosis.vulnerable_late:
        return ""
    states = ", ".join(f"{count} {state}" for state, count in diagnosis.vulnerable_late.most_common())
    parts = [f"priority orders waiting > 24 h: {states}", f"by depot: {_most(diagnosis.vulnerable_late_by_depot)}"]
    load = _load_sentence(diagnosis)
    if load:
        parts.append(load)
    return "; ".join(parts)


def fill_why(diagnosis: Diagnosis, fill: Mapping[str, float], depot_of: Mapping[str, str]) -> str:
    if not fill:
        return ""
    worst = sorted(fill, key=lambda c: fill[c])[:3]
    parts = ["worst served: " + ", ".join(f"{c} {fill[c]:.0%} (from {depot_of.get(c, '?')})" for c in worst)]
    load = _load_sentence(diagnosis)
    if load:
        parts.append(load)
    parts.append("orders placed in the last hours are still open when the run ends; fill counts delivered only")
    return "; ".join(parts)


def _serving_depot(orders: Iterable[OrderSeen]) -> dict[str, str]:
    """Each community's depot: the one most of its orders were reserved at."""
    pairs = Counter((o.community_id, o.depot_id) for o in orders if o.depot_id)
    depot_of: dict[str, str] = {}
    for (community_id, depot_id), _count in pairs.most_common():
        depot_of.setdefault(community_id, depot_id)
    return depot_of


def targets(figures: Mapping[str, Any], diagnosis: Diagnosis, orders: Iterable[OrderSeen]) -> list[dict[str, Any]]:
    """The supply office's targets, met or not, and what the figures say about a miss."""
    share = figures["medical_within_6h_share"]
    ratio = figures["fill_rate_worst_best_ratio"]
    unserved = figures["vulnerable_unserved_over_24h"]
    fill = figures["fill_rate_by_community"]
    return [
        {"figure": "medical_within_6h_share", "label": "medical orders delivered within 6 h", "target": ">= 99 %",
         "value": share, "met": share is not None and share >= 0.99,
         "why": medical_why(diagnosis, figures["medical_orders"])},
        {"figure": "vulnerable_unserved_over_24h", "label": "vulnerable households unserved > 24 h", "target": "0",
         "value": unserved, "met": unserved == 0, "why": vulnerable_why(diagnosis)},
        {"figure": "fill_rate_worst_best_ratio", "label": "fill rate, worst / best community", "target": ">= 0.9",
         "value": ratio, "met": ratio is not None and ratio >= 0.9,
         "why": fill_why(diagnosis, fill, _serving_depot(orders))},
        {"figure": "orders_lost", "label": "orders lost", "target": "0", "value": figures["orders_lost"],
         "met": figures["orders_lost"] == 0, "why": ""},
        {"figure": "orders_doubled", "label": "orders doubled", "target": "0", "value": figures["orders_doubled"],
         "met": figures["orders_doubled"] == 0, "why": ""},
    ]
