"""The running parts every service has: database, outbox relay, consumer, and their lifecycle.

A service's ``bootstrap`` builds one ``ServiceRuntime`` (the composition root) and hands
its ``lifespan`` to FastAPI, so HTTP, relay and consumer start and stop together.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Generic, TypeVar

from fastapi import FastAPI
from sqlalchemy import MetaData

from shared import clock, ids, migrations
from shared.db import create_schema, make_engine, ping, session_factory
from shared.messaging.consumer import BatchHandler, ConsumerRunner, Handler
from shared.messaging.kafka import ensure_topics
from shared.messaging.relay import OutboxRelay
from shared.messaging.tables import MessagingTables
from shared.messaging.unit_of_work import OutboxFormat, SqlUnitOfWork
from shared.settings import ServiceName, Settings
from shared.stepped_clock import reporting

log = logging.getLogger(__name__)

UoW = TypeVar("UoW", bound=SqlUnitOfWork)


class ServiceRuntime(Generic[UoW]):
    def __init__(
        self,
        *,
        name: ServiceName,
        settings: Settings,
        metadata: MetaData,
        tables: MessagingTables,
        uow_class: type[UoW],
        consumed_topics: list[str],
        handlers: Mapping[str, Handler],
        batch_handlers: Mapping[str, BatchHandler] | None = None,
    ) -> None:
        self.name = name
        self.settings = settings
        if settings.clock_start is not None or settings.clock_file is not None:
            # a simulation; else the process's clock stands
            clock.configure(settings.clock_start, settings.clock_anchor, settings.clock_speed,
                            stepped=settings.clock_file, process=name)
        ids.seed(settings.id_seed)
        self.metadata = metadata
        self.engine = make_engine(
            settings.database_url(name),
            pool_size=settings.db_pool_size,
            max_overflow=settings.db_max_overflow,
            pre_ping=settings.db_pool_pre_ping,
            recycle_s=settings.db_pool_recycle_s,
            application_name=f"lifeline-{name}",
        )
        self.session_factory = session_factory(self.engine)
        self.tables = tables
        self._uow_class = uow_class
        self.relay = OutboxRelay(self.engine, settings, name=name, before_start=lambda: ensure_topics(settings))
        self.consumer = ConsumerRunner(
            name=name,
            settings=settings,
            topics=consumed_topics,
            handlers=handlers,
            uow_factory=self.uow,
            # a memory-only broker forgets topics on restart: recreate them before (re)joining
            before_start=lambda: ensure_topics(settings),
            batch_handlers=batch_handlers,
        )
        self._tasks: list[asyncio.Task[None]] = []
        self._background: list[Callable[[], asyncio.Task[None]]] = []
        self._shutdown: list[Callable[[], Awaitable[None]]] = []

    def uow(self) -> UoW:
        return self._uow_class(
            self.session_factory,
            source=self.outbox_format.source,
            topic_name=self.outbox_format.topic_name,
            on_commit=self.relay.notify,
        )

    @property
    def outbox_format(self) -> OutboxFormat:
        """How this service's events look in its outbox (source, topic names)."""
        return OutboxFormat(f"lifeline/{self.name}", self.settings.topic)

    def add_background(self, start: Callable[[], asyncio.Task[None]]) -> None:
        self._background.append(start)

    def add_shutdown(self, stop: Callable[[], Awaitable[None]]) -> None:
        """Run ``stop`` when the service shuts down (after its tasks have stopped)."""
        self._shutdown.append(stop)

    def readiness(self) -> dict[str, bool]:
        return {"database": ping(self.engine), "consumer": self.consumer.running}

    def create_schema(self) -> None:
        """Build the schema the way the settings say: Alembic to head, or create_all."""
        if self.settings.db_migrate_on_start:
            migrations.upgrade_to_head(self.name, self.engine)
        else:
            create_schema(self.engine, self.metadata)

    def check_schema(self) -> None:
        """Refuse to serve on a database older than this code (production, no migrate)."""
        status = migrations.schema_status(self.name, self.engine)
        if status in ("empty", "behind"):
            raise RuntimeError(
                f"the {self.name} database is {status} (at {migrations.current_heads(self.name, self.engine)}, "
                f"code expects {migrations.code_heads(self.name)}): run `lifeline migrate --service {self.name}`"
            )
        if status == "newer":
            log.warning("the %s database was migrated by a newer release; serving anyway", self.name)

    @contextlib.asynccontextmanager
    async def lifespan(self, _app: FastAPI) -> AsyncIterator[None]:
        if self.settings.db_migrate_on_start or self.settings.db_create_all:
            self.create_schema()
        elif self.settings.mode == "production":
            self.check_schema()
        _settle_garbage_collector()
        self._tasks = [
            asyncio.create_task(self.relay.run(), name=f"{self.name}-relay"),
            asyncio.create_task(self.consumer.run(), name=f"{self.name}-consumer"),
            *(start() for start in self._background),
        ]
        try:
            async with reporting(clock.current()):
                yield
        finally:
            self.relay.stop()
            self.consumer.stop()
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            for stop in self._shutdown:
                await stop()
            self.engine.dispose()
            # What start-up froze may be freed again (a test process starts many services).
            gc.unfreeze()


def _settle_garbage_collector() -> None:
    """Move everything alive after start-up out of the collector's sight.

    A service holds a few hundred thousand long-lived objects (modules, FastAPI, pydantic
    and SQLAlchemy structures) that the oldest generation rescanned every second or two
    under load: a 100 ms pause each time, the whole p99 of order intake. Frozen objects are
    never scanned (nor freed: start-up garbage is collected first); what the service
    allocates later is collected as usual.
    """
    gc.collect()
    gc.freeze()
