"""Why a run missed a target: the cause of each late order, from the gates' hours and the depots' loads."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from services.simulation.diagnosis import OrderSeen, diagnose, medical_why, vulnerable_why, window_opens_within

TZ = ZoneInfo("Asia/Shanghai")
SEALED = [["07:00", "09:00"], ["15:00", "17:00"]]
SHIFT = ("06:00", "20:00")
SIX_HOURS = timedelta(hours=6)


def _at(hour: int, minute: int = 0, day: int = 20) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=TZ)


@pytest.mark.parametrize(("placed", "reachable"), [
    (_at(2), True),        # the 07:00 window opens before the 08:00 deadline
    (_at(0, 30), False),   # deadline 06:30, the gate opens at 07:00
    (_at(11), True),       # the afternoon window opens at 15:00, before 17:00
    (_at(16, 30), True),   # still open for half an hour
    (_at(17, 30), False),  # evening: nothing opens before 23:30
    (_at(22), False),
])
def test_a_medical_order_can_make_6_h_only_when_its_gate_opens_in_time(placed: datetime, reachable: bool) -> None:
    assert window_opens_within(placed, SEALED, SHIFT, TZ, SIX_HOURS) is reachable


def test_a_window_outside_the_fleet_shift_does_not_count() -> None:
    assert not window_opens_within(_at(1), [["04:00", "06:00"]], SHIFT, TZ, SIX_HOURS)
    assert window_opens_within(_at(1), [["04:00", "06:30"]], SHIFT, TZ, SIX_HOURS)


def test_the_window_is_read_in_the_city_timezone_whatever_the_instant_zone() -> None:
    placed = _at(2).astimezone(ZoneInfo("UTC"))  # 18:00 UTC the day before
    assert window_opens_within(placed, SEALED, SHIFT, TZ, SIX_HOURS)


def _order(id_: str, priority: str, placed: datetime, delivered: datetime | None, depot: str = "DC-A",
           status: str | None = None) -> OrderSeen:
    status = status or ("delivered" if delivered else "reserved")
    return OrderSeen(id_, priority, status, "C-1", depot, placed, delivered)


def test_late_orders_are_taken_apart_by_cause_and_depot() -> None:
    orders = [
        _order("m-night", "medical", _at(21), _at(7, 30, day=21)),           # late, gate closed all evening
        _order("m-day", "medical", _at(9, 30), _at(16, 45), depot="DC-B"),   # could have made 15:00-15:30
        _order("m-ok", "medical", _at(10), _at(15, 10)),
        _order("v-short", "vulnerable", _at(8), None, status="backordered"),
        _order("v-open", "vulnerable", _at(8), None, depot="DC-B", status="reserved"),
        _order("s", "standard", _at(8), None, depot="DC-B", status="reserved"),
    ]
    vehicles = [{"id": "V1", "depot_id": "DC-A"}, {"id": "V2", "depot_id": "DC-A"}, {"id": "V3", "depot_id": "DC-B"}]
    found = diagnose(orders, communities={"C-1": {"receiving_windows": SEALED}}, vehicles=vehicles, tz=TZ,
                     ended_at=_at(12, day=21), medical_sla=SIX_HOURS, vulnerable_limit=timedelta(hours=24))

    assert (found.medical_late, found.medical_reachable) == (2, 2)
    assert found.medical_late_reachable == {"DC-B": 1}
    assert found.vulnerable_late == {"backordered (stock short)": 1, "open: no vehicle took it in time": 1}
    load = found.depot_load()
    assert [row["depot_id"] for row in load] == ["DC-B", "DC-A"]  # 3 orders on 1 vehicle before 3 on 2
    assert load[0]["delivered_share"] == 0.3333

    why = medical_why(found, medical=3)
    assert "1 of the 2 late medical orders" in why and "at most 66.7%" in why
    assert "DC-B 1" in why and "orders per vehicle and day: DC-B" in why and "too small" in why
    assert "1 backordered (stock short)" in vulnerable_why(found)


def test_nothing_late_needs_no_reason() -> None:
    found = diagnose([_order("m", "medical", _at(10), _at(11))], communities={}, vehicles=[], tz=TZ,
                     ended_at=_at(12), medical_sla=SIX_HOURS, vulnerable_limit=timedelta(hours=24))
    assert medical_why(found, medical=1) == "" and vulnerable_why(found) == ""
