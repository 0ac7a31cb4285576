from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query
from sqlalchemy import select
from sqlmodel import col

from services.routing.adapters.orm import Vehicle
from services.routing.entrypoints.http.deps import Dispatcher, UowDep
from services.routing.entrypoints.http.schemas import (
    BreakdownPublic,
    BreakdownRequest,
    VehiclePublic,
    VehicleUpdate,
)
from services.routing.service_layer.access import check_depot_access
from services.routing.service_layer.deliveries import report_breakdown
from shared.http import BODY_ERRORS, NO_NUL, DomainError, error_responses

router = APIRouter(prefix="/v1/vehicles", tags=["vehicles"], responses=error_responses(401, 403, 422))


@router.put("/{vehicle_id}", response_model=VehiclePublic, responses=error_responses(*BODY_ERRORS))
def put_vehicle(
    vehicle_id: str = Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$"),
    *, body: VehicleUpdate, uow: UowDep, principal: Dispatcher,
) -> Vehicle:
    """Register or replace a vehicle; a dispatcher only for (and from) his own depots."""
    if body.shift_end <= body.shift_start:  # "HH:MM" strings order as the times do
        raise DomainError("shift_end must be after shift_start", code="invalid_shift", field="shift_end")
    check_depot_access(principal, [body.depot_id])
    with uow:
        vehicle = uow.session.get(Vehicle, vehicle_id)
        if vehicle is not None:
            check_depot_access(principal, [vehicle.depot_id])
        vehicle = vehicle or Vehicle(id=vehicle_id, **body.model_dump())
        for field, value in body.model_dump().items():
            setattr(vehicle, field, value)
        if vehicle.in_service:
            vehicle.out_of_service_reason = None
        uow.session.add(vehicle)
        uow.commit()
        return vehicle


@router.get("", response_model=list[VehiclePublic])
def list_vehicles(
    uow: UowDep, principal: Dispatcher,
    depot_id: Annotated[str | None, Query(pattern=NO_NUL)] = None,
) -> list[Vehicle]:
    with uow:
        query = select(Vehicle).order_by(col(Vehicle.id))
        if depot_id is not None:
            query = query.where(col(Vehicle.depot_id) == depot_id)
        if principal.role != "admin":
            query = query.where(col(Vehicle.depot_id).in_(principal.depot_ids))
        return list(uow.session.execute(query).scalars())


VehicleId = Annotated[str, Path(min_length=1, max_length=64, pattern=NO_NUL)]


@router.post("/{vehicle_id}/breakdown", response_model=BreakdownPublic,
             responses=error_responses(*BODY_ERRORS, 404))
def vehicle_breakdown(vehicle_id: VehicleId, body: BreakdownRequest, uow: UowDep,
                      principal: Dispatcher) -> dict[str, object]:
    """The vehicle broke down: it leaves service, and its stops not yet recorded fail with
    the reason, so their orders return to demand for the next plan."""
    with uow:
        return report_breakdown(uow, vehicle_id, body.reason, principal)
