"""Who calls: the five roles with their scopes, and the credentials that must all be refused.

Every refused credential claims to be an admin, so a 401 proves that the claim itself
was not trusted (a forged admin is the strongest forgery there is).
"""

from __future__ import annotations

import time
from typing import Any

import jwt

from shared.auth import TokenService
from shared.settings import Settings
from tests.support import bearer, tokens

ROLES = ("resident", "community_worker", "dispatcher", "admin", "inventory_system")
REFUSED = (
    "anonymous", "garbage", "bad_signature", "expired", "wrong_issuer", "alg_none", "unknown_role",
    "no_expiry",
)
PRINCIPALS = REFUSED + ROLES

OTHER_SECRET = "not-the-lifeline-secret-not-the-lifeline-secret-0123"


def _claims(settings: Settings, **changes: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": "admin-1", "role": "admin", "iss": settings.jwt_issuer, "iat": now, "exp": now + 600,
    }
    claims.update(changes)
    return {name: value for name, value in claims.items() if value is not None}


def refused_credentials(settings: Settings, name: str) -> dict[str, str]:
    secret = settings.jwt_secret.get_secret_value()
    match name:
        case "anonymous":
            return {}
        case "garbage":
            return bearer("not-a-jwt")
        case "bad_signature":
            return bearer(TokenService(OTHER_SECRET, issuer=settings.jwt_issuer).mint("admin-1", "admin"))
        case "expired":
            return bearer(tokens(settings).mint("admin-1", "admin", ttl_s=-120))
        case "wrong_issuer":
            return bearer(TokenService(secret, issuer="someone-else").mint("admin-1", "admin"))
        case "alg_none":
            return bearer(jwt.encode(_claims(settings), key=None, algorithm="none"))
        case "unknown_role":
            return bearer(jwt.encode(_claims(settings, role="superuser"), secret, algorithm="HS256"))
        case "no_expiry":
            return bearer(jwt.encode(_claims(settings, exp=None), secret, algorithm="HS256"))
    raise KeyError(name)


def role_credentials(
    settings: Settings,
    role: str,
    *,
    household_id: str = "H-A",
    community_ids: tuple[str, ...] = ("C-1",),
    depot_ids: tuple[str, ...] = ("DC-1",),
) -> dict[str, str]:
    minted = tokens(settings)
    match role:
        case "resident":
            return bearer(minted.mint(household_id, "resident"))
        case "community_worker":
            return bearer(minted.mint("worker-1", "community_worker", community_ids=list(community_ids)))
        case "dispatcher":
            return bearer(minted.mint("dispatcher-1", "dispatcher", depot_ids=list(depot_ids)))
        case "admin":
            return bearer(minted.mint("admin-1", "admin"))
        case "inventory_system":
            return bearer(minted.mint("wms-1", "inventory_system", depot_ids=list(depot_ids)))
    raise KeyError(role)


def credentials(settings: Settings, principal: str, **scope: Any) -> dict[str, str]:
    if principal in REFUSED:
        return refused_credentials(settings, principal)
    return role_credentials(settings, principal, **scope)
