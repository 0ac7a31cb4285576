"""API models (SQLModel families: XBase, XUpsert/XCreate, XPublic).

Request bodies forbid unknown fields, so a typo ("qty") is a 422 naming it instead of a
silently ignored value; numbers and booleans mean what the schema says ("3", 1.5 and
true are not integers, 0 and "yes" are not booleans; 3.0 is the JSON number 3).
Datetimes are answered with their zone (UTC).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import ConfigDict
from pydantic import Field as PydanticField
from sqlmodel import Field, SQLModel

from services.orders.domain.model import HouseholdFlag
from services.orders.domain.rules import MAX_LINES, MAX_QUANTITY_PER_LINE
from shared.http import Text, UtcDateTime
from shared.jsontypes import JsonBool, JsonFloat, JsonInt
from shared.priority import Priority

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$"
Identifier = Annotated[str, PydanticField(pattern=ID_PATTERN, max_length=64)]
ClockTime = Annotated[str, PydanticField(pattern=r"^([01]\d|2[0-3]):[0-5]\d$")]
# [start, end] in the city's local time. A list of two rather than a tuple: the same JSON,
# and a plain array schema that every OpenAPI tool reads (a tuple is `prefixItems`).
Window = Annotated[list[ClockTime], PydanticField(min_length=2, max_length=2, examples=[["07:00", "09:00"]])]
RiskLevel = Literal["sealed", "controlled", "prevention", "normal"]
OrderStatusName = Literal[
    "placed", "reserved", "backordered", "rejected", "scheduled", "delivered",
    "delivery_failed", "cancelled",
]


class RequestBody(SQLModel):
    # SQLModelConfig is a ConfigDict; its stub just does not say so.
    model_config = ConfigDict(extra="forbid")  # type: ignore[assignment]


# --- communities ---------------------------------------------------------------------

class CommunityBase(SQLModel):
    name: Text = Field(min_length=1, max_length=200)
    district: Text = Field(min_length=1, max_length=100)
    lat: JsonFloat = Field(ge=-90, le=90)
    lon: JsonFloat = Field(ge=-180, le=180)
    risk_level: RiskLevel
    receiving_windows: list[Window] = Field(min_length=1, max_length=12)
    gate_service_min: JsonInt = Field(default=10, ge=0, le=240)


class CommunityUpsert(CommunityBase, RequestBody):
    pass


class CommunityPublic(CommunityBase):
    id: str
    created_at: UtcDateTime
    updated_at: UtcDateTime


# --- households ----------------------------------------------------------------------

class HouseholdBase(SQLModel):
    community_id: Identifier
    members: JsonInt = Field(ge=1, le=50)
    flags: list[HouseholdFlag] = Field(default_factory=list, max_length=5)


class HouseholdUpsert(HouseholdBase, RequestBody):
    pass


class HouseholdPublic(HouseholdBase):
    id: str
    created_at: UtcDateTime
    updated_at: UtcDateTime


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
    quantity: JsonInt = Field(gt=0, le=MAX_QUANTITY_PER_LINE)


class OrderBase(SQLModel):
    items: list[OrderItem] = Field(min_length=1, max_length=MAX_LINES)
    contactless: JsonBool = True
    note: Text | None = Field(default=None, max_length=500)


class OrderCreate(OrderBase, RequestBody):
    # Community workers order on behalf of a household; a resident's household comes
    # from the token (a different one here is refused, the same one is accepted).
    household_id: Identifier | None = None


class CancelRequest(RequestBody):
    reason: Text = Field(default="cancelled by requester", min_length=1, max_length=500)


class DeliverySchedule(SQLModel):
    plan_id: str
    vehicle_id: str | None
    stop_id: str | None
    eta: UtcDateTime | None
    window_start: UtcDateTime | None
    window_end: UtcDateTime | None


class TimelineEntryPublic(SQLModel):
    at: UtcDateTime
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
    delivered_at: UtcDateTime | None
    received_by: str | None
    created_at: UtcDateTime
    updated_at: UtcDateTime


class OrderDetailPublic(OrderPublic):
    timeline: list[TimelineEntryPublic]


class OrderPage(SQLModel):
    items: list[OrderPublic]
    next_cursor: str | None
