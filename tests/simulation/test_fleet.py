"""The fleet simulator against the real routing service, the real broker and a real
database: it drives a dispatched plan on a fast simulated clock (600x: a simulated hour
passes in six seconds), confirms every stop and injects the faults it is asked for."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time as wall
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition

from services.simulation.fleet_api import create_app
from services.simulation.fleet_feed import CommitWatermark
from services.simulation.fleet_itinerary import Leg
from services.simulation.fleet_main import FleetRuntime, running_fleet
from shared import clock
from shared.clock import ScaledClock
from shared.events import topics
from shared.events.payloads import DepotDefined, SkuDefined
from shared.settings import Settings
from tests.routing.events import community, publish, reserved
from tests.routing.helpers import request_plan, setup_fleet, solved, wait_for_demand
from tests.support import eventually, running_service

SPEED = 600.0
VEHICLES = {
    "V-1": {"depot_id": "DC-1", "capacity_kg": 1000, "capacity_l": 5000},
    "V-2": {"depot_id": "DC-1", "capacity_kg": 1000, "capacity_l": 5000},
}
# Gates open at 07:00, an hour of simulated time (six seconds) after the clock starts:
# time for the plan to be solved and dispatched, and for the faults to be injected, before
# the first hand-over.
WINDOWS = [("07:00", "20:00")]
ORDERS = {"O-1": "C-1", "O-2": "C-1", "O-3": "C-2", "O-4": "C-3"}


@dataclass
class Day:
    settings: Settings
    routing: httpx.AsyncClient
    dispatcher: dict[str, str]
    plan: dict[str, Any] = field(default_factory=dict)
    fleet: httpx.AsyncClient = field(init=False)
    runtime: FleetRuntime = field(init=False)
    _fleet_stack: contextlib.AsyncExitStack = field(init=False, default_factory=contextlib.AsyncExitStack)

    async def start_fleet(self) -> None:
        """A fleet simulator (its consumer group is the settings', so a restart resumes)."""
        self._fleet_stack = contextlib.AsyncExitStack()
        self.runtime = await self._fleet_stack.enter_async_context(running_fleet(self.settings, self.routing))
        transport = httpx.ASGITransport(app=create_app(simulator=self.runtime.simulator))
        self.fleet = await self._fleet_stack.enter_async_context(
            httpx.AsyncClient(transport=transport, base_url="http://fleet"))

    async def stop_fleet(self) -> None:
        await self._fleet_stack.aclose()

    def stops(self, vehicle_id: str | None = None) -> list[dict[str, Any]]:
        return [s for r in self.plan["routes"] if vehicle_id in (None, r["vehicle_id"]) for s in r["stops"]]

    def first_route(self) -> dict[str, Any]:
        route: dict[str, Any] = self.plan["routes"][0]
        return route


def _service_day(settings: Settings) -> date:
    return (datetime.now(ZoneInfo(settings.city_timezone)) + timedelta(days=1)).date()


@contextlib.contextmanager
def _simulated_clock(start: datetime) -> Any:
    previous = clock.use(ScaledClock(start=start, anchor=wall.time(), speed=SPEED))
    try:
        yield
    finally:
        clock.use(previous)


@contextlib.asynccontextmanager
async def dispatched_day(settings: Settings) -> AsyncIterator[Day]:
    """Routing with demand at three gates and two vehicles, the fleet simulator running,
    and the day's plan dispatched at 06:00 (simulated) and a little."""
    await publish(
        settings,
        DepotDefined(depot_id="DC-1", name="DC 1", tier="district", lat=39.92, lon=116.45,
                     district="chaoyang", cold_storage=True),
        SkuDefined(sku="RICE-5KG", name="Rice", category="staple", unit_weight_kg=5, unit_volume_l=6,
                   cold_chain=False),
        community("C-1", lat=39.93, lon=116.47, windows=WINDOWS),
        community("C-2", lat=39.91, lon=116.49, windows=WINDOWS),
        community("C-3", lat=39.95, lon=116.43, windows=WINDOWS),
        *[reserved(order_id, community_id, rice=2) for order_id, community_id in ORDERS.items()],
    )
    day = _service_day(settings)
    tz = ZoneInfo(settings.city_timezone)
    async with running_service("routing", settings) as (_app, routing):
        dispatcher = await setup_fleet(routing, settings, vehicles=VEHICLES)
        await wait_for_demand(routing, dispatcher, ORDERS, weight_kg=10 * len(ORDERS))
        # Planned the day before (on the wall clock), dispatched when the simulated day starts.
        plan_id = await _solve(routing, dispatcher, day)
        with _simulated_clock(datetime.combine(day, time(6, 0), tzinfo=tz)):
            world = Day(settings, routing, dispatcher)
            await world.start_fleet()
            try:
                response = await routing.post(f"/v1/plans/{plan_id}/dispatch", headers=dispatcher)
                assert response.status_code == 200, response.text
                world.plan = response.json()
                yield world
            finally:
                await world.stop_fleet()


async def _solve(routing: httpx.AsyncClient, dispatcher: dict[str, str], day: date) -> str:
    plan_id = await request_plan(routing, dispatcher, {"depot_ids": ["DC-1"], "date": day.isoformat(),
                                                       "time_limit_s": 1})
    plan = await solved(routing, dispatcher, plan_id)
    assert plan["status"] == "solved" and plan["unassigned"] == [], plan
    return plan_id


async def _driving(day: Day) -> dict[str, Any]:
    """The fleet's status once it has taken over every route of the plan."""
    wanted = {r["vehicle_id"] for r in day.plan["routes"]}

    async def check() -> dict[str, Any] | None:
        status: dict[str, Any] = (await day.fleet.get("/status")).json()
        taken = {v["vehicle_id"] for v in status["vehicles"] if v["plan_id"] == day.plan["id"] and v["stops_left"]}
        return status if taken == wanted else None

    status: dict[str, Any] = await eventually(check, timeout_s=10, message="the fleet driving the plan")
    first_service = min(datetime.fromisoformat(s["service_start"]) for s in day.stops())
    assert clock.now() < first_service, "the test setup took too long: the first gate is already served"
    return status


async def _topic_events(settings: Settings, topic: str, until: Callable[[list[dict[str, Any]]], bool], *,
                        quiet_s: float = 0.0, timeout_s: float = 30) -> list[dict[str, Any]]:
    """Every event on the topic, read until ``until(events)`` holds and nothing new came
    for ``quiet_s``."""
    consumer = AIOKafkaConsumer(settings.topic(topic), bootstrap_servers=settings.broker_url,
                                auto_offset_reset="earliest", enable_auto_commit=False, group_id=None)
    await consumer.start()
    loop = asyncio.get_running_loop()
    events: list[dict[str, Any]] = []
    deadline, last_news = loop.time() + timeout_s, loop.time()
    try:
        while not (until(events) and loop.time() - last_news >= quiet_s):
            if loop.time() > deadline:
                raise AssertionError(f"{topic}: condition not met within {timeout_s}s; "
                                     f"{[(e['type'], e['data']) for e in events][-10:]}")
            batch = await consumer.getmany(timeout_ms=250)
            records = [r for partition in batch.values() for r in partition]
            if records:
                events.extend(json.loads(r.value) for r in records)
                last_news = loop.time()
    finally:
        await consumer.stop()
    return events


def _of_type(events: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [e["data"] for e in events if e["type"] == kind]


def _outcomes_for(orders: set[str]) -> Callable[[list[dict[str, Any]]], bool]:
    def complete(events: list[dict[str, Any]]) -> bool:
        return {e["data"]["order_id"] for e in events} >= orders
    return complete


async def test_the_fleet_drives_a_dispatched_plan_and_confirms_every_stop(settings: Settings) -> None:
    async with dispatched_day(settings) as day:
        await _driving(day)
        deliveries = await _topic_events(settings, topics.DELIVERIES.name, _outcomes_for(set(ORDERS)))
        delivered = {d["order_id"]: d for d in _of_type(deliveries, "lifeline.order.delivered")}
        assert set(delivered) == set(ORDERS), deliveries
        for stop in day.stops():
            for order_id in stop["order_ids"]:
                event = delivered[order_id]
                assert event["stop_id"] == stop["stop_id"] and event["plan_id"] == day.plan["id"]
                assert datetime.fromisoformat(event["delivered_at"]) >= datetime.fromisoformat(stop["service_start"])
                assert event["received_by"] == f"gate staff, {stop['community_id']}"

        stop_ids = {s["stop_id"] for s in day.stops()}
        vehicles = {r["vehicle_id"] for r in day.plan["routes"]}

        def home_again(events: list[dict[str, Any]]) -> bool:
            back = {p["vehicle_id"] for p in _of_type(events, "lifeline.vehicle.positioned")
                    if p["state"] == "at_depot" and p["next_stop_id"] is None}
            return back >= vehicles and {a["stop_id"] for a in _of_type(events, "lifeline.vehicle.arrived")} >= stop_ids

        fleet_events = await _topic_events(settings, topics.FLEET.name, home_again)
        arrivals = {a["stop_id"]: a for a in _of_type(fleet_events, "lifeline.vehicle.arrived")}
        planned = {s["stop_id"]: s for s in day.stops()}
        for stop_id, arrival in arrivals.items():
            assert arrival["late_min"] == 0 and arrival["community_id"] == planned[stop_id]["community_id"]
            assert datetime.fromisoformat(arrival["at"]) == datetime.fromisoformat(planned[stop_id]["service_start"])
        states = {p["state"] for p in _of_type(fleet_events, "lifeline.vehicle.positioned")}
        assert states == {"at_depot", "driving", "at_gate"}
        keys = {e["subject"] for e in fleet_events}
        assert keys == vehicles, "fleet events are keyed by vehicle"

        status = (await day.fleet.get("/status")).json()
        assert status["deliveries_recorded"] == len(stop_ids) and status["deliveries_failed"] == 0
        assert {v["state"] for v in status["vehicles"]} == {"at_depot"}


async def test_a_failed_handover_is_recorded_failed_with_its_reason(settings: Settings) -> None:
    reason = "gate closed: positive case in building 3"
    async with dispatched_day(settings) as day:
        await _driving(day)
        response = await day.fleet.post("/faults", json={"kind": "failed_handover", "community_id": "C-1",
                                                         "reason": reason})
        assert response.status_code == 202, response.text
        at_c1 = next(s for s in day.stops() if s["community_id"] == "C-1")
        assert response.json()["expected"]["stop_id"] == at_c1["stop_id"]

        deliveries = await _topic_events(settings, topics.DELIVERIES.name, _outcomes_for(set(ORDERS)))
        failed = {d["order_id"]: d for d in _of_type(deliveries, "lifeline.order.delivery_failed")}
        delivered = {d["order_id"] for d in _of_type(deliveries, "lifeline.order.delivered")}
        assert set(failed) == {"O-1", "O-2"} and delivered == {"O-3", "O-4"}
        assert {d["reason"] for d in failed.values()} == {reason}
        body = (await day.routing.get("/v1/demand?depot_id=DC-1", headers=day.dispatcher)).json()
        assert {o for c in body for o in c["order_ids"]} == {"O-1", "O-2"}, "a failed stop returns to demand"
        status = (await day.fleet.get("/status")).json()
        assert status["deliveries_failed"] == 1 and status["pending_handover_failures"] == []


async def test_a_late_arrival_delays_the_rest_of_the_route(settings: Settings) -> None:
    async with dispatched_day(settings) as day:
        await _driving(day)
        route = day.first_route()
        response = await day.fleet.post("/faults", json={"kind": "late_arrival", "vehicle_id": route["vehicle_id"],
                                                         "minutes": 30})
        assert response.status_code == 200 and response.json()["applied"], response.text

        deliveries = await _topic_events(settings, topics.DELIVERIES.name, _outcomes_for(set(ORDERS)))
        delivered = {d["order_id"]: d for d in _of_type(deliveries, "lifeline.order.delivered")}
        late = timedelta(minutes=30)
        for stop in route["stops"]:
            for order_id in stop["order_ids"]:
                at = datetime.fromisoformat(delivered[order_id]["delivered_at"])
                assert at >= datetime.fromisoformat(stop["departure"]) + late, (stop, delivered[order_id])

        stop_ids = {s["stop_id"] for s in route["stops"]}
        fleet_events = await _topic_events(
            settings, topics.FLEET.name,
            lambda events: {a["stop_id"] for a in _of_type(events, "lifeline.vehicle.arrived")} >= stop_ids)
        arrivals = [a for a in _of_type(fleet_events, "lifeline.vehicle.arrived") if a["stop_id"] in stop_ids]
        assert {a["late_min"] for a in arrivals} == {30.0}


async def test_a_breakdown_returns_the_vehicles_stops_to_demand(settings: Settings) -> None:
    async with dispatched_day(settings) as day:
        await _driving(day)
        route = day.first_route()
        vehicle_id = route["vehicle_id"]
        its_orders = {o for s in route["stops"] for o in s["order_ids"]}
        response = await day.fleet.post("/faults", json={"kind": "breakdown", "vehicle_id": vehicle_id,
                                                         "reason": "engine failure"})
        assert response.status_code == 200, response.text
        answer = response.json()
        assert answer["vehicle_id"] == vehicle_id and answer["plan_id"] == day.plan["id"]
        assert set(answer["returned_order_ids"]) == its_orders
        assert set(answer["failed_stop_ids"]) == {s["stop_id"] for s in route["stops"]}

        status = (await day.fleet.get("/status")).json()
        mine = next(v for v in status["vehicles"] if v["vehicle_id"] == vehicle_id)
        assert mine["state"] == "broken_down"
        body = (await day.routing.get("/v1/demand?depot_id=DC-1", headers=day.dispatcher)).json()
        assert {o for c in body for o in c["order_ids"]} == its_orders, "its stops are back in demand"

        # Past the last planned departure (plus a margin), the broken vehicle confirmed nothing.
        last_departure = max(datetime.fromisoformat(s["departure"]) for s in route["stops"])
        await eventually(lambda: clock.now() > last_departure + timedelta(minutes=15), timeout_s=30,
                         message="the simulated day past the broken vehicle's route")
        others = set(ORDERS) - its_orders
        deliveries = await _topic_events(settings, topics.DELIVERIES.name, _outcomes_for(others), quiet_s=1.5)
        delivered = {d["order_id"] for d in _of_type(deliveries, "lifeline.order.delivered")}
        assert delivered == others, "the broken-down vehicle handed nothing over"
        fleet_events = await _topic_events(
            settings, topics.FLEET.name,
            lambda events: any(p["vehicle_id"] == vehicle_id and p["state"] == "broken_down"
                               for p in _of_type(events, "lifeline.vehicle.positioned")))
        assert not [a for a in _of_type(fleet_events, "lifeline.vehicle.arrived") if a["vehicle_id"] == vehicle_id]


async def test_a_replan_takes_over_the_route_without_repeating_what_was_done(settings: Settings) -> None:
    async with dispatched_day(settings) as day:
        await _driving(day)
        await publish(settings, reserved("O-5", "C-3", rice=1))
        await wait_for_demand(day.routing, day.dispatcher, ["O-5"])
        response = await day.routing.post(f"/v1/plans/{day.plan['id']}/reoptimize", headers=day.dispatcher,
                                          json={"time_limit_s": 1})
        assert response.status_code == 202, response.text
        child = await solved(day.routing, day.dispatcher, response.json()["id"])
        assert child["status"] == "solved" and child["unassigned"] == [], child
        response = await day.routing.post(f"/v1/plans/{child['id']}/dispatch", headers=day.dispatcher)
        assert response.status_code == 200, response.text

        everything = {*ORDERS, "O-5"}
        deliveries = await _topic_events(settings, topics.DELIVERIES.name, _outcomes_for(everything), quiet_s=1.5)
        delivered = _of_type(deliveries, "lifeline.order.delivered")
        assert sorted(d["order_id"] for d in delivered) == sorted(everything), "each order handed over once"
        assert next(d for d in delivered if d["order_id"] == "O-5")["plan_id"] == child["id"]
        status = (await day.fleet.get("/status")).json()
        assert {v["plan_id"] for v in status["vehicles"]} <= {child["id"]}


async def test_a_restarted_fleet_resumes_the_routes_under_way(settings: Settings) -> None:
    async with dispatched_day(settings) as day:
        await _driving(day)

        async def some_handed_over() -> bool:
            return bool((await day.fleet.get("/status")).json()["deliveries_recorded"])

        await eventually(some_handed_over, timeout_s=30, message="a first hand-over")
        await day.stop_fleet()
        handed_over = await _topic_events(settings, topics.DELIVERIES.name, bool, quiet_s=0.5)
        assert len(handed_over) < len(ORDERS), "the test needs the restart before the last hand-over"

        await day.start_fleet()  # same consumer group: the plan's dispatch is read again
        deliveries = await _topic_events(settings, topics.DELIVERIES.name, _outcomes_for(set(ORDERS)), quiet_s=1.5)
        delivered = sorted(d["order_id"] for d in _of_type(deliveries, "lifeline.order.delivered"))
        assert delivered == sorted(ORDERS), "every order handed over, none twice"


def test_the_commit_watermark_holds_at_the_earliest_dispatch_still_driven() -> None:
    partition = TopicPartition("lifeline.routes.v1", 0)
    watermark = CommitWatermark()
    for offset, plan_id in [(0, None), (1, "P-1"), (2, None), (3, "P-2")]:
        watermark.read(partition, offset, plan_id)

    def commit(live: set[str]) -> dict[TopicPartition, int]:
        offsets = watermark.to_commit(live)
        watermark.committed(offsets)
        return offsets

    assert commit({"P-1", "P-2"}) == {partition: 1}
    assert commit({"P-1", "P-2"}) == {}, "nothing moved, nothing to commit"
    assert commit({"P-2"}) == {partition: 3}
    assert commit(set()) == {partition: 4}


def test_a_leg_is_driven_at_an_even_pace_through_its_waypoints() -> None:
    start = datetime(2026, 12, 4, 6, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
    leg = Leg(((39.0, 116.0), (39.0, 116.2), (39.2, 116.2)), start, start + timedelta(minutes=40))
    assert leg.position(start - timedelta(minutes=5)) == (39.0, 116.0)
    lat, lon = leg.position(start + timedelta(minutes=10))
    # A quarter of the distance: past the middle of the first part, the shorter one (a degree
    # of longitude is shorter than one of latitude at 39 degrees north).
    assert lat == 39.0 and 116.11 < lon < 116.12
    assert leg.position(start + timedelta(hours=1)) == (39.2, 116.2)
    assert leg.later(timedelta(minutes=40)).position(start + timedelta(minutes=40)) != (39.2, 116.2)
