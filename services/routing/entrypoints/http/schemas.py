"""The routing API's request and response bodies (SQLModel families where a table backs them).

Request bodies forbid unknown fields, and their numbers, booleans and dates mean what the
schema says ("3", 1.5 and true are not integers, 0 is not false, 0 is not a date); text
that is stored refuses NUL. The same types as the other services (``shared.http``).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import SQLModel

from shared.http import Text
from shared.jsontypes import JsonBool, JsonDate, JsonFloat, JsonInt

ClockTime = Annotated[str, Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$", examples=["06:00"])]
DepotId = Annotated[Text, Field(min_length=1, max_length=64)]


class VehicleBase(SQLModel):
    model_config = ConfigDict(extra="forbid")  # type: ignore[assignment]

    depot_id: DepotId
    capacity_kg: JsonFloat = Field(gt=0, le=100_000)
    capacity_l: JsonFloat = Field(gt=0, le=200_000)
    refrigerated: JsonBool = False
    closed_loop: JsonBool = False
    shift_start: ClockTime = "06:00"
    shift_end: ClockTime = "20:00"
    max_trips: JsonInt = Field(default=1, ge=1, le=10)
    fixed_cost: JsonInt = Field(default=1800, ge=0, le=1_000_000)
    #: False after a breakdown; a PUT with true (the default) puts the vehicle back on the road.
    in_service: JsonBool = True


class VehicleUpdate(VehicleBase):
    """``shift_end`` after ``shift_start`` is checked by the endpoint: a 422 with a code,
    since no JSON schema can compare two fields."""


class VehiclePublic(VehicleBase):
    id: str


class BreakdownRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Text = Field(min_length=1, max_length=500)


class BreakdownPublic(BaseModel):
    vehicle_id: str
    plan_id: str | None
    failed_stop_ids: list[str]
    returned_order_ids: list[str]


class PlanRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    depot_ids: list[DepotId] = Field(min_length=1, max_length=20)
    date: JsonDate
    time_limit_s: JsonFloat = Field(default=30, gt=0, le=600)
    seed: JsonInt = Field(default=0, ge=0, le=2**31 - 1)


class PlanPublic(BaseModel):
    id: str
    status: Literal["solving", "solved", "dispatched", "superseded", "failed"]
    depot_ids: list[str]
    date: date
    time_limit_s: float
    seed: int
    progress: dict[str, Any]
    routes: list[dict[str, Any]] = []
    unassigned: list[dict[str, Any]] = Field(default=[], description=(
        "Orders left out, per stop: order_ids, community, reason_code and a human reason. Codes: "
        "no_eligible_vehicle, exceeds_vehicle_capacity, window_unreachable, deadline_unreachable, "
        "fleet_capacity_exhausted, and community_unknown (the community's registration has not "
        "reached routing yet: no location, no windows; plan again once it has)."))
    kpis: dict[str, Any] = {}
    error: str | None = None
    parent_plan_id: str | None = None
    requested_by: str = ""
    created_at: datetime | None = None
    dispatched_at: datetime | None = None


class PlanSummary(BaseModel):
    """A plan in a depot's list: what it is and how it went, without its routes."""

    id: str
    status: str
    depot_ids: list[str]
    date: date
    requested_by: str
    created_at: datetime | None
    dispatched_at: datetime | None
    parent_plan_id: str | None
    kpis: dict[str, Any] = {}


class DeliveryRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    plan_id: Text = Field(min_length=1, max_length=64)
    stop_id: Text = Field(min_length=1, max_length=128)
    outcome: Literal["delivered", "failed"]
    received_by: Text | None = Field(default=None, max_length=200)
    reason: Text | None = Field(default=None, max_length=500)


class DemandCommunity(BaseModel):
    community_id: str
    community_name: str | None
    risk_level: str | None
    orders: int
    weight_kg: float
    volume_l: float
    cold_kg: float
    priority_counts: dict[str, int]
    oldest_placed_at: str | None
    order_ids: list[str]
