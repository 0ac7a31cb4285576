"""From demand to the engine's problem and back: pure, no broker, no database."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from services.routing.domain.demand import Load
from services.routing.domain.describing import describe_solution
from services.routing.domain.planning import (
    CommunityInfo,
    DemandInfo,
    DepotInfo,
    VehicleInfo,
    build_problem,
    unroutable,
)
from services.routing.engine import SolveParams, Stop, solve

TZ = ZoneInfo("Asia/Shanghai")
DAY = date(2026, 11, 20)
MIDNIGHT = datetime.combine(DAY, time(0), tzinfo=TZ)
COMMUNITIES = {
    "C-1": CommunityInfo("C-1", "Open 1", 39.93, 116.47, "normal", [["08:00", "12:00"], ["13:00", "19:00"]], 10),
}
DEPOTS = [DepotInfo("DC-1", 39.92, 116.45)]
FLEET = [VehicleInfo("V-1", "DC-1", 1000, 5000, True, True, "06:00", "20:00", 1, 1800)]


def _order(order_id: str, community_id: str = "C-1", *, placed: datetime, medicine: bool = False,
           priority: str = "standard") -> DemandInfo:
    return DemandInfo(order_id=order_id, depot_id="DC-1", community_id=community_id, priority=priority,
                      placed_at=placed, load=Load(ambient_kg=10, ambient_l=12), has_medicine=medicine)


def _build(*demand: DemandInfo) -> dict[str, Stop]:
    problem, _meta = build_problem(service_date=DAY, now=MIDNIGHT + timedelta(hours=6), tz=TZ, depots=DEPOTS,
                                   vehicles=FLEET, communities=COMMUNITIES, demand=demand)
    return {s.id: s for s in problem.stops}


def test_urgent_medicine_gets_its_own_stop_and_the_community_keeps_no_deadline() -> None:
    stops = _build(
        _order("O-1", placed=MIDNIGHT - timedelta(hours=10)),
        _order("O-2", placed=MIDNIGHT + timedelta(hours=5), medicine=True, priority="medical"),
    )
    assert set(stops) == {"DC-1/C-1/ambient", "DC-1/C-1/ambient/urgent"}
    assert stops["DC-1/C-1/ambient"].deadline_s is None
    urgent = stops["DC-1/C-1/ambient/urgent"]
    assert urgent.order_ids == ("O-2",) and urgent.deadline_s == 11 * 3600


def test_a_deadline_the_night_made_impossible_moves_to_an_hour_after_the_gate_opens() -> None:
    # Placed at 01:00: due at 07:00, but the gate opens at 08:00.
    night = _build(_order("O-1", placed=MIDNIGHT + timedelta(hours=1), medicine=True, priority="medical"))
    assert night["DC-1/C-1/ambient/urgent"].deadline_s == 9 * 3600
    # Missed on an earlier day: flagged by priority, not by a deadline; due tomorrow: not today's business.
    missed = _build(_order("O-2", placed=MIDNIGHT - timedelta(hours=7), medicine=True, priority="medical"))
    later = _build(_order("O-3", placed=MIDNIGHT + timedelta(hours=20), medicine=True, priority="medical"))
    assert [s.deadline_s for s in (*missed.values(), *later.values())] == [None, None]


def test_orders_of_an_unknown_community_are_unassigned_with_a_reason() -> None:
    placed = MIDNIGHT - timedelta(hours=2)
    demand = [_order("O-1", placed=placed), _order("O-2", "C-9", placed=placed, priority="vulnerable"),
              _order("O-3", "C-9", placed=placed)]
    problem, meta = build_problem(service_date=DAY, now=MIDNIGHT, tz=TZ, depots=DEPOTS, vehicles=FLEET,
                                  communities=COMMUNITIES, demand=demand)
    assert [s.id for s in problem.stops] == ["DC-1/C-1/ambient"]
    solution = solve(problem, SolveParams(time_limit_s=1, workers=0, strategy="ortools"))
    result = describe_solution(solution, problem, meta, COMMUNITIES, service_date=DAY, tz=TZ,
                               unrouted=unroutable(demand, COMMUNITIES)).to_json()
    assert result["unassigned"] == [{
        "stop_id": None, "community_id": "C-9", "community_name": None, "order_ids": ["O-2", "O-3"],
        "reason_code": "community_unknown", "reason": result["unassigned"][0]["reason"], "lat": None, "lon": None,
    }]
    assert "C-9" in result["unassigned"][0]["reason"]
    kpis = result["kpis"]
    assert (kpis["orders_total"], kpis["orders_served"], kpis["priority_orders"]) == (3, 1, 1)
    assert kpis["priority_served_share"] == 0.0
