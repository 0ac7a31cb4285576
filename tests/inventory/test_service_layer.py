"""Use cases against a real database without the broker: backorder expiry with a fake
clock, and the ledger adding up."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from services.inventory.adapters.orm import messaging, stock_t
from services.inventory.adapters.reservation_store import ReservationStore
from services.inventory.bootstrap import build_runtime
from services.inventory.config import InventoryConfig
from services.inventory.domain.commands import (
    CancelOrder,
    DefineDepot,
    DefineSku,
    RecordStockMovement,
    ReserveOrder,
    ShipOrder,
)
from services.inventory.domain.model import Line
from services.inventory.domain.stock import StockRuleViolation
from services.inventory.service_layer import handlers, reservations
from services.inventory.service_layer.handlers import Context
from services.inventory.service_layer.unit_of_work import InventoryUnitOfWork
from shared.priority import Priority
from shared.runtime import ServiceRuntime
from shared.settings import Settings

T0 = datetime(2026, 11, 20, 6, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def world(settings: Settings) -> Iterator[tuple[ServiceRuntime[InventoryUnitOfWork], Context, Clock]]:
    clock = Clock()
    ctx = Context(config=InventoryConfig(backorder_max_age_h=72), clock=clock)
    runtime = build_runtime(settings, ctx)
    runtime.create_schema()
    handlers.define_depot(runtime.uow(), DefineDepot("DC-1", "Centre", "district", 39.9, 116.4, "east", False), ctx)
    handlers.define_sku(runtime.uow(), DefineSku("RICE", "Rice", "staple", 5.0, 6.0, False), ctx)
    yield runtime, ctx, clock
    runtime.engine.dispose()


def reserve(runtime: ServiceRuntime[InventoryUnitOfWork], ctx: Context, order_id: str, qty: int = 1) -> None:
    with runtime.uow() as uow:
        handlers.reserve_order(
            uow, ReserveOrder(order_id, "H-1", "C-1", Priority.STANDARD, ctx.now(), [Line("RICE", qty)]), ctx
        )
        uow.commit()


def move(
    runtime: ServiceRuntime[InventoryUnitOfWork], ctx: Context, kind: str, qty: int, reason: str | None = None
) -> None:
    with runtime.uow() as uow:
        handlers.record_stock_movement(
            uow, RecordStockMovement(f"e-{kind}-{qty}-{ctx.now()}", kind, "DC-1", "RICE", qty, reason), ctx
        )
        uow.commit()


def outbox_types(runtime: ServiceRuntime[InventoryUnitOfWork]) -> list[str]:
    with runtime.engine.connect() as connection:
        return [r[0] for r in connection.execute(select(messaging.outbox.c.event_type).order_by(messaging.outbox.c.id))]


def test_backorders_past_the_limit_are_rejected_by_the_sweep_and_on_arrival(world) -> None:  # type: ignore[no-untyped-def]
    runtime, ctx, clock = world
    reserve(runtime, ctx, "OLD-1")
    clock.now = T0 + timedelta(hours=10)
    reserve(runtime, ctx, "OLD-2")
    clock.now = T0 + timedelta(hours=73)
    assert handlers.expire_backorders(runtime.uow(), ctx) == 1
    assert handlers.get_allocation(runtime.uow(), "OLD-1").status == "rejected"
    assert handlers.get_allocation(runtime.uow(), "OLD-2").status == "backordered"
    clock.now = T0 + timedelta(hours=83)
    reserve(runtime, ctx, "NEW-1")
    move(runtime, ctx, "received", 5)
    assert handlers.get_allocation(runtime.uow(), "OLD-2").status == "rejected"
    assert handlers.get_allocation(runtime.uow(), "NEW-1").status == "reserved"
    assert outbox_types(runtime).count("lifeline.reservation.rejected") == 2


def test_ledger_adds_up_to_the_stock_figures(world) -> None:  # type: ignore[no-untyped-def]
    runtime, ctx, _clock = world
    move(runtime, ctx, "received", 20)
    for i in range(5):
        reserve(runtime, ctx, f"O-{i}", 2)
    move(runtime, ctx, "adjusted", -3, "damage")
    move(runtime, ctx, "counted", 15)  # 17 -> 15
    with runtime.uow() as uow:
        handlers.ship_order(uow, ShipOrder("O-0", "DC-1", "P-1"), ctx)
        handlers.cancel_order(uow, CancelOrder("O-1", "no longer needed"), ctx)
        uow.commit()
    with runtime.uow() as uow:
        row = uow.stock.get("DC-1", "RICE")
        totals = uow.ledger.totals("DC-1", "RICE")
    assert row is not None
    assert (row.on_hand, row.reserved) == (13, 6)
    assert totals["received"] == 20 and totals["shipped"] == -2
    assert totals["received"] + totals["adjusted"] + totals["counted"] + totals["shipped"] == row.on_hand


def test_an_adjustment_below_zero_is_refused_and_nothing_is_written(world) -> None:  # type: ignore[no-untyped-def]
    runtime, ctx, _clock = world
    move(runtime, ctx, "received", 2)
    with pytest.raises(StockRuleViolation, match="below zero"):
        move(runtime, ctx, "adjusted", -3, "damage")
    with runtime.uow() as uow:
        assert uow.stock.get("DC-1", "RICE").on_hand == 2  # type: ignore[union-attr]


def order(order_id: str, lines: dict[str, int], priority: Priority = Priority.STANDARD) -> ReserveOrder:
    return ReserveOrder(order_id, "H-1", "C-1", priority, T0, [Line(sku, qty) for sku, qty in lines.items()])


def outcomes(runtime: ServiceRuntime[InventoryUnitOfWork]) -> list[tuple[str, str]]:
    with runtime.engine.connect() as connection:
        return [
            (r.event_type, r.key)
            for r in connection.execute(
                select(messaging.outbox.c.event_type, messaging.outbox.c.key).order_by(messaging.outbox.c.id)
            )
            if r.event_type.split(".")[1] in ("stock", "reservation", "order") and r.event_type != "lifeline.stock.low"
        ]


def reserved_in_ledger(uow: InventoryUnitOfWork) -> int:
    return uow.reservation_store.net_reserved_since("DC-1", "RICE", T0 - timedelta(days=1), ["reserved"])


def test_a_batch_of_orders_is_reserved_as_one_by_one_would_in_arrival_order(world) -> None:  # type: ignore[no-untyped-def]
    runtime, ctx, _clock = world
    move(runtime, ctx, "received", 5)
    batch = [
        order("O-1", {"RICE": 2}),
        order("O-2", {"RICE": 2}),
        order("O-1", {"RICE": 2}),  # placed twice: one allocation
        order("O-3", {"RICE": 1, "CAVIAR": 1}),  # unknown SKU
        order("O-4", {"RICE": 2}),  # one left: waits
        order("O-5", {"RICE": 1}),  # takes the last one
    ]
    with runtime.uow() as uow:
        reservations.reserve_orders(uow, batch, ctx)
        uow.commit()
    status = {o: handlers.get_allocation(runtime.uow(), o).status for o in ("O-1", "O-2", "O-3", "O-4", "O-5")}
    assert status == {"O-1": "reserved", "O-2": "reserved", "O-3": "rejected", "O-4": "backordered",
                      "O-5": "reserved"}
    assert outcomes(runtime) == [
        ("lifeline.stock.reserved", "O-1"), ("lifeline.stock.reserved", "O-2"),
        ("lifeline.reservation.rejected", "O-3"), ("lifeline.order.backordered", "O-4"),
        ("lifeline.stock.reserved", "O-5"),
    ]
    with runtime.uow() as uow:
        row = uow.stock.get("DC-1", "RICE")
        assert row is not None and (row.on_hand, row.reserved) == (5, 5)
        assert reserved_in_ledger(uow) == 5
    with runtime.uow() as uow:  # a second delivery of the whole batch changes nothing
        reservations.reserve_orders(uow, batch, ctx)
        uow.commit()
    assert len(outcomes(runtime)) == 5
    move(runtime, ctx, "received", 2)  # the waiting order is queued like any backorder
    assert handlers.get_allocation(runtime.uow(), "O-4").status == "reserved"


def test_stock_taken_between_the_batch_read_and_its_updates_gives_the_batch_up(  # type: ignore[no-untyped-def]
    world, monkeypatch
) -> None:
    runtime, ctx, _clock = world
    move(runtime, ctx, "received", 3)
    read = ReservationStore.read_for_reservations
    sqlite = runtime.engine.dialect.name == "sqlite"

    def read_then_someone_takes_two(self, *args):  # type: ignore[no-untyped-def]
        found = read(self, *args)
        if sqlite:  # one writer at a time: the other writer's update goes in our transaction
            self._run("UPDATE stock SET reserved = reserved + 2", ())
        else:
            with runtime.engine.begin() as other:
                other.execute(update(stock_t).values(reserved=stock_t.c.reserved + 2))
        return found

    batch = [order("O-1", {"RICE": 2}), order("O-2", {"RICE": 1})]
    monkeypatch.setattr(ReservationStore, "read_for_reservations", read_then_someone_takes_two)
    with runtime.uow() as uow, pytest.raises(reservations.StockMovedDuringBatch):
        reservations.reserve_orders(uow, batch, ctx)
    assert outcomes(runtime) == []
    with runtime.uow() as uow:
        assert uow.allocations.get("O-1") is None
        assert reserved_in_ledger(uow) == 0


def test_one_order_whose_stock_moves_under_it_is_decided_again_on_fresh_figures(  # type: ignore[no-untyped-def]
    world, monkeypatch
) -> None:
    """The one-by-one path is a run of one: when its read is stale by the time it updates
    (another writer took the units), it is undone to a savepoint and decided again, not
    given up."""
    runtime, ctx, _clock = world
    move(runtime, ctx, "received", 3)
    reserve(runtime, ctx, "O-0", 2)  # one unit left
    read = ReservationStore.read_for_reservations
    reads = 0

    def first_read_misses_the_other_writer(self, *args):  # type: ignore[no-untyped-def]
        nonlocal reads
        allocated, available = read(self, *args)
        reads += 1
        if reads == 1:  # as it stood before O-0 took two
            available = {key: units + 2 for key, units in available.items()}
        return allocated, available

    monkeypatch.setattr(ReservationStore, "read_for_reservations", first_read_misses_the_other_writer)
    with runtime.uow() as uow:
        handlers.reserve_order(uow, order("O-1", {"RICE": 2}), ctx)
        uow.commit()
    assert reads == 2
    assert handlers.get_allocation(runtime.uow(), "O-1").status == "backordered"  # one unit left, not two
    assert outcomes(runtime)[-1] == ("lifeline.order.backordered", "O-1")
    with runtime.uow() as uow:
        assert reserved_in_ledger(uow) == 2
        row = uow.stock.get("DC-1", "RICE")
        assert row is not None and (row.on_hand, row.reserved) == (3, 2)
