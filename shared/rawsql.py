"""Hot-path statements on the DB-API cursor of a unit of work's own connection.

Through SQLAlchemy's statement building, cache keys and coercions a statement costs
60-300 us of CPU; through the driver's cursor 3-20 us. The services' hottest paths
(order intake, status facts, reservations, the routing demand model) therefore send
their few statements here, on the session's connection and inside its transaction, so
atomicity is unchanged. Values are stored exactly as the SQLAlchemy column types store
them, so the ORM reads them back as usual: on SQLite datetimes as
'YYYY-MM-DD HH:MM:SS.ffffff' in UTC (aware values converted, naive ones taken as UTC),
JSON as text and booleans as 0/1; PostgreSQL gets native types. Statements are written
with ``?`` placeholders and translated for psycopg.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from shared.clock import as_utc


def is_integrity_error(exc: BaseException) -> bool:
    # sqlite3.IntegrityError and psycopg.IntegrityError (and its subclasses such as
    # UniqueViolation) share the DB-API name, not a base class.
    return any(cls.__name__ == "IntegrityError" for cls in type(exc).__mro__)


class StatementText:
    """How statements and values are written for one database: SQLite or PostgreSQL."""

    def __init__(self, *, sqlite: bool) -> None:
        self._sqlite = sqlite
        if not sqlite:
            from psycopg.types.json import Json

            self._json_type = Json

    # -- how values are stored -------------------------------------------------------------

    def _sql(self, statement: str) -> str:
        return statement if self._sqlite else statement.replace("?", "%s")

    def _time(self, value: datetime | None) -> Any:
        if value is None:
            return None
        if value.tzinfo is not None:
            value = value.astimezone(UTC)
        return value.strftime("%Y-%m-%d %H:%M:%S.%f") if self._sqlite else value

    @staticmethod
    def _read_time(value: Any) -> datetime:
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        assert isinstance(value, datetime)
        return as_utc(value)

    def _in(self, values: Sequence[Any], *, negate: bool = False) -> tuple[str, list[Any]]:
        """``IN (?, ...)`` over ``values`` (``NOT IN`` with ``negate``) and its parameters. On
        PostgreSQL ``= ANY(?)`` with one array: the statement reads the same whatever the
        number of values, so psycopg converts it once and the server prepares it once."""
        if self._sqlite:
            marks = ", ".join("?" * len(values))
            return f"{'NOT IN' if negate else 'IN'} ({marks})", list(values)
        return ("<> ALL(?)" if negate else "= ANY(?)"), [list(values)]

    def _json(self, value: Any) -> Any:
        return json.dumps(value) if self._sqlite else self._json_type(value)

    @staticmethod
    def _read_json(value: Any) -> Any:
        return json.loads(value) if isinstance(value, str) else value

    def _bool(self, value: bool) -> Any:
        return int(value) if self._sqlite else value

class DriverStatements(StatementText):
    #: Keep the DB-API connection found at the start instead of asking the session before
    #: every statement (a measurable share of a request): right for stores whose unit of work
    #: opens no savepoint around them, as order intake.
    keeps_connection = False

    def __init__(self, session: Session) -> None:
        self._session = session
        self._connection = session.connection()  # begins the transaction (BEGIN IMMEDIATE on SQLite)
        self._kept: Any = self._connection.connection.driver_connection if self.keeps_connection else None
        super().__init__(sqlite=self._connection.dialect.name == "sqlite")

    @property
    def usable(self) -> bool:
        """False once the session's transaction ended (commit or rollback closes the
        connection it used; the next transaction may get another one)."""
        return not self._connection.closed

    def _dbapi(self) -> Any:
        if self._kept is not None:
            return self._kept
        # Asked of the session each time: SQLAlchemy opens a savepoint begun with
        # begin_nested() only when the connection is next asked for.
        return self._session.connection().connection.driver_connection

    # -- running statements ----------------------------------------------------------------

    def _all(self, statement: str, params: Sequence[Any]) -> list[Any]:
        cursor = self._dbapi().cursor()
        try:
            cursor.execute(self._sql(statement), params)
            return list(cursor.fetchall())
        except Exception as exc:
            _raise_as_sqlalchemy(exc, statement, params)
            raise
        finally:
            cursor.close()

    def _run(self, statement: str, params: Sequence[Any], many: bool = False) -> int:
        cursor = self._dbapi().cursor()
        try:
            if many:
                cursor.executemany(self._sql(statement), params)
            else:
                cursor.execute(self._sql(statement), params)
            return int(cursor.rowcount)
        except Exception as exc:
            _raise_as_sqlalchemy(exc, statement, params)
            raise
        finally:
            cursor.close()

    def _all_at_once(self, queries: Sequence[tuple[str, Sequence[Any]]]) -> list[list[Any]]:
        """Run read statements in order; on PostgreSQL in one pipeline (one round trip)."""
        if self._sqlite:
            return [self._all(statement, params) for statement, params in queries]
        dbapi = self._dbapi()
        cursors = [dbapi.cursor() for _ in queries]
        try:
            with dbapi.pipeline():
                for cursor, (statement, params) in zip(cursors, queries, strict=True):
                    cursor.execute(self._sql(statement), params)
            return [list(cursor.fetchall()) for cursor in cursors]
        finally:
            for cursor in cursors:
                cursor.close()

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """On PostgreSQL, send the statements inside as one pipeline (one round trip
        instead of one each); errors surface when it ends. SQLite runs them as usual."""
        if self._sqlite:
            yield
            return
        try:
            with self._dbapi().pipeline():
                yield
        except Exception as exc:
            _raise_as_sqlalchemy(exc, "pipelined statements", None)
            raise


def _raise_as_sqlalchemy(exc: Exception, statement: str, params: Any) -> None:
    # Callers handle constraint clashes (a concurrent idempotent retry) the same whether
    # the statement went through SQLAlchemy or not.
    if is_integrity_error(exc) and not isinstance(exc, IntegrityError):
        raise IntegrityError(statement, params, exc) from exc
