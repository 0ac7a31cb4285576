"""Composition root of the routing service."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta
from zoneinfo import ZoneInfo

from fastapi import FastAPI

from services.routing.adapters.orm import RoutingTable, messaging
from services.routing.entrypoints.consumers import CONSUMED_TOPICS, HANDLERS
from services.routing.entrypoints.http import console, deliveries, demand, operations, plans, solve, vehicles
from services.routing.service_layer.operations import OperationsConfig, OperationsLoop
from services.routing.service_layer.planner import Planner
from services.routing.service_layer.solver_process import SolverPool
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
    tz = ZoneInfo(settings.city_timezone)
    planner = Planner(runtime.uow, tz, settings.max_solve_time_s)
    operations_loop = _operations_loop(settings, runtime, tz) if settings.operations_enabled else None

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
    app.state.operations = operations_loop
    app.include_router(health_router(runtime.readiness))
    app.state.tz = tz
    for module in (vehicles, demand, plans, deliveries, operations, solve, console):
        app.include_router(module.router)
    return app


def _operations_loop(
    settings: Settings, runtime: ServiceRuntime[RoutingUnitOfWork], tz: ZoneInfo
) -> OperationsLoop:
    """The loop solves in one long-lived child of its own; the dispatchers' planner keeps
    a child per solve (with progress) so a dispatcher never queues behind the loop."""
    pool = SolverPool()
    planner = Planner(runtime.uow, tz, settings.max_solve_time_s, solver=pool)
    loop = OperationsLoop(runtime.uow, planner, tz, OperationsConfig(
        policy=settings.operations_policy,
        cadence=timedelta(minutes=settings.operations_cadence_min),
        time_limit_s=settings.operations_time_limit_s,
        iterations=settings.operations_iterations,
        auto_dispatch=settings.operations_auto_dispatch,
        day_ahead_at=settings.operations_day_ahead_at,
    ))
    runtime.add_background(lambda: asyncio.create_task(loop.run(), name="routing-operations"))

    async def stop() -> None:
        await planner.stop()
        pool.close()

    runtime.add_shutdown(stop)
    return loop
