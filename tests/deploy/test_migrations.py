"""Alembic migrations build exactly the models' schema, on SQLite and on PostgreSQL.

Each service's revisions are applied to an empty database (a SQLite file, and a fresh
PostgreSQL schema when LIFELINE_TEST_DATABASE_URL is set), then Alembic's autogenerate
comparison against the service's metadata must find nothing to do; downgrading to base
and upgrading again must get back to the same place.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, MetaData, create_engine, inspect, text

from services.inventory.adapters.orm import InventoryTable
from services.orders.adapters.orm import OrdersTable
from services.routing.adapters.orm import RoutingTable
from shared import migrations
from shared.db import make_engine
from shared.settings import DEV_JWT_SECRET, ServiceName, Settings, get_settings
from tests.support import NEEDS_POSTGRES, TEST_DATABASE_URL

METADATA: dict[ServiceName, MetaData] = {
    "orders": OrdersTable.metadata,
    "inventory": InventoryTable.metadata,
    "routing": RoutingTable.metadata,
}


def _psycopg(url: str) -> str:
    return url.replace("postgresql://", "postgresql+psycopg://", 1)


@pytest.fixture
def pg_schema_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL schema, first on the connection's search_path."""
    assert TEST_DATABASE_URL, "only for tests marked NEEDS_POSTGRES"
    schema = f"mig_{uuid.uuid4().hex[:10]}"
    admin = create_engine(_psycopg(TEST_DATABASE_URL))
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in TEST_DATABASE_URL else "?"
    try:
        yield f"{_psycopg(TEST_DATABASE_URL)}{separator}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=NEEDS_POSTGRES)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/empty.db"
    url: str = request.getfixturevalue("pg_schema_url")
    return url


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    value = make_engine(database_url, pool_size=2, max_overflow=0)
    yield value
    value.dispose()


def schema_diff(service: ServiceName, engine: Engine) -> list[object]:
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "version_table": migrations.version_table(service)}
        )
        return list(compare_metadata(context, METADATA[service]))


def table_names(engine: Engine) -> set[str]:
    return set(inspect(engine).get_table_names())


@pytest.mark.parametrize("service", migrations.SERVICES)
def test_migrations_build_exactly_the_models(service: ServiceName, engine: Engine) -> None:
    assert table_names(engine) == set()
    assert migrations.schema_status(service, engine) == "empty"

    heads = migrations.upgrade_to_head(service, engine)

    assert heads == migrations.code_heads(service)
    assert migrations.schema_status(service, engine) == "current"
    assert table_names(engine) == set(METADATA[service].tables) | {f"alembic_version_{service}"}
    assert schema_diff(service, engine) == []
    # Upgrading a database at head changes nothing.
    assert migrations.upgrade_to_head(service, engine) == heads


@pytest.mark.parametrize("service", migrations.SERVICES)
def test_downgrade_to_base_then_upgrade_again(service: ServiceName, engine: Engine) -> None:
    migrations.upgrade_to_head(service, engine)

    assert migrations.downgrade(service, engine, "base") == ()
    assert table_names(engine) == {f"alembic_version_{service}"}
    assert migrations.schema_status(service, engine) == "empty"

    migrations.upgrade_to_head(service, engine)
    assert schema_diff(service, engine) == []


def test_services_share_a_database_without_sharing_a_version_table(engine: Engine) -> None:
    """Each service has its own version table, so their histories never mix."""
    migrations.upgrade_to_head("orders", engine)
    assert migrations.schema_status("inventory", engine) == "empty"
    assert migrations.current_heads("orders", engine) == migrations.code_heads("orders")


def test_a_database_migrated_by_a_newer_release_is_left_alone(engine: Engine) -> None:
    """Old replicas still running during a rolling upgrade must not crash on start."""
    migrations.upgrade_to_head("orders", engine)
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version_orders SET version_num = 'f00dcafe9999'"))

    assert migrations.schema_status("orders", engine) == "newer"
    assert migrations.upgrade_to_head("orders", engine) == ("f00dcafe9999",)


def test_the_runtime_migrates_on_start_or_refuses_an_old_schema(database_url: str, tmp_path: Path) -> None:
    from services.orders.bootstrap import build_runtime

    production = Settings(mode="production", jwt_secret="a-production-secret-of-enough-length-0123456789",
                          var_dir=str(tmp_path), orders_database_url=database_url)
    assert (production.db_create_all, production.db_migrate_on_start) == (False, True)

    verify_only = build_runtime(production.model_copy(update={"db_migrate_on_start": False}))
    runtime = build_runtime(production)
    try:
        with pytest.raises(RuntimeError, match="lifeline migrate --service orders"):
            verify_only.check_schema()
        runtime.create_schema()
        assert migrations.schema_status("orders", runtime.engine) == "current"
        verify_only.check_schema()  # the other replica now finds the schema at head
    finally:
        runtime.engine.dispose()
        verify_only.engine.dispose()


def test_production_refuses_create_all_even_when_asked() -> None:
    with pytest.raises(ValueError, match="LIFELINE_DB_CREATE_ALL"):
        Settings(mode="production", jwt_secret="a-production-secret-of-enough-length-0123456789",
                 db_create_all=True)
    development = Settings(jwt_secret=DEV_JWT_SECRET)
    assert (development.db_create_all, development.db_migrate_on_start) == (True, False)


def test_lifeline_migrate_migrates_every_service(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from services.cli import main

    for service in migrations.SERVICES:
        monkeypatch.setenv(f"LIFELINE_{service.upper()}_DATABASE_URL", f"sqlite:///{tmp_path}/{service}.db")
    get_settings.cache_clear()
    try:
        assert main(["migrate", "--service", "all"]) == 0
        settings = get_settings()
        for service in migrations.SERVICES:
            assert migrations.schema_status(service, settings) == "current"
    finally:
        get_settings.cache_clear()


@NEEDS_POSTGRES
def test_replicas_migrating_at_once_take_turns(pg_schema_url: str) -> None:
    """Two processes upgrading one PostgreSQL schema together: both succeed (advisory lock)."""
    env = {**os.environ, "LIFELINE_ORDERS_DATABASE_URL": pg_schema_url, "LIFELINE_LOG_LEVEL": "WARNING"}
    command = [sys.executable, "-m", "services.cli", "migrate", "--service", "orders"]
    processes = [subprocess.Popen(command, env=env, stderr=subprocess.PIPE) for _ in range(2)]
    for process in processes:
        _, stderr = process.communicate(timeout=120)
        assert process.returncode == 0, stderr.decode()
    assert migrations.schema_status("orders", pg_schema_url) == "current"
