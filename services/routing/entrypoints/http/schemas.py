"""The routing API's request and response bodies (SQLModel families where a table backs them)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlmodel import SQLModel

ClockTime = Annotated[str, Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$", examples=["06:00"])]


class VehicleBase(SQLModel):
    model_config = ConfigDict(extra="forbid")  # type: ignore[assignment]

    depot_id: str = Field(min_length=1, max_length=64)
    capacity_kg: float = Field(gt=0, le=100_000)
    capacity_l: float = Field(gt=0, le=200_000)
    refrigerated: bool = False
    closed_loop: bool = False
    shift_start: ClockTime = "06:00"
    shift_end: ClockTime = "20:00"
    max_trips: int = Field(default=1, ge=1, le=10)
    fixed_cost: int = Field(default=1800, ge=0, le=1_000_000)

    @model_validator(mode="after")
    def _shift_is_a_window(self) -> VehicleBase:
        if self.shift_end <= self.shift_start:
            raise ValueError("shift_end must be after shift_start")
        return self


class VehicleUpdate(VehicleBase):
    pass


class VehiclePublic(VehicleBase):
    id: str


class PlanRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    depot_ids: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(min_length=1, max_length=20)
    date: date
    time_limit_s: float = Field(default=30, gt=0, le=600)
    seed: int = Field(default=0, ge=0, le=2**31 - 1)


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


class DeliveryRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    plan_id: str = Field(min_length=1, max_length=64)
    stop_id: str = Field(min_length=1, max_length=128)
    outcome: Literal["delivered", "failed"]
    received_by: str | None = Field(default=None, max_length=200)
    reason: str | None = Field(default=None, max_length=500)


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
