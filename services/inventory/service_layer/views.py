"""Reads for the HTTP API: the supply outlook per category, stock rows, one allocation."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from services.inventory.adapters.allocations import AllocationRow
from services.inventory.adapters.repository import StockRow
from services.inventory.domain.model import Category
from services.inventory.domain.stock import days_of_supply
from services.inventory.service_layer.context import Context
from services.inventory.service_layer.unit_of_work import InventoryUnitOfWork
from shared.errors import NotFound


def outlook(uow: InventoryUnitOfWork, district: str | None, ctx: Context) -> dict[str, Any]:
    window = ctx.config.demand_window_days
    with uow:
        depots = [d for d in uow.catalog.list_depots() if district is None or d.district == district]
        if district is not None and not depots:
            raise NotFound(f"no depot in district {district!r}", field="district")
        depot_ids = [d.id for d in depots]
        categories = uow.catalog.categories()
        rows = [r for r in uow.stock.list() if r.depot_id in set(depot_ids)]
        demand = uow.ledger.demand_by_sku(depot_ids, ctx.now() - timedelta(days=window)) if depot_ids else {}
    figures = {c.value: {"on_hand": 0, "reserved": 0, "available": 0, "demand": 0} for c in Category}
    for row in rows:
        bucket = figures.get(categories.get(row.sku, ""))
        if bucket is not None:
            bucket["on_hand"] += row.on_hand
            bucket["reserved"] += row.reserved
            bucket["available"] += row.available
    for sku, units in demand.items():
        bucket = figures.get(categories.get(sku, ""))
        if bucket is not None:
            bucket["demand"] += units
    return {
        "district": district,
        "depot_ids": depot_ids,
        "window_days": window,
        "categories": [
            {
                "category": category,
                "on_hand": f["on_hand"],
                "reserved": f["reserved"],
                "available": f["available"],
                "daily_demand": round(f["demand"] / window, 3),
                "days_of_supply": days_of_supply(f["on_hand"], f["demand"] / window),
            }
            for category, f in figures.items()
        ],
    }


def stock_rows(
    uow: InventoryUnitOfWork, *, depot_id: str | None = None, sku: str | None = None,
    depots: Iterable[str] | None = None,
) -> list[StockRow]:
    with uow:
        if depot_id is not None and uow.catalog.depot(depot_id) is None:
            raise NotFound(f"unknown depot {depot_id!r}", field="depot_id")
        if sku is not None and uow.catalog.sku(sku) is None:
            raise NotFound(f"unknown SKU {sku!r}", field="sku")
        rows = uow.stock.list(depot_id=depot_id, sku=sku)
    if depots is not None:
        allowed = set(depots)
        rows = [r for r in rows if r.depot_id in allowed]
    return rows


def get_allocation(uow: InventoryUnitOfWork, order_id: str) -> AllocationRow:
    with uow:
        allocation = uow.allocations.get(order_id)
    if allocation is None:
        raise NotFound(f"no allocation for order {order_id!r}", field="order_id")
    return allocation
