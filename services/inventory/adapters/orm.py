"""Inventory's tables: the catalog it owns (depots, SKUs), the community read model,
stock figures with their append-only ledger, and the allocation of every order.

API schema families (``XBase`` / ``XUpsert`` / ``XPublic``) live beside their table.
The never-oversold guarantee is in the database, not in Python: CHECK constraints on
stock, a primary key per order on allocations, and conditional updates (repository).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy import JSON, CheckConstraint, Column, Index, Integer
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel

from shared.db import UtcTimestamp, core_table
from shared.events.payloads import Category, DepotTier, Ration
from shared.http import Text, UtcDateTime
from shared.jsontypes import JsonBool, JsonFloat, JsonInt
from shared.messaging.tables import add_messaging_tables
from shared.priority import Priority


class InventoryTable(SQLModel, registry=registry()):
    pass


messaging = add_messaging_tables(InventoryTable.metadata)


def _aware(nullable: bool = False, index: bool = False) -> Any:
    return Field(
        default=None, sa_column=Column(UtcTimestamp(), nullable=nullable, index=index)
    )


# --- catalog: depots ----------------------------------------------------------------

class DepotBase(SQLModel):
    name: Text = Field(min_length=1, max_length=200)
    tier: DepotTier
    # Strict: true is not a number, 0 or "yes" not a boolean (see shared.http).
    lat: JsonFloat = Field(ge=-90, le=90)
    lon: JsonFloat = Field(ge=-180, le=180)
    district: Text = Field(min_length=1, max_length=100)
    cold_storage: JsonBool = False


class DepotUpsert(DepotBase):
    model_config = ConfigDict(extra="forbid")  # type: ignore[assignment]
    community_ids: list[Annotated[Text, Field(min_length=1, max_length=64)]] = Field(
        default_factory=list, max_length=1000
    )


class Depot(InventoryTable, table=True):
    __tablename__ = "depots"
    id: str = Field(primary_key=True, max_length=64)
    name: str
    tier: str = Field(max_length=16)
    lat: float
    lon: float
    district: str = Field(max_length=100, index=True)
    cold_storage: bool = False
    community_ids: list[str] = Field(default_factory=list, sa_type=JSON)
    updated_at: datetime | None = _aware()


class DepotPublic(DepotBase):
    id: str
    community_ids: list[str]
    updated_at: UtcDateTime | None = None


# --- catalog: SKUs ------------------------------------------------------------------

class SkuBase(SQLModel):
    name: Text = Field(min_length=1, max_length=200)
    category: Category
    unit_weight_kg: JsonFloat = Field(gt=0, le=10_000)
    unit_volume_l: JsonFloat = Field(gt=0, le=100_000)
    cold_chain: JsonBool = False
    urgent: JsonBool = False


class RationIn(BaseModel):
    """``Ration`` of the event payloads, with strict integers (true is not 1)."""

    model_config = ConfigDict(extra="forbid")
    quantity: JsonInt = Field(gt=0, le=1_000_000)
    per_days: JsonInt = Field(gt=0, le=366)


class SkuUpsert(SkuBase):
    model_config = ConfigDict(extra="forbid")  # type: ignore[assignment]
    ration: RationIn | None = None


class Sku(InventoryTable, table=True):
    __tablename__ = "skus"
    id: str = Field(primary_key=True, max_length=64)
    name: str
    category: str = Field(max_length=16)
    unit_weight_kg: float
    unit_volume_l: float
    cold_chain: bool = False
    urgent: bool = False
    ration: dict[str, int] | None = Field(default=None, sa_type=JSON)
    updated_at: datetime | None = _aware()


class SkuPublic(SkuBase):
    id: str
    ration: Ration | None = None
    updated_at: UtcDateTime | None = None


# --- read model from the communities topic -------------------------------------------

class Community(InventoryTable, table=True):
    __tablename__ = "communities"
    id: str = Field(primary_key=True, max_length=64)
    name: str
    district: str = Field(max_length=100)
    lat: float
    lon: float


# --- stock and its ledger -------------------------------------------------------------

class Stock(InventoryTable, table=True):
    __tablename__ = "stock"
    __table_args__ = (
        CheckConstraint("on_hand >= 0", name="ck_stock_on_hand_non_negative"),
        CheckConstraint("reserved >= 0", name="ck_stock_reserved_non_negative"),
        CheckConstraint("reserved <= on_hand", name="ck_stock_never_oversold"),
    )
    depot_id: str = Field(primary_key=True, max_length=64)
    sku: str = Field(primary_key=True, max_length=64, index=True)
    on_hand: int = 0
    reserved: int = 0
    # Set once a StockLow alert went out, cleared when stock recovers: one alert per dip.
    low_alerted: bool = False
    updated_at: datetime | None = _aware()


class StockPublic(BaseModel):
    depot_id: str
    sku: str
    on_hand: int
    reserved: int
    available: int
    low: bool
    updated_at: UtcDateTime | None = None


class LedgerEntry(InventoryTable, table=True):
    """Append-only: one row per movement, with its cause (event id and/or order id)."""

    __tablename__ = "stock_ledger"
    __table_args__ = (Index("ix_ledger_depot_sku_time", "depot_id", "sku", "created_at"),)
    id: int | None = Field(
        default=None, sa_column=Column(Integer, primary_key=True, autoincrement=True)
    )
    depot_id: str = Field(max_length=64)
    sku: str = Field(max_length=64)
    movement: str = Field(max_length=16)
    quantity: int
    on_hand_delta: int
    reserved_delta: int
    order_id: str | None = Field(default=None, max_length=200)
    event_id: str | None = Field(default=None, max_length=200)
    reason: str | None = None
    created_at: datetime | None = _aware()


# --- allocation: one row per order, whatever became of it ----------------------------

class Allocation(InventoryTable, table=True):
    """The primary key on order id is the "never reserve the same order twice" rule."""

    __tablename__ = "allocations"
    __table_args__ = (Index("ix_allocations_depot_status", "depot_id", "status"),)
    order_id: str = Field(primary_key=True, max_length=200)
    status: str = Field(max_length=16, index=True)
    depot_id: str | None = Field(default=None, max_length=64)
    household_id: str = Field(max_length=200)
    community_id: str = Field(max_length=64)
    priority: str = Field(max_length=16)
    priority_rank: int
    placed_at: datetime | None = _aware()
    lines: list[dict[str, Any]] = Field(default_factory=list, sa_type=JSON)
    reason: str | None = None
    created_at: datetime | None = _aware()
    updated_at: datetime | None = _aware()


class AllocationLine(InventoryTable, table=True):
    __tablename__ = "allocation_lines"
    order_id: str = Field(primary_key=True, max_length=200)
    sku: str = Field(primary_key=True, max_length=64, index=True)
    quantity: int


class BackorderLine(InventoryTable, table=True):
    """Only while an order is backordered: the queue stock arrivals look at, kept small."""

    __tablename__ = "backorder_lines"
    __table_args__ = (
        Index("ix_backorder_queue", "sku", "priority_rank", "placed_at", "order_id"),
    )
    order_id: str = Field(primary_key=True, max_length=200)
    sku: str = Field(primary_key=True, max_length=64)
    priority_rank: int
    placed_at: datetime | None = _aware()


class AllocationPublic(BaseModel):
    order_id: str
    status: str
    depot_id: str | None
    community_id: str
    priority: Priority
    placed_at: UtcDateTime
    lines: list[dict[str, Any]]
    reason: str | None


depots_t = core_table(Depot)
skus_t = core_table(Sku)
communities_t = core_table(Community)
stock_t = core_table(Stock)
ledger_t = core_table(LedgerEntry)
allocations_t = core_table(Allocation)
allocation_lines_t = core_table(AllocationLine)
backorder_lines_t = core_table(BackorderLine)
