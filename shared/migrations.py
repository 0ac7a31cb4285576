"""Alembic migrations: one environment per service, each with its own version table.

Each service keeps its environment in ``services/<service>/migrations`` (``env.py`` calls
:func:`run_environment` with the service's metadata, ``versions/`` holds the revisions).
Nothing needs an ``alembic.ini``: :func:`alembic_config` builds the configuration in code,
so ``lifeline migrate``, the services' start-up and the tests share one path. The version
table is ``alembic_version_<service>`` in the connection's current schema (PostgreSQL's
``search_path``), so several services, or several test runs, can share a database.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator
from typing import Any, Literal

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import Engine, MetaData, text

from shared.db import make_engine
from shared.settings import ServiceName, Settings

log = logging.getLogger(__name__)

SERVICES: tuple[ServiceName, ...] = ("orders", "inventory", "routing")

SchemaStatus = Literal["current", "empty", "behind", "newer"]

# Alembic's ``context`` is process-global: one migration run at a time per process.
_lock = threading.RLock()

Target = Engine | Settings | str


def version_table(service: str) -> str:
    return f"alembic_version_{service}"


def alembic_config(service: str, engine: Engine | None = None) -> Config:
    """The Alembic configuration of one service; ``engine`` is handed to its ``env.py``."""
    config = Config()
    config.set_main_option("script_location", f"services.{service}:migrations")
    config.attributes["service"] = service
    if engine is not None:
        config.attributes["engine"] = engine
    return config


def script_directory(service: str) -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config(service))


def code_heads(service: str) -> tuple[str, ...]:
    """The head revision(s) this code expects its database to be at."""
    return tuple(script_directory(service).get_heads())


@contextlib.contextmanager
def _engine_for(service: ServiceName, target: Target) -> Iterator[Engine]:
    if isinstance(target, Engine):
        yield target
        return
    url = target.database_url(service) if isinstance(target, Settings) else target
    engine = make_engine(url, pool_size=1, max_overflow=0)
    try:
        yield engine
    finally:
        engine.dispose()


def current_heads(service: ServiceName, target: Target) -> tuple[str, ...]:
    """The revision(s) recorded in the service's version table (empty: never migrated)."""
    with _engine_for(service, target) as engine, engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"version_table": version_table(service)})
        return tuple(context.get_current_heads())


def schema_status(service: ServiceName, target: Target) -> SchemaStatus:
    """``current`` (at head), ``empty`` (never migrated), ``behind`` (``lifeline migrate``
    would upgrade it) or ``newer`` (migrated by a newer release than this code)."""
    current = current_heads(service, target)
    if not current:
        return "empty"
    script = script_directory(service)
    if set(current) == set(script.get_heads()):
        return "current"
    try:
        script.get_revisions(current)
    except CommandError:
        return "newer"
    return "behind"


def upgrade_to_head(service: ServiceName, target: Target) -> tuple[str, ...]:
    """Migrate one service's database to this code's head; returns the revision(s) after.

    A database already migrated by a newer release (a revision this code does not know)
    is left alone with a warning: during a rolling upgrade the old replicas keep running
    against the new, backward-compatible schema.
    """
    with _engine_for(service, target) as engine:
        before = current_heads(service, engine)
        if schema_status(service, engine) == "newer":
            log.warning(
                "%s database is at %s, newer than this release knows (%s); not migrating",
                service, ", ".join(before), ", ".join(code_heads(service)),
            )
            return before
        with _lock:
            command.upgrade(alembic_config(service, engine), "head")
        after = current_heads(service, engine)
        if after != before:
            log.info("%s database migrated from %s to %s", service, ", ".join(before) or "empty", ", ".join(after))
        return after


def downgrade(service: ServiceName, target: Target, revision: str = "base") -> tuple[str, ...]:
    with _engine_for(service, target) as engine:
        with _lock:
            command.downgrade(alembic_config(service, engine), revision)
        return current_heads(service, engine)


def stamp(service: ServiceName, target: Target, revision: str = "head") -> None:
    """Record ``revision`` without running anything (a schema that create_all built)."""
    with _engine_for(service, target) as engine, _lock:
        command.stamp(alembic_config(service, engine), revision)


def run_environment(metadata: MetaData) -> None:
    """The body of every service's ``env.py``: run Alembic's context with ``metadata``."""
    from alembic import context

    config = context.config
    service: str | None = config.attributes.get("service") or config.get_main_option("lifeline_service")
    if service not in SERVICES:
        raise RuntimeError(f"unknown service {service!r} for migrations")
    options: dict[str, Any] = {
        "target_metadata": metadata,
        "version_table": version_table(service),
        "render_as_batch": True,  # SQLite alters tables by copy-and-move
        "compare_type": True,
        "render_item": _render_item,
    }
    engine: Engine | None = config.attributes.get("engine")
    if context.is_offline_mode():
        url = config.get_main_option("sqlalchemy.url") or Settings().database_url(service)  # type: ignore[arg-type]
        context.configure(url=url, literal_binds=True, **options)
        with context.begin_transaction():
            context.run_migrations()
        return
    owned = engine is None
    if engine is None:  # plain ``alembic -c services/<service>/migrations/alembic.ini ...``
        engine = make_engine(Settings().database_url(service), pool_size=1, max_overflow=0)  # type: ignore[arg-type]
    try:
        with engine.connect() as connection, _sqlite_foreign_keys_off(connection), connection.begin():
            if connection.dialect.name == "postgresql":
                # Replicas starting together migrate one at a time; the others then find
                # the schema at head. Keyed by schema, so test schemas don't wait.
                connection.execute(
                    text("SELECT pg_advisory_xact_lock(hashtext(current_schema() || '.' || :table))"),
                    {"table": version_table(service)},
                )
            context.configure(connection=connection, **options)
            with context.begin_transaction():
                context.run_migrations()
    finally:
        if owned:
            engine.dispose()


@contextlib.contextmanager
def _sqlite_foreign_keys_off(connection: Any) -> Iterator[None]:
    """SQLite batch migrations copy and drop tables; foreign keys must be off meanwhile,
    and that PRAGMA is ignored inside a transaction, so set it before BEGIN."""
    if connection.dialect.name != "sqlite":
        yield
        return
    raw = connection.connection.driver_connection
    raw.execute("PRAGMA foreign_keys=OFF")
    try:
        yield
    finally:
        raw.execute("PRAGMA foreign_keys=ON")


def _render_item(type_: str, obj: Any, autogen_context: Any) -> str | Literal[False]:
    """Render SQLModel's ``AutoString`` as plain ``sa.String``: revisions must not depend on
    the ORM library's private types."""
    from sqlmodel.sql.sqltypes import AutoString

    if type_ == "type" and isinstance(obj, AutoString):
        return f"sa.String(length={obj.length})" if obj.length else "sa.String()"
    return False
