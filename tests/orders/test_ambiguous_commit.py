"""The ambiguous commit on PostgreSQL: the intake sent a batch's COMMIT and the connection
broke before the answer came. The batch may or may not have committed; the intake must
find out which from the database, so that every order answered as placed is in the
database once and published once, with or without an Idempotency-Key."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from services.orders.domain.commands import PlaceOrder
from services.orders.domain.model import Line
from services.orders.service_layer import handlers
from shared.auth import Principal
from shared.events import topics
from shared.pipelined import AsyncPostgres
from tests.orders.conftest import Orders, read_topic
from tests.support import NEEDS_POSTGRES
from tests.tcplink import link_to_database, through

#: The simple-query message psycopg sends when a transaction block ends.
COMMIT_MESSAGE = b"Q\x00\x00\x00\x0bCOMMIT\x00"


def place(household: str, sku: str, key: str | None) -> tuple[PlaceOrder, Principal]:
    command = PlaceOrder(
        caller=f"resident:{household}", household_id=household, lines=(Line(sku, 1),),
        contactless=True, note=None, idempotency_key=key, request_fingerprint=f"{household}{sku}",
    )
    return command, Principal(subject=household, role="resident")


@NEEDS_POSTGRES
@pytest.mark.parametrize("lost", ["the answer to COMMIT", "COMMIT itself"])
async def test_a_batch_whose_commit_went_unanswered_is_placed_exactly_once(orders: Orders, lost: str) -> None:
    runtime = orders.app.state.runtime
    database_url = orders.settings.database_url("orders")
    link = link_to_database(database_url)
    postgres = AsyncPostgres(through(link, database_url), application_name="lifeline-orders-intake-under-test")
    placement = handlers.OrderPlacement(
        runtime.uow, outbox_format=runtime.outbox_format, rate_per_minute=100, postgres=postgres,
        on_published=runtime.relay.notify)
    try:
        link.break_at(COMMIT_MESSAGE, deliver=lost == "the answer to COMMIT")
        outcomes = await placement([
            place("H-A", "VEG-BOX", key=None), place("H-B", "MILK-1L", key="retry-me"),
            place("H-X", "VEG-BOX", key=None),
        ])
    finally:
        await postgres.close()
        link.close()

    assert link.breaks == 1, "the link broke the intake's connection at its COMMIT"
    assert not any(isinstance(outcome, Exception) for outcome in outcomes), outcomes
    answered = sorted(outcome[0].order.id for outcome in outcomes if not isinstance(outcome, Exception))
    with runtime.engine.connect() as connection:
        stored = sorted(connection.execute(text("SELECT id FROM orders")).scalars())
        households = sorted(connection.execute(text("SELECT household_id FROM orders")).scalars())
    assert stored == answered, "each order answered as placed is stored, once"
    assert households == ["H-A", "H-B", "H-X"]
    published = await read_topic(orders.settings, topics.ORDERS.name, expected=4, timeout_s=5)
    assert sorted(event.data["order_id"] for event in published) == answered, "and published once"
