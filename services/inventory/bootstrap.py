"""Composition root: database, consumer handlers, relay, background sweep and HTTP routes."""

from __future__ import annotations

import asyncio
import logging

from fastapi import FastAPI

from services.inventory.adapters.orm import InventoryTable, messaging
from services.inventory.config import InventoryConfig
from services.inventory.entrypoints.consumers import CONSUMED_TOPICS, build_batch_handlers, build_handlers
from services.inventory.entrypoints.http import catalog, stock
from services.inventory.service_layer.handlers import Context, expire_backorders
from services.inventory.service_layer.unit_of_work import InventoryUnitOfWork
from shared import clock
from shared.http import create_app as create_http_app
from shared.observability import configure_logging, health_router
from shared.runtime import ServiceRuntime
from shared.settings import Settings, get_settings

log = logging.getLogger(__name__)

DESCRIPTION = """Depots and SKUs (the catalog), the stock ledger, reservations and backorders.

Consumes communities, orders, stock updates (the warehouse contract) and routes; publishes
the catalog, reservations and low-stock alerts. Stock is never oversold: conditional
updates and CHECK constraints in the database, one reservation per order."""


def build_runtime(
    settings: Settings, context: Context | None = None
) -> ServiceRuntime[InventoryUnitOfWork]:
    context = context or Context(
        config=InventoryConfig(), allocation_policy=settings.allocation_policy
    )
    return ServiceRuntime(
        name="inventory",
        settings=settings,
        metadata=InventoryTable.metadata,
        tables=messaging,
        uow_class=InventoryUnitOfWork,
        consumed_topics=CONSUMED_TOPICS,
        handlers=build_handlers(context),
        batch_handlers=build_batch_handlers(context),
    )


def create_app(
    settings: Settings | None = None, config: InventoryConfig | None = None
) -> FastAPI:
    settings = settings or get_settings()
    configure_logging()
    context = Context(
        config=config or InventoryConfig(), allocation_policy=settings.allocation_policy
    )
    runtime = build_runtime(settings, context)

    async def sweep_expired_backorders() -> None:
        while True:
            # Service-clock seconds: the sweep keeps pace with a simulated clock's expiries.
            await clock.sleep(context.config.backorder_sweep_interval_s)
            try:
                rejected = await asyncio.to_thread(expire_backorders, runtime.uow(), context)
                if rejected:
                    log.info("rejected %d backorders past %.0f h", rejected, context.config.backorder_max_age_h)
            except Exception:
                log.warning("backorder sweep failed; next round retries", exc_info=True)

    runtime.add_background(
        lambda: asyncio.create_task(sweep_expired_backorders(), name="inventory-backorder-sweep")
    )
    app = create_http_app(
        title="Lifeline inventory",
        description=DESCRIPTION,
        settings=settings,
        lifespan=runtime.lifespan,
    )
    app.state.runtime = runtime
    app.state.inventory = context
    app.include_router(catalog.router)
    app.include_router(stock.router)
    app.include_router(health_router(runtime.readiness))
    return app
