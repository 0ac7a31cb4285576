"""FastAPI dependencies: the runtime, a fresh unit of work, and who may call.

All of them are ``async def``: FastAPI runs a sync dependency in the thread pool, one
hop per dependency per request, which under load cost more CPU than placing the order.
None of them blocks; the role checks are ``shared.auth.roles`` (verified tokens cached).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPBearer

from services.orders.service_layer.handlers import OrderIntake
from services.orders.service_layer.unit_of_work import OrdersUnitOfWork
from shared.auth import Principal, roles
from shared.runtime import ServiceRuntime
from shared.settings import Settings

_bearer = HTTPBearer(auto_error=False)


async def get_runtime(request: Request) -> ServiceRuntime[OrdersUnitOfWork]:
    runtime: ServiceRuntime[OrdersUnitOfWork] = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[ServiceRuntime[OrdersUnitOfWork], Depends(get_runtime)]


async def get_uow(runtime: RuntimeDep) -> OrdersUnitOfWork:
    return runtime.uow()


async def get_settings(runtime: RuntimeDep) -> Settings:
    return runtime.settings


async def get_intake(request: Request) -> OrderIntake:
    intake: OrderIntake = request.app.state.order_intake
    return intake


UowDep = Annotated[OrdersUnitOfWork, Depends(get_uow)]

IntakeDep = Annotated[OrderIntake, Depends(get_intake)]

SettingsDep = Annotated[Settings, Depends(get_settings)]


AdminUser = Annotated[Principal, Depends(roles("admin"))]
HouseholdEditor = Annotated[Principal, Depends(roles("admin", "community_worker"))]
HouseholdReader = Annotated[Principal, Depends(roles("admin", "community_worker", "resident"))]
Orderer = Annotated[Principal, Depends(roles("resident", "community_worker"))]
OrderReader = Annotated[
    Principal, Depends(roles("resident", "community_worker", "dispatcher", "admin"))
]
OrderCanceller = Annotated[Principal, Depends(roles("resident", "community_worker", "admin"))]
AnyUser = Annotated[
    Principal,
    Depends(roles("resident", "community_worker", "dispatcher", "admin", "inventory_system")),
]
