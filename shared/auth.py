"""Bearer JWTs for people and warehouse systems, and the FastAPI dependencies that check them.

HS256 with a configured secret in development; the verifier takes any PyJWT key, so
RS256 with keys from a JWKS endpoint is a configuration change, not a code change.
"""

from __future__ import annotations

import time
from collections.abc import Callable
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
