"""The allocation policy: priority groups first (Lifeline), or first come first served
(the simulator's baseline, ``LIFELINE_ALLOCATION_POLICY=fcfs``). The rule itself, then the
backorder queue, a poll's batch and a count below what is reserved, on a real database."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from services.inventory.bootstrap import build_runtime, create_app
from services.inventory.config import InventoryConfig
from services.inventory.domain.allocation import (
    AllocationPolicy,
    Claim,
    deciding_order,
    serving_order,
    to_release,
)
from services.inventory.domain.commands import DefineDepot, DefineSku, RecordStockMovement, ReserveOrder
from services.inventory.domain.model import Line
from services.inventory.service_layer import handlers, reservations
from services.inventory.service_layer.handlers import Context
from services.inventory.service_layer.unit_of_work import InventoryUnitOfWork
from shared.priority import Priority
from shared.runtime import ServiceRuntime
from shared.settings import Settings

T0 = datetime(2026, 11, 20, 6, 0, tzinfo=UTC)
NOW = T0 + timedelta(hours=2)

# A standard order placed first, a medical one placed an hour later.
STANDARD = ReserveOrder("S-EARLY", "H-1", "C-1", Priority.STANDARD, T0, [Line("RICE", 1)])
MEDICAL = ReserveOrder("M-LATE", "H-2", "C-1", Priority.MEDICAL, T0 + timedelta(hours=1), [Line("RICE", 1)])


# --- the rule ------------------------------------------------------------------------------

CLAIMS = [
    Claim("s-old", Priority.STANDARD, T0),
    Claim("v-new", Priority.VULNERABLE, T0 + timedelta(hours=2)),
    Claim("m-new", Priority.MEDICAL, T0 + timedelta(hours=3)),
    Claim("v-old", Priority.VULNERABLE, T0 + timedelta(hours=1)),
    Claim("b-tie", Priority.MEDICAL, T0 + timedelta(hours=1)),
    Claim("a-tie", Priority.STANDARD, T0 + timedelta(hours=1)),
]


def ids(claims: list[Claim]) -> list[str]:
    return [c.order_id for c in claims]


def test_priority_serves_groups_first_and_fcfs_strictly_by_placement_ties_by_order_id() -> None:
    assert ids(serving_order(CLAIMS)) == ["b-tie", "m-new", "v-old", "v-new", "s-old", "a-tie"]
    assert ids(serving_order(CLAIMS, "priority")) == ids(serving_order(CLAIMS))
    assert ids(serving_order(CLAIMS, "fcfs")) == ["s-old", "a-tie", "b-tie", "v-old", "v-new", "m-new"]


def test_a_batch_is_decided_as_it_arrived_under_priority_and_by_placement_under_fcfs() -> None:
    assert deciding_order(CLAIMS, "priority") == [0, 1, 2, 3, 4, 5]
    assert [CLAIMS[i].order_id for i in deciding_order(CLAIMS, "fcfs")] == ids(serving_order(CLAIMS, "fcfs"))
    # An order delivered twice stays two positions, in arrival order.
    twice = [CLAIMS[2], CLAIMS[0], CLAIMS[2]]
    assert deciding_order(twice, "fcfs") == [1, 0, 2]


def test_stock_is_given_back_last_served_first() -> None:
    held = [
        Claim("m", Priority.MEDICAL, T0 + timedelta(hours=2), 2),
        Claim("s-old", Priority.STANDARD, T0, 2),
        Claim("s-new", Priority.STANDARD, T0 + timedelta(hours=1), 2),
    ]
    assert ids(to_release(held, 3)) == ["s-new", "s-old"]
    assert ids(to_release(held, 3, "fcfs")) == ["m", "s-new"]
    assert to_release(held, 0, "fcfs") == []


# --- on a real database -------------------------------------------------------------------

World = tuple[ServiceRuntime[InventoryUnitOfWork], Context]


@pytest.fixture(params=["priority", "fcfs"])
def world(request: pytest.FixtureRequest, settings: Settings) -> Iterator[World]:
    policy: AllocationPolicy = request.param
    ctx = Context(config=InventoryConfig(), clock=lambda: NOW, allocation_policy=policy)
    runtime = build_runtime(settings, ctx)
    runtime.create_schema()
    handlers.define_depot(runtime.uow(), DefineDepot("DC-1", "Centre", "district", 39.9, 116.4, "east", False), ctx)
    handlers.define_sku(runtime.uow(), DefineSku("RICE", "Rice", "staple", 5.0, 6.0, False), ctx)
    yield runtime, ctx
    runtime.engine.dispose()


def reserve_one_by_one(runtime: ServiceRuntime[InventoryUnitOfWork], ctx: Context, *cmds: ReserveOrder) -> None:
    for cmd in cmds:
        with runtime.uow() as uow:
            handlers.reserve_order(uow, cmd, ctx)
            uow.commit()


def move(runtime: ServiceRuntime[InventoryUnitOfWork], ctx: Context, kind: str, quantity: int) -> None:
    with runtime.uow() as uow:
        handlers.record_stock_movement(
            uow, RecordStockMovement(f"e-{kind}-{quantity}", kind, "DC-1", "RICE", quantity, None), ctx
        )
        uow.commit()


def status(runtime: ServiceRuntime[InventoryUnitOfWork], order_id: str) -> str:
    return handlers.get_allocation(runtime.uow(), order_id).status


def winner_and_loser(ctx: Context) -> tuple[str, str]:
    """Who gets the one unit: the medical order under priority, the earlier one under fcfs."""
    if ctx.allocation_policy == "priority":
        return MEDICAL.order_id, STANDARD.order_id
    return STANDARD.order_id, MEDICAL.order_id


def test_arriving_stock_goes_to_the_medical_backorder_or_to_the_earlier_one(world: World) -> None:
    runtime, ctx = world
    reserve_one_by_one(runtime, ctx, STANDARD, MEDICAL)
    assert status(runtime, STANDARD.order_id) == status(runtime, MEDICAL.order_id) == "backordered"
    move(runtime, ctx, "received", 1)
    winner, loser = winner_and_loser(ctx)
    assert status(runtime, winner) == "reserved"
    assert status(runtime, loser) == "backordered"


def test_a_poll_of_placed_orders_is_decided_in_the_policys_order(world: World) -> None:
    runtime, ctx = world
    move(runtime, ctx, "received", 1)
    with runtime.uow() as uow:
        # The later-placed medical order arrives first (another partition, say).
        reservations.reserve_orders(uow, [MEDICAL, STANDARD], ctx)
        uow.commit()
    # priority: as they arrived (placing is first come first served); fcfs: by placement.
    winner, loser = winner_and_loser(ctx)
    assert status(runtime, winner) == "reserved"
    assert status(runtime, loser) == "backordered"


def test_a_count_below_reserved_takes_back_from_the_last_served(world: World) -> None:
    runtime, ctx = world
    move(runtime, ctx, "received", 2)
    reserve_one_by_one(runtime, ctx, STANDARD, MEDICAL)
    move(runtime, ctx, "counted", 1)
    winner, loser = winner_and_loser(ctx)
    assert status(runtime, winner) == "reserved"
    assert status(runtime, loser) == "backordered"
    with runtime.uow() as uow:
        row = uow.stock.get("DC-1", "RICE")
    assert row is not None and (row.on_hand, row.reserved) == (1, 1)


def test_the_setting_reaches_the_handlers(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LIFELINE_ALLOCATION_POLICY", raising=False)
    assert Settings().allocation_policy == "priority"
    monkeypatch.setenv("LIFELINE_ALLOCATION_POLICY", "fcfs")
    assert Settings().allocation_policy == "fcfs"
    fcfs = settings.model_copy(update={"allocation_policy": "fcfs"})
    app = create_app(fcfs)
    assert app.state.inventory.allocation_policy == "fcfs"
    app.state.runtime.engine.dispose()
    app = create_app(settings)
    assert app.state.inventory.allocation_policy == "priority"
    app.state.runtime.engine.dispose()
