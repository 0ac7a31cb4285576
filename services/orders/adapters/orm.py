"""The orders service's own tables (its own database): communities, households, the
catalog read model, orders with their lines and timeline, plus outbox and inbox."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel

from shared.db import UtcTimestamp
from shared.messaging.tables import add_messaging_tables


class OrdersTable(SQLModel, registry=registry()):
    pass


messaging = add_messaging_tables(OrdersTable.metadata)


def _json(default: Any = list) -> Any:
    return Field(default_factory=default, sa_column=Column(JSON, nullable=False))


def _when(*, nullable: bool = False, index: bool = False) -> Any:
    return Field(
        default=None,
        sa_column=Column(UtcTimestamp(), nullable=nullable, index=index),
    )


class Community(OrdersTable, table=True):
    __tablename__ = "communities"

    id: str = Field(primary_key=True, max_length=64)
    name: str = Field(max_length=200)
    district: str = Field(max_length=100, index=True)
    lat: float
    lon: float
    risk_level: str = Field(max_length=16)
    receiving_windows: list[list[str]] = _json()
    gate_service_min: int
    created_at: datetime = _when()
    updated_at: datetime = _when()


class Household(OrdersTable, table=True):
    __tablename__ = "households"

    id: str = Field(primary_key=True, max_length=64)
    community_id: str = Field(
        sa_column=Column(String(64), ForeignKey("communities.id"), nullable=False, index=True)
    )
    members: int
    flags: list[str] = _json()
    created_at: datetime = _when()
    updated_at: datetime = _when()


class CatalogSku(OrdersTable, table=True):
    """Read model of ``lifeline.sku.defined``: orders validate without calling inventory."""

    __tablename__ = "catalog_skus"

    sku: str = Field(primary_key=True, max_length=64)
    name: str
    category: str = Field(max_length=32)
    unit_weight_kg: float
    unit_volume_l: float
    cold_chain: bool = False
    urgent: bool = False
    ration_quantity: int | None = None
    ration_per_days: int | None = None
    updated_at: datetime = _when()


class Order(OrdersTable, table=True):
    __tablename__ = "orders"
    __table_args__ = (
        # Idempotency keys are per caller: two residents may both send key "1".
        UniqueConstraint("caller", "idempotency_key", name="uq_orders_caller_idempotency_key"),
        # Rationing, rate limiting and "my orders" all read one household's recent orders.
        Index("ix_orders_household_created", "household_id", "created_at"),
        Index("ix_orders_community_id", "community_id", "id"),
        Index("ix_orders_status_id", "status", "id"),
    )

    # Time-ordered (ULID layout): newest first is ``ORDER BY id DESC``, the cursor is an id.
    id: str = Field(primary_key=True, max_length=32)
    household_id: str = Field(
        sa_column=Column(String(64), ForeignKey("households.id"), nullable=False)
    )
    community_id: str = Field(max_length=64)
    status: str = Field(max_length=20)
    priority: str = Field(max_length=12)
    contactless: bool = True
    note: str | None = Field(default=None, max_length=500)
    created_at: datetime = _when()
    updated_at: datetime = _when()
    status_reason: str | None = None
    depot_id: str | None = Field(default=None, max_length=64)
    plan_id: str | None = Field(default=None, max_length=64)
    vehicle_id: str | None = Field(default=None, max_length=64)
    stop_id: str | None = Field(default=None, max_length=64)
    eta: datetime | None = _when(nullable=True)
    window_start: datetime | None = _when(nullable=True)
    window_end: datetime | None = _when(nullable=True)
    scheduled_fact_at: datetime | None = _when(nullable=True)
    closed_plan_ids: list[str] = _json()
    delivered_at: datetime | None = _when(nullable=True)
    received_by: str | None = None
    caller: str = Field(max_length=100)
    idempotency_key: str | None = Field(default=None, max_length=200)
    request_fingerprint: str | None = Field(default=None, max_length=64)


class OrderLine(OrdersTable, table=True):
    __tablename__ = "order_lines"

    order_id: str = Field(
        sa_column=Column(String(32), ForeignKey("orders.id"), primary_key=True)
    )
    position: int = Field(primary_key=True)
    sku: str = Field(max_length=64)
    quantity: int


class TimelineEntry(OrdersTable, table=True):
    __tablename__ = "order_timeline"

    id: int | None = Field(default=None, primary_key=True)
    order_id: str = Field(
        sa_column=Column(String(32), ForeignKey("orders.id"), nullable=False, index=True)
    )
    at: datetime = _when()
    status: str = Field(max_length=20)
    detail: dict[str, Any] = _json(dict)
