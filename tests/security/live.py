"""A service environment served over real HTTP by uvicorn, on its own thread and loop.

The fuzzer (schemathesis, driven by Hypothesis) is synchronous and talks HTTP; the
service's lifespan (database, relay, consumer on the broker) must run on the loop that
serves its requests. So the whole environment, set-up included, lives on one thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractAsyncContextManager
from typing import Any

import uvicorn

from shared.messaging.broker import free_port
from shared.settings import Settings
from tests.security.environments import Env

EnvFactory = Callable[[Settings], AbstractAsyncContextManager[Env]]


@contextlib.contextmanager
def serving(factory: EnvFactory, settings: Settings, *, timeout_s: float = 120) -> Iterator[tuple[Env, str]]:
    """Yield the environment and its base URL; stop the server and the service after."""
    port = free_port()
    ready = threading.Event()
    state: dict[str, Any] = {}

    async def main() -> None:
        try:
            async with factory(settings) as env:
                server = uvicorn.Server(uvicorn.Config(
                    env.app, host="127.0.0.1", port=port, lifespan="off",  # the env runs it
                    log_level="warning", access_log=False,
                ))
                state.update(env=env, server=server)
                serve = asyncio.create_task(server.serve())
                while not server.started and not serve.done():
                    await asyncio.sleep(0.02)
                ready.set()
                await serve
        except BaseException as exc:
            state["error"] = exc
            raise
        finally:
            ready.set()

    thread = threading.Thread(target=lambda: asyncio.run(main()), name=f"live-{port}", daemon=True)
    thread.start()
    if not ready.wait(timeout_s):
        raise TimeoutError(f"service not serving within {timeout_s}s")
    if "error" in state or "server" not in state or not state["server"].started:
        raise RuntimeError("service did not start") from state.get("error")
    try:
        yield state["env"], f"http://127.0.0.1:{port}"
    finally:
        state["server"].should_exit = True
        thread.join(timeout_s)

