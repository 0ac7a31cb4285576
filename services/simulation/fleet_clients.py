"""The fleet simulator's two ways out: the routing HTTP API and the fleet topic.

The simulator is a client like any other: it reads plans and records deliveries and
breakdowns through routing's public API, with an admin token, and publishes what the
vehicles report on ``lifeline.fleet.v1``. It has no database, hence no outbox.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections import Counter
from collections.abc import Callable, Coroutine
from typing import Any

import httpx
from aiokafka import AIOKafkaProducer

from shared import quiescence
from shared.auth import TokenService
from shared.events.codec import wrap
from shared.events.payloads import EventPayload, VehicleArrived, VehiclePositioned

log = logging.getLogger(__name__)

SOURCE = "lifeline/fleet-sim"
#: Re-mint the admin token well inside its 12 h lifetime (tokens live on the wall clock).
TOKEN_REFRESH_S = 3600


def error_code(response: httpx.Response) -> str | None:
    """The machine-readable code of a routing error (``{"detail": {"code": ...}}``)."""
    try:
        detail = response.json().get("detail")
    except ValueError:
        return None
    return detail.get("code") if isinstance(detail, dict) else None


def _retryable(response: httpx.Response) -> bool:
    return response.status_code >= 500


async def _finish_or_cancel(tasks: set[asyncio.Task[None]], timeout_s: float, what: str) -> None:
    if not tasks:
        return
    _done, pending = await asyncio.wait(set(tasks), timeout=timeout_s)
    for task in pending:
        task.cancel()
    if pending:
        log.warning("%d %s given up at shutdown", len(pending), what)
        await asyncio.gather(*pending, return_exceptions=True)


def _held_task(work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
    """Work under way in the background, held from now until it ends: a conductor of
    simulated time waits for it (shared/quiescence.py)."""
    release = quiescence.hold()
    task = asyncio.create_task(work)
    task.add_done_callback(lambda _task: release())
    return task


class RoutingClient:
    """Routing's API as the simulator uses it. Connection errors and 5xx answers are the
    service being away for a moment: retried with backoff (on the wall clock: it is the
    real service that needs the time, whatever the simulated clock's speed). A 4xx is an
    answer and goes back to the caller."""

    def __init__(self, http: httpx.AsyncClient, tokens: TokenService, *,
                 first_backoff_s: float = 0.2, max_backoff_s: float = 5.0) -> None:
        self._http = http
        self._tokens = tokens
        self._first_backoff_s = first_backoff_s
        self._max_backoff_s = max_backoff_s
        self._token = ""
        self._minted_at = float("-inf")

    async def plan(self, plan_id: str) -> httpx.Response:
        # Without the plan, its vehicles would never move: keep asking until routing answers.
        return await self._send("GET", f"/v1/plans/{plan_id}", attempts=None)

    async def record_delivery(self, body: dict[str, Any], *, attempts: int = 120) -> httpx.Response:
        # About ten minutes of trying (backoff up to 5 s): a stop not confirmed leaves its
        # orders scheduled for ever, so routing gets time to come back from a restart.
        return await self._send("POST", "/v1/deliveries", json=body, attempts=attempts)

    async def break_down(self, vehicle_id: str, reason: str, *, attempts: int = 5) -> httpx.Response:
        return await self._send("POST", f"/v1/vehicles/{vehicle_id}/breakdown",
                                json={"reason": reason}, attempts=attempts)

    async def _send(self, method: str, path: str, *, json: Any = None, attempts: int | None) -> httpx.Response:
        """The first non-retryable answer; after ``attempts`` tries (None: no limit) the
        last 5xx answer, or the last connection error raised."""
        backoff = self._first_backoff_s
        for attempt in itertools.count(1):
            last_try = attempts is not None and attempt >= attempts
            try:
                response = await self._http.request(method, path, json=json, headers=self._headers())
            except httpx.TransportError as exc:
                if last_try:
                    raise
                failure = repr(exc)
            else:
                if not _retryable(response) or last_try:
                    return response
                failure = f"{response.status_code} {response.text[:200]}"
            log.warning("%s %s failed (%s); retry %d in %.1fs", method, path, failure, attempt, backoff)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, self._max_backoff_s)
        raise AssertionError("unreachable")  # itertools.count never ends

    def _headers(self) -> dict[str, str]:
        if time.monotonic() - self._minted_at > TOKEN_REFRESH_S:
            self._token = self._tokens.mint("fleet-sim", "admin")
            self._minted_at = time.monotonic()
        return {"Authorization": f"Bearer {self._token}"}


class FleetPublisher:
    """Publishes vehicle events without ever holding up the simulator's clock loop: each
    send runs as a task of its own.

    Positions are telemetry, sent at most once: a lost one is replaced by the next a few
    simulated minutes later, so a failed send is logged and forgotten. Arrivals are kept:
    acknowledged by the brokers (acks=all), retried on failure, with an event id fixed by
    the stop, so that a resend (or a restarted simulator) is a duplicate consumers drop.
    """

    def __init__(self, producer: AIOKafkaProducer, topic_name: Callable[[str], str], *,
                 arrival_attempts: int = 5) -> None:
        self._producer = producer
        self._topic_name = topic_name
        self._arrival_attempts = arrival_attempts
        self._tasks: set[asyncio.Task[None]] = set()

    def position(self, payload: VehiclePositioned) -> None:
        self._spawn(self._send_position(payload))

    def arrival(self, payload: VehicleArrived, *, event_id: str) -> None:
        self._spawn(self._send_arrival(payload, event_id))

    async def drain(self, timeout_s: float = 3) -> None:
        """Wait a little for the sends under way (at shutdown); the rest is given up."""
        await _finish_or_cancel(self._tasks, timeout_s, "event sends")

    def _spawn(self, send: Coroutine[Any, Any, None]) -> None:
        task = _held_task(send)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send_position(self, payload: VehiclePositioned) -> None:
        try:
            await self._send(payload, event_id=None)
        except Exception as exc:  # telemetry: the next position supersedes this one
            log.debug("position of %s not published: %r", payload.vehicle_id, exc)

    async def _send_arrival(self, payload: VehicleArrived, event_id: str) -> None:
        for attempt in range(1, self._arrival_attempts + 1):
            try:
                await self._send(payload, event_id=event_id)
                return
            except Exception as exc:
                log.warning("arrival of %s at %s not published (attempt %d): %r",
                            payload.vehicle_id, payload.stop_id, attempt, exc)
                await asyncio.sleep(min(0.5 * 2 ** attempt, 10))
        log.error("arrival of %s at %s given up after %d attempts",
                  payload.vehicle_id, payload.stop_id, self._arrival_attempts)

    async def _send(self, payload: EventPayload, *, event_id: str | None) -> None:
        event = wrap(payload, source=SOURCE, event_id=event_id)
        await self._producer.send_and_wait(
            self._topic_name(payload.TOPIC.name), event.to_bytes(), key=payload.key().encode())


class DeliveryRecorder:
    """Confirms stops through ``POST /v1/deliveries``, each in a task of its own so that a
    slow or absent routing never holds up the vehicles.

    A delivery goes against the newest plan of its stop's re-plan chain that the simulator
    knows (``newest``); routing applies one against a superseded plan to its successor as
    well. A ``409 plan_not_dispatched`` is then a plan no longer (or not yet) dispatched
    whose successor's dispatch has not reached us: asked again, with the newest plan known
    by then, a few times. Any other 4xx is an answer that will not change: logged, dropped.
    """

    def __init__(self, routing: RoutingClient, newest: Callable[[str], str], *, successor_waits: int = 8) -> None:
        self._routing = routing
        self._newest = newest
        self._successor_waits = successor_waits
        self._tasks: set[asyncio.Task[None]] = set()
        self._pending: Counter[str] = Counter()

    def submit(self, body: dict[str, Any], on_recorded: Callable[[str], None]) -> None:
        plan_id = body["plan_id"]
        self._pending[plan_id] += 1
        task = _held_task(self._record(body, on_recorded))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        task.add_done_callback(lambda _task: self._settled(plan_id))

    def pending_plan_ids(self) -> set[str]:
        """Plans with a delivery not yet recorded: until it is, a restart must drive them again."""
        return set(self._pending)

    def _settled(self, plan_id: str) -> None:
        self._pending[plan_id] -= 1
        if self._pending[plan_id] <= 0:
            del self._pending[plan_id]

    async def settle(self, timeout_s: float = 5) -> None:
        """Wait a little for the deliveries being recorded (at shutdown); the rest is given
        up: a restarted simulator records them again (see fleet_feed.py)."""
        await _finish_or_cancel(self._tasks, timeout_s, "deliveries")

    async def _record(self, body: dict[str, Any], on_recorded: Callable[[str], None]) -> None:
        for wait in range(self._successor_waits):
            attempt = {**body, "plan_id": self._newest(body["plan_id"])}
            try:
                response = await self._routing.record_delivery(attempt)
            except httpx.TransportError as exc:
                log.error("delivery of %s in plan %s not recorded, routing unreachable: %r",
                          body["stop_id"], attempt["plan_id"], exc)
                return
            if response.status_code == 200:
                on_recorded(attempt["outcome"])
                return
            if not (response.status_code == 409 and error_code(response) == "plan_not_dispatched"):
                # A 5xx after the client's retries, or a 4xx.
                log.error("delivery of %s in plan %s refused: %s %s", body["stop_id"], attempt["plan_id"],
                          response.status_code, response.text[:300])
                return
            await asyncio.sleep(min(0.25 * 2 ** wait, 5))
        log.error("delivery of %s not recorded: plan %s and its successors are not dispatched",
                  body["stop_id"], body["plan_id"])
