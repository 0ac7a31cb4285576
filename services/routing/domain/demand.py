"""Routing's view of an order's life, and the load it puts on a vehicle.

Events can arrive twice or late; each transition names the states it may leave, so a
late event never moves an order backwards (a delivered order ignores a stale reservation).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

PLACED = "placed"
RESERVED = "reserved"  # routable demand
RELEASED = "released"
CANCELLED = "cancelled"
SCHEDULED = "scheduled"
DELIVERED = "delivered"

_TRANSITIONS: dict[str, tuple[frozenset[str | None], str]] = {
    "reserved": (frozenset({None, PLACED, RELEASED}), RESERVED),
    "released": (frozenset({RESERVED}), RELEASED),
    "cancelled": (frozenset({None, PLACED, RESERVED, RELEASED}), CANCELLED),
    "scheduled": (frozenset({RESERVED}), SCHEDULED),
    "delivery_failed": (frozenset({SCHEDULED}), RESERVED),
    "unscheduled": (frozenset({SCHEDULED}), RESERVED),
    "delivered": (frozenset({SCHEDULED}), DELIVERED),
}


def next_status(current: str | None, happened: str) -> str | None:
    """The status after ``happened``, or None when the event does not apply now."""
    allowed_from, target = _TRANSITIONS[happened]
    return target if current in allowed_from else None


@dataclass(frozen=True)
class SkuSize:
    unit_weight_kg: float
    unit_volume_l: float
    cold_chain: bool


@dataclass(frozen=True)
class Load:
    ambient_kg: float = 0.0
    ambient_l: float = 0.0
    cold_kg: float = 0.0
    cold_l: float = 0.0

    @property
    def kg(self) -> float:
        return self.ambient_kg + self.cold_kg

    @property
    def litres(self) -> float:
        return self.ambient_l + self.cold_l


def load_of(lines: Iterable[Mapping[str, object]], catalog: Mapping[str, SkuSize]) -> Load:
    """Weight and volume of an order's lines, split into ambient and cold chain.

    A SKU routing has not heard of yet counts as 1 kg / 1 l ambient rather than zero,
    so that an unknown item can never make a route look lighter than it is.
    """
    ambient_kg = ambient_l = cold_kg = cold_l = 0.0
    for line in lines:
        quantity = float(line["quantity"])  # type: ignore[arg-type]
        size = catalog.get(str(line["sku"]), SkuSize(1.0, 1.0, False))
        if size.cold_chain:
            cold_kg += quantity * size.unit_weight_kg
            cold_l += quantity * size.unit_volume_l
        else:
            ambient_kg += quantity * size.unit_weight_kg
            ambient_l += quantity * size.unit_volume_l
    return Load(ambient_kg, ambient_l, cold_kg, cold_l)
