"""A cuttable TCP link, for outage tests: to the broker, or to PostgreSQL.

The embedded broker keeps its log in memory, so stopping its process also throws away what it
had acknowledged, which no production Kafka broker does (its log is on disk). To take the broker
away the way clients experience a real outage, the tests put this TCP relay between the clients
and the broker (the broker advertises the relay's port) and cut it: every open connection is
reset and new ones are refused until the link is restored. The broker keeps its log and the
consumer groups their committed offsets, as with a restarted Kafka broker.

Between a service and PostgreSQL the link breaks one connection at a chosen message
(``break_at``), e.g. right after a COMMIT went out: the ambiguous commit, where the client
cannot know whether the server committed.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from shared.messaging.broker import EmbeddedBroker, free_port


class TcpLink:
    def __init__(self, upstream_host: str, upstream_port: int, *, port: int | None = None):
        self.upstream = (upstream_host, upstream_port)
        self.port = port or free_port()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="broker-link", daemon=True)
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._muted = False
        self._break: tuple[bytes, bool] | None = None
        #: Connections broken by ``break_at`` so far.
        self.breaks = 0
        self._thread.start()

    @property
    def url(self) -> str:
        return f"127.0.0.1:{self.port}"

    def restore(self) -> None:
        """Accept connections again (the broker is back)."""
        self._call(self._listen())

    def cut(self) -> None:
        """Reset every connection and refuse new ones (the broker is gone)."""
        self._call(self._close_all())

    def mute_responses(self) -> None:
        """Requests still reach the broker, its answers are dropped (acks lost on the way back)."""
        self._muted = True

    def unmute_responses(self) -> None:
        """Answers flow again; connections that lost answers are reset so clients reconnect now."""
        self._call(self._reset_connections())
        self._muted = False

    def break_at(self, marker: bytes, *, deliver: bool) -> None:
        """The next client chunk holding ``marker`` reaches the server (``deliver``) or not,
        then that client's connection is reset and nothing more comes back on it. The
        server's side stays open, as in a network partition: whatever the server does
        with what it got, the client never hears."""
        self._break = (marker, deliver)

    @property
    def up(self) -> bool:
        return self._server is not None

    def close(self) -> None:
        self.cut()
        self._call(self._finish_relays())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    def _call(self, coroutine: Coroutine[Any, Any, None]) -> None:
        asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(10)

    async def _finish_relays(self) -> None:
        relays = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        for task in relays:
            task.cancel()
        await asyncio.gather(*relays, return_exceptions=True)

    async def _listen(self) -> None:
        if self._server is None:
            self._server = await asyncio.start_server(self._relay, "127.0.0.1", self.port, reuse_address=True)

    async def _reset_connections(self) -> None:
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    async def _close_all(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        await self._reset_connections()

    async def _relay(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        try:
            broker_reader, broker_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            client_writer.transport.abort()
            return
        self._writers.update((client_writer, broker_writer))
        await asyncio.gather(
            self._pipe(client_reader, broker_writer, client=client_writer),
            self._pipe(broker_reader, client_writer, answers=True),
        )

    async def _pipe(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *,
        answers: bool = False, client: asyncio.StreamWriter | None = None,
    ) -> None:
        broke = False
        try:
            while chunk := await reader.read(65536):
                if answers and self._muted:
                    continue
                if client is not None and self._break is not None and self._break[0] in chunk:
                    _marker, deliver = self._break
                    self._break, broke = None, True
                    self.breaks += 1
                    if deliver:
                        writer.write(chunk)
                        await writer.drain()
                    client.transport.abort()
                    return
                writer.write(chunk)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            if not broke:  # after a break the server's side stays open: it never hears the client went
                self._writers.discard(writer)
                writer.transport.abort()


def link_to_database(url: str) -> TcpLink:
    """A link (listening) to the server a database URL names."""
    server = make_url(url)
    link = TcpLink(server.host or "127.0.0.1", server.port or 5432)
    link.restore()
    return link


def through(link: TcpLink, url: str) -> str:
    """The database URL, reaching its server through ``link``."""
    return make_url(url).set(host="127.0.0.1", port=link.port).render_as_string(hide_password=False)


@contextlib.contextmanager
def broker_behind_link(log_path: Path | None = None) -> Iterator[tuple[EmbeddedBroker, TcpLink]]:
    """A fresh broker whose clients all go through a cuttable link (use ``link.url``)."""
    link_port = free_port()
    broker = EmbeddedBroker(port=free_port(), log_path=log_path, advertised_port=link_port)
    broker.start()
    link = TcpLink(broker.host, broker.port, port=link_port)
    link.restore()
    try:
        yield broker, link
    finally:
        link.close()
        broker.stop()
