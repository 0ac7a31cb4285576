"""The fleet simulator as a process: consumers, the driving task and the control app.

    python -m services.simulation.fleet_main --port 8004 --routing-url http://127.0.0.1:8003

Settings come from the environment like every service's (``LIFELINE_BROKER_URL``,
``LIFELINE_TOPIC_PREFIX``, ``LIFELINE_JWT_SECRET``, ``LIFELINE_CLOCK_*`` ...): a simulation
gives every process the same clock, the simulator included.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Coroutine
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer
from fastapi import FastAPI

from services.simulation.fleet import POSITION_EVERY, FleetSimulator
from services.simulation.fleet_api import create_app
from services.simulation.fleet_clients import FleetPublisher, RoutingClient
from services.simulation.fleet_feed import DepotLocations, DispatchFeed
from shared import clock, quiescence
from shared.auth import TokenService
from shared.events import topics
from shared.messaging.kafka import client_options, ensure_topics, make_consumer, make_producer
from shared.observability import configure_logging
from shared.settings import Settings, get_settings
from shared.stepped_clock import reporting

log = logging.getLogger(__name__)


def group_id(settings: Settings) -> str:
    return f"lifeline-fleet-sim{settings.consumer_group_suffix}"


@dataclass
class FleetRuntime:
    simulator: FleetSimulator
    tasks: dict[str, asyncio.Task[None]] = field(default_factory=dict)

    def start(self, name: str, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work, name=f"fleet-{name}")
        task.add_done_callback(_log_death)
        self.tasks[name] = task

    def problems(self) -> list[str]:
        """The parts that stopped (each runs until cancelled, so any stop is a failure)."""
        return sorted(name for name, task in self.tasks.items() if task.done())


def _log_death(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("%s died", task.get_name(), exc_info=task.exception())


@contextlib.asynccontextmanager
async def running_fleet(settings: Settings, routing_http: httpx.AsyncClient, *,
                        position_every: timedelta = POSITION_EVERY) -> AsyncIterator[FleetRuntime]:
    """The simulator at work over ``routing_http`` (its base URL is routing's) until exit."""
    await ensure_topics(settings)
    # Arrivals are acknowledged by all in-sync replicas whatever the services are configured
    # with; positions ride the same producer (telemetry, at most once: see FleetPublisher).
    producer = make_producer(settings.model_copy(update={"kafka_acks": "all"}))
    dispatches = make_consumer(settings, settings.topic(topics.ROUTES.name), group_id=group_id(settings))
    quiescence.consumes([settings.topic(topics.ROUTES.name)])
    # No group: the (compacted) catalog is read whole at every start, nothing to commit.
    catalog = AIOKafkaConsumer(settings.topic(topics.CATALOG.name), **client_options(settings), group_id=None,
                               auto_offset_reset="earliest", enable_auto_commit=False, fetch_max_wait_ms=50)
    started: list[Any] = []
    runtime: FleetRuntime | None = None
    try:
        for client in (producer, catalog, dispatches):
            await client.start()
            started.append(client)
        depots = DepotLocations(catalog)
        tokens = TokenService(settings.jwt_secret.get_secret_value(), issuer=settings.jwt_issuer)
        publisher = FleetPublisher(producer, settings.topic)
        simulator = FleetSimulator(RoutingClient(routing_http, tokens), publisher, depots.get,
                                   position_every=position_every)
        runtime = FleetRuntime(simulator)
        runtime.start("depots", depots.run())
        runtime.start("dispatches", DispatchFeed(dispatches, simulator.plan_dispatched,
                                                 simulator.live_plan_ids).run())
        runtime.start("driver", simulator.drive())
        yield runtime
    finally:
        if runtime is not None:
            await _stop(runtime)
        for client in reversed(started):
            await client.stop()


async def _stop(runtime: FleetRuntime) -> None:
    for task in runtime.tasks.values():
        task.cancel()
    await asyncio.gather(*runtime.tasks.values(), return_exceptions=True)
    await runtime.simulator.settle()


def build_app(settings: Settings, routing_url: str, position_every: timedelta) -> FastAPI:
    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with httpx.AsyncClient(base_url=routing_url, timeout=30) as http, \
                running_fleet(settings, http, position_every=position_every) as runtime, \
                reporting(clock.current()):
            app.state.simulator = runtime.simulator
            app.state.problems = runtime.problems
            yield

    return create_app(lifespan)


def main(argv: list[str] | None = None) -> int:
    import uvicorn

    settings = get_settings()
    parser = argparse.ArgumentParser(prog="fleet", description="the fleet simulator")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8004)
    parser.add_argument("--routing-url", default=f"http://127.0.0.1:{settings.routing_port}")
    parser.add_argument("--position-every-min", type=float, default=POSITION_EVERY.total_seconds() / 60,
                        help="simulated minutes between position reports of a driving vehicle")
    args = parser.parse_args(argv)
    configure_logging()
    clock.configure(settings.clock_start, settings.clock_anchor, settings.clock_speed,
                    stepped=settings.clock_file, process="fleet")
    app = build_app(settings, args.routing_url, timedelta(minutes=args.position_every_min))
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False,
                timeout_keep_alive=settings.http_keep_alive_s)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
