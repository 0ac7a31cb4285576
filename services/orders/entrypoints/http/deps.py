"""FastAPI dependencies: the runtime, a fresh unit of work, and who may call.

All of them are ``async def``: FastAPI runs a sync dependency in the thread pool, one
hop per dependency per request, which under load cost more CPU than placing the order.
None of them blocks (JWT checks are a few microseconds of CPU).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from services.orders.service_layer.unit_of_work import OrdersUnitOfWork
from shared.auth import Principal, Role, _current_principal, require_roles
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


UowDep = Annotated[OrdersUnitOfWork, Depends(get_uow)]
SettingsDep = Annotated[Settings, Depends(get_settings)]


async def current_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    # shared.auth's own checks (401 shapes included), run on the event loop.
    return _current_principal(request, credentials)


def roles(*allowed: Role) -> Callable[[Principal], Awaitable[Principal]]:
    check = require_roles(*allowed)

    async def dependency(
        principal: Annotated[Principal, Depends(current_principal)],
    ) -> Principal:
        return check(principal)

    return dependency


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
