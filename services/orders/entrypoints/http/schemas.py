"""API models (SQLModel families: XBase, XUpsert/XCreate, XPublic).

Request bodies forbid unknown fields, so a typo ("qty") is a 422 naming it instead of a
silently ignored value; quantities are strict integers ("3" and 3.0 are refused).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, StrictInt
from pydantic import Field as PydanticField
from sqlmodel import Field, SQLModel

from services.orders.domain.model import HouseholdFlag
from services.orders.domain.rules import MAX_LINES, MAX_QUANTITY_PER_LINE

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$"
Identifier = Annotated[str, PydanticField(pattern=ID_PATTERN, max_length=64)]
ClockTime = Annotated[str, PydanticField(pattern=r"^([01]\d|2[0-3]):[0-5]\d$")]
RiskLevel = Literal["sealed", "controlled", "prevention", "normal"]
Priority = Literal["medical", "vulnerable", "standard"]
OrderStatusName = Literal[
    "placed", "reserved", "backordered", "rejected", "scheduled", "delivered",
    "delivery_failed", "cancelled",
]


class RequestBody(SQLModel):
    # SQLModelConfig is a ConfigDict; its stub just does not say so.
    model_config = ConfigDict(extra="forbid")  # type: ignore[assignment]


# --- communities ---------------------------------------------------------------------

class CommunityBase(SQLModel):
    name: str = Field(min_length=1, max_length=200)
    district: str = Field(min_length=1, max_length=100)
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    risk_level: RiskLevel
    receiving_windows: list[tuple[ClockTime, ClockTime]] = Field(min_length=1, max_length=12)
    gate_service_min: int = Field(default=10, ge=0, le=240)


class CommunityUpsert(CommunityBase, RequestBody):
    pass


class CommunityPublic(CommunityBase):
    id: str
    created_at: datetime
    updated_at: datetime


# --- households ----------------------------------------------------------------------

class HouseholdBase(SQLModel):
    community_id: Identifier
    members: StrictInt = Field(ge=1, le=50)
    flags: list[HouseholdFlag] = Field(default_factory=list, max_length=5)


class HouseholdUpsert(HouseholdBase, RequestBody):
    pass


class HouseholdPublic(HouseholdBase):
    id: str
    created_at: datetime
    updated_at: datetime


# --- catalog read model -----------------------------------------------------------------

class RationPublic(SQLModel):
    quantity: int
    per_days: int


class CatalogItemPublic(SQLModel):
    sku: str
    name: str
    category: str
    unit_weight_kg: float
    unit_volume_l: float
    cold_chain: bool
    urgent: bool
    ration: RationPublic | None


# --- orders --------------------------------------------------------------------------

class OrderItem(RequestBody):
    sku: Identifier
    quantity: StrictInt = Field(gt=0, le=MAX_QUANTITY_PER_LINE)


class OrderBase(SQLModel):
    items: list[OrderItem] = Field(min_length=1, max_length=MAX_LINES)
    contactless: bool = True
    note: str | None = Field(default=None, max_length=500)


class OrderCreate(OrderBase, RequestBody):
    # Community workers order on behalf of a household; a resident's household comes
    # from the token (a different one here is refused, the same one is accepted).
    household_id: Identifier | None = None


class CancelRequest(RequestBody):
    reason: str = Field(default="cancelled by requester", min_length=1, max_length=500)


class DeliverySchedule(SQLModel):
    plan_id: str
    vehicle_id: str | None
    stop_id: str | None
    eta: datetime | None
    window_start: datetime | None
    window_end: datetime | None


class TimelineEntryPublic(SQLModel):
    at: datetime
    status: OrderStatusName
    detail: dict[str, Any]


class OrderPublic(OrderBase):
    id: str
    status: OrderStatusName
    priority: Priority
    household_id: str
    community_id: str
    depot_id: str | None
    schedule: DeliverySchedule | None
    status_reason: str | None
    delivered_at: datetime | None
    received_by: str | None
    created_at: datetime
    updated_at: datetime


class OrderDetailPublic(OrderPublic):
    timeline: list[TimelineEntryPublic]


class OrderPage(SQLModel):
    items: list[OrderPublic]
    next_cursor: str | None
