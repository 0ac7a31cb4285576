"""Plays a scenario's actions against the running system, each at its simulated time.

Residents and community workers place orders through the orders API; warehouses send
stock through the stock-events API (and a careless one sends duplicates and malformed
events straight onto the topic, as a Kafka client would); the admin upgrades communities;
vehicle mishaps go to the fleet simulator. Every accepted order id is kept: the audit
checks later that each exists exactly once.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx
from aiokafka import AIOKafkaProducer

from services.demo.city import DemoCity
from services.simulation.actions import (
    Action,
    BadStockEvents,
    FailedHandover,
    LateArrival,
    PlaceOrder,
    RiskChange,
    StockArrival,
    StockShortage,
    VehicleBreakdown,
)
from services.simulation.lockstep import Conductor
from services.simulation.system import RunningSystem
from shared import clock
from shared.auth import TokenService
from shared.events import topics

log = logging.getLogger(__name__)

#: Orders in flight at once: a city's residents do not queue behind each other.
CONCURRENCY = 32


@dataclass
class DriverLog:
    accepted: list[str] = field(default_factory=list)
    #: Intake's answers that were not an acceptance, by status and code.
    refused: Counter[str] = field(default_factory=Counter)
    #: Scenario actions that could not be performed at all (a call that failed), by kind and error.
    failed: Counter[str] = field(default_factory=Counter)
    events: list[dict[str, str]] = field(default_factory=list)
    stock_event_ids: set[str] = field(default_factory=set)
    lag_s: float = 0.0  # the most an action ran behind its simulated time


class ScenarioDriver:
    def __init__(self, system: RunningSystem, city: DemoCity, run_tag: str) -> None:
        self._system = system
        self._city = city
        self._tag = run_tag
        settings = system.settings
        self._tokens = TokenService(settings.jwt_secret.get_secret_value(), issuer=settings.jwt_issuer)
        self._admin = self._bearer(self._tokens.mint("simulation-admin", "admin"))
        self._clients = {name: httpx.AsyncClient(base_url=url, timeout=60) for name, url in system.urls.items()}
        self._fleet = httpx.AsyncClient(base_url=system.fleet_url, timeout=30)
        self._slots = asyncio.Semaphore(CONCURRENCY)
        self._pending: set[asyncio.Task[None]] = set()
        self._communities = {c["id"]: c for c in city.communities}
        self._households = {h["id"]: h for h in city.households}
        self.log = DriverLog()
        self._sequence = 0

    async def close(self) -> None:
        for client in (*self._clients.values(), self._fleet):
            await client.aclose()

    async def play(self, actions: list[Action], on_progress: Any = None) -> None:
        for index, action in enumerate(actions):
            wait_s = (action.at - clock.now()).total_seconds()
            if wait_s > 0:
                await clock.sleep(wait_s)
            else:
                self.log.lag_s = max(self.log.lag_s, -wait_s)
            self._system.check_alive()
            await self._slots.acquire()
            task = asyncio.create_task(self._perform(action))
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)
            if on_progress is not None:
                on_progress(index + 1, action)
        await asyncio.gather(*self._pending)

    async def play_in_lockstep(self, actions: list[Action], conductor: Conductor,
                               on_progress: Any = None) -> None:
        """One action at a time, each at its instant, the system at rest after each: the
        same scenario makes the same decisions in every run (``lockstep.py``)."""
        for index, action in enumerate(actions):
            await conductor.advance_to(action.at)
            self._system.check_alive()
            await self.perform(action)
            await conductor.finish_instant()
            if on_progress is not None:
                on_progress(index + 1, action)

    async def perform(self, action: Action) -> None:
        try:
            await self._act(action)
        except Exception as exc:  # one failed call is a figure in the report, not the end of the run
            log.warning("%s failed: %s", type(action).__name__, exc)
            self.log.failed[f"{type(action).__name__}: {type(exc).__name__}"] += 1

    async def _perform(self, action: Action) -> None:
        try:
            await self.perform(action)
        finally:
            self._slots.release()

    async def _act(self, action: Action) -> None:
        if isinstance(action, PlaceOrder):
            await self._place(action)
        elif isinstance(action, StockArrival):
            await self._stock([self._stock_event("lifeline.stock.received", action.depot_id, action.sku,
                                                 action.quantity, action.reason)])
        elif isinstance(action, StockShortage):
            await self._shortage(action)
        elif isinstance(action, RiskChange):
            await self._risk_change(action)
        elif isinstance(action, VehicleBreakdown):
            await self._fault({"kind": "breakdown", "vehicle_id": action.vehicle_id, "reason": "breakdown"},
                              f"vehicle {action.vehicle_id} broke down")
        elif isinstance(action, FailedHandover):
            await self._fault({"kind": "failed_handover", "community_id": action.community_id,
                               "reason": action.reason}, f"hand-over refused at {action.community_id}")
        elif isinstance(action, LateArrival):
            await self._fault({"kind": "late_arrival", "vehicle_id": action.vehicle_id,
                               "minutes": action.minutes}, f"vehicle {action.vehicle_id} {action.minutes} min late")
        elif isinstance(action, BadStockEvents):
            await self._bad_stock(action)

    async def _place(self, action: PlaceOrder) -> None:
        body: dict[str, Any] = {"items": [{"sku": sku, "quantity": qty} for sku, qty in action.items]}
        if action.on_behalf:
            token = self._tokens.mint("worker", "community_worker", community_ids=[action.community_id])
            body["household_id"] = action.household_id
        else:
            token = self._tokens.mint(action.household_id, "resident")
        self._sequence += 1
        headers = {**self._bearer(token), "Idempotency-Key": f"{self._tag}-{self._sequence}"}
        for attempt in range(5):
            try:
                response = await self._clients["orders"].post("/v1/orders", json=body, headers=headers)
            except httpx.TransportError:
                await asyncio.sleep(0.5 * (attempt + 1))  # same key: a retry cannot place it twice
                continue
            if response.status_code in (200, 201):
                self.log.accepted.append(response.json()["id"])
            else:
                code = response.json().get("detail", {})
                self.log.refused[f"order {response.status_code} {_code(code)}"] += 1
            return
        self.log.refused["order: orders service unreachable"] += 1

    def _stock_event(self, type_: str, depot_id: str, sku: str, quantity: int, reason: str) -> dict[str, Any]:
        event_id = f"sim-{self._tag}-{uuid.uuid4().hex[:12]}"
        self.log.stock_event_ids.add(event_id)
        return {"specversion": "1.0", "id": event_id, "source": f"wms/{depot_id.lower()}", "type": type_,
                "time": clock.now().isoformat(), "datacontenttype": "application/json",
                "data": {"depot_id": depot_id, "sku": sku, "quantity": quantity, "reason": reason}}

    async def _stock(self, events: list[dict[str, Any]]) -> None:
        response = await self._clients["inventory"].post("/v1/stock-events", json={"events": events},
                                                         headers=self._admin)
        response.raise_for_status()

    async def _shortage(self, action: StockShortage) -> None:
        response = await self._clients["inventory"].get(f"/v1/depots/{action.depot_id}/stock", headers=self._admin)
        response.raise_for_status()
        rows = response.json()
        rows = rows["items"]
        available = next((r.get("available", 0) for r in rows if r.get("sku") == action.sku), 0)
        lost = int(available * action.fraction)
        if lost > 0:
            await self._stock([self._stock_event("lifeline.stock.adjusted", action.depot_id, action.sku,
                                                 -lost, action.reason)])
        self._note(f"shortage: {action.sku} at {action.depot_id} down by {lost} ({action.reason})")

    async def _risk_change(self, action: RiskChange) -> None:
        community = {k: v for k, v in self._communities[action.community_id].items() if k != "id"}
        community["risk_level"] = action.risk_level
        response = await self._clients["orders"].put(f"/v1/communities/{action.community_id}", json=community,
                                                     headers=self._admin)
        response.raise_for_status()
        self._communities[action.community_id]["risk_level"] = action.risk_level
        self._note(f"{action.community_id} is now {action.risk_level}")

    async def _fault(self, body: dict[str, Any], what: str) -> None:
        response = await self._fleet.post("/faults", json=body)
        response.raise_for_status()
        self._note(what)

    async def _bad_stock(self, action: BadStockEvents) -> None:
        """A warehouse system's bad day, straight onto the topic: duplicates are applied
        once, malformed events go to the dead-letter topic, and nothing stops."""
        sku = self._city.skus[0]["id"]
        good = self._stock_event("lifeline.stock.received", action.depot_id, sku, 10, "inbound, sent twice")
        records = [json.dumps(good).encode()] * (1 + action.duplicates)
        records += [b'{"specversion": "1.0", "id": "broken-' + str(i).encode() + b'", "type":'
                    for i in range(action.malformed)]
        settings = self._system.settings
        producer = AIOKafkaProducer(bootstrap_servers=settings.broker_url, acks="all")
        await producer.start()
        try:
            for value in records:
                await producer.send_and_wait(settings.topic(topics.STOCK_UPDATES.name), value,
                                             key=f"{action.depot_id}:{sku}".encode())
        finally:
            await producer.stop()
        self._note(f"warehouse sent {action.duplicates} duplicate and {action.malformed} malformed stock events")

    def _note(self, what: str) -> None:
        self.log.events.append({"at": clock.now().isoformat(), "what": what})

    @staticmethod
    def _bearer(token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}


def _code(detail: Any) -> str:
    if isinstance(detail, dict):
        return str(detail.get("code", ""))
    return ""
