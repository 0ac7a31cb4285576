from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query

from services.routing.entrypoints.http.deps import Dispatcher, UowDep
from services.routing.entrypoints.http.schemas import DemandCommunity
from services.routing.service_layer import views
from services.routing.service_layer.access import check_depot_access
from shared.http import error_responses
from shared.text import NO_NUL

router = APIRouter(prefix="/v1/demand", tags=["demand"], responses=error_responses(401, 403, 422))


@router.get("", response_model=list[DemandCommunity])
def get_demand(
    uow: UowDep, principal: Dispatcher, depot_id: str = Query(min_length=1, max_length=64, pattern=NO_NUL)
) -> list[dict[str, Any]]:
    """Reserved, unscheduled orders of a depot, grouped by community."""
    check_depot_access(principal, [depot_id])
    with uow:
        return views.demand_of(uow, depot_id)
