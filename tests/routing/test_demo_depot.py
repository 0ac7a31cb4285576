"""A plan for the demo city's busiest depot, built from real events on the real broker.

The demo day (``services.demo.demand``) reserves each order at the depot inventory's rule
picks; this test plays inventory and orders for the busiest depot's share of it (its
communities, the catalog and its reservations) and the dispatcher for its fleet.
"""

from __future__ import annotations

from datetime import date, timedelta
from zoneinfo import ZoneInfo

from services.demo.city import build_city
from services.demo.demand import busiest_depot, demand_by_depot, demo_orders
from shared.events.payloads import CommunityRegistered, DepotDefined, OrderLine, SkuDefined, StockReserved
from shared.settings import Settings
from tests.routing.events import publish
from tests.routing.helpers import request_plan, setup_fleet, solved, wait_for_demand
from tests.support import running_service

REASONS = {"no_eligible_vehicle", "exceeds_vehicle_capacity", "window_unreachable", "deadline_unreachable",
           "fleet_capacity_exhausted", "community_unknown"}


async def test_plan_for_the_busiest_demo_depot_gives_every_unassigned_order_a_reason(settings: Settings) -> None:
    tomorrow = date.today() + timedelta(days=1)
    city = build_city()
    orders = demo_orders(city, tomorrow, ZoneInfo(settings.city_timezone))
    ranking = demand_by_depot(orders).most_common()
    depot_id = ranking[0][0]
    assert depot_id == busiest_depot(city) and ranking[0][1] > ranking[1][1]
    mine = [o for o in orders if o.depot_id == depot_id]
    depot = next(d for d in city.depots if d["id"] == depot_id)
    communities = {c["id"]: c for c in city.communities if c["id"] in {o.community_id for o in mine}}
    await publish(
        settings,
        DepotDefined(depot_id=depot_id, name=depot["name"], tier=depot["tier"], lat=depot["lat"],
                     lon=depot["lon"], district=depot["district"], cold_storage=depot["cold_storage"]),
        *(SkuDefined(sku=s["id"], name=s["name"], category=s["category"], unit_weight_kg=s["unit_weight_kg"],
                     unit_volume_l=s["unit_volume_l"], cold_chain=bool(s.get("cold_chain")),
                     urgent=bool(s.get("urgent"))) for s in city.skus),
        *(CommunityRegistered(community_id=c["id"], name=c["name"], district=c["district"], lat=c["lat"],
                              lon=c["lon"], risk_level=c["risk_level"],
                              receiving_windows=[tuple(w) for w in c["receiving_windows"]],
                              gate_service_min=c["gate_service_min"]) for c in communities.values()),
        *(StockReserved(order_id=o.id, depot_id=depot_id, community_id=o.community_id, priority=o.priority,
                        lines=[OrderLine(sku=sku, quantity=q) for sku, q in o.items], placed_at=o.placed_at)
          for o in mine),
    )
    fleet = {v["id"]: {k: x for k, x in v.items() if k != "id"} for v in city.vehicles if v["depot_id"] == depot_id}
    async with running_service("routing", settings) as (_app, client):
        headers = await setup_fleet(client, settings, depot_id, fleet)
        skus = {s["id"]: s for s in city.skus}
        weight = sum(skus[sku]["unit_weight_kg"] * q for o in mine for sku, q in o.items)
        await wait_for_demand(client, headers, [o.id for o in mine], depot_id=depot_id, weight_kg=weight,
                              timeout_s=60)
        plan_id = await request_plan(client, headers, {"depot_ids": [depot_id], "date": tomorrow.isoformat(),
                                                       "time_limit_s": 10})
        plan = await solved(client, headers, plan_id)
    assert plan["status"] == "solved", plan.get("error")

    served = {o for r in plan["routes"] for s in r["stops"] for o in s["order_ids"]}
    unassigned = {o for u in plan["unassigned"] for o in u["order_ids"]}
    assert served | unassigned == {o.id for o in mine}, "every order is either on a route or unassigned"
    for item in plan["unassigned"]:
        assert item["reason_code"] in REASONS and item["reason"], item
    kpis = plan["kpis"]
    assert kpis["orders_total"] == len(mine)
    assert kpis["orders_served"] == len(served - unassigned)
    assert kpis["orders_served"] >= 0.9 * len(mine), kpis  # the demo day fits the depot's fleet, nearly

    vehicles = {v["id"]: v for v in city.vehicles}
    for route in plan["routes"]:
        vehicle = vehicles[route["vehicle_id"]]
        assert vehicle["depot_id"] == depot_id
        for stop in route["stops"]:
            assert stop["window"][0] <= stop["service_start"] <= stop["window"][1], stop
            if stop["risk_level"] == "sealed":
                assert vehicle["closed_loop"], f"{vehicle['id']} entered sealed {stop['community_id']}"
            if stop["cold"]:
                assert vehicle["refrigerated"], f"{vehicle['id']} carried cold goods"
