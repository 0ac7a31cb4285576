"""The whole system over HTTP and one real broker: an order goes from placed to scheduled."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import date, datetime, timedelta

import httpx
import pytest

from services.demo.city import build_city
from services.demo.loader import load_city
from shared.settings import Settings
from tests.support import bearer, eventually, running_service, tokens

pytestmark = pytest.mark.e2e

HOUSEHOLD = "H-CY-08-0001"  # an open community served by a district centre


@contextlib.asynccontextmanager
async def system(settings: Settings) -> AsyncIterator[dict[str, httpx.AsyncClient]]:
    async with (
        running_service("orders", settings) as (_o, orders),
        running_service("inventory", settings) as (_i, inventory),
        running_service("routing", settings) as (_r, routing),
    ):
        yield {"orders": orders, "inventory": inventory, "routing": routing}


async def place_order(orders: httpx.AsyncClient, settings: Settings, household: str) -> dict:
    resident = bearer(tokens(settings).mint(household, "resident"))

    async def attempt() -> dict | None:
        # The catalog reaches orders through the broker; until then SKUs are unknown (422).
        response = await orders.post("/v1/orders", headers=resident, json={
            "items": [{"sku": "VEG-BOX", "quantity": 1}, {"sku": "MILK-1L", "quantity": 2}]})
        return response.json() if response.status_code == 201 else None

    return await eventually(attempt, timeout_s=30, message="order accepted")


async def test_an_order_goes_from_placed_to_scheduled_with_an_eta(settings: Settings) -> None:
    async with system(settings) as clients:
        await load_city(build_city(households_per_community=2), clients, tokens(settings))
        order = await place_order(clients["orders"], settings, HOUSEHOLD)
        assert order["status"] == "placed"
        resident = bearer(tokens(settings).mint(HOUSEHOLD, "resident"))

        async def reserved() -> dict | None:
            body = (await clients["orders"].get(f"/v1/orders/{order['id']}", headers=resident)).json()
            return body if body["status"] == "reserved" else None

        order = await eventually(reserved, timeout_s=30, message="order reserved by inventory")
        depot = order["depot_id"]
        dispatcher = bearer(tokens(settings).mint("disp", "dispatcher", depot_ids=[depot]))

        async def in_demand() -> bool:
            body = (await clients["routing"].get(f"/v1/demand?depot_id={depot}", headers=dispatcher)).json()
            return any(order["id"] in c["order_ids"] for c in body)

        await eventually(in_demand, timeout_s=30, message="order appears as routing demand")
        tomorrow = (date.today() + timedelta(days=1)).isoformat()
        response = await clients["routing"].post("/v1/plans", headers=dispatcher, json={
            "depot_ids": [depot], "date": tomorrow, "time_limit_s": 2})
        assert response.status_code == 202, response.text

        async def solved() -> dict | None:
            body = (await clients["routing"].get(f"/v1/plans/{response.json()['id']}", headers=dispatcher)).json()
            return body if body["status"] != "solving" else None

        plan = await eventually(solved, timeout_s=60, message="plan solved")
        assert plan["status"] == "solved", plan
        assert all(u["reason_code"] for u in plan["unassigned"])
        response = await clients["routing"].post(f"/v1/plans/{plan['id']}/dispatch", headers=dispatcher)
        assert response.status_code == 200, response.text

        async def scheduled() -> dict | None:
            body = (await clients["orders"].get(f"/v1/orders/{order['id']}", headers=resident)).json()
            return body if body["status"] == "scheduled" else None

        order = await eventually(scheduled, timeout_s=30, message="orders shows the order scheduled")
        schedule = order["schedule"]
        assert schedule["plan_id"] == plan["id"] and schedule["eta"] is not None
        assert schedule["window_start"] <= schedule["eta"] <= schedule["window_end"]
        # The demo city's windows are local (UTC+8) times: a window shown in UTC must say so.
        # An order with cold and ambient lines is complete at the later of its two stops.
        arrival = max(datetime.fromisoformat(s["arrival"]) for r in plan["routes"] for s in r["stops"]
                      if order["id"] in s["order_ids"])
        assert datetime.fromisoformat(schedule["eta"].replace("Z", "+00:00")) == arrival
        assert [entry["status"] for entry in order["timeline"]][:3] == ["placed", "reserved", "scheduled"]
