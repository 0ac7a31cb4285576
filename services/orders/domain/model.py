"""The orders domain vocabulary: statuses, priorities, household flags, communities.

Pure Python: no web, database or broker imports, so the rules can be unit-tested alone.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime


class OrderStatus(enum.StrEnum):
    PLACED = "placed"
    RESERVED = "reserved"
    BACKORDERED = "backordered"
    REJECTED = "rejected"
    SCHEDULED = "scheduled"
    DELIVERED = "delivered"
    DELIVERY_FAILED = "delivery_failed"
    CANCELLED = "cancelled"


class HouseholdFlag(enum.StrEnum):
    ELDERLY_ALONE = "elderly_alone"
    DISABLED = "disabled"
    CHRONIC_ILLNESS = "chronic_illness"
    PREGNANT = "pregnant"
    INFANT = "infant"


class RiskLevel(enum.StrEnum):
    SEALED = "sealed"
    CONTROLLED = "controlled"
    PREVENTION = "prevention"
    NORMAL = "normal"


# Every flag marks one of the priority groups of the lockdown reports (SPEC section 2).
PRIORITY_FLAGS: frozenset[str] = frozenset(flag.value for flag in HouseholdFlag)

# Statuses a requester may still cancel from: before the route is dispatched.
CANCELLABLE: frozenset[OrderStatus] = frozenset(
    {OrderStatus.PLACED, OrderStatus.RESERVED, OrderStatus.BACKORDERED}
)


@dataclass(frozen=True)
class RationRule:
    quantity: int
    per_days: int


@dataclass(frozen=True)
class CatalogItem:
    """What orders needs to know about a SKU (the catalog read model)."""

    sku: str
    category: str
    urgent: bool = False
    ration: RationRule | None = None


@dataclass(frozen=True)
class HouseholdProfile:
    id: str
    community_id: str
    members: int
    flags: frozenset[str] = field(default_factory=frozenset)

    @property
    def is_vulnerable(self) -> bool:
        return bool(self.flags & PRIORITY_FLAGS)


@dataclass(frozen=True)
class Line:
    sku: str
    quantity: int


@dataclass(frozen=True)
class OrderView:
    """What the API shows of an order; on the intake hot path, what is written of it."""

    id: str
    household_id: str
    community_id: str
    status: str
    priority: str
    contactless: bool
    note: str | None
    created_at: datetime
    updated_at: datetime
    status_reason: str | None = None
    depot_id: str | None = None
    plan_id: str | None = None
    vehicle_id: str | None = None
    stop_id: str | None = None
    eta: datetime | None = None
    window_start: datetime | None = None
    window_end: datetime | None = None
    delivered_at: datetime | None = None
    received_by: str | None = None
