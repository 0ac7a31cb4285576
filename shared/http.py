"""What every service's HTTP edge shares: the app factory, error shapes and body limits."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Annotated, Any

import fastapi.routing
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.auth import TokenService
from shared.clock import as_utc
from shared.db import DATABASE_UNAVAILABLE
from shared.errors import Conflict, DomainError, Forbidden, NotFound, TooManyRequests, Unavailable
from shared.observability import MetricsMiddleware
from shared.settings import Settings
from shared.text import NO_NUL

log = logging.getLogger(__name__)


#: How each kind of use-case error answers; the most specific kind wins. An error class
#: of an entrypoint's own may carry a ``status_code`` instead (e.g. 413 for a body).
HTTP_STATUS: dict[type[DomainError], int] = {
    DomainError: 422, NotFound: 404, Conflict: 409, Forbidden: 403, TooManyRequests: 429, Unavailable: 503,
}


def status_of(error: DomainError) -> int:
    own = getattr(error, "status_code", None)
    if isinstance(own, int):
        return own
    return next(HTTP_STATUS[kind] for kind in type(error).__mro__ if kind in HTTP_STATUS)


# --- documented shapes ------------------------------------------------------------------

# A datetime that is always answered with its zone (RFC 3339): SQLite hands back naive
# values for timezone-aware columns, and those are UTC here.
UtcDateTime = Annotated[datetime, AfterValidator(as_utc)]


# Free text that reaches the database is refused up front if it holds NUL (shared.text).
Text = Annotated[str, Field(pattern=NO_NUL)]


class ErrorDetail(BaseModel):
    """``code`` is machine-readable; the other fields name what was wrong (``field``, ...)."""

    model_config = ConfigDict(extra="allow")
    code: str = Field(examples=["not_found"])
    message: str


class ErrorResponse(BaseModel):
    detail: ErrorDetail


class FieldError(BaseModel):
    """One input problem found by request validation (FastAPI's own shape)."""

    model_config = ConfigDict(extra="allow")
    loc: list[str | int]
    msg: str
    type: str


class ValidationErrorResponse(BaseModel):
    detail: list[FieldError]


_ERROR_DESCRIPTIONS = {
    400: "the body could not be read (e.g. not UTF-8)",
    401: "missing, invalid or expired credentials",
    403: "the caller's role or scope does not allow this",
    404: "not found (or not visible to the caller)",
    409: "conflicts with the current state",
    413: "request body over the size limit",
    422: "invalid input; names the field",
    429: "rate limited; retry after `Retry-After` seconds",
    503: "temporarily unavailable; retry",
}


# What any route that reads a JSON body may answer about the body itself.
BODY_ERRORS = (400, 413, 422)


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for the error statuses a route can answer."""
    documented: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        entry: dict[str, Any] = {"model": ErrorResponse, "description": _ERROR_DESCRIPTIONS[status]}
        if status == 422:
            # Rule violations carry a code; schema violations are FastAPI's list of errors.
            entry["model"] = ErrorResponse | ValidationErrorResponse
        if status == 429:
            entry["headers"] = {"Retry-After": {
                "description": "seconds to wait", "required": True, "schema": {"type": "integer"},
            }}
        documented[status] = entry
    return documented


# --- error handlers ---------------------------------------------------------------------

async def _domain_error_handler(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DomainError)
    headers = None
    if isinstance(exc, TooManyRequests):
        headers = {"Retry-After": str(exc.context.get("retry_after_s", 1))}
    return JSONResponse({"detail": exc.detail()}, status_code=status_of(exc), headers=headers)


async def _database_unavailable_handler(request: Request, exc: Exception) -> JSONResponse:
    # The database dropped the connection or cannot be reached. Almost always nothing was
    # written; only a connection lost during COMMIT leaves it open, which is why a retry
    # should carry the request's Idempotency-Key (the order intake settles its own lost
    # COMMITs from the database before answering; see orders' placing.py).
    log.warning("%s %s: database unavailable: %s", request.method, request.url.path, exc)
    detail = {"code": "database_unavailable",
              "message": "the database is not reachable just now; retry shortly with the same Idempotency-Key"}
    return JSONResponse({"detail": detail}, status_code=503, headers={"Retry-After": "1"})


_STATUS_CODES = {
    400: "bad_request", 401: "not_authenticated", 403: "forbidden", 404: "not_found",
    405: "method_not_allowed", 406: "not_acceptable", 409: "conflict", 413: "body_too_large",
    415: "unsupported_media_type", 422: "invalid", 429: "rate_limited", 503: "unavailable",
}


async def _http_error_handler(request: Request, exc: Exception) -> JSONResponse:
    """Every error answers ``{"detail": {"code": ..., "message": ...}}``, the framework's
    own ones (unknown path, wrong method, unparsable body) included."""
    assert isinstance(exc, StarletteHTTPException)
    detail: Any = exc.detail
    if not isinstance(detail, dict):
        detail = {"code": _STATUS_CODES.get(exc.status_code, "error"), "message": str(detail)}
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        allowed = _allowed_methods(request)
        if allowed:
            headers["Allow"] = ", ".join(allowed)
    return JSONResponse({"detail": detail}, status_code=exc.status_code, headers=headers)


def _allowed_methods(request: Request) -> list[str]:
    """Every method some route serves at this path (the router names only the first
    route's when several routes share a path, e.g. GET and POST /v1/orders)."""
    app = request.app
    table: list[tuple[re.Pattern[str], frozenset[str]]] | None = getattr(app.state, "allowed_methods", None)
    if table is None:
        table = [(compile_path(path)[0], methods) for path, methods in _route_methods(app.routes)]
        app.state.allowed_methods = table
    path = request.scope.get("path", "")
    allowed = set().union(*(methods for regex, methods in table if regex.match(path)))
    order = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
    return sorted(allowed, key=lambda m: (order.index(m) if m in order else len(order), m))


def _route_methods(routes: Iterable[Any]) -> list[tuple[str, frozenset[str]]]:
    iterate = getattr(fastapi.routing, "iter_route_contexts", None)  # routers included lazily
    flat = list(iterate(list(routes))) if iterate is not None else list(routes)
    found = []
    for route in flat:
        path, methods = getattr(route, "path", None), getattr(route, "methods", None)
        if isinstance(path, str) and methods:
            found.append((path, frozenset(methods)))
    return found


class BodySizeLimit:
    """Refuse bodies over the limit with 413 before they are read into memory.

    A declared ``Content-Length`` over the limit is refused before the app runs. A body
    sent without one (chunked) is counted as it arrives: past the limit the 413 goes out
    and the app is told the client left, so whatever it answers to that is dropped (an
    exception raised from ``receive`` would reach the app's body parser instead, which
    turns every error there into a 400).
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await _too_large(send, self.max_bytes)
            return
        received = 0
        started = False
        refused = False

        async def limited_receive() -> Message:
            nonlocal received, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    if not started:
                        refused = True
                        await _too_large(send, self.max_bytes)
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if refused:
                return  # the 413 went out already
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        await self.app(scope, limited_receive, guarded_send)


async def _too_large(send: Send, limit: int) -> None:
    body = (
        b'{"detail":{"code":"body_too_large","message":"request body over '
        + str(limit).encode()
        + b' bytes","limit":'
        + str(limit).encode()
        + b"}}"
    )
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def create_app(
    *,
    title: str,
    description: str,
    settings: Settings,
    lifespan: Callable[[FastAPI], AbstractAsyncContextManager[None]] | None = None,
) -> FastAPI:
    app = FastAPI(title=title, description=description, version="1.0.0", lifespan=lifespan)
    app.state.settings = settings
    app.state.tokens = TokenService(
        settings.jwt_secret.get_secret_value(),
        algorithm=settings.jwt_algorithm,
        issuer=settings.jwt_issuer,
    )
    app.add_exception_handler(DomainError, _domain_error_handler)
    app.add_exception_handler(StarletteHTTPException, _http_error_handler)
    for unavailable in DATABASE_UNAVAILABLE:
        app.add_exception_handler(unavailable, _database_unavailable_handler)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(MetricsMiddleware)
    return app


