"""Re-planning a dispatched plan when an urgent order arrives, over the real broker."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from services.routing.domain.plan_result import PlanResult, changed_assignments
from shared.settings import Settings
from tests.routing.events import community, publish, reserved, small_city
from tests.routing.helpers import request_plan, routes_events, setup_fleet, solved, wait_for_demand
from tests.support import running_service


def _base(stop_id: str) -> str:
    return stop_id.split("+", 1)[0]  # a re-plan's new stops carry "+<parent plan id>"


async def test_reoptimize_inserts_an_urgent_order_and_keeps_what_is_done_or_under_way(settings: Settings) -> None:
    tomorrow = date.today() + timedelta(days=1)
    await publish(settings, *small_city(), community("C-3", lat=39.95, lon=116.43),
                  reserved("O-1", "C-1", rice=2), reserved("O-2", "C-3", rice=3),
                  reserved("O-3", "C-2", rice=1, milk=2, priority="vulnerable"), reserved("O-4", "C-1", rice=1))
    async with running_service("routing", settings) as (_app, client):
        headers = await setup_fleet(client, settings)
        await wait_for_demand(client, headers, ["O-1", "O-2", "O-3", "O-4"])
        plan_id = await request_plan(client, headers, {"depot_ids": ["DC-1"], "date": tomorrow.isoformat(),
                                                       "time_limit_s": 2})
        parent = await solved(client, headers, plan_id)
        assert parent["status"] == "solved" and parent["unassigned"] == [], parent
        response = await client.post(f"/v1/plans/{plan_id}/dispatch", headers=headers)
        assert response.status_code == 200, response.text

        # The first stop of the first route is handed over at the gate.
        first = parent["routes"][0]["stops"][0]
        response = await client.post("/v1/deliveries", headers=headers, json={
            "plan_id": plan_id, "stop_id": first["stop_id"], "outcome": "delivered", "received_by": "gate staff"})
        assert response.status_code == 200, response.text

        # An urgent medicine order is reserved: placed at 06:00 on the service day, due by 12:00.
        placed = datetime.combine(tomorrow, time(6), tzinfo=ZoneInfo(settings.city_timezone))
        await publish(settings, reserved("O-NEW", "C-3", rice=0, medicine=2, priority="medical", placed_at=placed))
        await wait_for_demand(client, headers, ["O-NEW"])

        response = await client.post(f"/v1/plans/{plan_id}/reoptimize", headers=headers, json={"time_limit_s": 3})
        assert response.status_code == 202, response.text
        child = await solved(client, headers, response.json()["id"])
        assert child["status"] == "solved" and child["parent_plan_id"] == plan_id, child
        assert child["unassigned"] == [], child["unassigned"]
        visits = {o: (r["vehicle_id"], s) for r in child["routes"] for s in r["stops"] for o in s["order_ids"]}
        assert set(visits) == {"O-1", "O-2", "O-3", "O-4", "O-NEW"}
        assert visits["O-NEW"][1]["community_id"] == "C-3"
        assert visits["O-NEW"][1]["arrival"] <= placed.replace(hour=12).isoformat(), "the medicine deadline holds"

        # Delivered stops and each vehicle's next stop stay: same vehicle, same orders, same place.
        # They keep their time too: they happened, or are happening, as dispatched.
        child_routes = {r["vehicle_id"]: r["stops"] for r in child["routes"]}
        locked_orders: set[str] = set()
        for route in parent["routes"]:
            done = 1 if route["stops"][0]["stop_id"] == first["stop_id"] else 0
            locked = route["stops"][:done + 1]
            kept = child_routes.get(route["vehicle_id"], [])[:len(locked)]
            assert [(_base(s["stop_id"]), s["order_ids"], s["arrival"], s["window"]) for s in kept] == [
                (s["stop_id"], s["order_ids"], s["arrival"], s["window"]) for s in locked
            ], f"{route['vehicle_id']} changed its fixed stops"
            locked_orders |= {o for s in locked for o in s["order_ids"]}

        response = await client.post(f"/v1/plans/{child['id']}/dispatch", headers=headers)
        assert response.status_code == 200, response.text
        old = (await client.get(f"/v1/plans/{plan_id}", headers=headers)).json()
        assert old["status"] == "superseded"

        # The re-plan announces only what changed: the new order and the orders that moved.
        def complete(events: list[dict]) -> bool:
            return any(e["type"] == "lifeline.plan.dispatched" and e["data"]["plan_id"] == child["id"]
                       for e in events)

        events = await routes_events(settings, complete)
        announced = [e["data"]["order_id"] for e in events
                     if e["type"] == "lifeline.order.scheduled" and e["data"]["plan_id"] == child["id"]]
        assert len(announced) == len(set(announced)), "each changed order is announced once"
        expected = set(changed_assignments(PlanResult.from_json(parent), PlanResult.from_json(child)))
        assert set(announced) == expected and "O-NEW" in expected
        assert not locked_orders & set(announced), "stops done or under way are not announced again"
        for event in events:
            if event["type"] == "lifeline.order.scheduled" and event["data"]["plan_id"] == child["id"]:
                vehicle, stop = visits[event["data"]["order_id"]]
                assert (event["data"]["vehicle_id"], event["data"]["stop_id"]) == (vehicle, stop["stop_id"])
        first_round = [e for e in events if e["type"] == "lifeline.order.scheduled" and e["data"]["plan_id"] == plan_id]
        assert len(first_round) == 4, "the first dispatch announced every order"
