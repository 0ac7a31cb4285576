"""Whole-system load: residents' orders at a target rate, timed from placed to reserved.

Starts the embedded broker and the three services as separate processes (as `make run`
does), loads the demo city, then posts a realistic order mix from its households at a
fixed open-loop rate for each step of ``--rates``. A consumer of its own reads
``lifeline.reservations.v1`` and times each order from the moment its POST was sent to
the moment inventory's outcome (``stock.reserved`` or ``order.backordered``) is on the
topic. A step is sustained when at least 97 % of the target rate was accepted and the
placed-to-outcome p99 stayed under 500 ms.

    .venv/bin/python bench/load.py                          # SQLite
    .venv/bin/python bench/load.py --database-url postgresql://postgres@127.0.0.1:5432/test
    .venv/bin/python bench/load.py --rates 100,250,400 --step-seconds 20
    .venv/bin/python bench/load.py --instances 2 --database-url ...   # scaled out

With ``--instances 2`` every service runs as two processes: the consumers of a service
share its consumer group (the topics' partitions are split between them) and the load
is posted round-robin to the two orders instances, as a load balancer would.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from aiokafka import AIOKafkaConsumer  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402

from services.demo.city import build_city  # noqa: E402
from services.demo.loader import load_city  # noqa: E402
from shared.auth import TokenService  # noqa: E402
from shared.events import topics  # noqa: E402
from shared.messaging.broker import EmbeddedBroker, free_port  # noqa: E402
from shared.messaging.kafka import ensure_topics, partitions_of  # noqa: E402
from shared.settings import Settings  # noqa: E402

SERVICES = ("orders", "inventory", "routing")
P99_TARGET_MS = 500.0


@dataclass
class Step:
    rate: float
    seconds: float
    sent_at: dict[str, float] = field(default_factory=dict)
    http_ms: list[float] = field(default_factory=list)
    errors: dict[int, int] = field(default_factory=dict)
    started: float = 0.0
    finished: float = 0.0

    def accepted_per_s(self) -> float:
        return len(self.sent_at) / max(self.finished - self.started, 1e-9)


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process so far (Linux /proc; 0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def postgres_cpu_seconds() -> float:
    """CPU of every PostgreSQL server process on this machine (the bench's database is local)."""
    total = 0.0
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and (proc / "comm").read_text().strip() == "postgres":
                total += cpu_seconds(int(proc.name))
        except OSError:
            continue
    return total


def machine_busy() -> tuple[float, float]:
    """(busy, total) jiffies of all cores so far, from /proc/stat."""
    try:
        values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except OSError:
        return 0.0, 0.0
    idle = values[3] + values[4]  # idle + iowait
    return float(sum(values) - idle), float(sum(values))


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


class OutcomeClock:
    """Reads the reservations topic and notes when each order's outcome appeared."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.seen_at: dict[str, tuple[float, str]] = {}
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        name = self.settings.topic(topics.RESERVATIONS.name)
        self._consumer = AIOKafkaConsumer(bootstrap_servers=self.settings.broker_url, enable_auto_commit=False,
                                          fetch_max_wait_ms=20)
        await self._consumer.start()
        partitions = await partitions_of(self._consumer, name)
        self._consumer.assign(partitions)
        await self._consumer.seek_to_end(*partitions)
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            batch = await self._consumer.getmany(timeout_ms=100)
            now = time.perf_counter()
            for records in batch.values():
                for record in records:
                    event = json.loads(record.value or b"{}")
                    if event.get("type") in ("lifeline.stock.reserved", "lifeline.order.backordered"):
                        self.seen_at.setdefault(event["data"]["order_id"], (now, event["type"]))

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            await self._consumer.stop()


def order_body(rng: random.Random, household: dict, skus: list[dict]) -> dict:
    """One to four lines of unrationed goods; medicine for a fifth of priority households."""
    everyday = [s for s in skus if s.get("ration") is None and s["category"] != "medicine"]
    medicine = [s for s in skus if s.get("ration") is None and s["category"] == "medicine"]
    lines = {s["id"]: rng.randint(1, 3) for s in rng.sample(everyday, rng.randint(1, 4))}
    if household["flags"] and rng.random() < 0.2:
        lines[rng.choice(medicine)["id"]] = 1
    return {"items": [{"sku": sku, "quantity": q} for sku, q in lines.items()]}


class KeepAliveClient:
    """A minimal HTTP/1.1 keep-alive client for the load itself.

    The generator shares the two cores with the system it measures; httpx spends about
    as much CPU per request as the orders service does on it, so the figures would be
    the generator's. This client writes the request and reads the status line, headers
    and a Content-Length body; nothing else is needed against uvicorn."""

    def __init__(self, host: str, port: int, size: int) -> None:
        self._host, self._port = host, port
        self._idle: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = asyncio.Queue()
        self._size = size
        self._opened = 0

    async def post_json(self, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        if self._idle.empty() and self._opened < self._size:
            self._opened += 1
            connection = await asyncio.open_connection(self._host, self._port)
        else:
            connection = await self._idle.get()
        reader, writer = connection
        head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        writer.write(
            f"POST {path} HTTP/1.1\r\nHost: {self._host}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n{head}\r\n".encode() + body
        )
        try:
            status_line = await reader.readline()
            length = 0
            while (line := await reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.partition(b":")
                if name.lower() == b"content-length":
                    length = int(value)
            payload = await reader.readexactly(length)
        except (OSError, asyncio.IncompleteReadError):
            self._opened -= 1
            writer.close()
            raise
        self._idle.put_nowait(connection)
        return int(status_line.split()[1]), payload

    async def close(self) -> None:
        while not self._idle.empty():
            _reader, writer = self._idle.get_nowait()
            writer.close()


async def run_step(step: Step, host: str, ports: list[int], headers: list[dict[str, str]], bodies: list[bytes],
                   concurrency: int = 64) -> None:
    clients = [KeepAliveClient(host, port, concurrency) for port in ports]  # round-robin, as a balancer
    semaphore = asyncio.Semaphore(concurrency)
    tasks: list[asyncio.Task[None]] = []

    async def one(n: int) -> None:
        # A resident's app retries a dropped connection with the same Idempotency-Key.
        request_headers = {**headers[n % len(headers)], "Idempotency-Key": f"{key_prefix}-{n}"}
        client = clients[n % len(clients)]
        async with semaphore:
            sent = time.perf_counter()
            for attempt in range(3):
                try:
                    status_code, payload = await client.post_json("/v1/orders", bodies[n % len(bodies)],
                                                                  request_headers)
                    break
                except (OSError, asyncio.IncompleteReadError):
                    if attempt == 2:
                        step.errors[0] = step.errors.get(0, 0) + 1
                        return
            step.http_ms.append((time.perf_counter() - sent) * 1000)
            if status_code in (200, 201):
                step.sent_at[json.loads(payload)["id"]] = sent
            else:
                step.errors[status_code] = step.errors.get(status_code, 0) + 1

    key_prefix = uuid.uuid4().hex[:8]
    step.started = time.perf_counter()
    total = int(step.rate * step.seconds)
    offset = random.randrange(len(headers))
    try:
        for n in range(total):
            due = step.started + n / step.rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(offset + n)))
        await asyncio.gather(*tasks)
    finally:
        for client in clients:
            await client.close()
    step.finished = time.perf_counter()


def start_service(service: str, port: int, env: dict[str, str], log_dir: Path) -> subprocess.Popen[bytes]:
    log = open(log_dir / f"{service}-{port}.log", "ab")  # noqa: SIM115
    return subprocess.Popen([sys.executable, "-m", "services.cli", "serve", service, "--port", str(port)],
                            stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **env}, cwd=ROOT)


async def wait_ready(url: str, timeout_s: float = 90) -> None:
    deadline = time.monotonic() + timeout_s
    async with httpx.AsyncClient(timeout=2) as client:
        while time.monotonic() < deadline:
            try:
                if (await client.get(f"{url}/readyz")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.3)
    raise RuntimeError(f"{url} not ready")


def database_urls(database_url: str | None, tmp: Path, tag: str) -> dict[str, str]:
    if not database_url:
        return {s: f"sqlite:///{tmp}/{s}.db" for s in SERVICES}
    base = database_url.replace("postgresql://", "postgresql+psycopg://", 1)
    engine = create_engine(base)
    with engine.begin() as connection:
        for service in SERVICES:
            connection.execute(text(f'CREATE SCHEMA "bench_{tag}_{service}"'))
    engine.dispose()
    return {s: f"{base}?options=-csearch_path%3Dbench_{tag}_{s}" for s in SERVICES}


def drop_schemas(database_url: str | None, tag: str) -> None:
    if not database_url:
        return
    engine = create_engine(database_url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.begin() as connection:
        for service in SERVICES:
            connection.execute(text(f'DROP SCHEMA IF EXISTS "bench_{tag}_{service}" CASCADE'))
    engine.dispose()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default=None, help="PostgreSQL URL (default: SQLite files)")
    parser.add_argument("--rates", default="100,250,400", help="orders/s for each step")
    parser.add_argument("--step-seconds", type=float, default=20)
    parser.add_argument("--households-per-community", type=int, default=60)
    parser.add_argument("--instances", type=int, default=1, help="processes per service (same consumer group)")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="lifeline-load-"))
    tag = uuid.uuid4().hex[:8]
    broker = EmbeddedBroker(port=free_port(), log_path=tmp / "broker.log")
    broker.start()
    ports = {s: free_port() for s in SERVICES}  # each service's first instance
    extra_ports = {s: [free_port() for _ in range(args.instances - 1)] for s in SERVICES}
    urls = database_urls(args.database_url, tmp, tag)
    settings = Settings(mode="test", broker_url=broker.url, topic_prefix=f"load{tag}.", var_dir=str(tmp),
                        **cast(dict[str, Any], {f"{s}_database_url": urls[s] for s in SERVICES}))
    env = {"LIFELINE_MODE": "test", "LIFELINE_BROKER_URL": broker.url, "LIFELINE_TOPIC_PREFIX": settings.topic_prefix,
           "LIFELINE_VAR_DIR": str(tmp), "LIFELINE_LOG_LEVEL": "WARNING",
           **{f"LIFELINE_{s.upper()}_DATABASE_URL": urls[s] for s in SERVICES},
           **{f"LIFELINE_{s.upper()}_PORT": str(ports[s]) for s in SERVICES}}
    processes: list[subprocess.Popen[bytes]] = []
    clock = OutcomeClock(settings)
    try:
        await ensure_topics(settings)
        processes = [start_service(s, ports[s], env, tmp) for s in SERVICES]
        await asyncio.gather(*(wait_ready(f"http://127.0.0.1:{ports[s]}") for s in SERVICES))
        # The others once the first built the schema; each joins its service's consumer group.
        extras = [(s, port, start_service(s, port, env, tmp)) for s in SERVICES for port in extra_ports[s]]
        await asyncio.gather(*(wait_ready(f"http://127.0.0.1:{port}") for _s, port, _p in extras))
        processes += [process for _s, _port, process in extras]
        process_service = [*SERVICES, *(s for s, _port, _p in extras)]
        city = build_city(households_per_community=args.households_per_community)
        tokens = TokenService(settings.jwt_secret.get_secret_value(), issuer=settings.jwt_issuer)
        clients = {s: httpx.AsyncClient(base_url=f"http://127.0.0.1:{ports[s]}", timeout=60) for s in SERVICES}
        loaded_at = time.perf_counter()
        await load_city(city, clients, tokens)
        for client in clients.values():
            await client.aclose()
        print(f"database: {'PostgreSQL' if args.database_url else 'SQLite'}; {args.instances} instance(s) "
              f"of each service; demo city with "
              f"{len(city.households)} households loaded in {time.perf_counter() - loaded_at:.0f} s")
        await asyncio.sleep(3)  # the catalog reaches orders over the broker
        rng = random.Random(7)
        households = list(city.households)
        rng.shuffle(households)
        headers = [{"Authorization": f"Bearer {tokens.mint(h['id'], 'resident')}"} for h in households]
        bodies = [json.dumps(order_body(rng, h, city.skus)).encode() for h in households]
        await clock.start()
        print(f"{'target/s':>9} {'accepted/s':>11} {'errors':>8} {'http p50':>9} {'http p99':>9} "
              f"{'placed→outcome p50':>19} {'p95':>7} {'p99':>7} {'settled':>8}  verdict")
        sustained = 0.0
        cpu_rows: list[tuple[float, dict[str, float], float]] = []
        for rate in (float(r) for r in args.rates.split(",")):
            step = Step(rate, args.step_seconds)
            pids: dict[str, list[int]] = {"broker": [broker.pid or 0], "load": [os.getpid()]}
            for service, process in zip(process_service, processes, strict=True):
                pids.setdefault(service, []).append(process.pid)
            cpu_before = {name: sum(map(cpu_seconds, group)) for name, group in pids.items()}
            if args.database_url:
                cpu_before["postgres"] = postgres_cpu_seconds()
            busy_before = machine_busy()
            await run_step(step, "127.0.0.1", [ports["orders"], *extra_ports["orders"]], headers, bodies)
            drain_deadline = time.perf_counter() + 30
            while time.perf_counter() < drain_deadline and not all(o in clock.seen_at for o in step.sent_at):
                await asyncio.sleep(0.2)
            busy_after = machine_busy()
            used = {name: sum(map(cpu_seconds, pids[name])) for name in pids}
            if args.database_url:
                used["postgres"] = postgres_cpu_seconds()
            cpu_ms = {name: 1000 * (used[name] - before) / max(len(step.sent_at), 1)
                      for name, before in cpu_before.items()}
            cpu_ms["all"] = sum(cpu_ms.values())
            busy = (busy_after[0] - busy_before[0]) / max(busy_after[1] - busy_before[1], 1)
            cpu_rows.append((rate, cpu_ms, busy))
            e2e = [(clock.seen_at[o][0] - sent) * 1000 for o, sent in step.sent_at.items() if o in clock.seen_at]
            settled = len(e2e) / max(len(step.sent_at), 1)
            ok = (step.accepted_per_s() >= 0.97 * rate and settled == 1.0
                  and percentile(e2e, 99) < P99_TARGET_MS and not step.errors)
            if ok:
                sustained = rate
            print(f"{rate:>9.0f} {step.accepted_per_s():>11.1f} {sum(step.errors.values()):>8} "
                  f"{percentile(step.http_ms, 50):>7.0f}ms {percentile(step.http_ms, 99):>7.0f}ms "
                  f"{percentile(e2e, 50):>17.0f}ms {percentile(e2e, 95):>5.0f}ms {percentile(e2e, 99):>5.0f}ms "
                  f"{settled:>7.1%}  {'sustained' if ok else 'NOT sustained'}"
                  + (f" errors={step.errors}" if step.errors else ""))
        outcomes: dict[str, int] = {}
        for _at, kind in clock.seen_at.values():
            outcomes[kind] = outcomes.get(kind, 0) + 1
        print(f"outcomes: {outcomes}")
        print("CPU ms per accepted order, by process (and how busy the machine's cores were): " + "; ".join(
            f"{rate:.0f}/s: " + ", ".join(f"{name} {ms:.1f}" for name, ms in cpu.items()) + f" (cores {busy:.0%} busy)"
            for rate, cpu, busy in cpu_rows))
        print(f"this machine has {os.cpu_count()} cores: {1000 * (os.cpu_count() or 1):.0f} CPU ms per second")
        print(f"highest sustained step: {sustained:.0f} orders/s (p99 < {P99_TARGET_MS:.0f} ms)")
    finally:
        await clock.stop()
        for process in processes:
            process.send_signal(signal.SIGINT)
        for process in processes:
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
        broker.stop()
        drop_schemas(args.database_url, tag)


if __name__ == "__main__":
    asyncio.run(main())
