"""``make demo``: one order from a resident's phone to a dispatched route, step by step."""

from __future__ import annotations

import asyncio
import sys
import time
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from shared.auth import TokenService
from shared.settings import Settings

ITEMS = [{"sku": "VEG-BOX", "quantity": 1}, {"sku": "MILK-1L", "quantity": 2},
         {"sku": "ANTIHYPERTENSIVE-30", "quantity": 1}]


def say(step: str, text: str) -> None:
    sys.stdout.write(f"[{step}] {text}\n")
    sys.stdout.flush()


async def _poll(client: httpx.AsyncClient, url: str, done: Any, timeout_s: float = 60) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        response = await client.get(url)
        response.raise_for_status()
        body = response.json()
        if done(body):
            return body
        if time.monotonic() > deadline:
            raise TimeoutError(f"{url} did not reach the expected state: {body}")
        await asyncio.sleep(0.3)


async def run_demo(settings: Settings, *, household: str, time_limit_s: float) -> int:
    tokens = TokenService(settings.jwt_secret.get_secret_value(), issuer=settings.jwt_issuer)
    orders_url = f"http://127.0.0.1:{settings.orders_port}"
    routing_url = f"http://127.0.0.1:{settings.routing_port}"
    resident = httpx.AsyncClient(
        headers={"Authorization": f"Bearer {tokens.mint(household, 'resident')}"}, timeout=30)
    async with resident:
        response = await resident.post(f"{orders_url}/v1/orders", json={"items": ITEMS, "contactless": True})
        if response.status_code != 201:
            say("order", f"refused: {response.status_code} {response.text}")
            return 1
        order = response.json()
        say("1 order", f"{household} placed {order['id']} ({order['priority']}) for community "
            f"{order['community_id']}: " + ", ".join(f"{i['quantity']} x {i['sku']}" for i in ITEMS))
        order = await _poll(resident, f"{orders_url}/v1/orders/{order['id']}",
                            lambda o: o["status"] in ("reserved", "backordered", "rejected"))
        if order["status"] != "reserved":
            say("2 reserve", f"inventory answered {order['status']}: {order.get('timeline', [])[-1:]}")
            return 1
        depot = order["depot_id"]
        say("2 reserve", f"inventory reserved it at depot {depot}")

    admin_token = tokens.mint("demo-dispatcher", "dispatcher", depot_ids=[depot])
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {admin_token}"}, timeout=30) as dispatcher:
        demand = await _poll(dispatcher, f"{routing_url}/v1/demand?depot_id={depot}",
                             lambda d: any(order["id"] in c["order_ids"] for c in d))
        total = sum(c["orders"] for c in demand)
        say("3 demand", f"routing sees {total} routable order(s) at {depot} in {len(demand)} community(ies)")
        service_date = (datetime.now(ZoneInfo(settings.city_timezone)) + timedelta(days=1)).date()
        response = await dispatcher.post(f"{routing_url}/v1/plans", json={
            "depot_ids": [depot], "date": service_date.isoformat(), "time_limit_s": time_limit_s})
        response.raise_for_status()
        plan = response.json()
        say("4 plan", f"dispatcher asked for plan {plan['id']} for {service_date} ({time_limit_s:g} s budget)")
        plan = await _poll(dispatcher, f"{routing_url}/v1/plans/{plan['id']}",
                           lambda p: p["status"] != "solving", timeout_s=time_limit_s + 60)
        if plan["status"] != "solved":
            say("4 plan", f"plan {plan['status']}: {plan.get('error')}")
            return 1
        kpis = plan["kpis"]
        say("4 plan", f"solved: {kpis['vehicles_used']} vehicle(s), {kpis['distance_km']} km, "
            f"{kpis['orders_served']}/{kpis['orders_total']} orders, {len(plan['unassigned'])} unassigned")
        for item in plan["unassigned"][:5]:
            say("4 plan", f"  left out {item['stop_id']}: {item['reason_code']} - {item['reason']}")
        carried = {o for r in plan["routes"] for stop in r["stops"] for o in stop["order_ids"]}
        response = await dispatcher.post(f"{routing_url}/v1/plans/{plan['id']}/dispatch")
        if order["id"] not in carried or response.status_code == 409:
            # With ``lifeline run`` the operations loop plans by itself and may have been first.
            say("5 dispatch", f"the operations loop had already planned {order['id']}; see /console")
        else:
            response.raise_for_status()
            say("5 dispatch", f"plan {plan['id']} dispatched")

    async with httpx.AsyncClient(
        headers={"Authorization": f"Bearer {tokens.mint(household, 'resident')}"}, timeout=30
    ) as resident:
        order = await _poll(resident, f"{orders_url}/v1/orders/{order['id']}",
                            lambda o: o["status"] not in ("reserved",))
        schedule = order.get("schedule") or {}
        say("6 resident", f"order {order['id']} is {order['status']}: vehicle {schedule.get('vehicle_id')} "
            f"arrives at the gate at {schedule.get('eta')} (window {schedule.get('window_start')} to "
            f"{schedule.get('window_end')})")
        return 0 if order["status"] == "scheduled" else 1
