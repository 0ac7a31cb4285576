"""Bearer JWTs for people and warehouse systems, and the FastAPI dependencies that check them.

HS256 with a configured secret in development; the verifier takes any PyJWT key, so
RS256 with keys from a JWKS endpoint is a configuration change, not a code change.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Annotated, Literal

import jwt
from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

Role = Literal["resident", "community_worker", "dispatcher", "admin", "inventory_system"]
ROLES: tuple[Role, ...] = ("resident", "community_worker", "dispatcher", "admin", "inventory_system")


@dataclass(frozen=True)
class Principal:
    subject: str
    role: Role
    community_ids: frozenset[str] = field(default_factory=frozenset)
    depot_ids: frozenset[str] = field(default_factory=frozenset)

    @property
    def household_id(self) -> str | None:
        return self.subject if self.role == "resident" else None

    def can_act_for_community(self, community_id: str) -> bool:
        return self.role == "admin" or (
            self.role == "community_worker" and community_id in self.community_ids
        )

    def can_act_for_depot(self, depot_id: str) -> bool:
        return self.role == "admin" or (
            self.role in ("dispatcher", "inventory_system") and depot_id in self.depot_ids
        )


class AuthError(Exception):
    pass


class TokenService:
    def __init__(self, secret: str, *, algorithm: str = "HS256", issuer: str = "lifeline") -> None:
        self._secret = secret
        self._algorithm = algorithm
        self._issuer = issuer

    def mint(
        self,
        subject: str,
        role: Role,
        *,
        community_ids: list[str] | None = None,
        depot_ids: list[str] | None = None,
        ttl_s: int = 12 * 3600,
    ) -> str:
        # Wall time, not the service clock (shared/clock.py): a token is a real credential,
        # and ``verify`` (PyJWT) checks ``exp`` against wall time, whatever a simulation's
        # clock says; a simulated clock would mint tokens expired or valid for years.
        now = int(time.time())
        claims: dict[str, object] = {
            "sub": subject, "role": role, "iss": self._issuer, "iat": now, "exp": now + ttl_s,
        }
        if community_ids:
            claims["community_ids"] = sorted(community_ids)
        if depot_ids:
            claims["depot_ids"] = sorted(depot_ids)
        return jwt.encode(claims, self._secret, algorithm=self._algorithm)

    def verify(self, token: str) -> Principal:
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=[self._algorithm],
                issuer=self._issuer,
                options={"require": ["sub", "exp", "role"]},
            )  # ``exp`` against the wall clock, on purpose: see ``mint``
        except jwt.PyJWTError as exc:
            raise AuthError(str(exc)) from exc
        role = claims.get("role")
        if role not in ROLES:
            raise AuthError(f"unknown role {role!r}")
        return Principal(
            subject=str(claims["sub"]),
            role=role,
            community_ids=frozenset(map(str, claims.get("community_ids", []))),
            depot_ids=frozenset(map(str, claims.get("depot_ids", []))),
        )


_bearer = HTTPBearer(auto_error=False)


def _current_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    if credentials is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail={"code": "not_authenticated", "message": "a bearer token is required"},
            headers={"WWW-Authenticate": "Bearer"},
        )
    tokens: TokenService = request.app.state.tokens
    try:
        return tokens.verify(credentials.credentials)
    except AuthError as exc:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail={"code": "invalid_token", "message": f"invalid token: {exc}"},
            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
        ) from exc


CurrentPrincipal = Annotated[Principal, Depends(_current_principal)]


def require_roles(*roles: Role) -> Callable[[Principal], Principal]:
    allowed = frozenset(roles)

    def dependency(principal: CurrentPrincipal) -> Principal:
        if principal.role not in allowed:
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                detail={
                    "code": "forbidden",
                    "message": f"role {principal.role!r} may not do this; needs one of "
                    + ", ".join(sorted(allowed)),
                },
            )
        return principal

    return dependency


# --- the fast path of the busiest service ----------------------------------------------

class VerifiedTokens:
    """Tokens already verified, until they expire (at most ``ttl_s``): residents send the
    same token with every request, and checking its signature again cost ~0.2 ms each.
    Expiry is wall time (``time.time()``), not the service clock: tokens are real
    credentials and their ``exp`` is wall time."""

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


def _verified_tokens(request: Request) -> VerifiedTokens:
    # One cache per app: a token is trusted only by the app (secret) that verified it.
    cache: VerifiedTokens | None = getattr(request.app.state, "verified_tokens", None)
    if cache is None:
        cache = request.app.state.verified_tokens = VerifiedTokens()
    return cache


async def cached_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    verified = _verified_tokens(request)
    if credentials is not None:
        cached = verified.get(credentials.credentials)
        if cached is not None:
            return cached
    # The full check (and its 401 answers), run on the event loop.
    principal = _current_principal(request, credentials)
    assert credentials is not None  # the check above raised 401 otherwise
    verified.put(credentials.credentials, principal)
    return principal


def roles(*allowed: Role) -> Callable[..., Awaitable[Principal]]:
    """``require_roles`` as one async dependency with the verified-token cache: for the
    routes under load (order intake), where each dependency level and each thread-pool
    hop of a sync dependency cost measurable CPU per request."""
    check = require_roles(*allowed)

    # One dependency, not one on top of cached_principal: each level of FastAPI's
    # dependency solving cost ~60 us of CPU per request.
    async def dependency(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> Principal:
        return check(await cached_principal(request, credentials))

    return dependency
