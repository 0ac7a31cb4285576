"""The routing service over the real broker: demand from events, plan, dispatch, deliveries."""

from __future__ import annotations

import asyncio
import json
from datetime import date, timedelta

import httpx
import pytest

from shared.events import topics
from shared.events.payloads import OrderCancelled
from shared.settings import Settings
from tests.routing.events import publish, reserved, small_city
from tests.routing.helpers import request_plan
from tests.routing.helpers import setup_fleet as _setup
from tests.routing.helpers import solved as _solved
from tests.shared.test_backbone import read_topic
from tests.support import eventually, running_service


async def test_demand_plan_dispatch_and_deliveries(settings: Settings) -> None:
    await publish(settings, *small_city(),
                  reserved("O-1", "C-1", rice=2), reserved("O-2", "C-2", rice=1, milk=2, priority="medical"),
                  reserved("O-3", "C-1", rice=1), OrderCancelled(order_id="O-3"))
    async with running_service("routing", settings) as (_app, client):
        headers = await _setup(client, settings)

        async def demand() -> list | None:
            body = (await client.get("/v1/demand?depot_id=DC-1", headers=headers)).json()
            ids = sorted(o for c in body for o in c["order_ids"])
            # Communities and reservations travel on different topics: wait for both.
            known = all(c["community_name"] for c in body)
            return body if ids == ["O-1", "O-2"] and known else None

        grouped = await eventually(demand, message="demand built from events (cancelled O-3 left out)")
        assert {c["community_id"] for c in grouped} == {"C-1", "C-2"}

        tomorrow = (date.today() + timedelta(days=1)).isoformat()
        plan_id = await request_plan(client, headers, {"depot_ids": ["DC-1"], "date": tomorrow, "time_limit_s": 2})
        plan = await _solved(client, headers, plan_id)
        assert plan["status"] == "solved", plan
        served = {o for r in plan["routes"] for s in r["stops"] for o in s["order_ids"]}
        assert served == {"O-1", "O-2"} and plan["unassigned"] == []
        sealed_vehicle = {r["vehicle_id"] for r in plan["routes"] for s in r["stops"] if s["risk_level"] == "sealed"}
        assert sealed_vehicle == {"V-REEFER-CL"}, "only the closed-loop vehicle may enter a sealed gate"
        assert plan["kpis"]["orders_served"] == 2

        response = await client.post(f"/v1/plans/{plan['id']}/dispatch", headers=headers)
        assert response.status_code == 200, response.text
        events = await read_topic(settings, topics.ROUTES.name, 3)
        types = sorted(json.loads(record.value)["type"] for record in events)
        assert types == ["lifeline.order.scheduled", "lifeline.order.scheduled", "lifeline.plan.dispatched"]

        stop = plan["routes"][0]["stops"][0]
        response = await client.post("/v1/deliveries", headers=headers, json={
            "plan_id": plan["id"], "stop_id": stop["stop_id"], "outcome": "failed", "reason": "gate closed"})
        assert response.status_code == 200, response.text
        failed = set(stop["order_ids"])
        body = (await client.get("/v1/demand?depot_id=DC-1", headers=headers)).json()
        assert {o for c in body for o in c["order_ids"]} == failed, "a failed stop returns to demand"


async def test_two_dispatchers_cannot_dispatch_the_same_orders(settings: Settings) -> None:
    await publish(settings, *small_city(), reserved("O-1", "C-1"), reserved("O-2", "C-1"))
    async with running_service("routing", settings) as (_app, client):
        headers = await _setup(client, settings)
        await eventually(lambda: _demand_count(client, headers, 2), message="demand")
        tomorrow = (date.today() + timedelta(days=1)).isoformat()
        ids = []
        for _ in range(2):
            ids.append(await request_plan(client, headers,
                                          {"depot_ids": ["DC-1"], "date": tomorrow, "time_limit_s": 1}))
        first, second = [await _solved(client, headers, i) for i in ids]
        results = await asyncio.gather(
            client.post(f"/v1/plans/{first['id']}/dispatch", headers=headers),
            client.post(f"/v1/plans/{second['id']}/dispatch", headers=headers),
        )
        codes = sorted(r.status_code for r in results)
        assert codes == [200, 409], [r.text for r in results]
        conflict = next(r for r in results if r.status_code == 409).json()["detail"]
        assert conflict["code"] == "orders_already_dispatched"
        assert set(conflict["orders"]) == {"O-1", "O-2"}


async def _demand_count(client: httpx.AsyncClient, headers: dict[str, str], expected: int) -> bool:
    body = (await client.get("/v1/demand?depot_id=DC-1", headers=headers)).json()
    # Communities and reservations travel on different topics: wait for both.
    return sum(c["orders"] for c in body) == expected and all(c["community_name"] for c in body)


@pytest.mark.slow
async def test_health_answers_fast_throughout_a_20s_solve(settings: Settings) -> None:
    """The solver runs in a child process: the service's event loop keeps answering."""
    await publish(settings, *small_city(), *[reserved(f"O-{i}", "C-1" if i % 2 else "C-2") for i in range(30)])
    async with running_service("routing", settings) as (_app, client):
        headers = await _setup(client, settings)
        await eventually(lambda: _demand_count(client, headers, 30), message="demand")
        tomorrow = (date.today() + timedelta(days=1)).isoformat()
        plan_id = await request_plan(client, headers, {"depot_ids": ["DC-1"], "date": tomorrow, "time_limit_s": 20})
        loop = asyncio.get_running_loop()
        started, timings, statuses = loop.time(), [], set()
        while loop.time() - started < 19:
            before = loop.time()
            assert (await client.get("/healthz")).status_code == 200
            timings.append(loop.time() - before)
            if len(timings) % 10 == 0:
                statuses.add((await client.get(f"/v1/plans/{plan_id}", headers=headers)).json()["status"])
            await asyncio.sleep(0.2)
        assert statuses == {"solving"}, f"the solve should still run after {loop.time() - started:.0f}s"
        assert len(timings) > 60 and max(timings) < 0.2, (
            f"/healthz took up to {max(timings):.3f}s during a 20 s solve ({len(timings)} probes)")
        plan = await _solved(client, headers, plan_id)
        assert plan["status"] == "solved"
