"""Object-level access (BOLA), body limits and the per-household order rate.

A principal who does not own or serve an object gets exactly what a missing object gets
(404, or a list without it): ids cannot be probed. Stock is the exception the spec makes:
depots are public, so another depot's stock is a 403 (wrong scope), not a 404.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.inventory.helpers import stock_event
from tests.security.environments import ROUTING_VEHICLE, Env, tomorrow
from tests.security.principals import role_credentials

SETTINGS_OVERRIDES = {"order_rate_per_minute": 3}

MISSING_ORDER = "O-" + "0" * 26


async def _same_as_missing(client: httpx.AsyncClient, method: str, foreign: str, missing: str,
                           headers: dict[str, str], **kwargs: Any) -> None:
    """A foreign object answers like a missing one: same status, same error code."""
    theirs = await client.request(method, foreign, headers=headers, **kwargs)
    absent = await client.request(method, missing, headers=headers, **kwargs)
    assert theirs.status_code == absent.status_code == 404, (theirs.text, absent.text)
    assert theirs.json()["detail"]["code"] == absent.json()["detail"]["code"] == "not_found"


# --- orders -------------------------------------------------------------------------------

async def _status(orders: Env, order_id: str) -> str:
    response = await orders.client.get(f"/v1/orders/{order_id}", headers=orders.as_role("admin"))
    assert response.status_code == 200, response.text
    return str(response.json()["status"])


async def test_a_resident_reaches_only_his_own_households_orders(orders: Env) -> None:
    client, mine = orders.client, orders.ids["order_a"]
    other = orders.as_role("resident", household_id="H-B")
    await _same_as_missing(client, "GET", f"/v1/orders/{mine}", f"/v1/orders/{MISSING_ORDER}", other)
    await _same_as_missing(client, "POST", f"/v1/orders/{mine}/cancel",
                           f"/v1/orders/{MISSING_ORDER}/cancel", other)
    assert await _status(orders, mine) == "placed"
    empty: dict[str, Any] = {"items": [], "next_cursor": None}
    assert (await client.get("/v1/orders", headers=other)).json() == empty
    # A cursor (an order id) from anywhere pages through the caller's orders only.
    for cursor in (mine, "O-" + "Z" * 26):
        paged = await client.get("/v1/orders", params={"cursor": cursor}, headers=other)
        assert paged.json() == empty
    for status in ("placed", "cancelled"):
        assert (await client.get("/v1/orders", params={"status": status}, headers=other)).json() == empty
    # The household record: his own yes, another's is a 404, and residents never write.
    assert (await client.get("/v1/households/H-B", headers=other)).status_code == 200
    await _same_as_missing(client, "GET", "/v1/households/H-A", "/v1/households/H-NOBODY", other)
    put = await client.put("/v1/households/H-B", json={"community_id": "C-1", "members": 9},
                           headers=other)
    assert put.status_code == 403
    # Ordering for another household is refused and places nothing.
    before = await client.get("/v1/orders", headers=orders.as_role("resident"))
    refused = await client.post("/v1/orders", headers=other, json={
        "items": [{"sku": "VEG-BOX", "quantity": 1}], "household_id": "H-A"})
    assert refused.status_code == 422 and refused.json()["detail"]["code"] == "household_mismatch"
    after = await client.get("/v1/orders", headers=orders.as_role("resident"))
    assert after.json() == before.json()


async def test_a_worker_reaches_only_the_households_of_his_communities(orders: Env) -> None:
    client, in_c1, in_c2 = orders.client, orders.ids["order_a"], orders.ids["order_x"]
    c2 = orders.as_role("community_worker", community_ids=("C-2",))
    await _same_as_missing(client, "GET", f"/v1/orders/{in_c1}", f"/v1/orders/{MISSING_ORDER}", c2)
    await _same_as_missing(client, "POST", f"/v1/orders/{in_c1}/cancel",
                           f"/v1/orders/{MISSING_ORDER}/cancel", c2)
    assert await _status(orders, in_c1) == "placed"
    listed = (await client.get("/v1/orders", headers=c2)).json()["items"]
    assert [o["id"] for o in listed] == [in_c2]
    assert (await client.get(f"/v1/orders/{in_c2}", headers=c2)).status_code == 200

    await _same_as_missing(client, "GET", "/v1/households/H-A", "/v1/households/H-NOBODY", c2)
    assert (await client.get("/v1/households/H-X", headers=c2)).status_code == 200
    # Neither take a C-1 household into C-2 nor edit it where it is.
    for community_id in ("C-2", "C-1"):
        moved = await client.put("/v1/households/H-A", headers=c2,
                                 json={"community_id": community_id, "members": 1})
        assert moved.status_code == 403, moved.text
    household = await client.get("/v1/households/H-A", headers=orders.as_role("admin"))
    assert household.json()["community_id"] == "C-1" and household.json()["members"] == 2
    on_behalf = await client.post("/v1/orders", headers=c2, json={
        "items": [{"sku": "VEG-BOX", "quantity": 1}], "household_id": "H-A"})
    assert on_behalf.status_code == 403

    # A worker token without communities sees nothing at all.
    nowhere = orders.as_role("community_worker", community_ids=())
    assert (await client.get("/v1/orders", headers=nowhere)).json()["items"] == []
    assert (await client.get(f"/v1/orders/{in_c2}", headers=nowhere)).status_code == 404
    assert (await client.get("/v1/households/H-X", headers=nowhere)).status_code == 404


@pytest.mark.parametrize("role", ["inventory_system", "dispatcher", "admin"])
async def test_only_residents_and_workers_place_orders(orders: Env, role: str) -> None:
    body = {"items": [{"sku": "VEG-BOX", "quantity": 1}], "household_id": "H-A"}
    response = await orders.client.post("/v1/orders", json=body, headers=orders.as_role(role))
    assert response.status_code == 403, response.text
    assert response.json()["detail"]["code"] == "forbidden"


async def test_the_order_rate_is_per_household_whoever_orders(orders: Env) -> None:
    client = orders.client
    resident = orders.as_role("resident", household_id="H-V")
    worker = orders.as_role("community_worker", community_ids=("C-1",))
    body: dict[str, Any] = {"items": [{"sku": "VEG-BOX", "quantity": 1}]}
    for headers in (resident, resident):
        assert (await client.post("/v1/orders", json=body, headers=headers)).status_code == 201
    on_behalf = {**body, "household_id": "H-V"}
    assert (await client.post("/v1/orders", json=on_behalf, headers=worker)).status_code == 201
    for headers, sent in ((resident, body), (worker, on_behalf)):
        refused = await client.post("/v1/orders", json=sent, headers=headers)
        assert refused.status_code == 429, refused.text
        assert 1 <= int(refused.headers["Retry-After"]) <= 60
        assert refused.json()["detail"]["code"] == "rate_limited"
        assert refused.json()["detail"]["limit_per_minute"] == 3
    neighbour = orders.as_role("resident", household_id="H-B")
    assert (await client.post("/v1/orders", json=body, headers=neighbour)).status_code == 201


# --- inventory ----------------------------------------------------------------------------

async def test_stock_and_allocations_of_other_depots(inventory: Env) -> None:
    client, admin = inventory.client, inventory.as_role("admin")
    west = inventory.as_role("dispatcher", depot_ids=("DC-W1",))
    refused = await client.get("/v1/depots/CS-E1/stock", headers=west)
    assert refused.status_code == 403 and refused.json()["detail"]["field"] == "depot_id"
    per_sku = (await client.get("/v1/stock/RICE-5KG", headers=west)).json()["items"]
    assert {row["depot_id"] for row in per_sku} <= {"DC-W1"}
    await _same_as_missing(client, "GET", "/v1/allocations/O-SEC-1", "/v1/allocations/O-NOBODY", west)
    assert (await client.get("/v1/allocations/O-SEC-1", headers=inventory.as_role("dispatcher"))
            ).status_code == 200
    assert (await client.get("/v1/allocations/O-SEC-1", headers=admin)).status_code == 200


@pytest.mark.parametrize("depot_ids", [("DC-W1",), ()], ids=["other-depot", "no-depot"])
async def test_a_warehouse_system_writes_only_its_own_depots(
    inventory: Env, depot_ids: tuple[str, ...]
) -> None:
    client, admin = inventory.client, inventory.as_role("admin")

    async def on_hand() -> int:
        rows = (await client.get("/v1/depots/CS-E1/stock", headers=admin)).json()["items"]
        return int(next(r["on_hand"] for r in rows if r["sku"] == "RICE-5KG"))

    before = await on_hand()
    wms = inventory.as_role("inventory_system", depot_ids=depot_ids)
    events = [stock_event("received", "CS-E1", "RICE-5KG", 500),
              stock_event("counted", "CS-E1", "RICE-5KG", 0)]
    response = await client.post("/v1/stock-events", json=events, headers=wms)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["applied"] == 0 and answer["rejected"] == 2, answer
    assert all("CS-E1" in (r["reason"] or "") for r in answer["results"]), answer
    assert await on_hand() == before


# --- routing ------------------------------------------------------------------------------

async def test_another_depots_plans_are_not_found(routing: Env) -> None:
    client, plan = routing.client, routing.ids["plan"]
    other = routing.as_role("dispatcher", depot_ids=("DC-2",))
    missing = "P-000000000000"
    await _same_as_missing(client, "GET", f"/v1/plans/{plan}", f"/v1/plans/{missing}", other)
    await _same_as_missing(client, "GET", f"/v1/plans/{plan}/map.svg", f"/v1/plans/{missing}/map.svg", other)
    await _same_as_missing(client, "POST", f"/v1/plans/{plan}/dispatch", f"/v1/plans/{missing}/dispatch", other)
    await _same_as_missing(client, "POST", f"/v1/plans/{plan}/reoptimize",
                           f"/v1/plans/{missing}/reoptimize", other, json={"time_limit_s": 0.5})


async def test_deliveries_on_another_depots_plan_are_not_found(routing: Env) -> None:
    other = routing.as_role("dispatcher", depot_ids=("DC-2",))

    def body(plan_id: str) -> dict[str, Any]:
        return {"plan_id": plan_id, "stop_id": routing.ids["stop"], "outcome": "failed",
                "reason": "probe"}

    theirs = await routing.client.post("/v1/deliveries", json=body(routing.ids["plan"]), headers=other)
    absent = await routing.client.post("/v1/deliveries", json=body("P-000000000000"), headers=other)
    assert theirs.status_code == absent.status_code == 404, (theirs.text, absent.text)


async def test_another_depots_vehicles_demand_and_planning(routing: Env) -> None:
    client, admin = routing.client, routing.as_role("admin")
    other = routing.as_role("dispatcher", depot_ids=("DC-2",))
    assert (await client.get("/v1/vehicles", headers=other)).json() == []
    assert (await client.get("/v1/vehicles", params={"depot_id": "DC-1"}, headers=other)).json() == []
    # Taking DC-1's vehicle into DC-2, or editing it in place, is refused.
    for depot_id in ("DC-2", "DC-1"):
        taken = await client.put("/v1/vehicles/V-1", headers=other,
                                 json={**ROUTING_VEHICLE, "depot_id": depot_id, "capacity_kg": 1})
        assert taken.status_code == 403, taken.text
    fleet = (await client.get("/v1/vehicles", headers=admin)).json()
    assert [(v["id"], v["depot_id"], v["capacity_kg"]) for v in fleet] == [("V-1", "DC-1", 1000)]
    assert (await client.get("/v1/demand", params={"depot_id": "DC-1"}, headers=other)).status_code == 403
    planned = await client.post("/v1/plans", headers=other,
                                json={"depot_ids": ["DC-1"], "date": tomorrow(), "time_limit_s": 0.5})
    assert planned.status_code == 403


# --- body limits ----------------------------------------------------------------------------

BIG_POSTS = {
    "orders": ("/v1/orders", "resident"),
    "inventory": ("/v1/stock-events", "inventory_system"),
    "routing": ("/v1/solve", "admin"),
}


def _oversized(env: Env) -> bytes:
    limit = env.settings.max_body_bytes
    return b'{"note": "' + b"x" * limit + b'"}'


async def _chunks(payload: bytes, size: int = 64 * 1024) -> AsyncIterator[bytes]:
    for start in range(0, len(payload), size):
        yield payload[start:start + size]


@pytest.mark.parametrize("service", sorted(BIG_POSTS))
@pytest.mark.parametrize("streamed", [False, True], ids=["content-length", "chunked"])
async def test_bodies_over_the_limit_are_413(
    service: str, streamed: bool, request: pytest.FixtureRequest
) -> None:
    env: Env = request.getfixturevalue(service)
    path, role = BIG_POSTS[service]
    payload = _oversized(env)
    headers = {**env.as_role(role), "content-type": "application/json"}
    content: bytes | AsyncIterator[bytes] = _chunks(payload) if streamed else payload
    response = await env.client.post(path, content=content, headers=headers)
    assert response.status_code == 413, response.text[:300]
    assert response.json()["detail"]["code"] == "body_too_large"
    # The service is fine afterwards.
    assert (await env.client.get("/healthz")).status_code == 200


@pytest.mark.parametrize("service", sorted(BIG_POSTS))
async def test_a_declared_oversize_is_refused_before_authentication(
    service: str, request: pytest.FixtureRequest
) -> None:
    env: Env = request.getfixturevalue(service)
    path, _role = BIG_POSTS[service]
    response = await env.client.post(path, content=_oversized(env),
                                     headers={"content-type": "application/json"})
    assert response.status_code == 413


def test_role_credentials_are_scoped_as_asked(module_settings: Any) -> None:
    """The helper the tests above rely on mints what it says."""
    from tests.support import tokens

    header = role_credentials(module_settings, "dispatcher", depot_ids=("DC-2",))
    principal = tokens(module_settings).verify(header["Authorization"].split(" ", 1)[1])
    assert principal.role == "dispatcher" and principal.depot_ids == frozenset({"DC-2"})


async def test_no_unauthenticated_admin_token_with_a_real_secret(module_settings: Any) -> None:
    from pydantic import SecretStr

    from services.routing.bootstrap import create_app

    real = module_settings.model_copy(update={
        "mode": "development", "jwt_secret": SecretStr("a-real-deployment-secret-0123456789abcdef"),
    })
    app = create_app(real)  # not started: the page needs no database
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://routing") as client:
        response = await client.get("/console/dev-token")
    assert response.status_code == 404, response.text


# --- hostile input ---------------------------------------------------------------------------

async def test_nul_characters_are_refused_before_the_database(orders: Env, inventory: Env) -> None:
    """PostgreSQL cannot store NUL in text: it was a 500 there (found by the fuzzer)."""
    admin = orders.as_role("admin")
    community = await orders.client.put("/v1/communities/C-NUL", headers=admin, json={
        "name": "bad\x00name", "district": "d", "lat": 1, "lon": 1, "risk_level": "normal",
        "receiving_windows": [["07:00", "09:00"]]})
    assert community.status_code == 422 and community.json()["detail"][0]["loc"] == ["body", "name"]
    listed = await orders.client.get("/v1/communities", params={"district": "x\x00"}, headers=admin)
    assert listed.status_code == 422
    note = await orders.client.post("/v1/orders", headers=orders.as_role("resident", household_id="H-B"),
                                    json={"items": [{"sku": "VEG-BOX", "quantity": 1}], "note": "\x00"})
    assert note.status_code == 422 and note.json()["detail"][0]["loc"] == ["body", "note"]

    wms = inventory.as_role("inventory_system")
    poisoned = stock_event("received", "CS-E1", "RICE-5KG", 1, reason="dock\x00 3")
    fine = stock_event("received", "CS-E1", "RICE-5KG", 1)
    answer = await inventory.client.post("/v1/stock-events", json=[poisoned, fine], headers=wms)
    assert answer.status_code == 200, answer.text
    assert [r["status"] for r in answer.json()["results"]] == ["rejected", "applied"]
    assert "NUL" in answer.json()["results"][0]["reason"]
    lookup = await inventory.client.get("/v1/allocations/O%00", headers=inventory.as_role("admin"))
    assert lookup.status_code == 422


async def test_json_numbers_and_booleans_mean_what_the_schema_says(orders: Env) -> None:
    admin = orders.as_role("admin")
    body = {"community_id": "C-1", "members": 2, "flags": []}
    for bad in ({"members": True}, {"members": "2"}, {"members": 2.5}):
        response = await orders.client.put("/v1/households/H-NUM", json={**body, **bad}, headers=admin)
        assert response.status_code == 422, (bad, response.text)
    # 2.0 is the JSON number 2 (JSON Schema agrees); it is stored as the integer.
    accepted = await orders.client.put("/v1/households/H-NUM", json={**body, "members": 2.0}, headers=admin)
    assert accepted.status_code == 201 and accepted.json()["members"] == 2
    order = {"items": [{"sku": "VEG-BOX", "quantity": 1}], "contactless": 0}
    refused = await orders.client.post("/v1/orders", json=order,
                                       headers=orders.as_role("resident", household_id="H-NUM"))
    assert refused.status_code == 422 and refused.json()["detail"][0]["loc"][-1] == "contactless"
    assert accepted.json()["created_at"].endswith(("Z", "+00:00"))
