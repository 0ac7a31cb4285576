"""Event handlers that keep routing's read models: communities, catalog, demand.

Demand rows (one per order, every order passes twice) are written through
the unit of work's ``demand_store`` (driver-level statements, ``adapters.demand``); the rare catalog, depot and
community definitions through the ORM."""

from __future__ import annotations

from typing import Any

from services.routing.adapters.orm import Community, Depot, Sku, VehiclePosition
from services.routing.domain.demand import CANCELLED, PLACED, next_status
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
    VehiclePositioned,
)


def _upsert(uow: RoutingUnitOfWork, model: Any, key: str, values: dict[str, Any], key_field: str = "id") -> None:
    row = uow.session.get(model, key)
    if row is None:
        row = model(**{key_field: key}, **values)
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
    # One upsert: a new row is placed; a known one (even a remembered cancel) takes the
    # priority and time, and keeps the lines it already has.
    uow.demand_store.record_placed(
        payload.order_id, community_id=payload.community_id, priority=payload.priority,
        placed_at=payload.placed_at, lines=[line.model_dump() for line in payload.items],
    )


def stock_reserved(uow: RoutingUnitOfWork, payload: StockReserved, _e: CloudEvent) -> None:
    store = uow.demand_store
    current = store.status(payload.order_id)
    # An order routing has not seen placed yet counts as placed.
    status = next_status(PLACED if current is None else current, "reserved")
    if status is None:
        return
    values: dict[str, Any] = {
        "status": status, "depot_id": payload.depot_id, "community_id": payload.community_id,
        "priority": payload.priority, "placed_at": payload.placed_at,
        "lines": [line.model_dump() for line in payload.lines],
    }
    if current is None:
        store.insert(payload.order_id, **values)
    else:
        store.update(payload.order_id, current, values)


def _transition(uow: RoutingUnitOfWork, order_id: str, happened: str) -> None:
    store = uow.demand_store
    current = store.status(order_id)
    if current is None:
        if happened == "cancelled":
            # Remember the cancel so a reservation that arrives late cannot revive it.
            store.insert(order_id, community_id="", status=CANCELLED)
        return
    status = next_status(current, happened)
    if status is not None:
        store.update(order_id, current, {"status": status})


def reservation_released(uow: RoutingUnitOfWork, payload: ReservationReleased, _e: CloudEvent) -> None:
    _transition(uow, payload.order_id, "released")


def order_cancelled(uow: RoutingUnitOfWork, payload: OrderCancelled, _e: CloudEvent) -> None:
    _transition(uow, payload.order_id, "cancelled")


def vehicle_positioned(uow: RoutingUnitOfWork, payload: VehiclePositioned, _e: CloudEvent) -> None:
    # Telemetry may arrive late or twice: a position older than the one kept changes nothing.
    row = uow.session.get(VehiclePosition, payload.vehicle_id)
    if row is not None and row.at is not None and row.at >= payload.at:
        return
    _upsert(uow, VehiclePosition, payload.vehicle_id, {
        "depot_id": payload.depot_id, "plan_id": payload.plan_id, "lat": payload.lat, "lon": payload.lon,
        "state": payload.state, "next_stop_id": payload.next_stop_id, "at": payload.at,
    }, key_field="vehicle_id")
