"""One asynchronous PostgreSQL connection for a writer that runs one transaction at a time.

The order intake's group commit (shared/group_commit.py) runs its batches on the event
loop. Through the synchronous driver the loop stood still for every round trip of a
batch (reads, writes, COMMIT), and at 500 orders/s it was busy 98 % of the time, so HTTP
requests queued behind the batches. Through psycopg's async connection the loop serves
HTTP while PostgreSQL answers. Statements are pipelined: a batch's reads travel in one
round trip, its writes in another.

A group commit writer runs one batch at a time, so one connection is all it needs, and
it is kept: no pool check-out per batch. A connection that broke is dropped, and the next
batch opens a new one.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from typing import Any

import psycopg
from sqlalchemy.engine import make_url


def libpq_url(url: str) -> str:
    """A SQLAlchemy PostgreSQL URL (any driver name) as libpq takes it."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


class PipelinedTransaction:
    def __init__(self, connection: psycopg.AsyncConnection[Any]) -> None:
        self._connection = connection

    @property
    def backend_pid(self) -> int:
        """The server process running this transaction (see ``end_backend``)."""
        return self._connection.info.backend_pid

    async def end_backend(self, pid: int, *, timeout_ms: int = 5000) -> bool:
        """Terminate another connection's server process and wait until it is gone; True
        once it is. Then whatever that connection had sent has taken its final effect: a
        COMMIT the server got has committed, one it did not get never will (its
        transaction rolled back), so reading the database tells which."""
        [_terminated], [[gone]] = await self.all_at_once([
            ("SELECT pg_terminate_backend(%s, %s)", [pid, timeout_ms]),
            ("SELECT NOT EXISTS (SELECT 1 FROM pg_stat_activity WHERE pid = %s)", [pid]),
        ])
        return bool(gone)

    async def all_at_once(self, queries: Sequence[tuple[str, Sequence[Any]]]) -> list[list[Any]]:
        """Run statements that return rows, in order, in one round trip."""
        cursors = [self._connection.cursor() for _ in queries]
        try:
            async with self._connection.pipeline():
                for cursor, (statement, params) in zip(cursors, queries, strict=True):
                    await cursor.execute(statement, params)
            return [list(await cursor.fetchall()) for cursor in cursors]
        finally:
            for cursor in cursors:
                await cursor.close()

    async def run_all(self, statements: Sequence[tuple[str, Sequence[Sequence[Any]]]]) -> None:
        """Run each statement once per row of parameters, all in one round trip."""
        async with self._connection.pipeline(), self._connection.cursor() as cursor:
            for statement, rows in statements:
                if rows:
                    await cursor.executemany(statement, rows)


class AsyncPostgres:
    def __init__(self, url: str, *, application_name: str) -> None:
        self._conninfo = libpq_url(url)
        # Named, so an operator (or a test) can find it in pg_stat_activity.
        self._application_name = application_name
        self._connection: psycopg.AsyncConnection[Any] | None = None

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[PipelinedTransaction]:
        """A transaction that commits when the block ends and rolls back if it raises."""
        connection = await self._connect()
        try:
            async with connection.transaction():
                yield PipelinedTransaction(connection)
        except BaseException:
            if connection.broken or connection.closed:
                self._connection = None
            raise

    async def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            await connection.close()

    async def _connect(self) -> psycopg.AsyncConnection[Any]:
        if self._connection is None or self._connection.closed:
            self._connection = await psycopg.AsyncConnection.connect(
                self._conninfo, application_name=self._application_name
            )
        return self._connection
