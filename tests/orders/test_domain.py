"""The pure rules: windows, lines, priority, rations, rate, and the status machine."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.orders.domain import rules
from services.orders.domain.ids import new_order_id
from services.orders.domain.model import (
    CatalogItem,
    HouseholdProfile,
    Line,
    OrderStatus,
    RationRule,
)
from services.orders.domain.status import (
    DeliveryHasFailed,
    OrderWasBackordered,
    OrderWasDelivered,
    OrderWasScheduled,
    OrderWasUnscheduled,
    ReservationWasRejected,
    StockWasReserved,
    Tracking,
    advance,
    cancellation_refusal,
)
from shared.priority import Priority

NOW = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
CATALOG = {
    "RICE": CatalogItem("RICE", "staple", ration=RationRule(2, 7)),
    "VEG": CatalogItem("VEG", "vegetable"),
    "INSULIN": CatalogItem("INSULIN", "medicine"),
    "NITRO": CatalogItem("NITRO", "medicine", urgent=True),
}
PLAIN = HouseholdProfile("H-1", "C-1", 3)
ELDERLY = HouseholdProfile("H-2", "C-1", 1, frozenset({"elderly_alone"}))


def scheduled(plan: str = "P-1", at: datetime = NOW) -> OrderWasScheduled:
    return OrderWasScheduled(plan, "DC-1", "V-1", "S-1", NOW + timedelta(hours=1), NOW,
                             NOW + timedelta(hours=2), stated_at=at)


def test_receiving_windows_are_sorted_and_must_not_overlap_or_be_empty() -> None:
    assert rules.validate_receiving_windows([("15:00", "17:00"), ("07:00", "09:00")]) == (
        ("07:00", "09:00"), ("15:00", "17:00"))
    with pytest.raises(rules.RuleViolation) as overlap:
        rules.validate_receiving_windows([("07:00", "09:00"), ("08:30", "10:00")])
    assert overlap.value.code == "overlapping_windows"
    assert overlap.value.field == "receiving_windows"
    with pytest.raises(rules.RuleViolation) as backwards:
        rules.validate_receiving_windows([("09:00", "07:00")])
    assert backwards.value.code == "invalid_window"
    # Touching windows do not overlap.
    rules.validate_receiving_windows([("07:00", "09:00"), ("09:00", "10:00")])


def test_duplicate_lines_are_merged_and_the_merged_quantity_is_capped() -> None:
    merged = rules.merge_lines([Line("RICE", 1), Line("VEG", 2), Line("RICE", 1)])
    assert merged == (Line("RICE", 2), Line("VEG", 2))
    with pytest.raises(rules.RuleViolation) as too_many:
        rules.merge_lines([Line("RICE", 60), Line("RICE", 41)])
    assert too_many.value.code == "quantity_too_large" and too_many.value.context["sku"] == "RICE"
    with pytest.raises(rules.RuleViolation) as empty:
        rules.merge_lines([])
    assert empty.value.code == "empty_order"
    with pytest.raises(rules.RuleViolation) as wide:
        rules.merge_lines([Line(f"S{i}", 1) for i in range(51)])
    assert wide.value.code == "too_many_lines"


def test_unknown_skus_are_named() -> None:
    with pytest.raises(rules.RuleViolation) as unknown:
        rules.require_known_skus([Line("VEG", 1), Line("CAVIAR", 1)], CATALOG)
    assert unknown.value.context["skus"] == ["CAVIAR"]


@pytest.mark.parametrize(
    ("household", "skus", "expected"),
    [
        (PLAIN, ["VEG"], Priority.STANDARD),
        (PLAIN, ["INSULIN"], Priority.STANDARD),
        (PLAIN, ["NITRO", "VEG"], Priority.MEDICAL),
        (ELDERLY, ["VEG"], Priority.VULNERABLE),
        (ELDERLY, ["INSULIN", "VEG"], Priority.MEDICAL),
    ],
)
def test_priority(household: HouseholdProfile, skus: list[str], expected: Priority) -> None:
    assert rules.derive_priority(household, [Line(s, 1) for s in skus], CATALOG) is expected


def test_rations_count_the_rolling_period_only() -> None:
    history = [
        rules.PastLine("RICE", 1, NOW - timedelta(days=2)),
        rules.PastLine("RICE", 5, NOW - timedelta(days=8)),  # outside the 7 days
        rules.PastLine("VEG", 50, NOW - timedelta(days=1)),
    ]
    rules.check_rations([Line("RICE", 1), Line("VEG", 90)], CATALOG, history, NOW)
    with pytest.raises(rules.RuleViolation) as breach:
        rules.check_rations([Line("RICE", 2)], CATALOG, history, NOW)
    assert breach.value.code == "ration_exceeded"
    assert breach.value.context == {
        "sku": "RICE", "limit": 2, "period_days": 7, "already_ordered": 1, "requested": 2,
        "remaining": 1,
    }
    assert rules.ration_window_start(CATALOG, ["VEG", "RICE"], NOW) == NOW - timedelta(days=7)
    assert rules.ration_window_start(CATALOG, ["VEG"], NOW) is None


def test_rate_limit_says_when_the_next_order_fits() -> None:
    recent = [NOW - timedelta(seconds=50), NOW - timedelta(seconds=10), NOW - timedelta(seconds=70)]
    rules.check_rate(recent, 3, NOW)
    with pytest.raises(rules.RateLimited) as limited:
        rules.check_rate(recent, 2, NOW)
    assert limited.value.retry_after_s == 10


def test_the_happy_path() -> None:
    order = Tracking(OrderStatus.PLACED)
    [change] = advance(order, StockWasReserved("DC-1"))
    assert change.status is OrderStatus.RESERVED and change.detail == {"depot_id": "DC-1"}
    [change] = advance(Tracking(OrderStatus.RESERVED), scheduled())
    assert change.status is OrderStatus.SCHEDULED and change.detail["vehicle_id"] == "V-1"
    delivered = OrderWasDelivered("P-1", "S-1", NOW, "gate staff Li")
    assert advance(Tracking(OrderStatus.SCHEDULED, "P-1"), delivered)[0].status is OrderStatus.DELIVERED


def test_backorder_then_reserved_or_rejected() -> None:
    [change] = advance(Tracking(OrderStatus.PLACED), OrderWasBackordered("no stock"))
    assert change.status is OrderStatus.BACKORDERED
    backordered = Tracking(OrderStatus.BACKORDERED)
    assert advance(backordered, StockWasReserved("DC-1"))[0].status is OrderStatus.RESERVED
    rejected = advance(backordered, ReservationWasRejected("unknown_sku", "gone"))
    assert rejected[0].status is OrderStatus.REJECTED


def test_facts_never_move_an_order_backwards() -> None:
    assert advance(Tracking(OrderStatus.SCHEDULED, "P-1"), StockWasReserved("DC-1")) == []
    assert advance(Tracking(OrderStatus.RESERVED), OrderWasBackordered("late")) == []
    assert advance(Tracking(OrderStatus.RESERVED), StockWasReserved("DC-1")) == []
    assert advance(Tracking(OrderStatus.RESERVED), ReservationWasRejected("x", "late")) == []
    for terminal in (OrderStatus.DELIVERED, OrderStatus.CANCELLED, OrderStatus.REJECTED):
        for fact in (StockWasReserved("DC-1"), scheduled(),
                     OrderWasDelivered("P-1", "S-1", NOW, "x"),
                     DeliveryHasFailed("P-1", "S-1", NOW, "gate closed")):
            assert advance(Tracking(terminal), fact) == [], (terminal, fact)


def test_a_later_fact_skips_the_steps_it_implies() -> None:
    # The scheduled event overtook the reserved one (different topics).
    assert advance(Tracking(OrderStatus.PLACED), scheduled())[0].status is OrderStatus.SCHEDULED
    delivered = OrderWasDelivered("P-1", "S-1", NOW, "x")
    assert advance(Tracking(OrderStatus.RESERVED), delivered)[0].status is OrderStatus.DELIVERED


def test_failed_delivery_returns_the_order_for_re_planning_and_closes_the_plan() -> None:
    failed = DeliveryHasFailed("P-1", "S-1", NOW, "gate closed")
    changes = advance(Tracking(OrderStatus.SCHEDULED, "P-1"), failed)
    assert [c.status for c in changes] == [OrderStatus.DELIVERY_FAILED, OrderStatus.RESERVED]
    after = Tracking(OrderStatus.RESERVED, None, frozenset({"P-1"}))
    assert advance(after, scheduled("P-1")) == [], "a late schedule of the failed plan"
    assert advance(after, failed) == [], "the same failure again"
    assert advance(after, scheduled("P-2"))[0].status is OrderStatus.SCHEDULED


def test_a_reschedule_replaces_only_an_older_statement() -> None:
    order = Tracking(OrderStatus.SCHEDULED, "P-1", scheduled_fact_at=NOW)
    assert advance(order, scheduled("P-1", at=NOW - timedelta(seconds=1))) == []
    [change] = advance(order, scheduled("P-1", at=NOW + timedelta(seconds=1)))
    assert change.detail["rescheduled"] is True


def test_a_re_plan_that_leaves_the_order_out_returns_it_for_the_next_plan() -> None:
    unscheduled = OrderWasUnscheduled("P-1", "P-2", "left out of the re-plan", NOW)
    order = Tracking(OrderStatus.SCHEDULED, "P-1", scheduled_fact_at=NOW - timedelta(minutes=5))
    [change] = advance(order, unscheduled)
    assert change.status is OrderStatus.RESERVED and change.detail["replaced_by"] == "P-2"
    after = Tracking(OrderStatus.RESERVED, None, frozenset({"P-1"}))
    assert advance(after, unscheduled) == [], "the same statement again"
    assert advance(after, scheduled("P-3", at=NOW + timedelta(minutes=1)))[0].status is OrderStatus.SCHEDULED
    # A later plan took it again before this statement arrived: the newer schedule stays.
    taken_again = Tracking(OrderStatus.SCHEDULED, "P-3", scheduled_fact_at=NOW + timedelta(minutes=1))
    assert advance(taken_again, unscheduled) == []
    assert advance(Tracking(OrderStatus.DELIVERED), unscheduled) == []


def test_cancellation_until_dispatch() -> None:
    for status in (OrderStatus.PLACED, OrderStatus.RESERVED, OrderStatus.BACKORDERED,
                   OrderStatus.CANCELLED):
        assert cancellation_refusal(status) is None
    for status in (OrderStatus.SCHEDULED, OrderStatus.DELIVERED, OrderStatus.REJECTED):
        assert cancellation_refusal(status)


def test_order_ids_sort_by_creation_time() -> None:
    first = new_order_id()
    later = [new_order_id() for _ in range(5)]
    assert len(first) == 28 and first.startswith("O-")
    assert all(first[:12] <= other[:12] for other in later)
