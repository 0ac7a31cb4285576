"""The real system a simulation runs: broker, the three services and the fleet simulator,
each its own process, all on one simulated clock, in a run folder of their own.

Nothing is shortcut: the services are the ones ``make run`` starts, with their own SQLite
databases, and the simulation talks to them only through their HTTP APIs and topics.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Literal

import httpx

from shared.messaging.broker import EmbeddedBroker, free_port
from shared.messaging.kafka import ensure_topics
from shared.settings import Settings

log = logging.getLogger(__name__)

SERVICES = ("orders", "inventory", "routing")
Policy = Literal["lifeline", "baseline"]


@dataclass(frozen=True)
class SystemConfig:
    run_dir: Path
    policy: Policy
    clock_start: datetime
    clock_speed: float
    #: Wall time (epoch seconds) the simulated clock starts moving: it stands still at its
    #: start before, while the system boots and the city is loaded (shared.clock.ScaledClock).
    #: Systems run side by side share it, so they live through the same simulated moments.
    clock_anchor: float
    planner_time_limit_s: float = 1.0
    cadence_min: float = 15.0
    #: Lockstep (services/simulation/lockstep.py): the stepped clock's file, and the
    #: solver's iterations per plan instead of its time limit; ids and hashing seeded.
    clock_file: Path | None = None
    planner_iterations: int | None = None
    seed: int = 0


@dataclass
class RunningSystem:
    settings: Settings
    urls: dict[str, str]
    fleet_url: str
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def check_alive(self) -> None:
        dead = [name for name, p in self.processes.items() if p.poll() is not None]
        if dead:
            raise RuntimeError(f"simulated system lost {', '.join(dead)}: see the logs in {self.settings.var_dir}/log")


def _environment(config: SystemConfig, broker_url: str, ports: dict[str, int], anchor: float) -> dict[str, str]:
    policy_settings = (
        {"LIFELINE_OPERATIONS_POLICY": "continuous", "LIFELINE_ALLOCATION_POLICY": "priority"}
        if config.policy == "lifeline"
        else {"LIFELINE_OPERATIONS_POLICY": "day_ahead", "LIFELINE_ALLOCATION_POLICY": "fcfs"}
    )
    env = {key: value for key, value in os.environ.items() if not key.startswith("LIFELINE_")}
    env.update({
        "LIFELINE_MODE": "development",
        "LIFELINE_BROKER_URL": broker_url,
        "LIFELINE_VAR_DIR": str(config.run_dir),
        "LIFELINE_CLOCK_START": config.clock_start.isoformat(),
        "LIFELINE_CLOCK_ANCHOR": repr(anchor),
        "LIFELINE_CLOCK_SPEED": repr(config.clock_speed),
        "LIFELINE_OPERATIONS_ENABLED": "true",
        "LIFELINE_OPERATIONS_TIME_LIMIT_S": repr(config.planner_time_limit_s),
        "LIFELINE_OPERATIONS_CADENCE_MIN": repr(config.cadence_min),
        # Residents order for simulated days on end: the per-minute limit is about people
        # hammering the button, which the scenario's households do not.
        "LIFELINE_ORDER_RATE_PER_MINUTE": "600",
        # The backorder sweep runs on the service clock: every 15 simulated minutes is plenty.
        "LIFELINE_INVENTORY_BACKORDER_SWEEP_INTERVAL_S": "900",
        **{f"LIFELINE_{name.upper()}_PORT": str(port) for name, port in ports.items()},
        **policy_settings,
    })
    if config.clock_file is not None:
        env.update({
            "LIFELINE_CLOCK_FILE": str(config.clock_file),
            "LIFELINE_ID_SEED": str(config.seed),
            # Sets of ids iterate in hash order: one order in every run and process.
            "PYTHONHASHSEED": "0",
        })
    if config.planner_iterations is not None:
        env["LIFELINE_OPERATIONS_ITERATIONS"] = str(config.planner_iterations)
    return env


@contextlib.asynccontextmanager
async def running_system(config: SystemConfig) -> AsyncIterator[RunningSystem]:
    """Start everything, wait until healthy; stop everything on exit."""
    log_dir = config.run_dir / "log"
    log_dir.mkdir(parents=True, exist_ok=True)
    broker = EmbeddedBroker(port=free_port(), log_path=log_dir / "broker.log")
    broker.start()
    ports = {name: free_port() for name in (*SERVICES, "fleet")}
    anchor = config.clock_anchor
    env = _environment(config, broker.url, ports, anchor)
    settings = Settings(  # the same view of the world, for this process's own clients
        broker_url=broker.url, var_dir=str(config.run_dir), clock_start=config.clock_start,
        clock_anchor=anchor, clock_speed=config.clock_speed,
    )
    await ensure_topics(settings)
    urls = {name: f"http://127.0.0.1:{ports[name]}" for name in SERVICES}
    system = RunningSystem(settings, urls, f"http://127.0.0.1:{ports['fleet']}")
    try:
        for name in SERVICES:
            system.processes[name] = _spawn([sys.executable, "-m", "services.cli", "serve", name], env, log_dir / name)
        await _wait_healthy(system, [f"{urls[name]}/healthz" for name in SERVICES])
        system.processes["fleet"] = _spawn(
            [sys.executable, "-m", "services.simulation.fleet_main", "--port", str(ports["fleet"]),
             "--routing-url", urls["routing"]], env, log_dir / "fleet")
        await _wait_healthy(system, [f"{system.fleet_url}/status"])
        yield system
    finally:
        for process in system.processes.values():
            process.terminate()
        for process in system.processes.values():
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
        broker.stop()


def _spawn(command: list[str], env: dict[str, str], log_stem: Path) -> subprocess.Popen[bytes]:
    log_file = open(log_stem.with_suffix(".log"), "ab")  # noqa: SIM115  (the child owns it)
    return subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT, env=env)


async def _wait_healthy(system: RunningSystem, urls: list[str], timeout_s: float = 90) -> None:
    deadline = time.monotonic() + timeout_s
    async with httpx.AsyncClient(timeout=2) as client:
        for url in urls:
            while True:
                system.check_alive()
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get(url)).status_code == 200:
                        break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{url} not healthy within {timeout_s:.0f} s")
                await asyncio.sleep(0.2)
