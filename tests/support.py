"""Helpers for tests that use the real broker and real databases."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import DefaultPartitioner
from aiokafka.structs import RecordMetadata
from fastapi import FastAPI
from sqlalchemy import create_engine, text

from shared.auth import TokenService
from shared.events import topics
from shared.settings import Settings

TEST_DATABASE_URL = os.environ.get("LIFELINE_TEST_DATABASE_URL")
#: For tests of PostgreSQL-only behaviour: they run in the suite's PostgreSQL pass
#: (``.ci/run`` runs the suite on SQLite, then on PostgreSQL).
NEEDS_POSTGRES = pytest.mark.skipif(
    not TEST_DATABASE_URL,
    reason="PostgreSQL-only: runs when LIFELINE_TEST_DATABASE_URL is set (the suite's PostgreSQL pass)",
)


def database_url_for(service: str, tmp_path: Path, tag: str) -> str:
    """A fresh database per test and service: a SQLite file, or a PostgreSQL schema."""
    if not TEST_DATABASE_URL:
        return f"sqlite:///{tmp_path}/{service}.db"
    schema = f"t_{tag}_{service}"
    engine = create_engine(psycopg_url(TEST_DATABASE_URL))
    with engine.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
    engine.dispose()
    separator = "&" if "?" in TEST_DATABASE_URL else "?"
    return f"{psycopg_url(TEST_DATABASE_URL)}{separator}options=-csearch_path%3D{schema}"


def drop_schemas(tag: str) -> None:
    if not TEST_DATABASE_URL:
        return
    engine = create_engine(psycopg_url(TEST_DATABASE_URL))
    with engine.begin() as connection:
        for service in ("orders", "inventory", "routing", "toy"):
            connection.execute(text(f'DROP SCHEMA IF EXISTS "t_{tag}_{service}" CASCADE'))
    engine.dispose()


def psycopg_url(url: str) -> str:
    if url.startswith("postgresql://"):
        return "postgresql+psycopg://" + url[len("postgresql://"):]
    return url


def make_settings(broker_url: str, tmp_path: Path, **overrides: Any) -> tuple[Settings, str]:
    tag = uuid.uuid4().hex[:10]
    values: dict[str, Any] = {
        "mode": "test",
        "broker_url": broker_url,
        "topic_prefix": f"t{tag}.",
        "consumer_group_suffix": f"-{tag}",
        "var_dir": str(tmp_path),
        "outbox_poll_interval_s": 0.05,
        "orders_database_url": database_url_for("orders", tmp_path, tag),
        "inventory_database_url": database_url_for("inventory", tmp_path, tag),
        "routing_database_url": database_url_for("routing", tmp_path, tag),
    }
    if TEST_DATABASE_URL:
        # On PostgreSQL every schema is built the way production builds it: Alembic to head
        # (the version table lands in the test's own schema, first on its search_path).
        values.update(db_create_all=False, db_migrate_on_start=True)
    values.update(overrides)
    return Settings(**values), tag


async def eventually(
    check: Callable[[], Awaitable[Any]] | Callable[[], Any],
    *,
    timeout_s: float = 20.0,
    interval_s: float = 0.1,
    message: str = "condition not met",
) -> Any:
    """Poll until ``check`` returns a truthy value; the value is returned."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    last: Any = None
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        last = result
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{message} within {timeout_s}s (last: {last!r})")
        await asyncio.sleep(interval_s)


def partition_of(key: bytes, partitions: int) -> int:
    """The partition aiokafka's default partitioner (murmur2, as the Java client) picks for
    ``key`` on a topic of ``partitions`` partitions.

    For sentinels: an event produced after the candidate to the *same partition* is
    consumed after it, so once the sentinel's effect shows, the candidate was handled."""
    partition: int = DefaultPartitioner()(key, list(range(partitions)), [])
    return partition


def key_on_partition_of(key: str, partitions: int, prefix: str) -> str:
    """The first ``f"{prefix}{n}"`` that lands on the same partition as ``key``."""
    wanted = partition_of(key.encode(), partitions)
    return next(
        candidate for candidate in (f"{prefix}{n}" for n in range(1000))
        if partition_of(candidate.encode(), partitions) == wanted
    )


async def produce(
    settings: Settings, topic: str, messages: Sequence[tuple[bytes | None, bytes]]
) -> list[RecordMetadata]:
    """Send ``messages`` (key, value) to ``topic`` (unprefixed) in order, as peers do with
    aiokafka's partitioner, and wait until the broker acknowledged all of them."""
    producer = AIOKafkaProducer(bootstrap_servers=settings.broker_url, linger_ms=5)
    await producer.start()
    try:
        # Sent in order (per partition, the order of the calls), acknowledged together.
        futures = [await producer.send(settings.topic(topic), value, key=key) for key, value in messages]
        return list(await asyncio.gather(*futures))
    finally:
        await producer.stop()


async def produce_sentinel(
    settings: Settings, topic: str, key: bytes, value: bytes, *, after_key: bytes
) -> int:
    """Produce a sentinel record to ``topic`` (unprefixed) and check that it landed on the
    partition ``after_key`` goes to (aiokafka's partitioner, the one the tests' producers
    use): it is consumed after every record produced for ``after_key`` before it. Returns
    the partition."""
    [sent] = await produce(settings, topic, [(key, value)])
    partitions = next(spec.partitions for spec in topics.ALL_TOPICS if spec.name == topic)
    wanted = partition_of(after_key, partitions)
    assert sent.partition == wanted, (
        f"sentinel {key!r} went to partition {sent.partition}, {after_key!r} to {wanted}: "
        "it proves nothing about the events it should follow"
    )
    partition: int = sent.partition
    return partition


@contextlib.asynccontextmanager
async def running_service(
    name: str, settings: Settings
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    """Start a service app in-process (lifespan: schema, relay, consumer on the real broker)."""
    module = importlib.import_module(f"services.{name}.bootstrap")
    app: FastAPI = module.create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=f"http://{name}") as client:
            yield app, client


def tokens(settings: Settings) -> TokenService:
    return TokenService(settings.jwt_secret.get_secret_value(), issuer=settings.jwt_issuer)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
