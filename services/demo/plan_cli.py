"""``lifeline plan``: request a plan from the running routing service, watch it solve,
print the route table and write the map."""

from __future__ import annotations

import asyncio
import sys
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import httpx

from shared.auth import TokenService
from shared.settings import Settings


def _bar(fraction: float, width: int = 30) -> str:
    filled = int(width * min(max(fraction, 0.0), 1.0))
    return "#" * filled + "-" * (width - filled)


async def run_plan(settings: Settings, *, depot: list[str], time_limit_s: float, date: str | None,
                   svg: str | None) -> int:
    tokens = TokenService(settings.jwt_secret.get_secret_value(), issuer=settings.jwt_issuer)
    headers = {"Authorization": f"Bearer {tokens.mint('cli', 'dispatcher', depot_ids=depot)}"}
    service_date = date or (datetime.now(ZoneInfo(settings.city_timezone)) + timedelta(days=1)).date().isoformat()
    base = f"http://127.0.0.1:{settings.routing_port}"
    out = sys.stdout
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30) as client:
        response = await client.post("/v1/plans", json={"depot_ids": depot, "date": service_date,
                                                         "time_limit_s": time_limit_s})
        if response.status_code != 202:
            out.write(f"refused: {response.status_code} {response.text}\n")
            return 1
        plan_id = response.json()["id"]
        while True:
            plan = (await client.get(f"/v1/plans/{plan_id}")).json()
            progress = plan["progress"]
            elapsed = progress.get("elapsed_s") or 0
            out.write(f"\r{plan_id} [{_bar(elapsed / time_limit_s)}] {elapsed:5.1f}s "
                      f"solutions {progress.get('solutions_found', 0)} best {progress.get('best_cost')}   ")
            out.flush()
            if plan["status"] != "solving":
                break
            await asyncio.sleep(0.5)
        out.write("\n")
        if plan["status"] != "solved":
            out.write(f"plan {plan['status']}: {plan.get('error')}\n")
            return 1
        out.write(f"{'vehicle':<8} {'#':>2} {'community':<28} {'arrival':>7} {'window':>11} {'kg':>8} orders\n")
        for route in plan["routes"]:
            for number, stop in enumerate(route["stops"], start=1):
                window = f"{stop['window'][0][11:16]}-{stop['window'][1][11:16]}"
                out.write(f"{route['vehicle_id']:<8} {number:>2} {stop['community_name'][:28]:<28} "
                          f"{stop['arrival'][11:16]:>7} {window:>11} {stop['load_kg']:>8} {len(stop['order_ids'])}\n")
        for item in plan["unassigned"]:
            where = item["community_name"] or item["community_id"]
            out.write(f"unassigned {where}: {item['reason_code']} - {item['reason']}\n")
        out.write(f"KPIs: {plan['kpis']}\n")
        if svg:
            with open(svg, "w", encoding="utf-8") as handle:
                handle.write((await client.get(f"/v1/plans/{plan_id}/map.svg")).text)
            out.write(f"map written to {svg}\n")
    return 0
