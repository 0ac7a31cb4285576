"""Fast unit tests of inventory's pure rules: depot policy, priorities, stock movements."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.inventory.domain.allocation import Claim, is_expired, serving_order, to_release
from services.inventory.domain.model import Community, Depot, Line, Tier, merge_lines
from services.inventory.domain.policy import candidate_depots
from services.inventory.domain.reserving import PlacedOrder, decide
from services.inventory.domain.stock import (
    StockRuleViolation,
    days_of_supply,
    is_low,
    on_hand_delta,
)
from shared.priority import Priority

C = Community(id="C-E1", district="east", lat=39.90, lon=116.40)


def depot(id: str, tier: Tier, lat: float, lon: float, district: str, cold: bool = False,
          communities: tuple[str, ...] = ()) -> Depot:
    return Depot(id, tier, lat, lon, district, cold, frozenset(communities))


DEPOTS = [
    depot("CITY-1", Tier.CITY, 40.10, 116.60, "north", cold=True),
    depot("DC-W1", Tier.DISTRICT, 39.90, 116.20, "west"),
    depot("DC-E2", Tier.DISTRICT, 39.99, 116.50, "east"),
    depot("DC-E1", Tier.DISTRICT, 39.92, 116.42, "east", cold=True),
    depot("CS-E1", Tier.COMMUNITY, 39.901, 116.401, "east", communities=("C-E1",)),
    depot("CS-OTHER", Tier.COMMUNITY, 39.9, 116.4, "east", communities=("C-E9",)),
]


def ids(depots: list[Depot]) -> list[str]:
    return [d.id for d in depots]


def test_policy_goes_station_home_centre_other_centres_by_distance_then_city() -> None:
    assert ids(candidate_depots("C-E1", C, DEPOTS, needs_cold_chain=False)) == [
        "CS-E1", "DC-E1", "DC-E2", "DC-W1", "CITY-1",
    ]


def test_home_centre_is_the_nearest_district_depot_in_the_communitys_district() -> None:
    west = Community(id="C-W1", district="west", lat=39.99, lon=116.50)  # next to DC-E2
    order = ids(candidate_depots("C-W1", west, DEPOTS, needs_cold_chain=False))
    assert order[0] == "DC-W1", "home centre first, even when another district's is nearer"
    assert order == ["DC-W1", "DC-E2", "DC-E1", "CITY-1"]


def test_stations_serve_only_their_own_communities() -> None:
    assert "CS-OTHER" not in ids(candidate_depots("C-E1", C, DEPOTS, needs_cold_chain=False))


def test_cold_chain_orders_only_go_to_depots_with_cold_storage() -> None:
    assert ids(candidate_depots("C-E1", C, DEPOTS, needs_cold_chain=True)) == ["DC-E1", "CITY-1"]


def test_unknown_community_location_still_gets_every_tier_in_a_stable_order() -> None:
    order = ids(candidate_depots("C-E1", None, DEPOTS, needs_cold_chain=False))
    assert order == ["CS-E1", "DC-E1", "DC-E2", "DC-W1", "CITY-1"]


def test_merge_lines_sums_the_same_sku_and_sorts() -> None:
    assert merge_lines([Line("B", 1), Line("A", 2), Line("B", 3)]) == [Line("A", 2), Line("B", 4)]


T0 = datetime(2026, 11, 20, 6, 0, tzinfo=UTC)


def test_backorders_are_served_medical_vulnerable_standard_then_fifo() -> None:
    claims = [
        Claim("s-old", Priority.STANDARD, T0),
        Claim("v-new", Priority.VULNERABLE, T0 + timedelta(hours=2)),
        Claim("m-new", Priority.MEDICAL, T0 + timedelta(hours=3)),
        Claim("v-old", Priority.VULNERABLE, T0 + timedelta(hours=1)),
    ]
    assert [c.order_id for c in serving_order(claims)] == ["m-new", "v-old", "v-new", "s-old"]


def test_backorder_expiry() -> None:
    assert is_expired(T0, T0 + timedelta(hours=73), timedelta(hours=72))
    assert not is_expired(T0, T0 + timedelta(hours=71), timedelta(hours=72))


def test_shortage_releases_lowest_priority_newest_first_until_enough() -> None:
    held = [
        Claim("m", Priority.MEDICAL, T0, 5),
        Claim("s-old", Priority.STANDARD, T0, 2),
        Claim("s-new", Priority.STANDARD, T0 + timedelta(hours=1), 2),
        Claim("v", Priority.VULNERABLE, T0, 3),
    ]
    assert [c.order_id for c in to_release(held, 3)] == ["s-new", "s-old"]
    assert [c.order_id for c in to_release(held, 5)] == ["s-new", "s-old", "v"]
    assert to_release(held, 0) == []


def test_stock_movement_rules() -> None:
    assert on_hand_delta("received", 5, 10) == 5
    assert on_hand_delta("adjusted", -4, 10) == -4
    assert on_hand_delta("counted", 3, 10) == -7
    with pytest.raises(StockRuleViolation, match="below zero"):
        on_hand_delta("adjusted", -11, 10)
    with pytest.raises(StockRuleViolation):
        on_hand_delta("received", 0, 10)
    with pytest.raises(StockRuleViolation):
        on_hand_delta("counted", -1, 10)


def test_days_of_supply_and_low_stock() -> None:
    assert days_of_supply(30, 10.0) == 3.0
    assert days_of_supply(30, 0.0) is None
    assert is_low(20, 10.0, threshold_days=3, threshold_units=10) == (True, 2.0)
    assert is_low(40, 10.0, threshold_days=3, threshold_units=10) == (False, 4.0)
    assert is_low(5, 0.0, threshold_days=3, threshold_units=10) == (True, None)
    assert is_low(50, 0.0, threshold_days=3, threshold_units=10) == (False, None)


# --- deciding a run of placed orders (domain.reserving) ------------------------------

def placed(order_id: str, minute: int, candidates: tuple[str, ...], qty: int = 2,
           priority: Priority = Priority.STANDARD, unknown: tuple[str, ...] = ()) -> PlacedOrder:
    claim = Claim(order_id, priority, T0 + timedelta(minutes=minute))
    return PlacedOrder(claim, [Line("RICE", qty)], candidates=candidates, unknown_skus=unknown)


T0 = datetime(2026, 11, 20, 8, tzinfo=UTC)


def test_a_run_takes_stock_in_arrival_order_then_the_next_depot_then_waits() -> None:
    run = [placed("O-1", 3, ("A", "B")), placed("O-2", 1, ("A", "B")), placed("O-3", 2, ("A", "B"))]
    decided = decide(run, {("A", "RICE"): 3, ("B", "RICE"): 2}, already_allocated=())
    assert [(d.position, d.outcome, d.depot_id) for d in decided.decisions] == [
        (0, "reserved", "A"), (1, "reserved", "B"), (2, "backordered", None),
    ]
    assert decided.totals == {("A", "RICE"): 2, ("B", "RICE"): 2}


def test_a_run_under_fcfs_is_decided_by_placement_time() -> None:
    run = [placed("O-1", 3, ("A",)), placed("O-2", 1, ("A",))]
    decided = decide(run, {("A", "RICE"): 2}, already_allocated=(), policy="fcfs")
    assert [(d.position, d.outcome) for d in decided.decisions] == [(1, "reserved"), (0, "backordered")]


def test_a_run_skips_orders_allocated_before_or_twice_and_refuses_unknown_skus() -> None:
    run = [placed("O-1", 0, ("A",)), placed("O-2", 0, ("A",)), placed("O-2", 0, ("A",)),
           placed("O-3", 0, ("A",), unknown=("CAVIAR",))]
    decided = decide(run, {("A", "RICE"): 10}, already_allocated={"O-1"})
    assert [(d.position, d.outcome) for d in decided.decisions] == [(1, "reserved"), (3, "rejected")]
    assert decided.totals == {("A", "RICE"): 2}
