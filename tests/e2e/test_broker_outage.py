"""The broker going away loses nothing: orders keep being accepted and all get reserved later."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from services.demo.city import build_city
from services.demo.loader import load_city
from shared.settings import Settings
from tests.e2e.test_vertical_slice import place_order, system
from tests.support import bearer, eventually, make_settings, tokens
from tests.tcplink import TcpLink, broker_behind_link

pytestmark = pytest.mark.e2e

OUTAGE_S = 10.0


async def post_orders_through_an_outage(
    orders: httpx.AsyncClient, settings: Settings, link: TcpLink, households: list[str]
) -> list[dict]:
    """Post one order per household at a steady pace; the link is down for the middle part."""
    accepted: list[dict] = []
    during_outage: list[str] = []
    admin = bearer(tokens(settings).mint("admin", "admin"))
    pace = (OUTAGE_S + 4.0) / len(households)
    loop = asyncio.get_running_loop()
    cut_at, restore_at = loop.time() + 2.0, loop.time() + 2.0 + OUTAGE_S
    for household in households:
        if link_is_up(link) and cut_at <= loop.time() < restore_at:
            await asyncio.to_thread(link.cut)
        elif not link_is_up(link) and loop.time() >= restore_at:
            await assert_still_placed(orders, admin, during_outage)
            await asyncio.to_thread(link.restore)
        response = await orders.post(
            "/v1/orders", headers=bearer(tokens(settings).mint(household, "resident")),
            json={"items": [{"sku": "VEG-BOX", "quantity": 1}]})
        assert response.status_code == 201, response.text  # the API never waits on the broker
        accepted.append(response.json())
        if not link_is_up(link):
            during_outage.append(response.json()["id"])
        await asyncio.sleep(pace)
    if not link_is_up(link):
        await asyncio.to_thread(link.restore)
    return accepted


async def assert_still_placed(orders: httpx.AsyncClient, admin: dict[str, str], order_ids: list[str]) -> None:
    """Proof that the broker really was out of reach: nothing posted meanwhile got further."""
    assert order_ids, "no order was posted during the outage"
    for order_id in order_ids:
        body = (await orders.get(f"/v1/orders/{order_id}", headers=admin)).json()
        assert body["status"] == "placed", body


def link_is_up(link: TcpLink) -> bool:
    return link.up


async def test_orders_posted_while_the_broker_is_away_are_all_reserved_once_it_returns(
    tmp_path: Path,
) -> None:
    with broker_behind_link(tmp_path / "tansu.log") as (_broker, link):
        settings, _tag = make_settings(link.url, tmp_path)
        async with system(settings) as clients:
            await load_city(build_city(households_per_community=3), clients, tokens(settings))
            first = await place_order(clients["orders"], settings, "H-CY-08-0001")
            admin = bearer(tokens(settings).mint("admin", "admin"))
            households = [f"H-{d}-{n:02d}-{k:04d}" for d in ("CY", "HD") for n in range(1, 9) for k in (2, 3)]
            accepted = [first, *await post_orders_through_an_outage(clients["orders"], settings, link, households)]

            async def unsettled() -> list[str]:
                waiting = []
                for order in accepted:
                    body = (await clients["orders"].get(f"/v1/orders/{order['id']}", headers=admin)).json()
                    if body["status"] not in ("reserved", "backordered"):
                        waiting.append(order["id"])
                return waiting

            async def all_settled() -> bool:
                return not await unsettled()

            await eventually(all_settled, timeout_s=90, interval_s=1.0, message="every accepted order reserved")
            for order in accepted:
                body = (await clients["orders"].get(f"/v1/orders/{order['id']}", headers=admin)).json()
                statuses = [entry["status"] for entry in body["timeline"]]
                assert statuses.count("reserved") + statuses.count("backordered") == 1, statuses
