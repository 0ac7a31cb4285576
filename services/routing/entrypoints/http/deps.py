from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from services.routing.service_layer.planner import Planner
from services.routing.service_layer.unit_of_work import RoutingUnitOfWork
from shared.auth import Principal, require_roles


def _uow(request: Request) -> RoutingUnitOfWork:
    uow: RoutingUnitOfWork = request.app.state.runtime.uow()
    return uow


def _planner(request: Request) -> Planner:
    planner: Planner = request.app.state.planner
    return planner


UowDep = Annotated[RoutingUnitOfWork, Depends(_uow)]
PlannerDep = Annotated[Planner, Depends(_planner)]
Dispatcher = Annotated[Principal, Depends(require_roles("dispatcher", "admin"))]
