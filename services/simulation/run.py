"""``lifeline simulate``: a lockdown scenario through the real system, Lifeline and baseline.

Each policy gets a system of its own (broker, services, fleet simulator, fresh databases)
on a simulated clock: it starts a little before the scenario (the city is loaded then),
runs the scenario's actions at their times, keeps running ``drain`` hours after the last
one so the evening's orders can be delivered, and then reads the outcome back.
"""

from __future__ import annotations

import logging
import shutil
import sys
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx

from services.demo.city import DemoCity, build_city
from services.demo.loader import load_city
from services.simulation.actions import Action, plan_actions
from services.simulation.driver import ScenarioDriver
from services.simulation.outcome import collect
from services.simulation.scenario import Scenario, load_scenario
from services.simulation.system import Policy, SystemConfig, running_system
from shared import clock
from shared.auth import TokenService

log = logging.getLogger(__name__)

#: Simulated time the clock starts before the scenario: the loop's first cycle, the dawn.
SETUP = timedelta(minutes=10)
DESCRIPTIONS = {
    "lifeline": "priority allocation; each depot re-planned every 15 min from now and at once for "
                "medical orders, inserted into routes on the road",
    "baseline": "first-come-first-served allocation; one plan per depot at 18:00 for the next day; "
                "no urgent insertion",
}


@dataclass(frozen=True)
class SimulationOptions:
    scenario: str
    policies: tuple[Policy, ...] = ("lifeline", "baseline")
    scale: float = 1.0
    speed: float = 240.0
    drain: timedelta = timedelta(hours=6)
    planner_time_limit_s: float = 1.0
    out_dir: Path = Path("var/simulation")


async def simulate(options: SimulationOptions) -> dict[str, Any]:
    scenario = load_scenario(options.scenario)
    city = build_city()
    actions = plan_actions(scenario, city, scale=options.scale)
    outcome: dict[str, Any] = {
        "scenario": {"name": scenario.name, "description": scenario.description, "days": scenario.days,
                     "seed": scenario.seed, "scale": options.scale, "start": scenario.start.isoformat(),
                     "timezone": str(scenario.timezone), "actions": len(actions)},
        "runs": {},
    }
    for policy in options.policies:
        outcome["runs"][policy] = await _run(scenario, city, actions, policy, options)
    return outcome


async def _run(scenario: Scenario, city: DemoCity, actions: list[Action], policy: Policy,
               options: SimulationOptions) -> dict[str, Any]:
    run_dir = options.out_dir / f"{scenario.name}-{policy}"
    shutil.rmtree(run_dir, ignore_errors=True)
    config = SystemConfig(run_dir=run_dir, policy=policy, clock_start=scenario.start - SETUP,
                          clock_speed=options.speed, planner_time_limit_s=options.planner_time_limit_s)
    started = time.monotonic()
    async with running_system(config) as system:
        settings = system.settings
        previous = clock.configure(settings.clock_start, settings.clock_anchor, settings.clock_speed)
        try:
            log.info("%s: system up in %.0f s, loading the city", policy, time.monotonic() - started)
            await _load_city(city, system.urls, TokenService(settings.jwt_secret.get_secret_value(),
                                                             issuer=settings.jwt_issuer))
            if clock.now() > config.clock_start:
                log.warning("%s: the city loaded after the simulated clock started; the first actions run late",
                            policy)
            driver = ScenarioDriver(system, city, run_tag=f"{scenario.name}-{policy}")
            progress = _Progress(policy, len(actions), scenario)
            try:
                await driver.play(actions, progress)
                end = scenario.end + options.drain
                await clock.sleep((end - clock.now()).total_seconds())
                progress.done()
            finally:
                await driver.close()
            system.check_alive()
            run = await collect(settings, city, driver.log, ended_at=clock.now(), tz=scenario.timezone)
        finally:
            clock.use(previous)
    run.update({
        "policy": policy, "policy_description": DESCRIPTIONS[policy],
        "wall_seconds": round(time.monotonic() - started, 1), "clock_speed": options.speed,
        "planner_time_limit_s": options.planner_time_limit_s, "action_lag_s": round(driver.log.lag_s, 1),
    })
    return run


async def _load_city(city: DemoCity, urls: dict[str, str], tokens: TokenService) -> None:
    clients = {name: httpx.AsyncClient(base_url=url, timeout=120) for name, url in urls.items()}
    try:
        await load_city(city, clients, tokens)
    finally:
        for client in clients.values():
            await client.aclose()


class _Progress:
    """A one-line progress bar on stderr (the report is the output; this is for people)."""

    def __init__(self, policy: str, total: int, scenario: Scenario) -> None:
        self._policy, self._total, self._scenario = policy, total, scenario
        self._last = 0.0

    def __call__(self, done: int, action: Action) -> None:
        now = time.monotonic()
        if now - self._last < 1 and done < self._total:
            return
        self._last = now
        width = 30
        filled = int(width * done / max(1, self._total))
        local = action.at.astimezone(self._scenario.timezone).strftime("%a %H:%M")
        sys.stderr.write(f"\r{self._policy:9} [{'#' * filled}{'.' * (width - filled)}] {done}/{self._total} {local}")
        sys.stderr.flush()

    def done(self) -> None:
        sys.stderr.write("\n")
        sys.stderr.flush()
