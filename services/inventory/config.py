"""Inventory's own tunables (``LIFELINE_INVENTORY_`` prefix), beside the shared Settings."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

# The most events one POST /v1/stock-events may carry (SPEC section 9; the OpenAPI schema
# says so); a deployment may lower it.
MAX_STOCK_EVENTS_PER_REQUEST = 1000


class InventoryConfig(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LIFELINE_INVENTORY_", env_file=".env", extra="ignore")

    # A backorder waiting longer than this is rejected: the household should order again
    # (or be served by another channel) rather than wait on stock that is not coming.
    backorder_max_age_h: float = Field(default=72.0, gt=0)
    backorder_sweep_interval_s: float = Field(default=60.0, gt=0)
    # Backorders tried per stock arrival: bounds one event's transaction.
    backorder_batch: int = Field(default=500, gt=0)
    # Recent demand for days-of-supply figures and low-stock alerts.
    demand_window_days: float = Field(default=7.0, gt=0)
    low_stock_days: float = Field(default=3.0, ge=0)
    low_stock_units: int = Field(default=10, ge=0)
    # Recent demand per depot and SKU is read from the ledger at most this often (seconds)
    # and kept current in between by this process's own movements; 0 reads it every time.
    demand_cache_s: float = Field(default=60.0, ge=0)
    # Catalog facts on the reservation path (depots, cold chain, community locations) are
    # re-read at least this often (seconds), so a change made through another replica is
    # seen; this replica's own changes apply at once. 0 reads them every time.
    catalog_cache_s: float = Field(default=5.0, ge=0)
    max_stock_events_per_request: int = Field(
        default=MAX_STOCK_EVENTS_PER_REQUEST, gt=0, le=MAX_STOCK_EVENTS_PER_REQUEST
    )
