"""Order intake benchmark: sustained orders/s and latency of ``POST /v1/orders``.

Starts a Tansu broker and the orders service under uvicorn (uvloop + httptools) in
subprocesses, seeds communities, households and the catalog (the catalog over the
catalog topic, as inventory would), then posts orders from N concurrent clients for T
seconds. For comparison it measures, in the same run, a bare FastAPI endpoint that
only validates the same body. Every order is a full transaction: household lock,
idempotency, rate limit, catalog and ration checks, the order, its lines, its timeline
row and the outbox event; the run ends by waiting for the outbox to drain.

    .venv/bin/python bench/orders_intake.py                       # SQLite
    .venv/bin/python bench/orders_intake.py --database-url postgresql://postgres@127.0.0.1:5432/test
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from aiokafka import AIOKafkaProducer  # noqa: E402
from fastapi import FastAPI, status  # noqa: E402
from pydantic import BaseModel, ConfigDict, Field, StrictInt  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402

from shared.auth import TokenService  # noqa: E402
from shared.events.codec import wrap  # noqa: E402
from shared.events.payloads import Ration, SkuDefined  # noqa: E402
from shared.messaging.broker import EmbeddedBroker, free_port  # noqa: E402
from shared.messaging.kafka import ensure_topics  # noqa: E402
from shared.settings import Settings  # noqa: E402

CATALOG = [
    SkuDefined(sku="RICE-5KG", name="Rice 5 kg", category="staple", unit_weight_kg=5,
               unit_volume_l=6, cold_chain=False, ration=Ration(quantity=50, per_days=7)),
    SkuDefined(sku="OIL-1L", name="Oil 1 l", category="staple", unit_weight_kg=1,
               unit_volume_l=1, cold_chain=False),
    SkuDefined(sku="VEG-BOX", name="Vegetable box", category="vegetable", unit_weight_kg=3,
               unit_volume_l=10, cold_chain=False),
    SkuDefined(sku="MILK-1L", name="Milk 1 l", category="dairy", unit_weight_kg=1,
               unit_volume_l=1, cold_chain=True),
    SkuDefined(sku="INSULIN", name="Insulin pen", category="medicine", unit_weight_kg=0.1,
               unit_volume_l=0.2, cold_chain=True),
]
SKUS = [item.sku for item in CATALOG]


# --- the bare comparison app (served by its own uvicorn) ------------------------------

class _Item(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sku: str = Field(min_length=1, max_length=64)
    quantity: StrictInt = Field(gt=0, le=100)


class _Order(BaseModel):
    model_config = ConfigDict(extra="forbid")
    items: list[_Item] = Field(min_length=1, max_length=50)
    contactless: bool = True
    note: str | None = None


bare_app = FastAPI(title="bare")


@bare_app.post("/v1/orders", status_code=status.HTTP_201_CREATED)
async def bare_order(order: _Order) -> dict[str, Any]:
    return {"id": uuid.uuid4().hex, "status": "placed", "items": order.model_dump()["items"]}


# --- processes ---------------------------------------------------------------------

def uvicorn(app: str, port: int, env: dict[str, str], workers: int, factory: bool) -> subprocess.Popen[bytes]:
    command = [
        sys.executable, "-m", "uvicorn", app, "--host", "127.0.0.1", "--port", str(port),
        "--loop", "uvloop", "--http", "httptools", "--no-access-log", "--log-level", "warning",
        "--workers", str(workers), "--app-dir", str(ROOT / "bench"),
    ]
    if factory:
        command.append("--factory")
    return subprocess.Popen(
        command, env={**os.environ, **env, "PYTHONPATH": str(ROOT)}, cwd=ROOT,
        start_new_session=True,
    )


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


async def wait_ready(base: str, path: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    async with httpx.AsyncClient(base_url=base) as client:
        while time.monotonic() < deadline:
            try:
                if (await client.get(path)).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.2)
    raise RuntimeError(f"{base}{path} not ready within {timeout_s}s")


def postgres_schema(url: str, tag: str) -> tuple[str, str]:
    """A fresh schema for this run: (service URL, psycopg URL for the cleanup)."""
    base = url.replace("postgresql://", "postgresql+psycopg://", 1)
    engine = create_engine(base)
    with engine.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "bench_{tag}"'))
    engine.dispose()
    separator = "&" if "?" in url else "?"
    return f"{url}{separator}options=-csearch_path%3Dbench_{tag}", base


def drop_postgres_schema(base: str, tag: str) -> None:
    engine = create_engine(base)
    with engine.begin() as connection:
        connection.execute(text(f'DROP SCHEMA IF EXISTS "bench_{tag}" CASCADE'))
    engine.dispose()


# --- load ----------------------------------------------------------------------------

def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its children so far (Linux /proc)."""
    total = 0.0
    for task in [pid, *children(pid)]:
        try:
            fields = Path(f"/proc/{task}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def children(pid: int) -> list[int]:
    try:
        found = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return []
    return [int(child) for child in found]


@dataclass
class Result:
    name: str
    duration_s: float
    latencies_ms: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    server_cpu_s: float = 0.0
    client_cpu_s: float = 0.0

    @property
    def ok(self) -> int:
        return self.statuses.get(201, 0)

    def line(self) -> str:
        lat = sorted(self.latencies_ms) or [0.0]
        p50 = statistics.median(lat)
        p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))]
        others = {k: v for k, v in self.statuses.items() if k != 201}
        done = max(1, sum(self.statuses.values()))
        return (f"{self.name:<22} {self.ok / self.duration_s:>7.0f} /s  p50 {p50:>6.1f} ms"
                f"  p99 {p99:>6.1f} ms  server CPU {self.server_cpu_s / done * 1000:.2f} ms/req"
                f"  client CPU {self.client_cpu_s / done * 1000:.2f} ms/req"
                f"  ok {self.ok}  other {others or '-'}")


class Connection:
    """A minimal keep-alive HTTP/1.1 client: the load generator shares the two cores with
    the server, so it must cost far less per request than a full client library."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, path: str, body: bytes, headers: bytes) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        self.writer.write(
            b"POST " + path.encode() + b" HTTP/1.1\r\nHost: bench\r\n"
            b"Content-Type: application/json\r\nContent-Length: " + str(len(body)).encode()
            + b"\r\n" + headers + b"\r\n" + body
        )
        head = await self.reader.readuntil(b"\r\n\r\n")
        status_code = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        return status_code, await self.reader.readexactly(length)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


async def load(
    name: str, base: str, headers: list[dict[str, str]], concurrency: int, duration_s: float,
    warmup_s: float, server_pid: int, rate: float | None = None,
) -> Result:
    """Closed loop (``concurrency`` clients, each sending when its answer came) or, with
    ``rate``, open loop: an order every 1/rate s whatever the answers, on as many
    connections as are busy, each timed from when it was due (no coordinated omission)."""
    host, port = base.removeprefix("http://").split(":")
    raw_headers = [
        b"".join(f"{k}: {v}\r\n".encode() for k, v in h.items()) for h in headers
    ]
    households = itertools.cycle(range(len(headers)))
    rng = random.Random(7)
    bodies = [
        json.dumps({"items": [{"sku": s, "quantity": rng.randint(1, 2)}
                              for s in rng.sample(SKUS, rng.randint(1, 3))]}).encode()
        for _ in range(997)
    ]
    result = Result(name, duration_s)
    print(f"loading {name} for {warmup_s + duration_s:.0f} s ...", file=sys.stderr, flush=True)
    started = time.monotonic()
    measure_from = started + warmup_s
    stop_at = measure_from + duration_s

    async def meter() -> None:
        await asyncio.sleep(max(0.0, measure_from - time.monotonic()))
        server, client = cpu_seconds(server_pid), time.process_time()
        await asyncio.sleep(max(0.0, stop_at - time.monotonic()))
        result.server_cpu_s = cpu_seconds(server_pid) - server
        result.client_cpu_s = time.process_time() - client

    async def worker(index: int) -> None:
        connection = Connection(host, int(port))
        n = index
        try:
            while (now := time.monotonic()) < stop_at:
                n += 1
                sent = time.perf_counter()
                code, _body = await connection.post(
                    "/v1/orders", bodies[n % len(bodies)], raw_headers[next(households)]
                )
                elapsed = (time.perf_counter() - sent) * 1000
                if now >= measure_from:
                    result.latencies_ms.append(elapsed)
                    result.statuses[code] = result.statuses.get(code, 0) + 1
        finally:
            connection.close()

    async def open_loop() -> None:
        assert rate is not None
        idle: list[Connection] = []
        in_flight: set[asyncio.Task[None]] = set()

        async def send(n: int, due: float) -> None:
            body, headers = bodies[n % len(bodies)], raw_headers[n % len(raw_headers)]
            connection = idle.pop() if idle else Connection(host, int(port))
            try:
                code, _body = await connection.post("/v1/orders", body, headers)
            except (asyncio.IncompleteReadError, ConnectionError):
                # The server closed a keep-alive connection that idled past its timeout
                # before reading this request: send it again on a new one, as clients do.
                connection.close()
                connection = Connection(host, int(port))
                code, _body = await connection.post("/v1/orders", body, headers)
            idle.append(connection)
            if due >= measure_from:
                result.latencies_ms.append((time.monotonic() - due) * 1000)
                result.statuses[code] = result.statuses.get(code, 0) + 1

        n = 0
        while (due := started + n / rate) < stop_at:
            if (wait := due - time.monotonic()) > 0:
                await asyncio.sleep(wait)
            task = asyncio.create_task(send(n, due))
            in_flight.add(task)
            task.add_done_callback(in_flight.discard)
            n += 1
        await asyncio.gather(*in_flight)
        for connection in idle:
            connection.close()

    if rate is None:
        await asyncio.gather(meter(), *(worker(i) for i in range(concurrency)))
    else:
        await asyncio.gather(meter(), open_loop())
    return result


async def seed(base: str, settings: Settings, tokens: TokenService, households: int) -> list[dict[str, str]]:
    await ensure_topics(settings)
    producer = AIOKafkaProducer(bootstrap_servers=settings.broker_url)
    await producer.start()
    for item in CATALOG:
        event = wrap(item, source="bench")
        await producer.send_and_wait(settings.topic(item.TOPIC.name), event.to_bytes(),
                                     key=item.key().encode())
    await producer.stop()
    admin = {"Authorization": f"Bearer {tokens.mint('bench-admin', 'admin')}"}
    async with httpx.AsyncClient(base_url=base, headers=admin, timeout=30) as client:
        for c in range(20):
            response = await client.put(f"/v1/communities/C-{c}", json={
                "name": f"Community {c}", "district": f"D-{c % 4}", "lat": 39.9 + c / 100,
                "lon": 116.4 + c / 100, "risk_level": "sealed",
                "receiving_windows": [["07:00", "09:00"], ["15:00", "17:00"]],
                "gate_service_min": 10,
            })
            response.raise_for_status()
        semaphore = asyncio.Semaphore(16)

        async def household(h: int) -> None:
            async with semaphore:
                flags = ["elderly_alone"] if h % 7 == 0 else []
                response = await client.put(f"/v1/households/H-{h}", json={
                    "community_id": f"C-{h % 20}", "members": 1 + h % 5, "flags": flags})
                response.raise_for_status()

        await asyncio.gather(*(household(h) for h in range(households)))
        deadline = time.monotonic() + 30
        while len((await client.get("/v1/catalog")).json()) < len(CATALOG):
            if time.monotonic() > deadline:
                raise RuntimeError("the catalog never reached the orders service")
            await asyncio.sleep(0.2)
    return [
        {"Authorization": f"Bearer {tokens.mint(f'H-{h}', 'resident')}"} for h in range(households)
    ]


async def group_commit_figures(base: str) -> str:
    """Mean orders per transaction and mean transaction time, from the service's metrics
    (one worker's, when there are several)."""
    async with httpx.AsyncClient(base_url=base) as client:
        text_ = (await client.get("/metrics")).text
    found: dict[str, float] = {}
    for line in text_.splitlines():
        for metric in ("batch_size", "seconds"):
            for part in ("sum", "count"):
                prefix = f'lifeline_group_commit_{metric}_{part}{{name="order_intake"}} '
                if line.startswith(prefix):
                    found[f"{metric}_{part}"] = float(line[len(prefix):])
    batches = found.get("batch_size_count", 0.0)
    if not batches:
        return "group commit: no batches"
    return (f"group commit: {found['batch_size_sum'] / batches:.1f} orders per transaction, "
            f"{found['seconds_sum'] / batches * 1000:.1f} ms each, {batches:.0f} transactions")


def outbox_unsent(url: str) -> int:
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.connect() as connection:
            return int(connection.execute(
                text("SELECT count(*) FROM outbox WHERE sent_at IS NULL")).scalar_one())
    finally:
        engine.dispose()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", help="PostgreSQL URL (default: a SQLite file)")
    parser.add_argument("--duration", type=float, default=15.0, help="measured seconds")
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--rate", type=float, default=None,
                        help="open loop: orders/s offered whatever the answers (default: closed loop)")
    parser.add_argument("--concurrency", type=int, default=16,
                        help="concurrent clients (closed loop: latency ~ clients / throughput)")
    parser.add_argument("--households", type=int, default=4000)
    parser.add_argument("--workers", type=int, default=1,
                        help="uvicorn worker processes (each runs its own outbox relay)")
    parser.add_argument("--skip-bare", action="store_true")
    args = parser.parse_args()

    tag = uuid.uuid4().hex[:8]
    tmp = Path(tempfile.mkdtemp(prefix="lifeline-bench-"))
    broker = EmbeddedBroker(port=free_port(), log_path=tmp / "tansu.log")
    broker.start()
    cleanup_pg: str | None = None
    if args.database_url:
        db_url, cleanup_pg = postgres_schema(args.database_url, tag)
        label = "PostgreSQL"
    else:
        db_url = f"sqlite:///{tmp}/orders.db"
        label = "SQLite"
    settings = Settings(broker_url=broker.url, topic_prefix=f"bench{tag}.", var_dir=str(tmp))
    # The schema exists before the workers start: several workers creating it at once race.
    from services.orders.bootstrap import build_runtime

    runtime = build_runtime(settings.model_copy(update={"orders_database_url": db_url}))
    runtime.create_schema()
    runtime.engine.dispose()
    env = {
        "LIFELINE_DB_CREATE_ALL": "false",
        "LIFELINE_BROKER_URL": broker.url, "LIFELINE_TOPIC_PREFIX": settings.topic_prefix,
        "LIFELINE_ORDERS_DATABASE_URL": db_url, "LIFELINE_VAR_DIR": str(tmp),
        "LIFELINE_LOG_LEVEL": "WARNING", "LIFELINE_CONSUMER_GROUP_SUFFIX": f"-bench{tag}",
    }
    tokens = TokenService(settings.jwt_secret.get_secret_value(), issuer=settings.jwt_issuer)
    processes: list[subprocess.Popen[bytes]] = []
    results: list[Result] = []
    try:
        port = free_port()
        processes.append(uvicorn("services.orders.bootstrap:create_app", port, env, args.workers, True))
        base = f"http://127.0.0.1:{port}"
        await wait_ready(base, "/readyz")
        headers = await seed(base, settings, tokens, args.households)
        results.append(await load(f"orders ({label})", base, headers, args.concurrency,
                                  args.duration, args.warmup, processes[-1].pid, args.rate))
        drain_started = time.monotonic()
        while (pending := outbox_unsent(db_url)) > 0 and time.monotonic() - drain_started < 60:
            await asyncio.sleep(0.2)
        drained_s = time.monotonic() - drain_started
        batching = await group_commit_figures(base)
        stop(processes.pop())
        if not args.skip_bare:
            bare_port = free_port()
            processes.append(uvicorn("orders_intake:bare_app", bare_port, env, args.workers, False))
            bare_base = f"http://127.0.0.1:{bare_port}"
            await wait_ready(bare_base, "/docs")
            results.append(await load("bare FastAPI", bare_base, headers, args.concurrency,
                                      args.duration, args.warmup, processes[-1].pid, args.rate))
    finally:
        for process in processes:
            stop(process)
        broker.stop()
        if cleanup_pg:
            drop_postgres_schema(cleanup_pg, tag)
    clients = f"{args.rate:g} orders/s offered (open loop)" if args.rate else f"{args.concurrency} concurrent clients"
    print(f"\n{os.cpu_count()} CPUs, {clients}, {args.workers} "
          f"uvicorn worker(s), {args.duration:.0f} s measured after {args.warmup:.0f} s warm-up")
    for result in results:
        print(result.line())
    print(batching)
    print(f"outbox after the run: {pending} unsent, drained {drained_s:.1f} s after the load stopped")


if __name__ == "__main__":
    import uvloop

    uvloop.run(main())
