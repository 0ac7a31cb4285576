"""The dispatcher console in a real headless chromium, against the routing service served
by uvicorn on a free port, fed over the real broker.

A dispatcher pastes their token, picks the depot, sees the demand, requests a plan, watches
it solve, reads the map, the routes and the unassigned reasons, and dispatches it. The
final page is saved as ``var/test-artifacts/console.png``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from services.routing.adapters.orm import Depot
from services.routing.bootstrap import create_app
from shared.messaging.broker import free_port
from shared.settings import Settings
from tests.routing.events import community, publish, reserved, small_city
from tests.routing.helpers import setup_fleet, wait_for_demand
from tests.support import bearer, eventually, tokens

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACT = Path(__file__).resolve().parents[2] / "var" / "test-artifacts" / "console.png"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium "
                       "(apt-get install chromium); .ci/run installs it when it runs as root"),
]


@contextlib.asynccontextmanager
async def serving(app: FastAPI) -> AsyncIterator[str]:
    """The service under uvicorn (lifespan included) on this test's loop; its base URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           access_log=False))
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
            raise RuntimeError("uvicorn stopped before serving")
        await asyncio.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 30)


def _depot_known(app: FastAPI, depot_id: str) -> bool:
    """The depot's definition (catalog topic) has reached routing: the console can plan."""
    with app.state.runtime.uow() as uow:
        return uow.session.get(Depot, depot_id) is not None


async def _request_plan(page: Any) -> None:
    """Click "plan" until the plan is solving. The service may answer 503 (database busy,
    with Retry-After) as a dispatcher would see it; then they click again. Any other error
    fails the test with the console's own message."""
    for _attempt in range(3):
        await page.click("#plan")
        for _ in range(80):
            if (await page.locator("#status").text_content()) in ("solving", "solved"):
                return
            error = (await page.locator("#error").text_content()) or ""
            if error:
                break
            await asyncio.sleep(0.25)
        else:
            raise AssertionError("no answer to the plan request within 20 s (status still '-', no error shown)")
        assert error.startswith(("503", "429")), f"the plan request failed: {error}"
        await asyncio.sleep(1)
    raise AssertionError(f"the plan request kept failing: {error}")


async def test_dispatcher_plans_and_dispatches_from_the_console(settings: Settings) -> None:
    from playwright.async_api import async_playwright, expect

    await publish(settings, *small_city(), community("C-4", lat=39.95, lon=116.42, windows=[("05:00", "05:30")]),
                  reserved("O-1", "C-1", rice=2), reserved("O-2", "C-2", rice=1, milk=2, priority="medical"),
                  reserved("O-3", "C-1", rice=1), reserved("O-4", "C-4"))
    app = create_app(settings)
    async with serving(app) as base, httpx.AsyncClient(base_url=base, timeout=30) as client:
        headers = await setup_fleet(client, settings)
        await wait_for_demand(client, headers, ["O-1", "O-2", "O-3", "O-4"], weight_kg=27.0)
        await eventually(lambda: asyncio.to_thread(_depot_known, app, "DC-1"), message="depot DC-1 consumed")
        token = tokens(settings).mint("disp-1", "dispatcher", depot_ids=["DC-1"])

        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                                       args=["--no-sandbox", "--disable-dev-shm-usage"])
            try:
                page = await browser.new_page(viewport={"width": 1400, "height": 1100})
                errors: list[str] = []
                page.on("pageerror", lambda exc: errors.append(str(exc)))
                await page.goto(f"{base}/console")
                await expect(page).to_have_title("Lifeline dispatcher console")
                # Outside development mode there is no development token: the dispatcher pastes theirs.
                await expect(page.locator("#dev-token")).to_be_hidden()
                await page.fill("#token", token)
                await page.click("#load-depots")
                await expect(page.locator("#depot option[value='DC-1']")).to_have_count(1)

                await page.select_option("#depot", "DC-1")
                await expect(page.locator("#demand-summary")).to_have_text("4 orders in 3 communities")
                await expect(page.locator("#demand tbody tr")).to_have_count(3)
                await expect(page.locator("#demand tbody")).to_contain_text("Sealed 2")

                await page.fill("#time-limit", "4")
                await _request_plan(page)
                # progress while solving
                await expect(page.locator("#progress")).to_contain_text("solutions", timeout=20_000)
                await expect(page.locator("#status")).to_have_text("solved", timeout=60_000)
                assert await page.locator("#error").text_content() == ""

                await expect(page.locator("#map svg")).to_have_count(1)
                await expect(page.locator("#map svg g.route")).not_to_have_count(0)
                await expect(page.locator("#map svg g.depot")).to_have_count(1)
                await expect(page.locator("#kpis")).to_contain_text("orders served")
                await expect(page.locator("#kpis")).to_contain_text("3/4")
                routes = page.locator("#routes tbody tr")
                await expect(routes).not_to_have_count(0)
                await expect(page.locator("#routes tbody")).to_contain_text("Open 1")
                await expect(page.locator("#unassigned tbody tr")).to_have_count(1)
                await expect(page.locator("#unassigned tbody")).to_contain_text("window_unreachable")

                dispatch = page.locator("#dispatch")
                await expect(dispatch).to_be_enabled()
                await dispatch.click()
                await expect(page.locator("#status")).to_have_text("dispatched")
                await expect(dispatch).to_be_disabled()
                # What was dispatched has left the demand; the unassigned order stays.
                await expect(page.locator("#demand-summary")).to_have_text("1 orders in 1 communities")
                # The depot's plans, its fleet on the road and today's figures for the supply office.
                await expect(page.locator("#plans tbody")).to_contain_text("dispatched")
                await expect(page.locator("#fleet tbody")).to_contain_text("V-TRUCK")
                await expect(page.locator("#fleet tbody")).to_contain_text("stops")
                await expect(page.locator("#today")).to_contain_text("medical within 6 h")
                assert errors == [], errors

                ARTIFACT.parent.mkdir(parents=True, exist_ok=True)
                await page.screenshot(path=str(ARTIFACT), full_page=True)
                print(f"console screenshot: {ARTIFACT}")
            finally:
                await browser.close()

        plans = await client.get("/v1/demand?depot_id=DC-1", headers=bearer(token))
        assert {o for c in plans.json() for o in c["order_ids"]} == {"O-4"}

