"""Typed settings read from the environment (``LIFELINE_`` prefix) or a ``.env`` file."""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_JWT_SECRET = "lifeline-development-secret-change-me-0123456789"

ServiceName = Literal["orders", "inventory", "routing"]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LIFELINE_", env_file=".env", extra="ignore")

    mode: Literal["development", "production", "test"] = "development"
    var_dir: str = "var"

    # Kafka
    broker_url: str = "127.0.0.1:9092"
    topic_prefix: str = ""
    kafka_acks: Literal["all", "1", "0"] = "all"
    # Off for the embedded Tansu broker (it rejects InitProducerId); on for Apache Kafka.
    kafka_idempotence: bool = False
    # Replication factor ``lifeline topics`` creates topics with (3 on a production cluster).
    kafka_replication_factor: int = 1
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    kafka_sasl_mechanism: str | None = None
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_ssl_cafile: str | None = None
    consumer_group_suffix: str = ""

    # Databases: one per service.
    orders_database_url: str | None = None
    inventory_database_url: str | None = None
    routing_database_url: str | None = None
    # Connections kept open per process: at least the HTTP thread pool's concurrency, since a
    # connection opened past the pool is closed again after one transaction, and a new
    # PostgreSQL connection costs a backend process (milliseconds of server CPU).
    db_pool_size: int = 40
    db_max_overflow: int = 10
    # A round trip before every transaction to find connections the server dropped. Off by
    # default: a dropped connection fails one transaction and the pool then reconnects all.
    db_pool_pre_ping: bool = False
    db_pool_recycle_s: int = 1800
    # Schema: create_all (development and tests on SQLite) or Alembic migrations to head at
    # start (shared/migrations.py). In production create_all defaults to off and is refused,
    # and migrating at start defaults to on; with it off, a service refuses to start on a
    # database older than its code (run ``lifeline migrate`` first).
    db_create_all: bool = True
    db_migrate_on_start: bool = False

    # HTTP
    orders_port: int = 8001
    inventory_port: int = 8002
    routing_port: int = 8003
    max_body_bytes: int = 1_000_000
    # How long a server keeps an idle connection open. Longer than any client's pool keeps one
    # (httpx: 5 s, proxies: about 60 s): at uvicorn's 5 s both ends time out together, and a
    # request sent on a connection the server is closing fails with a read error.
    http_keep_alive_s: int = Field(default=75, ge=1)

    # Security
    jwt_secret: SecretStr = SecretStr(DEV_JWT_SECRET)
    jwt_algorithm: str = "HS256"
    jwt_issuer: str = "lifeline"
    order_rate_per_minute: int = 30
    #: Most orders placed in one transaction (shared/group_commit.py).
    order_intake_max_batch: int = Field(default=64, ge=1, le=1000)
    #: Who inventory serves first when stock is short: priority groups, or "fcfs" (the simulator's baseline).
    allocation_policy: Literal["priority", "fcfs"] = "priority"

    # The city's clock: receiving windows and shifts are local times.
    city_timezone: str = "Asia/Shanghai"
    max_solve_time_s: float = 600
    #: The service clock (shared/clock.py): unset, the wall clock. Set, a simulated clock
    #: that reads ``clock_start`` at the wall instant ``clock_anchor`` (Unix seconds) and runs
    #: ``clock_speed`` times as fast; every process of one simulation gets the same three.
    clock_start: datetime | None = None
    clock_anchor: float | None = None
    clock_speed: float = Field(default=1.0, gt=0, le=100_000)
    #: A reproducible simulation's stepped clock (shared/stepped_clock.py): time moves only
    #: when its conductor writes this file, with every process at rest.
    clock_file: Path | None = None
    #: Seeds the random part of ids (orders, plans), so that a reproducible simulation
    #: names things alike in every run; unset, ids come from the operating system.
    id_seed: int | None = None

    # Routing's operations loop (services/routing/service_layer/operations.py): on in
    # ``make run`` and simulations, off by default (tests that want it turn it on).
    operations_enabled: bool = False
    #: continuous: re-plan today from now on a cadence and for urgent orders (Lifeline);
    #: day_ahead: one plan per depot for the next day at a fixed hour (the baseline).
    operations_policy: Literal["continuous", "day_ahead"] = "continuous"
    operations_cadence_min: float = Field(default=15, gt=0, le=24 * 60)
    operations_time_limit_s: float = Field(default=2, gt=0, le=600)
    #: Set, the loop's solves stop after this many solver iterations instead of by the clock,
    #: so that a simulation replays the same plans however loaded the machine is (reproducible
    #: simulations); ``operations_time_limit_s`` is then only a safety cap - keep it well above
    #: what the iterations take. Unset, the solves are time-limited (the best plan in the time).
    operations_iterations: int | None = Field(default=None, ge=1)
    operations_auto_dispatch: bool = True
    operations_day_ahead_at: str = Field(default="18:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    osrm_url: str | None = None

    # Outbox relay
    outbox_batch_size: int = 500
    outbox_poll_interval_s: float = 0.2
    #: After a commit wakes the relay, wait this long for more commits to publish with it
    #: (Kafka producers' linger.ms, one level up): under load one read of the outbox and one
    #: mark-sent cover many transactions instead of one each.
    outbox_linger_s: float = Field(default=0.005, ge=0, le=1)

    @model_validator(mode="after")
    def _production_rules(self) -> Settings:
        if self.mode == "production":
            if self.jwt_secret.get_secret_value() == DEV_JWT_SECRET:
                raise ValueError("LIFELINE_JWT_SECRET must be set in production mode")
            # Production defaults: migrations, never create_all (an explicit true is refused).
            if "db_create_all" not in self.model_fields_set:
                self.db_create_all = False
            if "db_migrate_on_start" not in self.model_fields_set:
                self.db_migrate_on_start = True
            if self.db_create_all:
                raise ValueError("LIFELINE_DB_CREATE_ALL must be false in production (use migrations)")
        return self

    def database_url(self, service: ServiceName) -> str:
        url: str | None = getattr(self, f"{service}_database_url")
        return url or f"sqlite:///{self.var_dir}/{service}.db"

    def port(self, service: ServiceName) -> int:
        port: int = getattr(self, f"{service}_port")
        return port

    def topic(self, name: str) -> str:
        return f"{self.topic_prefix}{name}"

    def group_id(self, service: ServiceName) -> str:
        return f"lifeline-{service}{self.consumer_group_suffix}"


@lru_cache
def get_settings() -> Settings:
    return Settings()
