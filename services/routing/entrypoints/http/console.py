from __future__ import annotations

from importlib import resources

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from shared.auth import TokenService
from shared.errors import NotFound
from shared.settings import DEV_JWT_SECRET

router = APIRouter(tags=["console"])

_PAGE = resources.files("services.routing.entrypoints.http").joinpath("static/console.html").read_text()


@router.get("/console", response_class=HTMLResponse, include_in_schema=False)
def console() -> str:
    """The dispatcher console: plain HTML and JS over the routing API, no build step."""
    return _PAGE


@router.get("/console/dev-token", include_in_schema=False)
def development_token(request: Request) -> dict[str, str]:
    # Only where nobody real is dispatching: development with the development secret (the
    # embedded demo). Once a real secret is configured, tokens come from the identity provider.
    settings = request.app.state.settings
    if settings.mode != "development" or settings.jwt_secret.get_secret_value() != DEV_JWT_SECRET:
        raise NotFound("not available outside development mode")
    tokens: TokenService = request.app.state.tokens
    return {"token": tokens.mint("console-dev", "admin", ttl_s=8 * 3600)}
