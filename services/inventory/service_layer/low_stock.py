"""The low-stock alert: published once when a depot's SKU dips under the threshold (in
days of supply at recent demand, or units), re-armed when it recovers."""

from __future__ import annotations

from datetime import timedelta

from services.inventory.adapters.repository import StockRow
from services.inventory.domain.model import Movement
from services.inventory.domain.stock import is_low
from services.inventory.service_layer.context import Context
from services.inventory.service_layer.unit_of_work import InventoryUnitOfWork
from shared.events.payloads import StockLow

# Ledger movements that make up demand (reserved, minus released again).
DEMAND_MOVEMENTS = (Movement.RESERVED.value, Movement.RELEASED.value)


def check_low(uow: InventoryUnitOfWork, row: StockRow, ctx: Context) -> None:
    """Publish StockLow once when a depot's SKU dips under the threshold; re-arm on recovery.
    Recent demand comes from ``ctx.demand`` (the ledger SUM at most once per TTL)."""
    config = ctx.config
    now = ctx.now()
    key = (row.depot_id, row.sku)
    units = ctx.demand.get(key, now)
    if units is None:
        since = now - timedelta(days=config.demand_window_days)
        units = uow.reservation_store.net_reserved_since(row.depot_id, row.sku, since, DEMAND_MOVEMENTS)
        ctx.demand.put(key, units, now)
    daily = units / config.demand_window_days
    low, dos = is_low(
        row.available, daily, threshold_days=config.low_stock_days, threshold_units=config.low_stock_units
    )
    if low and not row.low_alerted:
        uow.reservation_store.set_low_alerted(row.depot_id, row.sku, True)
        uow.publish(
            StockLow(
                depot_id=row.depot_id, sku=row.sku, available=row.available,
                days_of_supply=dos, threshold_days=config.low_stock_days,
            )
        )
    elif not low and row.low_alerted:
        uow.reservation_store.set_low_alerted(row.depot_id, row.sku, False)
