"""The system as separate OS processes (broker, link, one process per service instance),
so faults are real: SIGKILL, a vanished network, a second instance joining a group."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr
from sqlalchemy.engine import make_url

from shared.auth import Role
from shared.messaging.broker import free_port
from shared.settings import Settings
from tests.support import bearer, drop_schemas, make_settings, tokens
from tests.tcplink import TcpLink, broker_behind_link, link_to_database, through

SERVICES = ("orders", "inventory", "routing")


def settings_env(settings: Settings) -> dict[str, str]:
    """The settings as the LIFELINE_ environment a service process reads them from."""
    env: dict[str, str] = {}
    for name in type(settings).model_fields:
        value = getattr(settings, name)
        if value is None:
            continue
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        env[f"LIFELINE_{name.upper()}"] = str(value).lower() if isinstance(value, bool) else str(value)
    return env


@dataclass
class Instance:
    service: str
    port: int
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@dataclass
class ProcessSystem:
    settings: Settings
    link: TcpLink
    log_dir: Path
    #: Between the services and PostgreSQL, when the scenario cuts the database away.
    database_link: TcpLink | None = None
    instances: dict[str, list[Instance]] = field(default_factory=dict)
    ports: dict[str, int] = field(default_factory=dict)

    def start(self, service: str, *, extra_instance: bool = False) -> Instance:
        """Start a service process; the first instance of a service keeps its port across restarts."""
        port = free_port() if extra_instance else self.ports.setdefault(service, free_port())
        log = open(self.log_dir / f"{service}-{port}.log", "ab")  # noqa: SIM115
        process = subprocess.Popen(
            [sys.executable, "-m", "services.cli", "serve", service, "--port", str(port)],
            stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **settings_env(self.settings)},
            start_new_session=True,
        )
        instance = Instance(service, port, process)
        self.instances.setdefault(service, []).append(instance)
        return instance

    def kill(self, instance: Instance, sig: signal.Signals = signal.SIGKILL) -> None:
        if instance.process.poll() is None:
            instance.process.send_signal(sig)
        try:
            instance.process.wait(20)
        except subprocess.TimeoutExpired:
            instance.process.kill()
            instance.process.wait()
        self.instances[instance.service].remove(instance)

    def first(self, service: str) -> Instance:
        return self.instances[service][0]

    def client(self, service: str) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=f"http://127.0.0.1:{self.ports[service]}", timeout=30)

    async def ready(self, instance: Instance, timeout_s: float = 60) -> None:
        """Wait for /readyz: database reachable and the consumer running."""
        deadline = time.monotonic() + timeout_s
        async with httpx.AsyncClient(timeout=2) as client:
            while True:
                if instance.process.poll() is not None:
                    raise AssertionError(f"{instance.service} exited with {instance.process.returncode}")
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get(f"{instance.url}/readyz")).status_code == 200:
                        return
                if time.monotonic() > deadline:
                    raise AssertionError(f"{instance.service} not ready within {timeout_s}s")
                await asyncio.sleep(0.2)

    def stop_all(self) -> None:
        for instances in self.instances.values():
            for instance in list(instances):
                if instance.process.poll() is None:
                    instance.process.send_signal(signal.SIGTERM)
        for instances in self.instances.values():
            for instance in instances:
                try:
                    instance.process.wait(15)
                except subprocess.TimeoutExpired:
                    instance.process.kill()
        self.instances.clear()

    def headers(self, subject: str, role: Role, **claims: Any) -> dict[str, str]:
        return bearer(tokens(self.settings).mint(subject, role, **claims))


@contextlib.asynccontextmanager
async def process_system(
    tmp_path: Path, *services: str, database_link: bool = False
) -> AsyncIterator[ProcessSystem]:
    """A broker behind a cuttable link, and one process per named service, all ready; with
    ``database_link`` (PostgreSQL) the services reach the database through a cuttable link too."""
    with broker_behind_link(tmp_path / "tansu.log") as (_broker, link):
        settings, tag = make_settings(link.url, tmp_path)
        to_database = None
        if database_link:
            settings, to_database = behind_a_database_link(settings)
        system = ProcessSystem(settings, link, tmp_path, database_link=to_database)
        try:
            started = [system.start(service) for service in services or SERVICES]
            await asyncio.gather(*(system.ready(instance) for instance in started))
            yield system
        finally:
            system.stop_all()
            if to_database is not None:
                to_database.close()
            drop_schemas(tag)


def behind_a_database_link(settings: Settings) -> tuple[Settings, TcpLink]:
    """The settings with every service's database URL through one new link to the server."""
    assert make_url(settings.database_url("orders")).get_backend_name() == "postgresql", "needs PostgreSQL"
    link = link_to_database(settings.database_url("orders"))
    urls = {f"{service}_database_url": through(link, settings.database_url(service))  # type: ignore[arg-type]
            for service in SERVICES}
    return settings.model_copy(update=urls), link
