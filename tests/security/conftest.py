"""Security tests share one running service per module (not per test): the matrix and
the fuzzers send hundreds of requests, each of them cheap, to one world set up once."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from shared.messaging.broker import EmbeddedBroker
from shared.settings import Settings
from tests.security.environments import Env, inventory_env, orders_env, routing_env
from tests.support import drop_schemas, make_settings


@pytest.fixture(scope="module")
def module_settings(
    broker: EmbeddedBroker, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[Settings]:
    """Settings for one module; a module may set SETTINGS_OVERRIDES (e.g. a low rate limit)."""
    overrides = getattr(request.module, "SETTINGS_OVERRIDES", {})
    value, tag = make_settings(broker.url, tmp_path_factory.mktemp("security"), **overrides)
    yield value
    drop_schemas(tag)


@pytest.fixture(scope="module")
async def orders(module_settings: Settings) -> AsyncIterator[Env]:
    async with orders_env(module_settings) as env:
        yield env


@pytest.fixture(scope="module")
async def inventory(module_settings: Settings) -> AsyncIterator[Env]:
    async with inventory_env(module_settings) as env:
        yield env


@pytest.fixture(scope="module")
async def routing(module_settings: Settings) -> AsyncIterator[Env]:
    async with routing_env(module_settings) as env:
        yield env
