"""A served service keeps an idle connection longer than its clients' pools keep one.

At uvicorn's default of 5 s, server and httpx pool (also 5 s) time out together, and a request
sent on the connection the server is closing fails with a read error: a simulated morning once
lost a fault injection that way (CI, stop 28). ``lifeline serve`` passes ``http_keep_alive_s``.
"""

from __future__ import annotations

import http.client
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from shared.messaging.broker import EmbeddedBroker, free_port

IDLE_S = 6.0  # past uvicorn's default keep-alive and httpx's pool expiry


@pytest.fixture
def served_orders(broker: EmbeddedBroker, tmp_path: Path) -> Iterator[int]:
    port = free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith("LIFELINE_")}
    env.update({"LIFELINE_MODE": "development", "LIFELINE_BROKER_URL": broker.url,
                "LIFELINE_VAR_DIR": str(tmp_path), "LIFELINE_TOPIC_PREFIX": f"keepalive{port}."})
    with (tmp_path / "orders.log").open("wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "services.cli", "serve", "orders", "--port", str(port)],
                                   env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, (tmp_path / "orders.log").read_text()
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "orders did not come up"
            time.sleep(0.2)
        yield port
    finally:
        process.terminate()
        process.wait(20)


def test_an_idle_connection_outlives_the_clients_pool_expiry(served_orders: int) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", served_orders, timeout=10)
    try:
        connection.request("GET", "/healthz")
        assert connection.getresponse().read() == b'{"status":"ok"}'
        assert connection.sock is not None
        first = connection.sock.getsockname()
        time.sleep(IDLE_S)
        # Had the server hung up at 5 s, this would fail (RemoteDisconnected): http.client
        # reconnects only a connection it closed itself.
        connection.request("GET", "/healthz")
        assert connection.getresponse().read() == b'{"status":"ok"}'
        assert connection.sock.getsockname() == first, "the same connection served both"
    finally:
        connection.close()
