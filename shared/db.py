"""Engines for SQLite (WAL, the embedded default) and PostgreSQL (production)."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any

import psycopg
import sqlalchemy.exc
from sqlalchemy import DateTime, Dialect, Engine, MetaData, Table, TypeDecorator, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session, SQLModel

from shared.clock import as_utc


class UtcTimestamp(TypeDecorator[datetime]):
    """An aware datetime stored as UTC and read back aware on every database.

    SQLite keeps no offset: a ``+08:00`` value would come back as the same wall time, naive,
    and then be taken for UTC, eight hours off. Converting on the way in makes the stored
    value mean one instant everywhere."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None or value.tzinfo is None:
            return value  # naive values are UTC by this codebase's convention
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return as_utc(value)


def core_table(model: type[SQLModel]) -> Table:
    """The Core table of a SQLModel class, typed for Core statements (the model's
    attributes are typed for Python, its table's columns for SQLAlchemy)."""
    table = model.__table__  # type: ignore[attr-defined]
    assert isinstance(table, Table)
    return table


#: Errors that say the database could not be reached or dropped the connection (a restart,
#: a cut network, a terminated backend, SQLite's lock wait given up): the same work can
#: succeed later, and it is not the request's or the event's fault. The transaction was
#: rolled back, unless the connection broke during COMMIT (then only the database knows).
DATABASE_UNAVAILABLE: tuple[type[Exception], ...] = (
    sqlalchemy.exc.OperationalError, sqlalchemy.exc.InterfaceError, psycopg.OperationalError,
    psycopg.InterfaceError,
)


def database_unavailable(exc: BaseException) -> bool:
    return isinstance(exc, DATABASE_UNAVAILABLE) or (
        isinstance(exc, sqlalchemy.exc.DBAPIError) and exc.connection_invalidated
    )


def make_engine(
    url: str, *, pool_size: int = 40, max_overflow: int = 10, pre_ping: bool = False, recycle_s: int = 1800,
    application_name: str | None = None,
) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            os.makedirs(os.path.dirname(os.path.abspath(parsed.database)), exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        _configure_sqlite(engine)
        return engine
    if parsed.drivername == "postgresql":
        url = str(parsed.set(drivername="postgresql+psycopg"))
    # LIFO: the connections in use stay few and warm (psycopg prepares a statement run
    # often on each connection); the rest idle until recycled.
    # Named, so an operator (or a fault test) finds a service's backends in pg_stat_activity.
    connect_args = {"application_name": application_name} if application_name else {}
    return create_engine(
        url, pool_size=pool_size, max_overflow=max_overflow, pool_pre_ping=pre_ping,
        pool_recycle=recycle_s, pool_use_lifo=True, connect_args=connect_args,
    )


def _configure_sqlite(engine: Engine) -> None:
    # pysqlite's own transaction handling defers BEGIN and breaks SAVEPOINT; take it over
    # (SQLAlchemy's documented recipe) and begin IMMEDIATE so that writers queue on the
    # database lock instead of failing a read-to-write upgrade with "database is locked".
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, class_=Session, expire_on_commit=False)


def ping(engine: Engine) -> bool:
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        return True
    except Exception:
        return False


def create_schema(engine: Engine, metadata: MetaData) -> None:
    metadata.create_all(engine)
