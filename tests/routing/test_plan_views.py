"""What a dispatcher reads of a plan: unassigned orders with their reasons, and the map."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import date, timedelta

from services.routing.entrypoints.http.map_svg import RISK_COLOURS
from shared.settings import Settings
from tests.routing.events import community, publish, reserved, small_city
from tests.routing.helpers import request_plan, setup_fleet, solved, wait_for_demand
from tests.support import bearer, running_service, tokens

SVG = "{http://www.w3.org/2000/svg}"


async def test_unassigned_orders_carry_reasons_and_the_map_draws_the_plan(settings: Settings) -> None:
    # C-4 opens its gate at 05:00 for half an hour, before any shift starts; C-9 was never
    # registered with routing (its registration has not arrived).
    await publish(settings, *small_city(),
                  community("C-4", lat=39.95, lon=116.42, windows=[("05:00", "05:30")]),
                  reserved("O-1", "C-1", rice=2), reserved("O-2", "C-2", rice=1, milk=2, priority="medical"),
                  reserved("O-3", "C-4"), reserved("O-4", "C-9", priority="vulnerable"))
    async with running_service("routing", settings) as (_app, client):
        headers = await setup_fleet(client, settings)
        await wait_for_demand(client, headers, ["O-1", "O-2", "O-3", "O-4"], unknown=["C-9"])
        tomorrow = (date.today() + timedelta(days=1)).isoformat()
        plan_id = await request_plan(client, headers, {"depot_ids": ["DC-1"], "date": tomorrow, "time_limit_s": 2})
        plan = await solved(client, headers, plan_id)
        assert plan["status"] == "solved", plan

        served = {o for r in plan["routes"] for s in r["stops"] for o in s["order_ids"]}
        assert served == {"O-1", "O-2"}
        reasons = {u["community_id"]: u for u in plan["unassigned"]}
        assert {c: u["reason_code"] for c, u in reasons.items()} == {
            "C-4": "window_unreachable", "C-9": "community_unknown"}
        assert all(u["reason"] for u in plan["unassigned"]), "every unassigned order has a human reason"
        unknown = reasons["C-9"]
        assert unknown["order_ids"] == ["O-4"] and "C-9" in unknown["reason"] and "not registered" in unknown["reason"]
        assert unknown["lat"] is None and unknown["community_name"] is None
        kpis = plan["kpis"]
        assert (kpis["orders_total"], kpis["orders_served"]) == (4, 2)
        assert kpis["priority_orders"] == 2 and kpis["priority_served_share"] == 0.5  # O-2 served, O-4 not

        response = await client.get(f"/v1/plans/{plan_id}/map.svg", headers=headers)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("image/svg+xml")
        root = ET.fromstring(response.text)
        assert root.tag == f"{SVG}svg"
        groups = list(root.iter(f"{SVG}g"))

        depots = [g.get("data-depot") for g in groups if g.get("class") == "depot"]
        assert depots == ["DC-1"]

        markers = {c.get("data-community"): c for c in root.iter(f"{SVG}circle")
                   if "community" in (c.get("class") or "").split()}
        assert set(markers) == {"C-1", "C-2"}
        assert markers["C-1"].get("fill") == RISK_COLOURS["normal"]
        assert "risk-normal" in (markers["C-1"].get("class") or "")
        assert markers["C-2"].get("fill") == RISK_COLOURS["sealed"]
        assert "risk-sealed" in (markers["C-2"].get("class") or "")

        routes = {g.get("data-vehicle"): g for g in groups if g.get("class") == "route"}
        assert set(routes) == {r["vehicle_id"] for r in plan["routes"]}, "one drawing per route"
        for route in plan["routes"]:
            lines = routes[route["vehicle_id"]].findall(f"{SVG}polyline")
            assert len(lines) == len({s["trip"] for s in route["stops"]}), "one polyline per trip"
            points = sum(len(line.get("points", "").split()) for line in lines)
            assert points == len(route["stops"]) + 2 * len(lines), "depot, the stops, back to the depot"

        crossed = {g.get("data-community"): g.get("data-reason") for g in groups if g.get("class") == "unassigned"}
        assert crossed == {"C-4": "window_unreachable"}, "C-9 has no location to draw"
        assert "1 order(s) of unknown communities" in response.text

        # Auth as every routing endpoint: 401 without a token, 403 for another role, and
        # another depot's plan (or no plan) is not found.
        assert (await client.get(f"/v1/plans/{plan_id}/map.svg")).status_code == 401
        resident = bearer(tokens(settings).mint("H-1", "resident"))
        assert (await client.get(f"/v1/plans/{plan_id}/map.svg", headers=resident)).status_code == 403
        stranger = bearer(tokens(settings).mint("disp-2", "dispatcher", depot_ids=["DC-2"]))
        assert (await client.get(f"/v1/plans/{plan_id}/map.svg", headers=stranger)).status_code == 404
        response = await client.get("/v1/plans/P-000000000000/map.svg", headers=headers)
        assert response.status_code == 404 and response.json()["detail"]["code"] == "not_found"
