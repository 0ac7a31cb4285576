"""Each service started once, on the real broker, with a small world every security test
can point at: objects that belong to the default principals (household H-A of community
C-1, depot DC-1 / station CS-E1) and objects that belong to somebody else."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import httpx
from fastapi import FastAPI

from shared.settings import Settings
from tests.inventory.helpers import (
    DEPOTS,
    SKUS,
    define_city,
    placed,
    post_stock,
    produce_payloads,
    stock_event,
    wait_allocation,
)
from tests.orders.conftest import COMMUNITY, start_orders
from tests.routing.events import publish, reserved, small_city
from tests.security.principals import role_credentials
from tests.support import eventually, running_service


@dataclass
class Env:
    """A running service, its client, and the ids of the objects the tests use."""

    name: str
    app: FastAPI
    client: httpx.AsyncClient
    settings: Settings
    ids: dict[str, str] = field(default_factory=dict)
    # The scope the default principals get in this service's tokens.
    scope: dict[str, Any] = field(default_factory=dict)

    def as_role(self, role: str, **scope: Any) -> dict[str, str]:
        return role_credentials(self.settings, role, **{**self.scope, **scope})


# --- orders -----------------------------------------------------------------------------

async def _order(client: httpx.AsyncClient, headers: dict[str, str], **extra: Any) -> str:
    body = {"items": [{"sku": "VEG-BOX", "quantity": 1}], **extra}
    response = await client.post("/v1/orders", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


@contextlib.asynccontextmanager
async def orders_env(settings: Settings) -> AsyncIterator[Env]:
    """Communities C-1 (H-A, H-B, H-V) and C-2 (H-X); orders of H-A and H-X."""
    async with start_orders(settings) as orders:
        env = Env("orders", orders.app, orders.client, settings,
                  scope={"household_id": "H-A", "community_ids": ("C-1",), "depot_ids": ("DC-1",)})
        client = orders.client
        env.ids["order_a"] = await _order(client, orders.resident("H-A"))
        env.ids["order_a_cancel"] = await _order(client, orders.resident("H-A"))
        env.ids["order_x"] = await _order(client, orders.resident("H-X"))
        yield env


ORDERS_COMMUNITY = COMMUNITY
ORDERS_HOUSEHOLD = {"community_id": "C-1", "members": 2, "flags": []}


# --- inventory --------------------------------------------------------------------------

@contextlib.asynccontextmanager
async def inventory_env(settings: Settings) -> AsyncIterator[Env]:
    """The small city of tests.inventory.helpers; order O-SEC-1 reserved at station CS-E1."""
    async with running_service("inventory", settings) as (app, client):
        await define_city(client, settings)
        await post_stock(client, settings, [stock_event("received", "CS-E1", "RICE-5KG", 50)])
        await produce_payloads(settings, [placed("O-SEC-1", {"RICE-5KG": 1})])
        found = await wait_allocation(client, settings, "O-SEC-1", "reserved")
        assert found["depot_id"] == "CS-E1", found
        env = Env("inventory", app, client, settings, scope={
            "household_id": "H-A", "community_ids": ("C-E1",), "depot_ids": ("CS-E1",),
        })
        env.ids.update(order="O-SEC-1", depot="CS-E1", sku="RICE-5KG")
        yield env


INVENTORY_DEPOT = DEPOTS["CS-E1"]
INVENTORY_SKU = SKUS["RICE-5KG"]


# --- routing ----------------------------------------------------------------------------

ROUTING_VEHICLE = {"depot_id": "DC-1", "capacity_kg": 1000, "capacity_l": 5000,
                   "refrigerated": True, "closed_loop": True}


def tomorrow() -> str:
    return (date.today() + timedelta(days=1)).isoformat()


@contextlib.asynccontextmanager
async def routing_env(settings: Settings) -> AsyncIterator[Env]:
    """Depot DC-1 with one vehicle, order O-1 reserved there, a plan solved and dispatched."""
    await publish(settings, *small_city(), reserved("O-1", "C-1"))
    async with running_service("routing", settings) as (app, client):
        env = Env("routing", app, client, settings, scope={
            "household_id": "H-A", "community_ids": ("C-1",), "depot_ids": ("DC-1",),
        })
        headers = env.as_role("dispatcher")
        response = await client.put("/v1/vehicles/V-1", json=ROUTING_VEHICLE, headers=headers)
        assert response.status_code == 200, response.text

        async def demand_known() -> bool:
            body = (await client.get("/v1/demand?depot_id=DC-1", headers=headers)).json()
            return [o for c in body for o in c["order_ids"]] == ["O-1"] and all(
                c["community_name"] for c in body
            )

        await eventually(demand_known, message="demand built from events")

        async def plan_requested() -> str | None:
            # The depot travels on the catalog topic: it may arrive after the demand.
            response = await client.post("/v1/plans", headers=headers, json={
                "depot_ids": ["DC-1"], "date": tomorrow(), "time_limit_s": 1})
            assert response.status_code in (202, 404), response.text
            return str(response.json()["id"]) if response.status_code == 202 else None

        plan_id = await eventually(plan_requested, message="plan requested")

        async def solved() -> dict[str, Any] | None:
            body: dict[str, Any] = (await client.get(f"/v1/plans/{plan_id}", headers=headers)).json()
            return body if body["status"] != "solving" else None

        plan = await eventually(solved, timeout_s=60, message="plan solved")
        assert plan["status"] == "solved", plan
        response = await client.post(f"/v1/plans/{plan_id}/dispatch", headers=headers)
        assert response.status_code == 200, response.text
        env.ids.update(plan=plan_id, vehicle="V-1", depot="DC-1",
                       stop=plan["routes"][0]["stops"][0]["stop_id"])
        yield env
