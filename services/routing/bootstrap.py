"""Composition root of the routing service."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from zoneinfo import ZoneInfo

from fastapi import FastAPI

from services.routing.adapters.orm import RoutingTable, messaging
from services.routing.entrypoints.consumers import CONSUMED_TOPICS, HANDLERS
from services.routing.entrypoints.http import console, deliveries, demand, plans, solve, vehicles
from services.routing.service_layer.planner import Planner
from services.routing.service_layer.unit_of_work import RoutingUnitOfWork
from shared.http import create_app as create_base_app
from shared.observability import health_router
from shared.runtime import ServiceRuntime
from shared.settings import Settings, get_settings


def build_runtime(settings: Settings) -> ServiceRuntime[RoutingUnitOfWork]:
    return ServiceRuntime(
        name="routing", settings=settings, metadata=RoutingTable.metadata, tables=messaging,
        uow_class=RoutingUnitOfWork, consumed_topics=CONSUMED_TOPICS, handlers=HANDLERS,
    )


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    runtime = build_runtime(settings)
    planner = Planner(runtime.uow, ZoneInfo(settings.city_timezone), settings.max_solve_time_s)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with runtime.lifespan(app):
            await asyncio.to_thread(planner.fail_interrupted)
            yield
            await planner.stop()

    app = create_base_app(
        title="Lifeline routing",
        description="Dispatchers' demand, optimised plans that meet every gate's receiving "
        "window, dispatch, deliveries and re-planning.",
        settings=settings,
        lifespan=lifespan,
    )
    app.state.runtime = runtime
    app.state.planner = planner
    app.include_router(health_router(runtime.readiness))
    for module in (vehicles, demand, plans, deliveries, solve, console):
        app.include_router(module.router)
    return app
