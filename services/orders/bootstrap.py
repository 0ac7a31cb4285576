"""The composition root of the orders service."""

from __future__ import annotations

from fastapi import FastAPI

from services.orders.adapters.orm import OrdersTable, messaging
from services.orders.entrypoints.consumers import CONSUMED_TOPICS, HANDLERS
from services.orders.entrypoints.http import catalog, communities, orders
from services.orders.service_layer.handlers import OrderIntake, OrderPlacement
from services.orders.service_layer.unit_of_work import OrdersUnitOfWork
from shared.db import is_sqlite
from shared.http import create_app as create_http_app
from shared.observability import configure_logging, health_router
from shared.pipelined import AsyncPostgres
from shared.runtime import ServiceRuntime
from shared.settings import Settings, get_settings

DESCRIPTION = """Residents and community workers order essentials for households in sealed
communities; orders carry their priority and follow reservation, routing and delivery
events to the door of the community's transit station."""


def build_runtime(settings: Settings) -> ServiceRuntime[OrdersUnitOfWork]:
    return ServiceRuntime(
        name="orders",
        settings=settings,
        metadata=OrdersTable.metadata,
        tables=messaging,
        uow_class=OrdersUnitOfWork,
        consumed_topics=CONSUMED_TOPICS,
        handlers=HANDLERS,
    )


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    configure_logging()
    runtime = build_runtime(settings)
    app = create_http_app(
        title="Lifeline orders",
        description=DESCRIPTION,
        settings=settings,
        lifespan=runtime.lifespan,
    )
    app.state.runtime = runtime
    postgres = (
        None if is_sqlite(runtime.engine)
        else AsyncPostgres(settings.database_url("orders"), application_name="lifeline-orders-intake")
    )
    if postgres is not None:
        runtime.add_shutdown(postgres.close)
    app.state.order_placement = OrderPlacement(
        runtime.uow, outbox_format=runtime.outbox_format, rate_per_minute=settings.order_rate_per_minute,
        postgres=postgres,
        on_published=runtime.relay.notify,
    )
    app.state.order_intake = OrderIntake(
        app.state.order_placement,
        name="order_intake",
        max_batch=settings.order_intake_max_batch,
    )
    app.include_router(orders.router)
    app.include_router(communities.router)
    app.include_router(catalog.router)
    app.include_router(health_router(runtime.readiness))
    return app
