"""Role x route: every route of every service, called by every kind of caller.

The table below is the access policy (SPEC sections 7 and 9) written out. Each row names
a route as the app registers it; ``test_every_route_is_in_the_matrix`` fails when a route
is added without a row, so nobody ships a route whose access was never decided.

Refused credentials (no token, garbage, another secret, expired, another issuer,
``alg: none``, an unknown role, no expiry) all claim to be admin and must get 401 on every
protected route. Allowed roles get the route's real answer (the bodies are valid, the
objects exist), so a 2xx proves the role got through and a 403 proves it did not.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import fastapi.routing
import httpx
import pytest
from fastapi import FastAPI

from tests.inventory.helpers import stock_event
from tests.security.environments import (
    INVENTORY_DEPOT,
    INVENTORY_SKU,
    ORDERS_COMMUNITY,
    ORDERS_HOUSEHOLD,
    ROUTING_VEHICLE,
    Env,
    tomorrow,
)
from tests.security.principals import PRINCIPALS, REFUSED, ROLES, credentials

PUBLIC = "public"


@dataclass(frozen=True)
class Row:
    """One route: how to call it (given the env's ids) and what each role gets."""

    route: str  # "METHOD /path/{template}" as registered
    url: Callable[[dict[str, str]], str]
    expect: dict[str, int] | str  # role -> status, or PUBLIC (200 for everybody)
    json: Callable[[dict[str, str]], Any] | None = None
    params: dict[str, str] = field(default_factory=dict)
    # role -> the (routing) bug that makes today's answer differ; the case is an xfail.
    known_bugs: dict[str, str] = field(default_factory=dict)


def only(**allowed: int) -> dict[str, int]:
    """Allowed roles with their status; every other role is a 403."""
    return {role: allowed.get(role, 403) for role in ROLES}


def everyone(status: int) -> dict[str, int]:
    return dict.fromkeys(ROLES, status)


def fixed(url: str) -> Callable[[dict[str, str]], str]:
    return lambda _ids: url


def _docs(status: str = PUBLIC) -> list[Row]:
    return [
        Row("GET /openapi.json", fixed("/openapi.json"), status),
        Row("GET /docs", fixed("/docs"), status),
        Row("GET /docs/oauth2-redirect", fixed("/docs/oauth2-redirect"), status),
        Row("GET /redoc", fixed("/redoc"), status),
        Row("GET /healthz", fixed("/healthz"), status),
        Row("GET /readyz", fixed("/readyz"), status),
        Row("GET /metrics", fixed("/metrics"), status),
    ]


ORDER_BODY = {"items": [{"sku": "VEG-BOX", "quantity": 1}], "household_id": "H-A"}

ORDERS: list[Row] = [
    *_docs(),
    # Residents (household from the token; naming their own household is accepted) and
    # the household's community workers place orders; nobody else does.
    Row("POST /v1/orders", fixed("/v1/orders"), only(resident=201, community_worker=201),
        json=lambda _ids: ORDER_BODY),
    Row("GET /v1/orders", fixed("/v1/orders"),
        only(resident=200, community_worker=200, dispatcher=200, admin=200)),
    Row("GET /v1/orders/{order_id}", lambda ids: f"/v1/orders/{ids['order_a']}",
        only(resident=200, community_worker=200, dispatcher=200, admin=200)),
    # Cancelling twice answers with the cancelled order again.
    Row("POST /v1/orders/{order_id}/cancel", lambda ids: f"/v1/orders/{ids['order_a_cancel']}/cancel",
        only(resident=200, community_worker=200, admin=200)),
    Row("PUT /v1/communities/{community_id}", fixed("/v1/communities/C-1"), only(admin=200),
        json=lambda _ids: ORDERS_COMMUNITY),
    Row("GET /v1/communities", fixed("/v1/communities"), everyone(200)),
    Row("GET /v1/communities/{community_id}", fixed("/v1/communities/C-1"), everyone(200)),
    Row("PUT /v1/households/{household_id}", fixed("/v1/households/H-A"),
        only(community_worker=200, admin=200), json=lambda _ids: ORDERS_HOUSEHOLD),
    Row("GET /v1/households/{household_id}", fixed("/v1/households/H-A"),
        only(resident=200, community_worker=200, admin=200)),
    Row("GET /v1/catalog", fixed("/v1/catalog"), everyone(200)),
]

STOCK_READERS = only(dispatcher=200, admin=200, inventory_system=200)

INVENTORY: list[Row] = [
    *_docs(),
    Row("PUT /v1/depots/{depot_id}", lambda ids: f"/v1/depots/{ids['depot']}", only(admin=200),
        json=lambda _ids: INVENTORY_DEPOT),
    Row("GET /v1/depots", fixed("/v1/depots"), everyone(200)),
    Row("PUT /v1/skus/{sku}", lambda ids: f"/v1/skus/{ids['sku']}", only(admin=200),
        json=lambda _ids: INVENTORY_SKU),
    Row("GET /v1/skus", fixed("/v1/skus"), everyone(200)),
    Row("POST /v1/stock-events", fixed("/v1/stock-events"), only(admin=200, inventory_system=200),
        json=lambda ids: [stock_event("received", ids["depot"], ids["sku"], 1)]),
    Row("GET /v1/depots/{depot_id}/stock", lambda ids: f"/v1/depots/{ids['depot']}/stock", STOCK_READERS),
    Row("GET /v1/stock/{sku}", lambda ids: f"/v1/stock/{ids['sku']}", STOCK_READERS),
    Row("GET /v1/outlook", fixed("/v1/outlook"), STOCK_READERS, params={"district": "east"}),
    Row("GET /v1/allocations/{order_id}", lambda ids: f"/v1/allocations/{ids['order']}", STOCK_READERS),
]

DISPATCHERS = only(dispatcher=200, admin=200)
SOLVE_BODY = {
    "problem": {
        "depots": [{"id": "D", "location": {"lat": 39.9, "lon": 116.4}}],
        "vehicles": [{"id": "V", "depot_id": "D", "capacity_kg": 10, "capacity_l": 10}],
        "stops": [],
    },
    # Over the service's 60 s cap: a 422 after the role check, without starting a solver.
    "params": {"time_limit_s": 61},
}

ROUTING: list[Row] = [
    *_docs(),
    Row("GET /console", fixed("/console"), PUBLIC),
    # Mode "test": the development token page does not exist.
    Row("GET /console/dev-token", fixed("/console/dev-token"), dict.fromkeys(PRINCIPALS, 404)),
    Row("PUT /v1/vehicles/{vehicle_id}", lambda ids: f"/v1/vehicles/{ids['vehicle']}", DISPATCHERS,
        json=lambda _ids: ROUTING_VEHICLE),
    Row("GET /v1/vehicles", fixed("/v1/vehicles"), DISPATCHERS),
    Row("GET /v1/demand", fixed("/v1/demand"), DISPATCHERS, params={"depot_id": "DC-1"}),
    Row("POST /v1/plans", fixed("/v1/plans"), only(dispatcher=202, admin=202),
        json=lambda _ids: {"depot_ids": ["DC-1"], "date": tomorrow(), "time_limit_s": 0.5}),
    Row("GET /v1/plans/{plan_id}", lambda ids: f"/v1/plans/{ids['plan']}", DISPATCHERS),
    Row("GET /v1/plans", fixed("/v1/plans"), DISPATCHERS, params={"depot_id": "DC-1"}),
    Row("GET /v1/fleet", fixed("/v1/fleet"), DISPATCHERS, params={"depot_id": "DC-1"}),
    Row("GET /v1/outcomes", fixed("/v1/outcomes"), DISPATCHERS, params={"depot_id": "DC-1"}),
    # A vehicle nobody registered: 404 once the role is accepted (a real one would leave service).
    Row("POST /v1/vehicles/{vehicle_id}/breakdown", fixed("/v1/vehicles/V-NOBODY/breakdown"),
        only(dispatcher=404, admin=404), json=lambda _ids: {"reason": "engine"}),
    # Dispatching a dispatched plan again is the same dispatch.
    Row("POST /v1/plans/{plan_id}/dispatch", lambda ids: f"/v1/plans/{ids['plan']}/dispatch", DISPATCHERS),
    Row("POST /v1/plans/{plan_id}/reoptimize", lambda ids: f"/v1/plans/{ids['plan']}/reoptimize",
        only(dispatcher=202, admin=202), json=lambda _ids: {"time_limit_s": 0.5}),
    Row("GET /v1/plans/{plan_id}/map.svg", lambda ids: f"/v1/plans/{ids['plan']}/map.svg", DISPATCHERS),
    # A stop the plan does not have: 404 once the role and the plan's depot are accepted.
    Row("POST /v1/deliveries", fixed("/v1/deliveries"), only(dispatcher=404, admin=404),
        json=lambda ids: {"plan_id": ids["plan"], "stop_id": "no-such-stop", "outcome": "delivered",
                          "received_by": "gate staff"}),
    Row("POST /v1/solve", fixed("/v1/solve"), only(dispatcher=422, admin=422),
        json=lambda _ids: SOLVE_BODY),
]

MATRIX: dict[str, list[Row]] = {"orders": ORDERS, "inventory": INVENTORY, "routing": ROUTING}


def registered_routes(app: FastAPI) -> set[str]:
    """"METHOD /path" for every route the app answers (HEAD beside GET is not listed)."""
    iterate = getattr(fastapi.routing, "iter_route_contexts", None)
    routes: list[Any] = list(iterate(app.routes)) if iterate is not None else list(app.routes)
    found = set()
    for route in routes:
        for method in sorted((getattr(route, "methods", None) or set()) - {"HEAD"}):
            found.add(f"{method} {route.path}")
    return found


def expected_status(row: Row, principal: str) -> int:
    if row.expect == PUBLIC:
        return 200
    assert isinstance(row.expect, dict)
    if principal in row.expect:
        return row.expect[principal]
    assert principal in REFUSED, principal
    return 401


def cases(service: str) -> list[Any]:
    params = []
    for row in MATRIX[service]:
        for principal in PRINCIPALS:
            marks = []
            if principal in row.known_bugs:
                marks.append(pytest.mark.xfail(reason=row.known_bugs[principal], strict=True))
            params.append(pytest.param(row, principal, id=f"{row.route} as {principal}", marks=marks))
    return params


async def call(env: Env, row: Row, principal: str) -> httpx.Response:
    method, _template = row.route.split(" ", 1)
    headers = credentials(env.settings, principal, **env.scope)
    body = row.json(env.ids) if row.json is not None else None
    return await env.client.request(method, row.url(env.ids), headers=headers, json=body,
                                    params=row.params or None)


def check(response: httpx.Response, row: Row, principal: str) -> None:
    wanted = expected_status(row, principal)
    assert response.status_code == wanted, (
        f"{row.route} as {principal}: expected {wanted}, got {response.status_code}: {response.text[:300]}"
    )
    if wanted == 401:
        assert response.headers.get("www-authenticate", "").startswith("Bearer")
        assert response.json()["detail"]["code"] in ("not_authenticated", "invalid_token")
    if wanted == 403:
        assert response.json()["detail"]["code"] == "forbidden"


@pytest.mark.parametrize("service", sorted(MATRIX))
async def test_every_route_is_in_the_matrix(service: str, request: pytest.FixtureRequest) -> None:
    module = __import__(f"services.{service}.bootstrap", fromlist=["create_app"])
    settings = request.getfixturevalue("module_settings")
    app = module.create_app(settings)  # not started: only its routes are read
    tabled = [row.route for row in MATRIX[service]]
    assert len(tabled) == len(set(tabled)), "a route is in the matrix twice"
    registered = registered_routes(app)
    assert registered - set(tabled) == set(), "routes without an access decision in MATRIX"
    assert set(tabled) - registered == set(), "MATRIX rows for routes the app does not have"


@pytest.mark.parametrize(("row", "principal"), cases("orders"))
async def test_orders_access(orders: Env, row: Row, principal: str) -> None:
    check(await call(orders, row, principal), row, principal)


@pytest.mark.parametrize(("row", "principal"), cases("inventory"))
async def test_inventory_access(inventory: Env, row: Row, principal: str) -> None:
    check(await call(inventory, row, principal), row, principal)


@pytest.mark.parametrize(("row", "principal"), cases("routing"))
async def test_routing_access(routing: Env, row: Row, principal: str) -> None:
    check(await call(routing, row, principal), row, principal)
