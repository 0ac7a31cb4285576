"""Never oversold: 1,000 orders compete for 100 units across two inventory instances in
one consumer group (two ConsumerRunners, six partitions, one database)."""

from __future__ import annotations

import random
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from services.inventory.adapters.orm import allocation_lines_t, allocations_t, ledger_t, stock_t
from shared.db import make_engine
from shared.settings import Settings
from tests.inventory.helpers import (
    define_city,
    placed,
    post_stock,
    produce_payloads,
    stock_event,
)
from tests.inventory.test_reservations import scheduled
from tests.support import eventually, running_service

ORDERS = 1000
FIRST, SECOND = 50, 50
RANKS = {"medical": 0, "vulnerable": 1, "standard": 2}


@pytest.mark.slow
async def test_thousand_orders_for_a_hundred_units(settings: Settings) -> None:
    engine = make_engine(settings.database_url("inventory"))
    rng = random.Random(7)
    t0 = datetime.now(UTC) - timedelta(hours=2)
    orders = [
        placed(
            f"O-{i:04d}", {"INSULIN": 1},
            priority=rng.choice(["medical", "vulnerable", "standard", "standard"]),
            placed_at=t0 + timedelta(seconds=i),
        )
        for i in range(ORDERS)
    ]

    def counts() -> dict[str, int]:
        with engine.connect() as c:
            return {r[0]: r[1] for r in c.execute(
                select(allocations_t.c.status, func.count()).group_by(allocations_t.c.status)
            )}

    def statuses() -> dict[str, tuple[str, str | None]]:
        with engine.connect() as c:
            return {r[0]: (r[1], r[2]) for r in c.execute(
                select(allocations_t.c.order_id, allocations_t.c.status, allocations_t.c.depot_id)
            )}

    try:
        async with AsyncExitStack() as stack:
            app_a, client = await stack.enter_async_context(running_service("inventory", settings))
            app_b, _ = await stack.enter_async_context(running_service("inventory", settings))
            await define_city(client, settings)
            await post_stock(client, settings, [stock_event("received", "DC-E1", "INSULIN", FIRST)])
            await produce_payloads(settings, list(orders))
            await eventually(lambda: sum(counts().values()) == ORDERS, timeout_s=120,
                             message="every order allocated")
            first_round = statuses()
            assert counts() == {"reserved": FIRST, "backordered": ORDERS - FIRST}

            # Stock arrives: the waiting orders are served strictly by priority, then age.
            await post_stock(client, settings, [stock_event("received", "DC-E1", "INSULIN", SECOND)])
            await eventually(lambda: counts().get("reserved") == FIRST + SECOND, timeout_s=30,
                             message="second delivery served")
            second_round = statuses()
            waiting = [o for o in orders if first_round[o.order_id][0] == "backordered"]
            waiting.sort(key=lambda o: (RANKS[o.priority], o.placed_at))
            expected = {o.order_id for o in waiting[:SECOND]}
            served = {k for k, v in second_round.items() if v[0] == "reserved" and first_round[k][0] != "reserved"}
            assert served == expected
            assert all(v[1] == "DC-E1" for v in second_round.values() if v[0] == "reserved")
            medical_waiting = sum(1 for o in waiting if o.priority == "medical")
            assert sum(1 for o in waiting[:SECOND] if o.priority == "medical") == min(medical_waiting, SECOND)

            # Ship ten, then check the books.
            shipped = sorted(served)[:10]
            await produce_payloads(settings, [scheduled(order_id, "DC-E1") for order_id in shipped])
            await eventually(lambda: counts().get("shipped") == 10, timeout_s=30, message="shipped")
            assert app_a.state.runtime.consumer.processed > 0
            assert app_b.state.runtime.consumer.processed > 0, "both group members did work"
    finally:
        with engine.connect() as c:
            stock = c.execute(select(stock_t.c.on_hand, stock_t.c.reserved)
                              .where(stock_t.c.sku == "INSULIN")).one()
            lines = c.execute(select(func.sum(allocation_lines_t.c.quantity)).select_from(
                allocation_lines_t.join(allocations_t, allocations_t.c.order_id == allocation_lines_t.c.order_id)
            ).where(allocations_t.c.status == "reserved")).scalar_one()
            ledger = {r[0]: (int(r[1]), int(r[2])) for r in c.execute(
                select(ledger_t.c.movement, func.sum(ledger_t.c.on_hand_delta), func.sum(ledger_t.c.reserved_delta))
                .where(ledger_t.c.sku == "INSULIN").group_by(ledger_t.c.movement)
            )}
        engine.dispose()
    assert (stock.on_hand, stock.reserved) == (FIRST + SECOND - 10, FIRST + SECOND - 10)
    assert lines == stock.reserved
    assert ledger["received"][0] == FIRST + SECOND
    assert ledger["received"][0] + ledger["shipped"][0] == stock.on_hand  # received = on hand + shipped
    assert sum(r for _, r in ledger.values()) == stock.reserved
    assert ledger["reserved"][1] == FIRST + SECOND, "no order reserved twice"
