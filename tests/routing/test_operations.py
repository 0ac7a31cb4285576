"""The operations loop over the real broker and database, on a simulated clock (60x).

The routing service runs with the loop on: it plans today's demand from now, dispatches
it, inserts urgent orders into routes on the road, re-plans what a breakdown returned, and
follows a community's risk level from the next plan on.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from services.routing.adapters.orm import Community
from shared import clock
from shared.events.payloads import CommunityUpdated, VehiclePositioned
from shared.settings import Settings
from tests.routing.events import community, publish, reserved, small_city
from tests.routing.helpers import setup_fleet
from tests.support import eventually, running_service

SPEED = 60.0  # a simulated minute per wall second
TRUCK = {"depot_id": "DC-1", "capacity_kg": 1000, "capacity_l": 5000}
CLOSED_LOOP_VAN = {"depot_id": "DC-1", "capacity_kg": 800, "capacity_l": 4000, "closed_loop": True}


@pytest.fixture
def restore_clock() -> Iterator[None]:
    previous = clock.current()
    yield
    clock.use(previous)


def _operating(settings: Settings, at: str = "07:30", cadence_min: float = 15) -> Settings:
    tz = ZoneInfo(settings.city_timezone)
    local = datetime.now(tz)
    hours, minutes = (int(x) for x in at.split(":"))
    start = local.replace(hour=hours, minute=minutes, second=0, microsecond=0)
    operating = settings.model_copy(update={
        "clock_start": start, "clock_anchor": time.time(), "clock_speed": SPEED,
        "operations_enabled": True, "operations_cadence_min": cadence_min, "operations_time_limit_s": 1,
    })
    # The test reads the same simulated clock as the service it starts.
    clock.configure(operating.clock_start, operating.clock_anchor, operating.clock_speed)
    return operating


async def _plans(client: httpx.AsyncClient, headers: dict[str, str], status: str | None = None) -> list[dict[str, Any]]:
    response = await client.get("/v1/plans?depot_id=DC-1", headers=headers)
    assert response.status_code == 200, response.text
    return [p for p in response.json() if status is None or p["status"] == status]


async def _dispatched_with(client: httpx.AsyncClient, headers: dict[str, str], order_ids: set[str],
                           timeout_s: float = 60) -> dict[str, Any]:
    """The dispatched plan that carries all of ``order_ids``."""

    async def check() -> dict[str, Any] | None:
        for summary in await _plans(client, headers, "dispatched"):
            plan = (await client.get(f"/v1/plans/{summary['id']}", headers=headers)).json()
            carried = {o for r in plan["routes"] for s in r["stops"] for o in s["order_ids"]}
            if order_ids <= carried:
                return dict(plan)
        return None

    found: dict[str, Any] = await eventually(check, timeout_s=timeout_s, interval_s=0.5,
                                             message=f"a dispatched plan with {sorted(order_ids)}")
    return found


def _vehicle_of(plan: dict[str, Any], order_id: str) -> str:
    return next(r["vehicle_id"] for r in plan["routes"] for s in r["stops"] if order_id in s["order_ids"])


async def test_the_loop_plans_today_from_now_and_inserts_an_urgent_order_into_the_route_on_the_road(
    settings: Settings, restore_clock: None,
) -> None:
    settings = _operating(settings)
    await publish(settings, *small_city(), community("C-3", lat=39.95, lon=116.43),
                  reserved("O-1", "C-1", rice=2), reserved("O-2", "C-3", rice=3))
    async with running_service("routing", settings) as (_app, client):
        headers = await setup_fleet(client, settings, vehicles={"V-TRUCK": TRUCK})
        first = await _dispatched_with(client, headers, {"O-1", "O-2"})
        planned_at = datetime.fromisoformat(first["created_at"])
        assert first["date"] == planned_at.astimezone(ZoneInfo(settings.city_timezone)).date().isoformat()
        for route in first["routes"]:
            assert datetime.fromisoformat(route["start"]) >= planned_at, "no vehicle leaves in the past"
            for stop in route["stops"]:
                assert datetime.fromisoformat(stop["service_start"]) >= planned_at, "no stop in the past"

        # The only vehicle is on the road: a medical order goes into its route.
        now = clock.now()
        await publish(settings, reserved("O-MED", "C-3", rice=0, medicine=1, priority="medical", placed_at=now))
        child = await _dispatched_with(client, headers, {"O-1", "O-2", "O-MED"})
        assert child["parent_plan_id"] == first["id"], "inserted into the dispatched plan, not a new one"
        assert _vehicle_of(child, "O-MED") == "V-TRUCK"
        parent = (await client.get(f"/v1/plans/{first['id']}", headers=headers)).json()
        assert parent["status"] == "superseded"


async def test_a_breakdown_returns_the_remaining_stops_to_demand_and_the_loop_replans_them(
    settings: Settings, restore_clock: None,
) -> None:
    settings = _operating(settings, cadence_min=5)
    await publish(settings, *small_city(), reserved("O-1", "C-1", rice=2))
    async with running_service("routing", settings) as (_app, client):
        headers = await setup_fleet(client, settings, vehicles={"V-A": TRUCK})
        first = await _dispatched_with(client, headers, {"O-1"})
        assert _vehicle_of(first, "O-1") == "V-A"
        response = await client.put("/v1/vehicles/V-B", json=TRUCK, headers=headers)
        assert response.status_code == 200, response.text

        response = await client.post("/v1/vehicles/V-A/breakdown", headers=headers, json={"reason": "gearbox"})
        assert response.status_code == 200, response.text
        assert response.json()["returned_order_ids"] == ["O-1"]
        vehicles = (await client.get("/v1/vehicles", headers=headers)).json()
        assert {v["id"]: v["in_service"] for v in vehicles} == {"V-A": False, "V-B": True}
        fleet = {v["vehicle_id"]: v for v in (await client.get("/v1/fleet?depot_id=DC-1", headers=headers)).json()}
        assert fleet["V-A"]["out_of_service_reason"] == "gearbox"

        async def replanned() -> dict[str, Any] | None:
            plan = await _dispatched_with(client, headers, {"O-1"})
            return plan if plan["id"] != first["id"] else None

        second = await eventually(replanned, timeout_s=60, interval_s=0.5, message="O-1 re-planned")
        assert _vehicle_of(second, "O-1") == "V-B", "the broken vehicle is out of service"


async def test_a_risk_upgrade_changes_which_vehicles_serve_the_community_from_the_next_plan_on(
    settings: Settings, restore_clock: None,
) -> None:
    settings = _operating(settings, cadence_min=5)
    await publish(settings, *small_city(), reserved("O-1", "C-1", rice=2, placed_at=clock.now()))
    async with running_service("routing", settings) as (app, client):
        headers = await setup_fleet(client, settings, vehicles={"V-OPEN": TRUCK})
        first = await _dispatched_with(client, headers, {"O-1"})
        assert _vehicle_of(first, "O-1") == "V-OPEN", "a normal community takes any vehicle"
        stop = first["routes"][0]["stops"][0]
        response = await client.post("/v1/deliveries", headers=headers, json={
            "plan_id": first["id"], "stop_id": stop["stop_id"], "outcome": "delivered", "received_by": "gate"})
        assert response.status_code == 200, response.text
        today = (await client.get("/v1/outcomes?depot_id=DC-1", headers=headers)).json()
        assert (today["orders"], today["delivered"], today["fill_rate_by_community"]) == (1, 1, {"C-1": 1.0})

        # Overnight C-1 is sealed: from the next plan on only a closed-loop vehicle may enter.
        await publish(settings, CommunityUpdated(
            community_id="C-1", name="Open 1", district="chaoyang", lat=39.93, lon=116.47, risk_level="sealed",
            receiving_windows=[("08:00", "12:00"), ("13:00", "19:00")], gate_service_min=10))
        response = await client.put("/v1/vehicles/V-CL", json=CLOSED_LOOP_VAN, headers=headers)
        assert response.status_code == 200, response.text

        def sealed_known() -> bool:  # the upgrade travels on its own topic
            with app.state.runtime.uow() as uow:
                return bool(uow.session.get(Community, "C-1").risk_level == "sealed")

        await eventually(sealed_known, timeout_s=20)
        await publish(settings, reserved("O-2", "C-1", rice=1, placed_at=clock.now() - timedelta(minutes=1)))
        second = await _dispatched_with(client, headers, {"O-2"})
        assert _vehicle_of(second, "O-2") == "V-CL", second["routes"]


async def test_vehicle_positions_from_the_fleet_topic_show_in_the_fleet_view(settings: Settings) -> None:
    seen = datetime.now(UTC)
    await publish(settings, *small_city(),
                  VehiclePositioned(vehicle_id="V-TRUCK", depot_id="DC-1", plan_id=None, lat=39.93, lon=116.47,
                                    at=seen, state="driving", next_stop_id=None),
                  VehiclePositioned(vehicle_id="V-TRUCK", depot_id="DC-1", plan_id=None, lat=39.0, lon=116.0,
                                    at=seen - timedelta(minutes=5), state="at_depot", next_stop_id=None))
    async with running_service("routing", settings) as (_app, client):
        headers = await setup_fleet(client, settings, vehicles={"V-TRUCK": TRUCK})

        async def positioned() -> dict[str, Any] | None:
            fleet = (await client.get("/v1/fleet?depot_id=DC-1", headers=headers)).json()
            return fleet[0]["position"]  # type: ignore[no-any-return]

        position = await eventually(positioned, message="the truck's position")
        assert (position["lat"], position["state"]) == (39.93, "driving"), "an older position never wins"
