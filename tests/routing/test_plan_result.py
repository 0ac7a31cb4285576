"""The typed plan result: pure, no broker, no database. Its JSON is the stored shape."""

from __future__ import annotations

import copy
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from typing import Any

from services.routing.domain.plan_result import PlanResult, changed_assignments

CST = timezone(timedelta(hours=8))


def _visit(stop_id: str, orders: list[str], arrival: str, *, cold: bool = False, trip: int = 0) -> dict:
    return {
        "stop_id": stop_id, "community_id": "C-1", "community_name": "Open 1", "risk_level": "normal",
        "cold": cold, "trip": trip, "arrival": f"2026-11-20T{arrival}:00+08:00",
        "service_start": f"2026-11-20T{arrival}:00+08:00", "departure": f"2026-11-20T{arrival}:30+08:00",
        "window": ["2026-11-20T08:00:00+08:00", "2026-11-20T12:00:00+08:00"],
        "load_kg": 12.5, "load_l": 30.0, "order_ids": orders, "lat": 39.93, "lon": 116.47,
    }


#: A solved plan as ``Plan.result`` held it before any key was added at dispatch.
STORED = {
    "routes": [{
        "vehicle_id": "V-1", "depot_id": "DC-1", "start": "2026-11-20T06:00:00+08:00",
        "end": "2026-11-20T13:00:00+08:00", "distance_km": 21.4, "duration_min": 420.0,
        "stops": [
            _visit("DC-1/C-1/ambient/urgent", ["O-1"], "08:10"),
            _visit("DC-1/C-1/ambient", ["O-2", "O-3"], "08:40"),
            _visit("DC-1/C-1/cold#1+P-0", ["O-3"], "10:05", cold=True, trip=1),
        ],
    }],
    "unassigned": [
        {"stop_id": "DC-1/C-2/ambient", "community_id": "C-2", "community_name": "Sealed 2", "order_ids": ["O-4"],
         "reason_code": "window_unreachable", "reason": "no vehicle reaches the gate in time",
         "lat": 39.9, "lon": 116.4},
        {"stop_id": None, "community_id": "C-9", "community_name": None, "order_ids": ["O-5"],
         "reason_code": "community_unknown", "reason": "community C-9 is not registered", "lat": None, "lon": None},
    ],
    "kpis": {"vehicles_used": 1, "orders_total": 5, "orders_served": 3, "on_time_share": 1.0},
    "feasible": True,
    "cost": 5123,
}


def test_the_json_round_trip_is_the_stored_shape() -> None:
    stored = {**copy.deepcopy(STORED), "solve_seconds": 1.5, "superseded_by": "P-2", "skipped_at_dispatch": ["O-6"]}
    result = PlanResult.from_json(stored)
    assert result.to_json() == stored
    assert list(result.to_json()) == list(stored)  # the keys in the order they are stored
    assert PlanResult.from_json(result.to_json()) == result


def test_an_old_row_without_the_optional_keys_loads_and_stays_as_it_was() -> None:
    result = PlanResult.from_json(STORED)
    assert (result.solve_seconds, result.superseded_by, result.skipped_at_dispatch) == (None, None, None)
    assert result.to_json() == STORED
    # Keys set later go through replace: the rest of the row stays as stored.
    dispatched = replace(result, skipped_at_dispatch=()).to_json()
    assert dispatched == {**STORED, "skipped_at_dispatch": []}


def test_an_unsolved_plan_has_the_empty_result() -> None:
    empty = PlanResult.from_json({})
    assert empty.routes == () and empty.unassigned == () and dict(empty.kpis) == {}
    assert empty.visits() == () and empty.visit("DC-1/C-1/ambient") is None and empty.order_ids() == set()


def test_times_are_aware_datetimes_and_the_stop_id_is_read_once() -> None:
    result = PlanResult.from_json(STORED)
    first, second, third = result.visits()
    assert first.arrival == datetime(2026, 11, 20, 8, 10, tzinfo=CST) and first.arrival.tzinfo is not None
    assert first.window == (datetime(2026, 11, 20, 8, tzinfo=CST), datetime(2026, 11, 20, 12, tzinfo=CST))
    assert (first.urgent, second.urgent, third.urgent) == (True, False, False)
    assert third.cold and third.origin_id == "DC-1/C-1/cold#1"
    assert result.unassigned[1].stop_id is None and result.unassigned[1].lat is None


def test_queries() -> None:
    result = PlanResult.from_json(STORED)
    route = result.routes[0]
    assert result.vehicle_ids() == {"V-1"} and result.order_ids() == {"O-1", "O-2", "O-3"}
    assert result.visit("DC-1/C-1/ambient") == route.visits[1]
    assert route.pending({"DC-1/C-1/ambient/urgent"}) == route.visits[1:]
    # O-3 goes in two parts (ambient, then cold): it is complete at the later one.
    assert {o: v.stop_id for o, (_r, v) in result.completing_visits().items()} == {
        "O-1": "DC-1/C-1/ambient/urgent", "O-2": "DC-1/C-1/ambient", "O-3": "DC-1/C-1/cold#1+P-0"}
    assert result.assignments()["O-3"] == ("V-1", "DC-1/C-1/cold#1", datetime(2026, 11, 20, 10, 5, tzinfo=CST))


def test_changed_assignments_are_the_new_and_the_moved_orders() -> None:
    parent = PlanResult.from_json(STORED)
    moved: dict[str, Any] = copy.deepcopy(STORED)
    moved["routes"][0]["stops"][1]["arrival"] = "2026-11-20T09:40:00+08:00"  # O-2, O-3's first part
    moved["routes"][0]["stops"][0]["order_ids"] = ["O-1", "O-7"]  # a new order
    moved["routes"][0]["stops"][2]["stop_id"] = "DC-1/C-1/cold#1+P-1"  # the same stop, re-planned again
    assert set(changed_assignments(parent, PlanResult.from_json(moved))) == {"O-2", "O-7"}
    assert changed_assignments(parent, parent) == {}
