from __future__ import annotations

from importlib import resources

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from shared.auth import TokenService
from shared.http import NotFound

router = APIRouter(tags=["console"])

_PAGE = resources.files("services.routing.entrypoints.http").joinpath("static/console.html").read_text()


@router.get("/console", response_class=HTMLResponse, include_in_schema=False)
def console() -> str:
    """The dispatcher console: plain HTML and JS over the routing API, no build step."""
    return _PAGE


@router.get("/console/dev-token", include_in_schema=False)
def development_token(request: Request) -> dict[str, str]:
    # Only where nobody real is dispatching: development and the embedded demo.
    if request.app.state.settings.mode != "development":
        raise NotFound("not available outside development mode")
    tokens: TokenService = request.app.state.tokens
    return {"token": tokens.mint("console-dev", "admin", ttl_s=8 * 3600)}
