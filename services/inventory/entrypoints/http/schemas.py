"""Request and response bodies of the stock endpoints (catalog schemas sit beside
their tables in ``adapters/orm.py``)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from services.inventory.adapters.orm import StockPublic
from services.inventory.config import MAX_STOCK_EVENTS_PER_REQUEST

# Each event is checked on its own (and answered applied / duplicate / rejected), so an
# item may be any JSON. The batch size is documented here and checked by the endpoint,
# which answers a 422 with its own code (``invalid_field``, ``too_many_events``).
StockEventList = Annotated[
    list[Any], Field(description="CloudEvents as on lifeline.stock-updates.v1",
                     json_schema_extra={"minItems": 1, "maxItems": MAX_STOCK_EVENTS_PER_REQUEST}),
]


class StockEventBatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    events: StockEventList


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
