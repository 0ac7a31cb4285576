"""The orders use cases through their handlers, on a fake unit of work (tests/unit/fakes.py):
no database, no broker, no HTTP. What a handler committed and published is what the fake
recorded; what it wrote is in the fake repositories."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.orders.domain.commands import CancelOrder, PlaceOrder, RegisterCommunity, RegisterHousehold
from services.orders.domain.model import Line
from services.orders.domain.status import (
    DeliveryHasFailed,
    Fact,
    OrderWasBackordered,
    OrderWasDelivered,
    OrderWasScheduled,
    StockWasReserved,
)
from services.orders.service_layer import handlers
from shared import clock
from shared.auth import Principal
from shared.errors import Conflict, DomainError, Forbidden, NotFound, TooManyRequests
from shared.events import payloads
from shared.messaging.consumer import PoisonEvent
from tests.unit.fakes import FakeOrdersUnitOfWork, orders_uow

T0 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
ADMIN = Principal("admin-1", "admin")
WORKER = Principal("worker-1", "community_worker", community_ids=frozenset({"C-1"}))
STOP = "DC-1/C-1/ambient"
SCHEDULED = OrderWasScheduled(
    plan_id="P-1", depot_id="DC-1", vehicle_id="V-1", stop_id=STOP, eta=T0 + timedelta(hours=2),
    window_start=T0 + timedelta(hours=1), window_end=T0 + timedelta(hours=3), stated_at=T0,
)
DELIVERED = OrderWasDelivered(plan_id="P-1", stop_id=STOP, delivered_at=T0 + timedelta(hours=2),
                              received_by="gate guard")


def resident(household_id: str) -> Principal:
    return Principal(household_id, "resident")


def community(community_id: str, **changes: Any) -> RegisterCommunity:
    return replace(RegisterCommunity(
        community_id, name=f"Community {community_id}", district="chaoyang", lat=39.88, lon=116.46,
        risk_level="sealed", receiving_windows=(("15:00", "17:00"), ("07:00", "09:00")), gate_service_min=10,
    ), **changes)


def order(household_id: str, *lines: tuple[str, int], key: str | None = None,
          by: Principal | None = None, note: str | None = None) -> tuple[PlaceOrder, Principal]:
    principal = by or resident(household_id)
    wanted = tuple(Line(sku, quantity) for sku, quantity in lines)
    return PlaceOrder(
        caller=f"{principal.role}:{principal.subject}", household_id=household_id, lines=wanted,
        contactless=True, note=note, idempotency_key=key, request_fingerprint=f"{household_id}|{wanted}|{note}",
    ), principal


def place(uow: FakeOrdersUnitOfWork, request: tuple[PlaceOrder, Principal],
          rate_per_minute: int = 10) -> handlers.Placed:
    cmd, principal = request
    return handlers.place_order(cmd, principal, orders_uow(uow), rate_per_minute=rate_per_minute)


@pytest.fixture(autouse=True)
def fixed_clock() -> Iterator[clock.FixedClock]:
    fixed = clock.FixedClock(T0)
    previous = clock.use(fixed)
    yield fixed
    clock.use(previous)


@pytest.fixture
def uow() -> FakeOrdersUnitOfWork:
    """Two communities, three households and a catalog, set up through the handlers."""
    fake = FakeOrdersUnitOfWork()
    for community_id in ("C-1", "C-2"):
        handlers.register_community(community(community_id), orders_uow(fake))
    for household_id, community_id, flags in (("H-1", "C-1", set()), ("H-2", "C-1", {"elderly_alone"}),
                                              ("H-9", "C-2", set())):
        handlers.register_household(RegisterHousehold(household_id, community_id, 2, frozenset(flags)),
                                    ADMIN, orders_uow(fake))
    for sku, category, urgent, ration in (
        ("RICE-5KG", "staple", False, payloads.Ration(quantity=2, per_days=7)),
        ("VEG-BOX", "vegetable", False, None), ("INSULIN", "medicine", False, None),
        ("NITRO", "medicine", True, None),
    ):
        handlers.define_sku(payloads.SkuDefined(
            sku=sku, name=sku, category=category, unit_weight_kg=1, unit_volume_l=1, cold_chain=False,
            urgent=urgent, ration=ration,
        ), orders_uow(fake))
    fake.reset()
    return fake


# --- registry -------------------------------------------------------------------------

def test_a_community_is_announced_once_registered_then_only_when_it_changes() -> None:
    uow = FakeOrdersUnitOfWork()
    registered, created = handlers.register_community(community("C-7"), orders_uow(uow))
    assert created and uow.committed and uow.communities.get("C-7") is registered
    [event] = uow.published
    assert isinstance(event, payloads.CommunityRegistered)
    assert event.receiving_windows == [("07:00", "09:00"), ("15:00", "17:00")]  # sorted

    uow.reset()
    _, created = handlers.register_community(community("C-7"), orders_uow(uow))
    assert not created and not uow.committed and uow.published == []

    handlers.register_community(community("C-7", risk_level="controlled"), orders_uow(uow))
    [update] = uow.published
    assert uow.committed and isinstance(update, payloads.CommunityUpdated) and update.risk_level == "controlled"


def test_overlapping_receiving_windows_are_refused_before_anything_is_written() -> None:
    uow = FakeOrdersUnitOfWork()
    with pytest.raises(DomainError) as refused:
        handlers.register_community(community("C-7", receiving_windows=(("07:00", "09:00"), ("08:30", "10:00"))),
                                    orders_uow(uow))
    assert (refused.value.code, refused.value.context["field"]) == ("overlapping_windows", "receiving_windows")
    assert uow.communities.rows == {} and not uow.committed and uow.published == []


def test_a_community_worker_registers_households_in_their_own_communities_only(uow: FakeOrdersUnitOfWork) -> None:
    with pytest.raises(Forbidden):
        handlers.register_household(RegisterHousehold("H-20", "C-2", 3, frozenset()), WORKER, orders_uow(uow))
    with pytest.raises(DomainError) as unknown:
        handlers.register_household(RegisterHousehold("H-20", "C-404", 3, frozenset()), ADMIN, orders_uow(uow))
    assert unknown.value.code == "unknown_community"
    assert "H-20" not in uow.households.rows and not uow.committed

    household, created = handlers.register_household(
        RegisterHousehold("H-20", "C-1", 3, frozenset({"pregnant", "infant"})), WORKER, orders_uow(uow))
    assert created and uow.committed and uow.published == []  # households are orders' own business
    assert uow.households.get("H-20") is household and household.flags == ["infant", "pregnant"]


# --- placing orders ---------------------------------------------------------------------

def test_a_placed_order_is_stored_and_announced_with_the_priority_it_earns(uow: FakeOrdersUnitOfWork) -> None:
    for household_id, sku, priority in (("H-1", "VEG-BOX", "standard"), ("H-1", "NITRO", "medical"),
                                        ("H-2", "VEG-BOX", "vulnerable"), ("H-2", "INSULIN", "medical")):
        uow.reset()
        details, created = place(uow, order(household_id, (sku, 1), (sku, 2)))
        assert created and uow.committed
        assert (details.order.priority, details.order.status, details.lines) == (priority, "placed", [Line(sku, 3)])
        stored = uow.orders.get(details.order.id)
        assert stored is not None and (stored.status, stored.priority, stored.community_id) == (
            "placed", priority, "C-1")
        assert uow.published == [payloads.OrderPlaced(
            order_id=details.order.id, household_id=household_id, community_id="C-1", priority=priority,
            items=[payloads.OrderLine(sku=sku, quantity=3)], placed_at=T0, contactless=True,
        )]


def test_a_ration_counts_the_orders_before_it_in_the_same_batch(uow: FakeOrdersUnitOfWork) -> None:
    first, second = handlers.place_orders(
        [order("H-1", ("RICE-5KG", 2)), order("H-1", ("RICE-5KG", 1), ("VEG-BOX", 1))],
        orders_uow(uow), rate_per_minute=10,
    )
    assert not isinstance(first, Exception) and first[1]
    assert isinstance(second, DomainError) and second.code == "ration_exceeded"
    assert (second.context["already_ordered"], second.context["remaining"]) == (2, 0)
    placed = first[0].order.id
    [announced] = uow.published
    assert list(uow.orders.rows) == [placed] and isinstance(announced, payloads.OrderPlaced)
    assert announced.order_id == placed

    # A cancelled order delivers nothing: its lines no longer count.
    handlers.cancel_order(CancelOrder(placed, "wrong item"), resident("H-1"), orders_uow(uow))
    _details, created = place(uow, order("H-1", ("RICE-5KG", 2)))
    assert created


def test_the_rate_limit_refuses_an_order_and_says_when_the_next_one_fits(
    uow: FakeOrdersUnitOfWork, fixed_clock: clock.FixedClock,
) -> None:
    place(uow, order("H-1", ("VEG-BOX", 1)), rate_per_minute=2)
    place(uow, order("H-1", ("VEG-BOX", 1)), rate_per_minute=2)
    fixed_clock.advance(timedelta(seconds=20))
    uow.reset()
    with pytest.raises(TooManyRequests) as limited:
        place(uow, order("H-1", ("VEG-BOX", 1)), rate_per_minute=2)
    assert (limited.value.context["retry_after_s"], limited.value.context["limit_per_minute"]) == (40, 2)
    assert len(uow.orders.rows) == 2 and uow.published == []
    _details, created = place(uow, order("H-2", ("VEG-BOX", 1)), rate_per_minute=2)  # per household
    assert created

    fixed_clock.advance(timedelta(seconds=40))
    _details, created = place(uow, order("H-1", ("VEG-BOX", 1)), rate_per_minute=2)
    assert created


def test_an_idempotency_key_replayed_is_answered_with_the_original_order(uow: FakeOrdersUnitOfWork) -> None:
    request = order("H-1", ("VEG-BOX", 1), key="k-1")
    original, created = place(uow, request)
    uow.reset()
    replayed, created_again = place(uow, request)
    assert created and not created_again
    assert (replayed.order, replayed.lines) == (original.order, original.lines)
    assert len(uow.orders.rows) == 1 and uow.published == []

    # In one batch the second request is the first one's replay; a key is per caller.
    twice = order("H-2", ("VEG-BOX", 1), key="k-1")
    first, second = handlers.place_orders([twice, twice], orders_uow(uow), rate_per_minute=10)
    assert not isinstance(first, Exception) and not isinstance(second, Exception)
    assert (first[0].order.id, first[1]) == (second[0].order.id, True) and not second[1]
    assert len(uow.orders.rows) == 2 and len(uow.published) == 1


def test_an_idempotency_key_reused_for_another_order_is_a_conflict(uow: FakeOrdersUnitOfWork) -> None:
    original, _ = place(uow, order("H-1", ("VEG-BOX", 1), key="k-1"))
    uow.reset()
    with pytest.raises(Conflict) as reused:
        place(uow, order("H-1", ("VEG-BOX", 2), key="k-1"))
    assert (reused.value.code, reused.value.context["order_id"]) == ("idempotency_key_reused", original.order.id)
    assert list(uow.orders.rows) == [original.order.id] and uow.published == []


@pytest.mark.parametrize(("request_", "refusal", "code"), [
    (order("H-404", ("VEG-BOX", 1)), DomainError, "unknown_household"),
    (order("H-9", ("VEG-BOX", 1), by=WORKER), Forbidden, "forbidden"),
    (order("H-1", ("CAVIAR", 1)), DomainError, "unknown_sku"),
], ids=["unknown household", "outside the worker's communities", "unknown SKU"])
def test_a_refused_order_writes_and_announces_nothing(
    uow: FakeOrdersUnitOfWork, request_: tuple[PlaceOrder, Principal], refusal: type[DomainError], code: str,
) -> None:
    with pytest.raises(refusal) as refused:
        place(uow, request_)
    assert refused.value.code == code
    assert uow.orders.rows == {} and uow.published == []


# --- after intake: reading, cancelling, facts --------------------------------------------

def test_an_order_is_cancelled_until_its_route_is_dispatched_and_announced_once(
    uow: FakeOrdersUnitOfWork,
) -> None:
    facts: tuple[Fact | None, ...] = (None, StockWasReserved("DC-1"), OrderWasBackordered("no rice in stock"))
    for fact in facts:
        placed, _ = place(uow, order("H-1", ("VEG-BOX", 1)))
        if fact is not None:
            handlers.apply_fact(placed.order.id, fact, T0, orders_uow(uow))
        uow.reset()
        cancelled = handlers.cancel_order(CancelOrder(placed.order.id, "not needed"), resident("H-1"),
                                          orders_uow(uow))
        assert (cancelled.order.status, cancelled.order.status_reason) == ("cancelled", "not needed")
        assert cancelled.timeline is not None and cancelled.timeline[-1].detail == {
            "reason": "not needed", "by": "resident:H-1"}
        assert uow.committed and uow.published == [
            payloads.OrderCancelled(order_id=placed.order.id, reason="not needed")]

        uow.reset()
        again = handlers.cancel_order(CancelOrder(placed.order.id, "really"), resident("H-1"), orders_uow(uow))
        assert again.order.status_reason == "not needed" and uow.published == []


@pytest.mark.parametrize("facts", [(SCHEDULED,), (SCHEDULED, DELIVERED)], ids=["scheduled", "delivered"])
def test_an_order_on_a_dispatched_route_cannot_be_cancelled(
    uow: FakeOrdersUnitOfWork, facts: tuple[Fact, ...],
) -> None:
    placed, _ = place(uow, order("H-1", ("VEG-BOX", 1)))
    for fact in facts:
        handlers.apply_fact(placed.order.id, fact, T0, orders_uow(uow))
    uow.reset()
    with pytest.raises(Conflict) as refused:
        handlers.cancel_order(CancelOrder(placed.order.id, "too late"), ADMIN, orders_uow(uow))
    stored = uow.orders.get(placed.order.id)
    assert stored is not None and refused.value.context["status"] == stored.status != "cancelled"
    assert refused.value.code == "not_cancellable" and not uow.committed and uow.published == []
    assert "cancelled" not in [entry.status for entry in uow.orders.timeline(placed.order.id)]


def test_each_principal_sees_and_cancels_only_the_orders_in_its_scope(uow: FakeOrdersUnitOfWork) -> None:
    mine, _ = place(uow, order("H-1", ("VEG-BOX", 1)))
    place(uow, order("H-9", ("VEG-BOX", 1)))
    uow.reset()
    for stranger in (resident("H-2"), Principal("worker-2", "community_worker", community_ids=frozenset({"C-2"}))):
        with pytest.raises(NotFound):  # not "forbidden": no object-level leak
            handlers.get_order(mine.order.id, stranger, orders_uow(uow))
        with pytest.raises(NotFound):
            handlers.cancel_order(CancelOrder(mine.order.id, "not mine"), stranger, orders_uow(uow))
    assert not uow.committed and uow.published == []
    assert handlers.get_order(mine.order.id, WORKER, orders_uow(uow)).order == mine.order

    page, cursor = handlers.list_orders(resident("H-1"), orders_uow(uow), status_filter=None, before_id=None,
                                        limit=10)
    assert [d.order.id for d in page] == [mine.order.id] and cursor is None
    everything, _ = handlers.list_orders(ADMIN, orders_uow(uow), status_filter=None, before_id=None, limit=10)
    assert len(everything) == 2


def test_facts_move_an_order_forward_and_a_repeated_or_late_fact_changes_nothing(
    uow: FakeOrdersUnitOfWork,
) -> None:
    placed, _ = place(uow, order("H-1", ("VEG-BOX", 1)))
    order_id = placed.order.id
    uow.reset()
    facts: tuple[Fact, ...] = (StockWasReserved("DC-1"), SCHEDULED, SCHEDULED, StockWasReserved("DC-2"),
                               DELIVERED, DELIVERED)
    for fact in facts:
        handlers.apply_fact(order_id, fact, T0, orders_uow(uow))
    handlers.note_release(payloads.ReservationReleased(
        order_id=order_id, depot_id="DC-1", reason="shipped"), T0, orders_uow(uow))
    stored = uow.orders.get(order_id)
    assert stored is not None
    assert (stored.status, stored.depot_id, stored.plan_id, stored.eta, stored.received_by) == (
        "delivered", "DC-1", "P-1", SCHEDULED.eta, "gate guard")
    assert [(e.status, e.detail.get("note")) for e in uow.orders.timeline(order_id)] == [
        ("placed", None), ("reserved", None), ("scheduled", None), ("delivered", None),
        ("delivered", "reservation released")]
    # Facts are other services' news: orders announces nothing, and the consumer commits.
    assert uow.published == [] and not uow.committed


def test_a_failed_delivery_returns_the_order_and_closes_its_plan(uow: FakeOrdersUnitOfWork) -> None:
    placed, _ = place(uow, order("H-1", ("VEG-BOX", 1)))
    order_id = placed.order.id
    failed = DeliveryHasFailed(plan_id="P-1", stop_id=STOP, failed_at=T0, reason="gate closed")
    for fact in (StockWasReserved("DC-1"), SCHEDULED, failed, SCHEDULED):
        handlers.apply_fact(order_id, fact, T0, orders_uow(uow))
    stored = uow.orders.get(order_id)
    assert stored is not None
    assert (stored.status, stored.plan_id, stored.closed_plan_ids, stored.status_reason) == (
        "reserved", None, ["P-1"], "gate closed")
    assert [e.status for e in uow.orders.timeline(order_id)] == [
        "placed", "reserved", "scheduled", "delivery_failed", "reserved"]

    with pytest.raises(PoisonEvent):
        handlers.apply_fact("O-UNKNOWN", StockWasReserved("DC-1"), T0, orders_uow(uow))
    with pytest.raises(PoisonEvent):
        handlers.note_release(payloads.ReservationReleased(
            order_id="O-UNKNOWN", depot_id="DC-1", reason="x"), T0, orders_uow(uow))
