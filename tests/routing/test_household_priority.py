"""Priority weighed per household (issue 17): a stop's drop penalty sums its orders, the
cold van keeps room for urgent medicine, and the KPIs count who was left out."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from services.routing.domain.demand import Load
from services.routing.domain.planning import (
    CommunityInfo,
    DemandInfo,
    DepotInfo,
    StopMeta,
    VehicleInfo,
    build_problem,
    kpis,
    unroutable,
)
from services.routing.engine import (
    Problem,
    Route,
    Solution,
    SolveParams,
    TimeWindow,
    Unassigned,
    Visit,
    check_solution,
    derived_penalty,
    solve,
)

TZ = ZoneInfo("Asia/Shanghai")
DAY = date(2026, 11, 20)
MIDNIGHT = datetime.combine(DAY, time(0), tzinfo=TZ)
NOW = MIDNIGHT + timedelta(hours=6)
OPEN = [["08:00", "12:00"], ["13:00", "19:00"]]
DEPOTS = [DepotInfo("DC-1", 39.92, 116.45), DepotInfo("DC-2", 39.80, 116.30)]
ENGINES = pytest.mark.parametrize(
    "params",
    [SolveParams(time_limit_s=1, seed=7, workers=0, strategy="ortools"),
     SolveParams(time_limit_s=1, seed=7, workers=0, strategy="pyvrp"),
     SolveParams(time_limit_s=2, seed=7, workers=0)],
    ids=["ortools", "pyvrp", "auto"],
)


def _community(cid: str, lat: float, lon: float, risk: str = "normal") -> CommunityInfo:
    return CommunityInfo(cid, f"Community {cid}", lat, lon, risk, OPEN, 10)


def _van(vid: str, *, cold: bool = False, closed_loop: bool = False, kg: float = 300,
         depot: str = "DC-1") -> VehicleInfo:
    return VehicleInfo(vid, depot, kg, 5000, cold, closed_loop, "06:00", "20:00", 1, 1800)


def _orders(prefix: str, community: str, n: int, *, kg: float, priority: str = "standard", cold: bool = False,
            medicine: bool = False, placed: datetime = MIDNIGHT - timedelta(days=1)) -> list[DemandInfo]:
    load = Load(cold_kg=kg, cold_l=kg) if cold else Load(ambient_kg=kg, ambient_l=kg)
    return [DemandInfo(f"{prefix}-{k:02d}", "DC-1", community, priority, placed, load, medicine) for k in range(n)]


def _build(vehicles: list[VehicleInfo], communities: dict[str, CommunityInfo],
           demand: list[DemandInfo]) -> tuple[Problem, dict[str, StopMeta]]:
    # Only the depots with vehicles: OR-Tools mistakes an empty depot's node for a stop.
    depots = [d for d in DEPOTS if any(v.depot_id == d.id for v in vehicles)]
    return build_problem(service_date=DAY, now=NOW, tz=TZ, depots=depots, vehicles=vehicles,
                         communities=communities, demand=demand)


def _served(solution: Solution) -> dict[str, str]:
    return {v.stop_id: r.vehicle_id for r in solution.routes for v in r.visits}


def test_a_stop_weighs_each_of_its_orders_by_its_own_priority_and_age() -> None:
    communities = {"C-1": _community("C-1", 39.93, 116.46)}
    demand = [*_orders("S", "C-1", 3, kg=5, placed=NOW - timedelta(days=1)),
              *_orders("V", "C-1", 1, kg=5, priority="vulnerable", placed=NOW)]
    problem, meta = _build([_van("V-1")], communities, demand)
    (s,) = problem.stops
    assert s.priority == "vulnerable" and s.waiting_s == 86_400  # the stop's flags as before
    assert s.penalty == 3 * derived_penalty("standard", 86_400) + derived_penalty("vulnerable", 0)
    assert meta[s.id].priority_orders == {"V-00"} and meta[s.id].medical_orders == frozenset()


@ENGINES
def test_two_medical_households_are_served_before_forty_standard_ones(params: SolveParams) -> None:
    # One van, room for one of the two stops; the standard one is nearer and waited longer.
    communities = {"C-S": _community("C-S", 39.93, 116.46), "C-M": _community("C-M", 39.99, 116.55)}
    demand = [*_orders("S", "C-S", 40, kg=10, placed=NOW - timedelta(days=4)),
              *_orders("M", "C-M", 2, kg=100, priority="medical", placed=NOW)]
    problem, meta = _build([_van("V-1", kg=450)], communities, demand)
    solution = solve(problem, params)
    assert check_solution(problem, solution).ok
    assert _served(solution) == {"DC-1/C-M/ambient": "V-1"}
    k = kpis(solution, problem, (), meta)
    assert (k["medical_orders_left_out"], k["orders_served"]) == (0, 2)


@ENGINES
def test_the_refrigerated_van_keeps_its_room_for_the_urgent_cold_medicine(params: SolveParams) -> None:
    # Each van carries 300 kg; the refrigerated one may also carry ambient loads.
    fleet = [_van("V-COLD", cold=True), _van("V-AMB")]
    communities = {
        "C-1": _community("C-1", 39.94, 116.47), "C-2": _community("C-2", 39.90, 116.47),
        "C-3": _community("C-3", 39.93, 116.43), "C-4": _community("C-4", 39.91, 116.43),
        "C-5": _community("C-5", 39.98, 116.53),  # the farthest
    }
    # Medicine placed at 05:00: due at 11:00, so each forms its own urgent cold stop.
    medicine = [*_orders("M1", "C-1", 1, kg=120, priority="medical", cold=True, medicine=True,
                         placed=MIDNIGHT + timedelta(hours=5)),
                *_orders("M2", "C-2", 1, kg=120, priority="medical", cold=True, medicine=True,
                         placed=MIDNIGHT + timedelta(hours=5))]
    ambient = [*_orders("A3", "C-3", 20, kg=7), *_orders("A4", "C-4", 20, kg=7)]
    cold_stops = {"DC-1/C-1/cold/urgent", "DC-1/C-2/cold/urgent"}

    # 240 kg cold + 280 kg ambient in 600 kg: everything fits only with the ambient loads
    # on the ambient van.
    problem, meta = _build(fleet, communities, medicine + ambient)
    assert cold_stops <= {s.id for s in problem.stops if s.refrigerated and s.deadline_s == 11 * 3600}
    solution = solve(problem, params)
    assert check_solution(problem, solution).ok
    served = _served(solution)
    assert not solution.unassigned, solution.unassigned
    assert {s: served[s] for s in cold_stops} == {s: "V-COLD" for s in cold_stops}

    # 100 kg more ambient (40 households) in C-5: 620 kg no longer fit. The cold van could
    # take C-5 in place of one medicine stop; it does not, and the ambient van takes the
    # 40 households with one of the 20-household stops (by travel alone it would drop C-5).
    problem, meta = _build(fleet, communities, medicine + ambient + _orders("A5", "C-5", 40, kg=2.5))
    solution = solve(problem, params)
    assert check_solution(problem, solution).ok
    served = _served(solution)
    assert {s: served.get(s) for s in cold_stops} == {s: "V-COLD" for s in cold_stops}
    assert served.get("DC-1/C-5/ambient") is not None
    assert [u.stop_id for u in solution.unassigned] in (["DC-1/C-3/ambient"], ["DC-1/C-4/ambient"])
    k = kpis(solution, problem, (), meta)
    assert (k["medical_orders_left_out"], k["orders_served"], k["vehicles_idle_while_dropping"]) == (0, 62, 0)


def _visit(stop_id: str, order_ids: tuple[str, ...]) -> Visit:
    w = TimeWindow(8 * 3600, 12 * 3600)
    return Visit(stop_id, 0, 9 * 3600, 9 * 3600, 9 * 3600 + 600, w, 10.0, 10.0, order_ids)


def test_kpis_count_priority_orders_left_out_and_vans_idle_while_stops_are_dropped() -> None:
    communities = {"C-1": _community("C-1", 39.93, 116.46), "C-2": _community("C-2", 39.95, 116.48),
                   "C-3": _community("C-3", 39.91, 116.44, risk="sealed")}
    demand = [
        *_orders("S1", "C-1", 1, kg=5), *_orders("M1", "C-1", 1, kg=5, priority="medical"),  # served
        *_orders("V2", "C-2", 1, kg=5, priority="vulnerable"), *_orders("M2", "C-2", 1, kg=5, priority="medical"),
        *_orders("S2", "C-2", 1, kg=5),  # C-2 ambient: dropped, the fleet was full
        *_orders("C2", "C-2", 1, kg=5, priority="medical", cold=True),  # C-2 cold: dropped too
        *_orders("V3", "C-3", 1, kg=5, priority="vulnerable"),  # sealed C-3: its window cannot be reached
        DemandInfo("M9-00", "DC-1", "C-9", "medical", NOW, Load(ambient_kg=5)),  # unknown community
    ]
    fleet = [
        _van("V-BUSY", cold=True, closed_loop=True),
        _van("V-AMB"),  # idle, may carry C-2 ambient
        _van("V-COLD", cold=True),  # idle, may carry both C-2 stops
        _van("V-SEALED", closed_loop=True, cold=True, depot="DC-2"),  # idle, another depot's
    ]
    problem, meta = _build(fleet, communities, demand)
    unrouted = unroutable(demand, communities)
    stops = {s.id: s for s in problem.stops}

    def left(stop_id: str, code: str) -> Unassigned:
        return Unassigned(stop_id, stops[stop_id].order_ids, code, "test")  # type: ignore[arg-type]

    route = Route("V-BUSY", (_visit("DC-1/C-1/ambient", stops["DC-1/C-1/ambient"].order_ids),), 1000, 1200,
                  8 * 3600, 10 * 3600)
    dropped = (left("DC-1/C-2/ambient", "fleet_capacity_exhausted"), left("DC-1/C-2/cold", "fleet_capacity_exhausted"),
               left("DC-1/C-3/ambient", "window_unreachable"))
    solution = Solution((route,), dropped, cost=0, distance_m=1000, duration_s=1200)
    k = kpis(solution, problem, unrouted, meta)
    assert (k["orders_total"], k["orders_served"], k["priority_orders"]) == (8, 2, 6)
    assert (k["medical_orders_left_out"], k["vulnerable_orders_left_out"]) == (3, 2)  # M2, C2, M9; V2, V3
    assert k["vehicles_idle_while_dropping"] == 2  # V-AMB and V-COLD; not DC-2's van

    # Only the sealed stop dropped for room: only a closed-loop van of its depot could have gone.
    sealed = (left("DC-1/C-3/ambient", "fleet_capacity_exhausted"),)
    assert kpis(Solution((route,), sealed, 0, 1000, 1200), problem, unrouted, meta)[
        "vehicles_idle_while_dropping"] == 0
    # Dropped for a reason no van could change (window, deadline): nobody is idle "while dropping".
    unreachable = (left("DC-1/C-2/ambient", "window_unreachable"),)
    assert kpis(Solution((route,), unreachable, 0, 1000, 1200), problem, unrouted, meta)[
        "vehicles_idle_while_dropping"] == 0
    # Without meta, a stop's orders count by the stop's priority (C-2 ambient is medical: V2 too).
    bare = kpis(solution, problem, unrouted)
    assert (bare["medical_orders_left_out"], bare["vulnerable_orders_left_out"]) == (5, 1)
