"""Request and response bodies of the stock endpoints (catalog schemas sit beside
their tables in ``adapters/orm.py``)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from services.inventory.adapters.orm import StockPublic


class StockEventBatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    events: list[Any] = Field(description="CloudEvents as on lifeline.stock-updates.v1")


class StockEventOutcome(BaseModel):
    index: int
    id: str | None
    status: Literal["applied", "duplicate", "rejected"]
    reason: str | None = None


class StockEventsResponse(BaseModel):
    applied: int
    duplicates: int
    rejected: int
    results: list[StockEventOutcome]


class StockList(BaseModel):
    items: list[StockPublic]


class CategoryOutlook(BaseModel):
    category: str
    on_hand: int
    reserved: int
    available: int
    daily_demand: float
    days_of_supply: float | None = Field(description="null when there is no recent demand")


class Outlook(BaseModel):
    district: str | None
    depot_ids: list[str]
    window_days: float
    categories: list[CategoryOutlook]
