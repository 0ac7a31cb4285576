"""FastAPI dependencies: the runtime, a fresh unit of work, and who may call.

All of them are ``async def``: FastAPI runs a sync dependency in the thread pool, one
hop per dependency per request, which under load cost more CPU than placing the order.
None of them blocks (JWT checks are a few microseconds of CPU).
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from services.orders.service_layer.handlers import OrderIntake
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


async def get_intake(request: Request) -> OrderIntake:
    intake: OrderIntake = request.app.state.order_intake
    return intake


UowDep = Annotated[OrdersUnitOfWork, Depends(get_uow)]

IntakeDep = Annotated[OrderIntake, Depends(get_intake)]

SettingsDep = Annotated[Settings, Depends(get_settings)]


class _VerifiedTokens:
    """Tokens already verified, until they expire (at most ``ttl_s``): residents send the
    same token with every request, and checking its signature again cost ~0.2 ms each.
    Expiry is wall time (``time.time()``), not the service clock: tokens are real
    credentials and their ``exp`` is wall time (shared/auth.py)."""

    def __init__(self, size: int = 20_000, ttl_s: float = 300.0) -> None:
        self._size = size
        self._ttl_s = ttl_s
        self._known: dict[str, tuple[Principal, float]] = {}

    def get(self, token: str) -> Principal | None:
        found = self._known.get(token)
        if found is None:
            return None
        if found[1] <= time.time():
            self._known.pop(token, None)
            return None
        return found[0]

    def put(self, token: str, principal: Principal) -> None:
        if len(self._known) >= self._size:
            self._known.clear()  # crude but bounded; a miss only costs a verification
        self._known[token] = (principal, min(_expiry(token), time.time() + self._ttl_s))


def _expiry(token: str) -> float:
    """The ``exp`` claim of a token the verifier has just accepted (so it is well formed)."""
    try:
        body = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        return float(claims["exp"])
    except (IndexError, KeyError, TypeError, ValueError):
        return 0.0  # not cacheable


def _verified_tokens(request: Request) -> _VerifiedTokens:
    # One cache per app: a token is trusted only by the app (secret) that verified it.
    cache: _VerifiedTokens | None = getattr(request.app.state, "verified_tokens", None)
    if cache is None:
        cache = request.app.state.verified_tokens = _VerifiedTokens()
    return cache


async def current_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    verified = _verified_tokens(request)
    if credentials is not None:
        cached = verified.get(credentials.credentials)
        if cached is not None:
            return cached
    # shared.auth's own checks (401 shapes included), run on the event loop.
    principal = _current_principal(request, credentials)
    assert credentials is not None  # the check above raised 401 otherwise
    verified.put(credentials.credentials, principal)
    return principal


def roles(*allowed: Role) -> Callable[..., Awaitable[Principal]]:
    check = require_roles(*allowed)

    # One dependency, not one on top of current_principal: each level of FastAPI's
    # dependency solving cost ~60 us of CPU per request.
    async def dependency(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> Principal:
        return check(await current_principal(request, credentials))

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
