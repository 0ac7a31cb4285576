"""The day as it goes: the fleet on the road and the supply office's figures for today."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from services.routing.entrypoints.http.deps import Dispatcher, UowDep
from services.routing.service_layer import views
from services.routing.service_layer.access import check_depot_access
from shared import clock
from shared.http import error_responses
from shared.text import NO_NUL

router = APIRouter(tags=["operations"], responses=error_responses(401, 403, 422))

DepotId = Annotated[str, Query(min_length=1, max_length=64, pattern=NO_NUL)]


def _depots(principal: Any, depot_id: str) -> set[str]:
    check_depot_access(principal, [depot_id])
    return {depot_id}


@router.get("/v1/fleet")
def fleet(uow: UowDep, principal: Dispatcher, request: Request, depot_id: DepotId) -> list[dict[str, Any]]:
    """Each vehicle of the depots: in service, last position, progress along today's route."""
    tz = request.app.state.tz
    with uow:
        return views.fleet_of(uow, _depots(principal, depot_id), clock.now().astimezone(tz).date())


@router.get("/v1/outcomes")
def outcomes(uow: UowDep, principal: Dispatcher, request: Request, depot_id: DepotId) -> dict[str, Any]:
    """Today's figures (orders placed since local midnight): medicine within 6 h, priority
    orders waiting over 24 h, fill rate per community."""
    now = clock.now()
    with uow:
        return views.outcomes_since(uow, _depots(principal, depot_id),
                                    views.start_of_day(now, request.app.state.tz), now)
