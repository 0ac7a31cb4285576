"""Plans for the demo city, built from real events on the real broker: its busiest depot,
and the whole city (all ten depots) in one plan.

The demo day (``services.demo.demand``) reserves each order at the depot inventory's rule
picks; these tests play inventory and orders (communities, the catalog, reservations) and
the dispatcher for the fleets.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from services.demo.city import DemoCity, build_city
from services.demo.demand import DemoOrder, busiest_depot, demand_by_depot, demo_orders
from shared.events.payloads import CommunityRegistered, DepotDefined, OrderLine, SkuDefined, StockReserved
from shared.settings import Settings
from tests.routing.events import publish
from tests.routing.helpers import request_plan, setup_fleet, solved, wait_for_demand
from tests.support import running_service

REASONS = {"no_eligible_vehicle", "exceeds_vehicle_capacity", "window_unreachable", "deadline_unreachable",
           "fleet_capacity_exhausted", "community_unknown"}


async def _publish_demand(settings: Settings, city: DemoCity, orders: Sequence[DemoOrder],
                          depot_ids: Sequence[str]) -> None:
    """The depots, the catalog, the orders' communities and their reservations, as the other
    services publish them."""
    communities = {c["id"]: c for c in city.communities if c["id"] in {o.community_id for o in orders}}
    await publish(
        settings,
        *(DepotDefined(depot_id=d["id"], name=d["name"], tier=d["tier"], lat=d["lat"], lon=d["lon"],
                       district=d["district"], cold_storage=d["cold_storage"])
          for d in city.depots if d["id"] in depot_ids),
        *(SkuDefined(sku=s["id"], name=s["name"], category=s["category"], unit_weight_kg=s["unit_weight_kg"],
                     unit_volume_l=s["unit_volume_l"], cold_chain=bool(s.get("cold_chain")),
                     urgent=bool(s.get("urgent"))) for s in city.skus),
        *(CommunityRegistered(community_id=c["id"], name=c["name"], district=c["district"], lat=c["lat"],
                              lon=c["lon"], risk_level=c["risk_level"],
                              receiving_windows=[tuple(w) for w in c["receiving_windows"]],
                              gate_service_min=c["gate_service_min"]) for c in communities.values()),
        *(StockReserved(order_id=o.id, depot_id=o.depot_id, community_id=o.community_id, priority=o.priority,
                        lines=[OrderLine(sku=sku, quantity=q) for sku, q in o.items], placed_at=o.placed_at)
          for o in orders),
    )


def _fleet(city: DemoCity, depot_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    return {v["id"]: {k: x for k, x in v.items() if k != "id"} for v in city.vehicles if v["depot_id"] in depot_ids}


def _weight(city: DemoCity, orders: Sequence[DemoOrder]) -> float:
    skus = {s["id"]: s for s in city.skus}
    return sum(skus[sku]["unit_weight_kg"] * q for o in orders for sku, q in o.items)


def _check_routes(city: DemoCity, plan: dict[str, Any], orders: Sequence[DemoOrder]) -> set[str]:
    """Every order on a route or unassigned with a true reason; every route keeps the rules
    and serves only its own depot's orders. The orders served."""
    served = {o for r in plan["routes"] for s in r["stops"] for o in s["order_ids"]}
    unassigned = {o for u in plan["unassigned"] for o in u["order_ids"]}
    assert served | unassigned == {o.id for o in orders}, "every order is either on a route or unassigned"
    for item in plan["unassigned"]:
        assert item["reason_code"] in REASONS and item["reason"], item
    depot_of = {o.id: o.depot_id for o in orders}
    vehicles = {v["id"]: v for v in city.vehicles}
    for route in plan["routes"]:
        vehicle = vehicles[route["vehicle_id"]]
        for stop in route["stops"]:
            assert {depot_of[o] for o in stop["order_ids"]} == {vehicle["depot_id"]}, (route["vehicle_id"], stop)
            assert stop["window"][0] <= stop["service_start"] <= stop["window"][1], stop
            if stop["risk_level"] == "sealed":
                assert vehicle["closed_loop"], f"{vehicle['id']} entered sealed {stop['community_id']}"
            if stop["cold"]:
                assert vehicle["refrigerated"], f"{vehicle['id']} carried cold goods"
    kpis = plan["kpis"]
    assert kpis["orders_total"] == len(orders)
    assert kpis["orders_served"] == len(served - unassigned)
    return served - unassigned


async def test_plan_for_the_busiest_demo_depot_gives_every_unassigned_order_a_reason(settings: Settings) -> None:
    tomorrow = date.today() + timedelta(days=1)
    city = build_city()
    orders = demo_orders(city, tomorrow, ZoneInfo(settings.city_timezone))
    ranking = demand_by_depot(orders).most_common()
    depot_id = ranking[0][0]
    assert depot_id == busiest_depot(city) and ranking[0][1] > ranking[1][1]
    mine = [o for o in orders if o.depot_id == depot_id]
    await _publish_demand(settings, city, mine, [depot_id])
    async with running_service("routing", settings) as (_app, client):
        headers = await setup_fleet(client, settings, depot_id, _fleet(city, [depot_id]))
        await wait_for_demand(client, headers, [o.id for o in mine], depot_id=depot_id,
                              weight_kg=_weight(city, mine), timeout_s=60)
        plan_id = await request_plan(client, headers, {"depot_ids": [depot_id], "date": tomorrow.isoformat(),
                                                       "time_limit_s": 10})
        plan = await solved(client, headers, plan_id)
    assert plan["status"] == "solved", plan.get("error")
    served = _check_routes(city, plan, mine)
    assert len(served) >= 0.9 * len(mine), plan["kpis"]  # the demo day fits the depot's fleet, nearly


async def test_one_plan_over_all_ten_demo_depots_serves_each_depot_from_its_own_fleet(settings: Settings) -> None:
    tomorrow = date.today() + timedelta(days=1)
    city = build_city()
    orders = demo_orders(city, tomorrow, ZoneInfo(settings.city_timezone))
    depot_ids = [d["id"] for d in city.depots]
    assert len(depot_ids) == 10
    await _publish_demand(settings, city, orders, depot_ids)
    async with running_service("routing", settings) as (_app, client):
        headers = await setup_fleet(client, settings, depot_ids, _fleet(city, depot_ids))
        for depot_id, count in demand_by_depot(orders).items():
            mine = [o for o in orders if o.depot_id == depot_id]
            assert len(mine) == count
            await wait_for_demand(client, headers, [o.id for o in mine], depot_id=depot_id,
                                  weight_kg=_weight(city, mine), timeout_s=60)
        plan_id = await request_plan(client, headers, {"depot_ids": depot_ids, "date": tomorrow.isoformat(),
                                                       "time_limit_s": 10})
        plan = await solved(client, headers, plan_id)
    assert plan["status"] == "solved", plan.get("error")
    served = _check_routes(city, plan, orders)
    share = {d: sum(o.id in served for o in orders if o.depot_id == d) / n for d, n in demand_by_depot(orders).items()}
    # The district centres' fleets carry their demo day, nearly; a community reserve has one
    # small vehicle and serves what it can (its unassigned orders have their reasons, above).
    districts = {d["id"] for d in city.depots if d["tier"] == "district"}
    assert all(share[d] >= 0.9 for d in districts if d in share), share
    depot_of_vehicle = {v["id"]: v["depot_id"] for v in city.vehicles}
    depots_served = {depot_of_vehicle[r["vehicle_id"]] for r in plan["routes"]}
    assert depots_served == set(demand_by_depot(orders)), "every depot with demand sends vehicles out"
