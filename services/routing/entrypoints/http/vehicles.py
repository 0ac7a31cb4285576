from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from services.routing.adapters.orm import Vehicle
from services.routing.entrypoints.http.deps import Dispatcher, UowDep
from services.routing.entrypoints.http.schemas import (
    BreakdownPublic,
    BreakdownRequest,
    VehiclePublic,
    VehicleUpdate,
)
from services.routing.service_layer import vehicles, views
from services.routing.service_layer.deliveries import report_breakdown
from shared.errors import DomainError
from shared.http import BODY_ERRORS, error_responses
from shared.text import NO_NUL

router = APIRouter(prefix="/v1/vehicles", tags=["vehicles"], responses=error_responses(401, 403, 422))


@router.put("/{vehicle_id}", response_model=VehiclePublic, responses=error_responses(*BODY_ERRORS))
def put_vehicle(
    vehicle_id: str = Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$"),
    *, body: VehicleUpdate, uow: UowDep, principal: Dispatcher,
) -> Vehicle:
    """Register or replace a vehicle; a dispatcher only for (and from) his own depots."""
    if body.shift_end <= body.shift_start:  # "HH:MM" strings order as the times do
        raise DomainError("shift_end must be after shift_start", code="invalid_shift", field="shift_end")
    with uow:
        return vehicles.put_vehicle(uow, vehicle_id, body.model_dump(), principal)


@router.get("", response_model=list[VehiclePublic])
def list_vehicles(
    uow: UowDep, principal: Dispatcher,
    depot_id: Annotated[str | None, Query(pattern=NO_NUL)] = None,
) -> list[Vehicle]:
    with uow:
        return views.vehicles_of(uow, principal, depot_id)


VehicleId = Annotated[str, Path(min_length=1, max_length=64, pattern=NO_NUL)]


@router.post("/{vehicle_id}/breakdown", response_model=BreakdownPublic,
             responses=error_responses(*BODY_ERRORS, 404))
def vehicle_breakdown(vehicle_id: VehicleId, body: BreakdownRequest, uow: UowDep,
                      principal: Dispatcher) -> dict[str, object]:
    """The vehicle broke down: it leaves service, and its stops not yet recorded fail with
    the reason, so their orders return to demand for the next plan."""
    with uow:
        return report_breakdown(uow, vehicle_id, body.reason, principal)
