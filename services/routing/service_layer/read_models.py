"""Event handlers that keep routing's read models: communities, catalog, demand."""

from __future__ import annotations

from typing import Any

from services.routing.adapters.orm import Community, DemandOrder, Depot, Sku
from services.routing.domain.demand import next_status
from services.routing.service_layer.unit_of_work import RoutingUnitOfWork
from shared.events.envelope import CloudEvent
from shared.events.payloads import (
    CommunityChanged,
    DepotDefined,
    OrderCancelled,
    OrderPlaced,
    ReservationReleased,
    SkuDefined,
    StockReserved,
)


def _upsert(uow: RoutingUnitOfWork, model: Any, key: str, values: dict[str, Any]) -> None:
    row = uow.session.get(model, key)
    if row is None:
        row = model(id=key, **values)
    else:
        for field, value in values.items():
            setattr(row, field, value)
    uow.session.add(row)


def community_changed(uow: RoutingUnitOfWork, payload: CommunityChanged, _e: CloudEvent) -> None:
    _upsert(uow, Community, payload.community_id, {
        "name": payload.name, "district": payload.district, "lat": payload.lat, "lon": payload.lon,
        "risk_level": payload.risk_level, "receiving_windows": [list(w) for w in payload.receiving_windows],
        "gate_service_min": payload.gate_service_min,
    })


def sku_defined(uow: RoutingUnitOfWork, payload: SkuDefined, _e: CloudEvent) -> None:
    _upsert(uow, Sku, payload.sku, {
        "category": payload.category, "unit_weight_kg": payload.unit_weight_kg,
        "unit_volume_l": payload.unit_volume_l, "cold_chain": payload.cold_chain,
    })


def depot_defined(uow: RoutingUnitOfWork, payload: DepotDefined, _e: CloudEvent) -> None:
    _upsert(uow, Depot, payload.depot_id, {
        "name": payload.name, "tier": payload.tier, "district": payload.district, "lat": payload.lat,
        "lon": payload.lon, "cold_storage": payload.cold_storage,
    })


def order_placed(uow: RoutingUnitOfWork, payload: OrderPlaced, _e: CloudEvent) -> None:
    row = uow.session.get(DemandOrder, payload.order_id)
    if row is None:
        row = DemandOrder(order_id=payload.order_id, community_id=payload.community_id)
    row.priority = payload.priority
    row.placed_at = payload.placed_at
    if not row.lines:
        row.lines = [line.model_dump() for line in payload.items]
    uow.session.add(row)


def stock_reserved(uow: RoutingUnitOfWork, payload: StockReserved, _e: CloudEvent) -> None:
    row = uow.session.get(DemandOrder, payload.order_id)
    if row is None:
        row = DemandOrder(order_id=payload.order_id, community_id=payload.community_id)
    status = next_status(row.status, "reserved")
    if status is None:
        return
    row.status = status
    row.depot_id = payload.depot_id
    row.community_id = payload.community_id
    row.priority = payload.priority
    row.placed_at = payload.placed_at
    row.lines = [line.model_dump() for line in payload.lines]
    uow.session.add(row)


def _transition(uow: RoutingUnitOfWork, order_id: str, happened: str) -> None:
    row = uow.session.get(DemandOrder, order_id)
    if row is None:
        if happened == "cancelled":
            # Remember the cancel so a reservation that arrives late cannot revive it.
            uow.session.add(DemandOrder(order_id=order_id, community_id="", status="cancelled"))
        return
    status = next_status(row.status, happened)
    if status is not None:
        row.status = status
        uow.session.add(row)


def reservation_released(uow: RoutingUnitOfWork, payload: ReservationReleased, _e: CloudEvent) -> None:
    _transition(uow, payload.order_id, "released")


def order_cancelled(uow: RoutingUnitOfWork, payload: OrderCancelled, _e: CloudEvent) -> None:
    _transition(uow, payload.order_id, "cancelled")
