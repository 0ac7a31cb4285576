"""Routing's own tables: read models built from events, the fleet, plans and deliveries."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Column, Index
from sqlalchemy import true as sa_true
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel

from services.routing.domain.plan_result import PlanResult
from shared.db import UtcTimestamp
from shared.messaging.tables import add_messaging_tables


class RoutingTable(SQLModel, registry=registry()):
    pass


messaging = add_messaging_tables(RoutingTable.metadata)


def _json_column() -> Any:
    return Field(default_factory=list, sa_column=Column(JSON, nullable=False))


def _aware(nullable: bool = False) -> Any:
    return Field(default=None, sa_column=Column(UtcTimestamp(), nullable=nullable))


class Community(RoutingTable, table=True):
    id: str = Field(primary_key=True, max_length=64)
    name: str
    district: str
    lat: float
    lon: float
    risk_level: str
    receiving_windows: list[list[str]] = _json_column()
    gate_service_min: int = 10


class Depot(RoutingTable, table=True):
    id: str = Field(primary_key=True, max_length=64)
    name: str
    tier: str
    lat: float
    lon: float
    district: str
    cold_storage: bool = False


class Sku(RoutingTable, table=True):
    id: str = Field(primary_key=True, max_length=64)
    category: str
    unit_weight_kg: float
    unit_volume_l: float
    cold_chain: bool = False


class DemandOrder(RoutingTable, table=True):
    """One order as routing sees it; ``status`` is routing's own view of its life."""

    __table_args__ = (Index("ix_demand_depot_status", "depot_id", "status"),)

    order_id: str = Field(primary_key=True, max_length=64)
    community_id: str = Field(max_length=64)
    depot_id: str | None = Field(default=None, max_length=64)
    priority: str = "standard"
    placed_at: datetime | None = _aware(nullable=True)
    lines: list[dict[str, Any]] = _json_column()
    status: str = Field(default="placed", max_length=20)
    plan_id: str | None = Field(default=None, max_length=64)
    #: When its stop was handed over at the gate (the supply office's SLA figures).
    delivered_at: datetime | None = _aware(nullable=True)


class Vehicle(RoutingTable, table=True):
    id: str = Field(primary_key=True, max_length=64)
    depot_id: str = Field(max_length=64, index=True)
    capacity_kg: float
    capacity_l: float
    refrigerated: bool = False
    closed_loop: bool = False
    shift_start: str = "06:00"
    shift_end: str = "20:00"
    max_trips: int = 1
    fixed_cost: int = 1800
    #: False from a breakdown until the vehicle is put back (PUT /v1/vehicles/{id}).
    in_service: bool = Field(default=True, sa_column_kwargs={"server_default": sa_true()})
    out_of_service_reason: str | None = None


class Plan(RoutingTable, table=True):
    id: str = Field(primary_key=True, max_length=64)
    depot_ids: list[str] = _json_column()
    service_date: date
    status: str = Field(default="solving", max_length=20)
    time_limit_s: float = 30
    seed: int = 0
    requested_by: str = ""
    created_at: datetime | None = _aware()
    solved_at: datetime | None = _aware(nullable=True)
    dispatched_at: datetime | None = _aware(nullable=True)
    progress: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    result: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    error: str | None = None
    parent_plan_id: str | None = Field(default=None, max_length=64)

    @property
    def outcome(self) -> PlanResult:
        """The solve's result, typed; ``result`` holds it as stored (``PlanResult.to_json``)."""
        return PlanResult.from_json(self.result)


class DispatchedOrder(RoutingTable, table=True):
    """The primary key is what stops two plans from dispatching the same order."""

    order_id: str = Field(primary_key=True, max_length=64)
    plan_id: str = Field(max_length=64, index=True)


class StopOutcome(RoutingTable, table=True):
    plan_id: str = Field(primary_key=True, max_length=64)
    stop_id: str = Field(primary_key=True, max_length=128)
    outcome: str = Field(max_length=20)
    received_by: str | None = None
    reason: str | None = None
    recorded_at: datetime | None = _aware()


class VehiclePosition(RoutingTable, table=True):
    """Read model of ``lifeline.vehicle.positioned``: where each vehicle was last seen."""

    vehicle_id: str = Field(primary_key=True, max_length=64)
    depot_id: str = Field(max_length=64, index=True)
    plan_id: str | None = Field(default=None, max_length=64)
    lat: float
    lon: float
    state: str = Field(max_length=20)
    next_stop_id: str | None = Field(default=None, max_length=128)
    at: datetime | None = _aware()
