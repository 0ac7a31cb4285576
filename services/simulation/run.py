"""``lifeline simulate``: a lockdown scenario through the real system, Lifeline and baseline.

Each policy gets a system of its own (broker, services, fleet simulator, fresh databases)
on a simulated clock: it starts a little before the scenario (the city is loaded then),
runs the scenario's actions at their times, keeps running ``drain`` hours after the last
one so the evening's orders can be delivered, and then reads the outcome back.
"""

from __future__ import annotations

import asyncio
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
from services.simulation.lockstep import Conductor, clock_file
from services.simulation.outcome import collect
from services.simulation.scenario import Scenario, load_scenario
from services.simulation.system import Policy, RunningSystem, SystemConfig, running_system
from shared import clock
from shared.auth import TokenService

log = logging.getLogger(__name__)

#: Simulated time the clock starts before the scenario: the loop's first cycle, the dawn.
SETUP = timedelta(minutes=10)
#: Solver iterations per plan in lockstep: 0.4-1 s a solve up to 200 stops, about a 1 s solve's quality.
LOCKSTEP_ITERATIONS = 500
#: In lockstep a plan stops at its iterations; this only bounds a pathological solve.
LOCKSTEP_TIME_CAP_S = 120.0
#: The processes that report to a lockstep conductor (shared/stepped_clock.PHASES).
PROCESSES = ("fleet", "routing", "inventory", "orders")
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
    #: Wall seconds the clock stands still while the systems boot and load the city.
    setup_wall_s: float = 90.0
    #: Reproducible: time conducted (lockstep.py), each plan bounded by solver iterations
    #: instead of seconds; the policies run one after the other. Same seed, same figures.
    lockstep: bool = False
    planner_iterations: int = LOCKSTEP_ITERATIONS


async def simulate(options: SimulationOptions) -> dict[str, Any]:
    """Every policy's system runs at the same time on one simulated clock: they live through
    the same moments side by side, and the comparison costs the wall time of one run (the
    baseline's day is light: intake all day and one plan per depot at 18:00)."""
    scenario = load_scenario(options.scenario)
    city = build_city()
    actions = plan_actions(scenario, city, scale=options.scale)
    outcome: dict[str, Any] = {
        "scenario": {"name": scenario.name, "description": scenario.description, "days": scenario.days,
                     "seed": scenario.seed, "scale": options.scale, "start": scenario.start.isoformat(),
                     "timezone": str(scenario.timezone), "actions": len(actions)},
        "runs": {},
    }
    clock_start = scenario.start - SETUP
    progress = _Progress(options.policies, len(actions), scenario)
    if options.lockstep:
        try:
            runs = [await _run_in_lockstep(scenario, city, actions, policy, options, progress)
                    for policy in options.policies]
        finally:
            progress.done()
    else:
        anchor = time.time() + options.setup_wall_s
        previous = clock.configure(clock_start, anchor, options.speed)
        try:
            runs = await asyncio.gather(*(
                _run(scenario, city, actions, SystemConfig(
                    run_dir=_run_dir(options, scenario, policy), policy=policy, clock_start=clock_start,
                    clock_speed=options.speed, clock_anchor=anchor, planner_time_limit_s=options.planner_time_limit_s,
                ), options, progress)
                for policy in options.policies
            ))
        finally:
            clock.use(previous)
            progress.done()
    for policy, run in zip(options.policies, runs, strict=True):
        outcome["runs"][policy] = run
    return outcome


def _run_dir(options: SimulationOptions, scenario: Scenario, policy: str) -> Path:
    return options.out_dir / f"{scenario.name}-{policy}"


async def _run(scenario: Scenario, city: DemoCity, actions: list[Action], config: SystemConfig,
               options: SimulationOptions, progress: _Progress) -> dict[str, Any]:
    """On the scaled clock: actions at their wall instants, the system keeping pace."""
    policy = config.policy
    shutil.rmtree(config.run_dir, ignore_errors=True)
    started = time.monotonic()
    async with running_system(config) as system:
        await _load_city_into(system, city, policy, started)
        if clock.now() > config.clock_start:
            log.warning("%s: the city loaded after the simulated clock started; the first actions run late",
                        policy)
        driver = ScenarioDriver(system, city, run_tag=f"{scenario.name}-{policy}")
        try:
            await driver.play(actions, lambda done, action: progress(policy, done, action))
            end = scenario.end + options.drain
            await clock.sleep((end - clock.now()).total_seconds())
        finally:
            await driver.close()
        system.check_alive()
        run = await collect(system.settings, city, driver.log, ended_at=clock.now(), tz=scenario.timezone)
    run.update({
        "policy": policy, "policy_description": DESCRIPTIONS[policy],
        "wall_seconds": round(time.monotonic() - started, 1), "clock_speed": options.speed,
        "planner_time_limit_s": options.planner_time_limit_s, "action_lag_s": round(driver.log.lag_s, 1),
    })
    return run


async def _run_in_lockstep(scenario: Scenario, city: DemoCity, actions: list[Action], policy: Policy,
                           options: SimulationOptions, progress: _Progress) -> dict[str, Any]:
    """Time conducted: each action at its instant with the system at rest before and after."""
    run_dir = _run_dir(options, scenario, policy)
    shutil.rmtree(run_dir, ignore_errors=True)
    clock_start = scenario.start - SETUP
    path = clock_file(run_dir / "clock", clock_start)
    config = SystemConfig(
        run_dir=run_dir, policy=policy, clock_start=clock_start, clock_speed=1.0, clock_anchor=0.0,
        planner_time_limit_s=LOCKSTEP_TIME_CAP_S, clock_file=path, planner_iterations=options.planner_iterations,
        seed=scenario.seed,
    )
    started = time.monotonic()
    async with running_system(config) as system:
        conductor = Conductor(path, system.settings.broker_url, PROCESSES, system.check_alive)
        previous = clock.use(conductor.clock)
        try:
            await conductor.start()
            await _load_city_into(system, city, policy, started)
            await conductor.timers_running(("routing", "inventory"))
            await conductor.settle()
            driver = ScenarioDriver(system, city, run_tag=f"{scenario.name}-{policy}")
            try:
                await driver.play_in_lockstep(actions, conductor, lambda done, action: progress(policy, done, action))
                await conductor.advance_to(scenario.end + options.drain)
            finally:
                await driver.close()
            system.check_alive()
            run = await collect(system.settings, city, driver.log, ended_at=clock.now(), tz=scenario.timezone)
        finally:
            clock.use(previous)
            await conductor.close()
    run.update({
        "policy": policy, "policy_description": DESCRIPTIONS[policy],
        "wall_seconds": round(time.monotonic() - started, 1), "clock": "lockstep",
        "planner_iterations": options.planner_iterations, "lockstep_steps": conductor.steps,
    })
    return run


async def _load_city_into(system: RunningSystem, city: DemoCity, policy: str, started: float) -> None:
    settings = system.settings
    log.info("%s: system up in %.0f s, loading the city", policy, time.monotonic() - started)
    await _load_city(city, system.urls, TokenService(settings.jwt_secret.get_secret_value(),
                                                     issuer=settings.jwt_issuer))


async def _load_city(city: DemoCity, urls: dict[str, str], tokens: TokenService) -> None:
    clients = {name: httpx.AsyncClient(base_url=url, timeout=120) for name, url in urls.items()}
    try:
        await load_city(city, clients, tokens)
    finally:
        for client in clients.values():
            await client.aclose()


class _Progress:
    """One progress line on stderr for all the runs (the report is the output; this is for people)."""

    def __init__(self, policies: tuple[str, ...], total: int, scenario: Scenario) -> None:
        self._done = dict.fromkeys(policies, 0)
        self._total, self._scenario = total, scenario
        self._last = 0.0
        self._shown = False

    def __call__(self, policy: str, done: int, action: Action) -> None:
        self._done[policy] = done
        now = time.monotonic()
        if now - self._last < 1 and done < self._total:
            return
        self._last, self._shown = now, True
        width = 20
        bars = " ".join(
            f"{name} [{'#' * int(width * n / max(1, self._total)):<{width}}] {n}/{self._total}"
            for name, n in self._done.items()
        )
        local = action.at.astimezone(self._scenario.timezone).strftime("%a %H:%M")
        sys.stderr.write(f"\r{bars} {local}")
        sys.stderr.flush()

    def done(self) -> None:
        if self._shown:
            sys.stderr.write("\n")
            sys.stderr.flush()
