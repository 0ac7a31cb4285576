"""Commands: what a caller asks inventory to do (imperative), as plain values."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from services.inventory.domain.model import Line
from shared.priority import Priority


@dataclass(frozen=True)
class DefineDepot:
    depot_id: str
    name: str
    tier: str
    lat: float
    lon: float
    district: str
    cold_storage: bool
    community_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class DefineSku:
    sku: str
    name: str
    category: str
    unit_weight_kg: float
    unit_volume_l: float
    cold_chain: bool
    urgent: bool = False
    ration: dict[str, int] | None = None


@dataclass(frozen=True)
class RecordStockMovement:
    """received / adjusted / counted, from a warehouse system (topic or HTTP)."""

    event_id: str
    kind: str
    depot_id: str
    sku: str
    quantity: int
    reason: str | None = None


@dataclass(frozen=True)
class ReserveOrder:
    order_id: str
    household_id: str
    community_id: str
    priority: Priority
    placed_at: datetime
    lines: list[Line] = field(default_factory=list)


@dataclass(frozen=True)
class CancelOrder:
    order_id: str
    reason: str


@dataclass(frozen=True)
class ShipOrder:
    order_id: str
    depot_id: str
    plan_id: str
