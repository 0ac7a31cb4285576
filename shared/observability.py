"""Logging, Prometheus metrics and the health endpoints every service serves."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

EVENTS_PUBLISHED = Counter(
    "lifeline_events_published_total", "Events the outbox relay got acknowledged", ["topic"]
)
EVENTS_CONSUMED = Counter(
    "lifeline_events_consumed_total", "Events consumed, by outcome", ["topic", "outcome"]
)
OUTBOX_PENDING = Gauge("lifeline_outbox_pending", "Outbox rows not yet acknowledged")
HTTP_REQUESTS = Histogram(
    "lifeline_http_request_seconds",
    "HTTP request latency",
    ["method", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
GROUP_COMMIT_BATCH = Histogram(
    "lifeline_group_commit_batch_size",
    "Requests that shared one transaction (shared/group_commit.py)",
    ["name"],
    buckets=(1, 2, 4, 8, 16, 32, 64, 128),
)
GROUP_COMMIT_SECONDS = Histogram(
    "lifeline_group_commit_seconds",
    "Time a batch of requests spent in its transaction",
    ["name"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1),
)


def configure_logging(level: str | None = None) -> None:
    logging.basicConfig(
        level=level or os.environ.get("LIFELINE_LOG_LEVEL", "INFO"),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("aiokafka").setLevel(logging.WARNING)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)  # shared.migrations logs what changed


def health_router(is_ready: Callable[[], dict[str, bool]]) -> APIRouter:
    router = APIRouter(tags=["health"])

    @router.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/readyz")
    async def readyz() -> JSONResponse:
        checks = is_ready()
        ready = all(checks.values())
        return JSONResponse({"ready": ready, "checks": checks}, status_code=200 if ready else 503)

    @router.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return router


class MetricsMiddleware:
    """Pure ASGI (no BaseHTTPMiddleware) so timing costs microseconds, not a task hop."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            HTTP_REQUESTS.labels(scope["method"], str(status)).observe(
                time.perf_counter() - started
            )
