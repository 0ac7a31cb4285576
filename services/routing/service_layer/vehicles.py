"""Registering a vehicle, or replacing what routing knows of it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from services.routing.adapters.orm import Vehicle
from services.routing.service_layer.access import check_depot_access
from services.routing.service_layer.unit_of_work import RoutingUnitOfWork
from shared.auth import Principal


def put_vehicle(uow: RoutingUnitOfWork, vehicle_id: str, fields: Mapping[str, Any], principal: Principal) -> Vehicle:
    """A dispatcher only for (and from) their own depots; a vehicle put back in service
    forgets why it was out."""
    check_depot_access(principal, [fields["depot_id"]])
    vehicle = uow.vehicles.get(vehicle_id)
    if vehicle is not None:
        check_depot_access(principal, [vehicle.depot_id])
    vehicle = vehicle or Vehicle(id=vehicle_id, **fields)
    for field, value in fields.items():
        setattr(vehicle, field, value)
    if vehicle.in_service:
        vehicle.out_of_service_reason = None
    uow.vehicles.add(vehicle)
    uow.commit()
    return vehicle
