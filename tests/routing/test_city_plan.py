"""One plan over several depots through the service: each depot's orders go out on its own
vehicles, in one plan a dispatcher of both depots requests, sees and dispatches."""

from __future__ import annotations

from datetime import date, timedelta

from shared.events.payloads import DepotDefined
from shared.settings import Settings
from tests.routing.events import community, publish, reserved, small_city
from tests.routing.helpers import request_plan, solved
from tests.support import bearer, eventually, running_service, tokens

FLEET = {
    "V-1": {"depot_id": "DC-1", "capacity_kg": 1000, "capacity_l": 5000},
    "V-2": {"depot_id": "DC-2", "capacity_kg": 1000, "capacity_l": 5000},
}


async def test_a_plan_over_two_depots_serves_each_depot_from_its_own_fleet(settings: Settings) -> None:
    await publish(
        settings, *small_city(),
        DepotDefined(depot_id="DC-2", name="DC 2", tier="district", lat=39.99, lon=116.30, district="haidian",
                     cold_storage=False),
        community("C-3", lat=39.98, lon=116.31),
        reserved("O-1", "C-1", rice=2), reserved("O-2", "C-1", rice=1, priority="vulnerable"),
        reserved("O-3", "C-3", rice=3, depot_id="DC-2"), reserved("O-4", "C-3", rice=1, depot_id="DC-2"),
    )
    async with running_service("routing", settings) as (_app, client):
        headers = bearer(tokens(settings).mint("disp-city", "dispatcher", depot_ids=["DC-1", "DC-2"]))
        for vehicle_id, body in FLEET.items():
            response = await client.put(f"/v1/vehicles/{vehicle_id}", json=body, headers=headers)
            assert response.status_code == 200, response.text

        async def demand_of_both() -> bool:
            ids = set()
            for depot_id in ("DC-1", "DC-2"):
                body = (await client.get(f"/v1/demand?depot_id={depot_id}", headers=headers)).json()
                ids |= {o for c in body for o in c["order_ids"] if c["community_name"]}
            return ids == {"O-1", "O-2", "O-3", "O-4"}

        await eventually(demand_of_both, message="both depots' demand built from events")
        tomorrow = (date.today() + timedelta(days=1)).isoformat()
        plan_id = await request_plan(
            client, headers, {"depot_ids": ["DC-1", "DC-2"], "date": tomorrow, "time_limit_s": 2})
        plan = await solved(client, headers, plan_id)
        assert plan["status"] == "solved", plan
        assert plan["unassigned"] == []
        served_by = {o: r["vehicle_id"] for r in plan["routes"] for s in r["stops"] for o in s["order_ids"]}
        assert served_by == {"O-1": "V-1", "O-2": "V-1", "O-3": "V-2", "O-4": "V-2"}

        response = await client.post(f"/v1/plans/{plan_id}/dispatch", headers=headers)
        assert response.status_code == 200, response.text
