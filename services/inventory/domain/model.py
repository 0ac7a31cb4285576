"""Inventory's domain vocabulary: depots, SKUs, communities, order lines and priorities.

Pure Python: no framework, no database. The service layer turns rows into these values
and asks the rules in ``policy``, ``allocation`` and ``stock`` what to do.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import StrEnum


class Tier(StrEnum):
    CITY = "city"
    DISTRICT = "district"
    COMMUNITY = "community"


class Category(StrEnum):
    STAPLE = "staple"
    VEGETABLE = "vegetable"
    MEAT = "meat"
    DAIRY = "dairy"
    MEDICINE = "medicine"
    INFANT = "infant"
    HYGIENE = "hygiene"


class AllocationStatus(StrEnum):
    """The life of one order as inventory sees it."""

    RESERVED = "reserved"
    BACKORDERED = "backordered"
    REJECTED = "rejected"
    CANCELLED = "cancelled"
    SHIPPED = "shipped"


class Movement(StrEnum):
    """Kinds of ledger row; every change to a stock figure is one of these."""

    RECEIVED = "received"
    ADJUSTED = "adjusted"
    COUNTED = "counted"
    RESERVED = "reserved"
    RELEASED = "released"
    SHIPPED = "shipped"


@dataclass(frozen=True)
class Depot:
    id: str
    tier: Tier
    lat: float
    lon: float
    district: str
    cold_storage: bool
    community_ids: frozenset[str] = field(default_factory=frozenset)


@dataclass(frozen=True)
class Community:
    id: str
    district: str
    lat: float
    lon: float


@dataclass(frozen=True)
class Line:
    sku: str
    quantity: int


def merge_lines(lines: list[Line]) -> list[Line]:
    """One line per SKU, sorted: the same SKU twice is one demand, and a fixed order of
    row updates keeps two transactions from locking stock rows in opposite orders."""
    totals: dict[str, int] = {}
    for line in lines:
        totals[line.sku] = totals.get(line.sku, 0) + line.quantity
    return [Line(sku, qty) for sku, qty in sorted(totals.items())]


EARTH_RADIUS_KM = 6371.0


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))
