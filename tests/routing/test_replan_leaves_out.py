"""A re-plan that leaves out an order its parent had on a route returns it to demand.

An urgent order takes the room of a standard one on the only vehicle: the standard order
is not on any route of the new plan. Left on the superseded plan it would wait for a
vehicle no route sends; it must be demand again, announced as unscheduled."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from shared.settings import Settings
from tests.routing.events import community, publish, reserved, small_city
from tests.routing.helpers import request_plan, routes_events, setup_fleet, solved, wait_for_demand
from tests.support import running_service

#: Room for two orders of 15 kg (and a little medicine), one trip.
SMALL_VAN = {"V-SMALL": {"depot_id": "DC-1", "capacity_kg": 31, "capacity_l": 1000, "max_trips": 1}}


async def test_an_order_a_re_plan_leaves_out_is_demand_again(settings: Settings) -> None:
    tomorrow = date.today() + timedelta(days=1)
    await publish(settings, *small_city(), community("C-3", lat=39.95, lon=116.43),
                  community("C-4", lat=39.90, lon=116.42),
                  reserved("O-A", "C-1", rice=3), reserved("O-B", "C-3", rice=3))
    async with running_service("routing", settings) as (_app, client):
        headers = await setup_fleet(client, settings, vehicles=SMALL_VAN)
        await wait_for_demand(client, headers, ["O-A", "O-B"])
        plan_id = await request_plan(client, headers, {"depot_ids": ["DC-1"], "date": tomorrow.isoformat(),
                                                       "time_limit_s": 2})
        parent = await solved(client, headers, plan_id)
        assert parent["status"] == "solved" and parent["unassigned"] == [], parent
        assert (await client.post(f"/v1/plans/{plan_id}/dispatch", headers=headers)).status_code == 200
        [route] = parent["routes"]
        heading_to, later = route["stops"][0]["order_ids"], route["stops"][1]["order_ids"]

        placed = datetime.combine(tomorrow, time(6), tzinfo=ZoneInfo(settings.city_timezone))
        await publish(settings, reserved("O-NEW", "C-4", rice=3, medicine=1, priority="medical", placed_at=placed))
        await wait_for_demand(client, headers, ["O-NEW"])
        response = await client.post(f"/v1/plans/{plan_id}/reoptimize", headers=headers, json={"time_limit_s": 2})
        assert response.status_code == 202, response.text
        child = await solved(client, headers, response.json()["id"])
        assert child["status"] == "solved", child
        served = {o for r in child["routes"] for s in r["stops"] for o in s["order_ids"]}
        left_out = {o for u in child["unassigned"] for o in u["order_ids"]}
        # The stop the van is heading to stays; the medicine takes the other one's room.
        reasons = [(u["reason_code"], u["reason"]) for u in child["unassigned"]]
        assert served == {*heading_to, "O-NEW"} and left_out == set(later), reasons
        assert (await client.post(f"/v1/plans/{child['id']}/dispatch", headers=headers)).status_code == 200

        # Demand again: the next plan (the operations loop's next cycle) takes it.
        await wait_for_demand(client, headers, later)

        def unscheduled(events: list[dict]) -> list[dict]:
            return [e for e in events if e["type"] == "lifeline.order.unscheduled"]

        events = await routes_events(settings, lambda events: bool(unscheduled(events)))
        [event] = unscheduled(events)
        assert event["data"]["order_id"] == later[0]
        assert (event["data"]["plan_id"], event["data"]["replaced_by"]) == (plan_id, child["id"])

        # ... and may dispatch it: no plan holds it any more.
        again = await request_plan(client, headers, {"depot_ids": ["DC-1"], "date": tomorrow.isoformat(),
                                                     "time_limit_s": 1})
        plan = await solved(client, headers, again)
        assert {o for u in plan["unassigned"] for o in u["order_ids"]} | {
            o for r in plan["routes"] for s in r["stops"] for o in s["order_ids"]} == set(later)
