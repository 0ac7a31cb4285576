from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.messaging.broker import EmbeddedBroker, free_port
from shared.settings import Settings
from tests.support import drop_schemas, make_settings


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedBroker]:
    """One real Tansu broker process for the session; tests isolate by topic prefix."""
    log_path = Path(tmp_path_factory.mktemp("broker")) / "tansu.log"
    embedded = EmbeddedBroker(port=free_port(), log_path=log_path)
    embedded.start()
    os.environ["LIFELINE_TEST_BROKER_URL"] = embedded.url
    yield embedded
    embedded.stop()


@pytest.fixture
def settings(broker: EmbeddedBroker, tmp_path: Path) -> Iterator[Settings]:
    value, tag = make_settings(broker.url, tmp_path)
    yield value
    drop_schemas(tag)
