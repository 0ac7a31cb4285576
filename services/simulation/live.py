"""The living demo of ``make run``: a gentle stream of residents' orders and the day's
stock deliveries, played on the service clock from the shipped lockdown day.

It is the simulator's driver with a lower rate and no mishaps: what a newcomer opening
``/console`` should see is orders arriving, plans being made and vehicles delivering.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import replace
from datetime import datetime, timedelta

from services.demo.city import build_city
from services.simulation.actions import Action, PlaceOrder, StockArrival, plan_actions
from services.simulation.driver import ScenarioDriver
from services.simulation.scenario import load_scenario
from services.simulation.system import RunningSystem
from shared import clock
from shared.settings import Settings

log = logging.getLogger(__name__)


async def live_orders(settings: Settings, urls: dict[str, str], fleet_url: str, *, scale: float = 0.2) -> None:
    """Play today's orders (and stock arrivals) from now on, day after day, until cancelled."""
    city = build_city()
    scenario = load_scenario("lockdown-day")
    system = RunningSystem(settings, urls, fleet_url)
    today = clock.now().astimezone(scenario.timezone).date()
    while True:
        replayed = replace(scenario, start_date=today, events=())
        now = clock.now()
        actions: list[Action] = [a for a in plan_actions(replayed, city, scale=scale)
                                 if isinstance(a, PlaceOrder | StockArrival) and a.at >= now]
        log.info("live demo: %d orders and stock arrivals for %s", len(actions), today)
        driver = ScenarioDriver(system, city, run_tag=f"live-{today.isoformat()}-{_stamp(now)}")
        try:
            await driver.play(actions)
        finally:
            await driver.close()
        today += timedelta(days=1)


def _stamp(moment: datetime) -> str:
    return moment.strftime("%H%M%S")


def main() -> int:
    """``python -m services.simulation.live --fleet-url URL``: the stream as a process of
    ``lifeline run``, on the clock its environment describes."""
    import argparse
    import asyncio

    from shared.observability import configure_logging
    from shared.settings import get_settings

    configure_logging()
    parser = argparse.ArgumentParser(prog="lifeline-live-orders")
    parser.add_argument("--fleet-url", default="http://127.0.0.1:8004")
    parser.add_argument("--scale", type=float, default=0.2)
    args = parser.parse_args()
    settings = get_settings()
    clock.configure(settings.clock_start, settings.clock_anchor, settings.clock_speed)
    urls = {name: f"http://127.0.0.1:{settings.port(name)}" for name in ("orders", "inventory", "routing")}
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(live_orders(settings, urls, args.fleet_url, scale=args.scale))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
