"""One tiny case per constraint: it binds (the plan changes when it is removed)."""

from dataclasses import replace

import pytest

from services.routing.engine import (
    RELOAD_TOKEN,
    Depot,
    Location,
    Problem,
    Progress,
    SolveParams,
    TimeWindow,
    check_solution,
    reoptimize,
    solve,
)

from .helpers import FAST, H, line_matrix, problem, reasons, route_of, stop, vehicle

# Every constraint must hold for both engines of the portfolio.
ENGINES = pytest.mark.parametrize(
    "params", [FAST, SolveParams(time_limit_s=0.5, strategy="pyvrp")], ids=["ortools", "pyvrp"]
)


def _ok(p, s) -> None:  # type: ignore[no-untyped-def]
    assert s.is_feasible(), s._violations
    assert check_solution(p, s).ok


@ENGINES
def test_capacity_kg_and_litres(params: SolveParams) -> None:
    for dim in ("demand_kg", "demand_l"):
        stops = [stop("A", **{dim: 600}), stop("B", **{dim: 600})]
        vs = [vehicle("V1", fixed_cost=10_000), vehicle("V2", fixed_cost=10_000)]
        s = solve(problem(vs, stops), params)
        _ok(problem(vs, stops), s)
        assert len(s.routes) == 2, dim  # 1200 > 1000: two vehicles
        big = [replace(v, capacity_kg=2000, capacity_l=2000) for v in vs]
        s2 = solve(problem(big, stops), params)
        assert len(s2.routes) == 1, dim


@ENGINES
def test_multiple_windows_and_shift(params: SolveParams) -> None:
    two = (TimeWindow(8 * H, 9 * H), TimeWindow(15 * H, 16 * H))
    p = problem([vehicle(shift_start_s=10 * H)], [stop("A", windows=two)])
    s = solve(p, params)
    _ok(p, s)
    assert s.routes[0].visits[0].start_s >= 15 * H and s.routes[0].visits[0].window == two[1]
    p2 = problem([vehicle(shift_start_s=10 * H)], [stop("A", windows=two[:1])])
    assert reasons(solve(p2, params)) == {"A": "window_unreachable"}
    # The forbidden interval between windows binds too: arriving at 12:00 must wait until 15:00.
    p3 = problem([vehicle(shift_start_s=10 * H, shift_end_s=14 * H)], [stop("A", windows=two)])
    assert reasons(solve(p3, params)) == {"A": "window_unreachable"}


@ENGINES
def test_max_duration(params: SolveParams) -> None:
    # Two stops 60 km apart in opposite directions: together 4 h of driving.
    stops = [stop("A"), stop("B")]
    xs = [60.0, -60.0]
    # A fixed cost breaks the tie (one route or two cost the same driving).
    p = problem([vehicle("V1", fixed_cost=100), vehicle("V2", fixed_cost=100)], stops, xs)
    assert len(solve(p, params).routes) == 1
    lim = [vehicle("V1", max_duration_s=3 * H), vehicle("V2", max_duration_s=3 * H)]
    s = solve(problem(lim, stops, xs), params)
    _ok(problem(lim, stops, xs), s)
    assert len(s.routes) == 2 and all(r.duration_s <= 3 * H for r in s.routes)


@ENGINES
def test_eligibility_refrigerated_and_closed_loop(params: SolveParams) -> None:
    for flag, vflag in (("refrigerated", "refrigerated"), ("sealed", "closed_loop")):
        p = problem([vehicle("V1")], [stop("A", **{flag: True}), stop("B")])
        s = solve(p, params)
        _ok(p, s)
        assert reasons(s) == {"A": "no_eligible_vehicle"}
        p2 = problem([vehicle("V1"), vehicle("V2", **{vflag: True})], [stop("A", **{flag: True}), stop("B")])
        s2 = solve(p2, params)
        _ok(p2, s2)
        assert not s2.unassigned and "A" in route_of(s2, "V2")


def test_depot_eligibility() -> None:
    from services.routing.engine import Depot, Location, Problem

    from .helpers import line_matrix

    p = Problem(
        (Depot("D", Location(0, 0)), Depot("E", Location(0, 0))),
        (vehicle("V1"),),
        (stop("A", depot_id="E"),),
        line_matrix([0, 0, 10]),
    )
    assert reasons(solve(p, FAST)) == {"A": "no_eligible_vehicle"}


@ENGINES
def test_risk_order_sealed_then_depot(params: SolveParams) -> None:
    # A (sealed) early, B (open) later, both on the way: one trip without sealing.
    stops = [
        stop("A", windows=(TimeWindow(7 * H, 8 * H),)),
        stop("B", windows=(TimeWindow(9 * H, 10 * H),)),
    ]
    v = vehicle("V1", closed_loop=True, max_trips=2)
    p = problem([v], stops, [10.0, 20.0])
    s = solve(p, params)
    assert [x.trip for x in s.routes[0].visits] == [0, 0]
    sealed = [replace(stops[0], sealed=True), stops[1]]
    p2 = problem([v], sealed, [10.0, 20.0])
    s2 = solve(p2, params)
    _ok(p2, s2)
    assert [(x.stop_id, x.trip) for x in s2.routes[0].visits] == [("A", 0), ("B", 1)]
    # Open before sealed on the same trip is fine.
    late = [replace(sealed[0], windows=(TimeWindow(11 * H, 12 * H),)), stops[1]]
    s3 = solve(problem([v], late, [10.0, 20.0]), params)
    assert [(x.stop_id, x.trip) for x in s3.routes[0].visits] == [("B", 0), ("A", 0)]


@ENGINES
def test_deadline(params: SolveParams) -> None:
    # Both stops 10 km out (10 min), service 1 h; X has a medicine deadline at 07:30.
    stops = [stop("Y", service_s=H), stop("X", service_s=H, priority="medical")]
    p = problem([vehicle(shift_start_s=7 * H)], stops, [10.0, 10.0])
    dl = [stops[0], replace(stops[1], deadline_s=7 * H + 1800)]
    s = solve(problem([vehicle(shift_start_s=7 * H)], dl, [10.0, 10.0]), params)
    _ok(problem([vehicle(shift_start_s=7 * H)], dl, [10.0, 10.0]), s)
    assert route_of(s, "V1")[0] == "X" and s.routes[0].visits[0].start_s <= 7 * H + 1800
    impossible = [stops[0], replace(stops[1], deadline_s=7 * H + 300)]
    s2 = solve(problem([vehicle(shift_start_s=7 * H)], impossible, [10.0, 10.0]), params)
    assert reasons(s2) == {"X": "deadline_unreachable"}
    # A deadline already past when the shift starts: the deadline is the reason, not the fleet.
    overnight = [stops[0], replace(stops[1], deadline_s=5 * H)]
    s3 = solve(problem([vehicle(shift_start_s=7 * H)], overnight, [10.0, 10.0]), params)
    assert reasons(s3) == {"X": "deadline_unreachable"}
    assert not solve(p, params).unassigned


@ENGINES
def test_multi_trip(params: SolveParams) -> None:
    stops = [stop("A", demand_kg=800), stop("B", demand_kg=800)]
    s = solve(problem([vehicle(max_trips=1)], stops), params)
    assert list(reasons(s).values()) == ["fleet_capacity_exhausted"]
    p = problem([vehicle(max_trips=2)], stops)
    s2 = solve(p, params)
    _ok(p, s2)
    assert not s2.unassigned and s2.routes[0].trips == 2
    assert {v.trip for v in s2.routes[0].visits} == {0, 1}
    assert all(v.onboard_kg <= 1000 for v in s2.routes[0].visits)


@ENGINES
def test_split_oversized_stop(params: SolveParams) -> None:
    p = problem([vehicle("V1"), vehicle("V2")], [stop("A", demand_kg=1500)])
    s = solve(p, params)
    _ok(p, s)
    parts = sorted((v.part, v.parts, v.load_kg) for r in s.routes for v in r.visits)
    assert parts == [(0, 2, 750.0), (1, 2, 750.0)]
    s2 = solve(p, replace(params, split_oversized=False))
    assert reasons(s2) == {"A": "exceeds_vehicle_capacity"}


@ENGINES
def test_priority_decides_who_is_dropped(params: SolveParams) -> None:
    # One vehicle, two stops far apart in the same narrow window: only one fits.
    w = (TimeWindow(8 * H, 8 * H + 600),)
    for prio in ("vulnerable", "medical"):
        stops = [stop("S", windows=w), stop("P", windows=w, priority=prio)]
        s = solve(problem([vehicle()], stops, [30.0, -30.0]), params)
        assert reasons(s) == {"S": "fleet_capacity_exhausted"}
    # Same priority: the one waiting longer wins.
    stops = [stop("S", windows=w, waiting_s=2 * 86_400), stop("P", windows=w)]
    s = solve(problem([vehicle()], stops, [30.0, -30.0]), params)
    assert reasons(s) == {"P": "fleet_capacity_exhausted"}


@ENGINES
def test_fixed_cost_picks_the_cheap_vehicle(params: SolveParams) -> None:
    stops = [stop("A")]
    s = solve(problem([vehicle("V1", fixed_cost=5000), vehicle("V2")], stops), params)
    assert route_of(s, "V2") == ["A"]
    s = solve(problem([vehicle("V1"), vehicle("V2", fixed_cost=5000)], stops), params)
    assert route_of(s, "V1") == ["A"]


def test_reoptimize_keeps_prefix() -> None:
    stops = [stop("A"), stop("B"), stop("C"), stop("U", priority="medical")]
    p = problem([vehicle("V1"), vehicle("V2")], stops, [10.0, 20.0, 30.0, 15.0])
    s = reoptimize(p, {"V1": ["C", "A"]}, FAST)
    _ok(p, s)
    assert route_of(s, "V1")[:2] == ["C", "A"]
    assert not s.unassigned


def test_reoptimize_keeps_multi_trip_prefix_and_rejects_bad_ones() -> None:
    stops = [stop("A", demand_kg=800), stop("B", demand_kg=800), stop("U", demand_kg=100, priority="medical")]
    p = problem([vehicle("V1", max_trips=3)], stops, [10.0, 20.0, 15.0])
    s = reoptimize(p, {"V1": ["A", RELOAD_TOKEN, "B"]}, FAST)
    _ok(p, s)
    visits = [(v.stop_id, v.trip) for v in s.routes[0].visits]
    assert visits[:2] == [("A", 0), ("B", 1)] and ("U", 1) not in visits[:2] and not s.unassigned
    with pytest.raises(ValueError, match="unknown stop"):
        reoptimize(p, {"V1": ["X"]}, FAST)
    with pytest.raises(ValueError, match="unknown vehicle"):
        reoptimize(p, {"V9": ["A"]}, FAST)


def test_deterministic() -> None:
    stops = [stop(f"S{k}", demand_kg=150) for k in range(12)]
    xs = [float((k * 37) % 50 - 25) for k in range(12)]
    p = problem([vehicle("V1"), vehicle("V2")], stops, xs)
    a = solve(p, SolveParams(time_limit_s=0.5, seed=3))
    b = solve(p, SolveParams(time_limit_s=0.5, seed=3))
    assert a.cost == b.cost
    # Iteration-bounded mode: the same plan, visit for visit.
    c = solve(p, SolveParams(time_limit_s=2, seed=3, iterations=200))
    d = solve(p, SolveParams(time_limit_s=2, seed=3, iterations=200))
    assert c.routes == d.routes and c.cost == d.cost


def test_progress_is_reported_and_monotone() -> None:
    stops = [stop(f"S{k}", demand_kg=150) for k in range(15)]
    xs = [float((k * 37) % 50 - 25) for k in range(15)]
    events: list[Progress] = []
    sol = solve(
        problem([vehicle("V1"), vehicle("V2"), vehicle("V3")], stops, xs), SolveParams(time_limit_s=1), events.append
    )
    assert events, "no progress reported"
    costs = [e.best_cost or 0 for e in events]
    assert costs == sorted(costs, reverse=True) and len(set(costs)) == len(costs)
    assert costs[-1] == sol.cost
    assert all(e.source in ("ortools", "pyvrp") for e in events)


def test_portfolio_runs_both_engines_in_workers() -> None:
    stops = [stop(f"S{k}", demand_kg=100, windows=(TimeWindow((7 + k % 3) * H, (9 + k % 3) * H),)) for k in range(20)]
    xs = [float((k * 37) % 50 - 25) for k in range(20)]
    p = problem([vehicle("V1"), vehicle("V2"), vehicle("V3")], stops, xs)
    events: list[Progress] = []
    sol = solve(p, SolveParams(time_limit_s=3, strategy="portfolio"), events.append)
    _ok(p, sol)
    assert not sol.unassigned
    assert events and {e.source for e in events} <= {"ortools", "pyvrp"}
    assert events[-1].best_cost == sol.cost
    engines = sol.stats["engines"]
    assert isinstance(engines, dict) and set(engines) == {"ortools", "pyvrp"}


@ENGINES
def test_service_starts_when_the_window_opens_not_at_its_end(params: SolveParams) -> None:
    # The ETA a resident is told is the visit's service start: the goods must be planned at
    # the gate as the window opens (the truck leaves the depot in time), not at its end.
    stops = [stop("A", windows=(TimeWindow(8 * H, 12 * H),)), stop("B", windows=(TimeWindow(13 * H, 17 * H),))]
    p = problem([vehicle("V1")], stops, [10.0, 20.0])
    s = solve(p, params)
    _ok(p, s)
    (route,) = s.routes
    first, second = route.visits
    assert first.stop_id == "A" and first.arrival_s == first.start_s == 8 * H
    assert second.start_s == 13 * H  # B opens later: the waiting is at B, A is not pushed towards noon
    assert route.start_s == 8 * H - 10 * 60 - p.depots[0].load_s


@pytest.mark.parametrize("strategy", ["ortools", "pyvrp", "auto"])
def test_a_depot_without_vehicles_does_not_spoil_the_plan_of_the_others(strategy: str) -> None:
    # Every van of depot E is out of service: its node must not become a stop of D's routes.
    east = Depot("E", Location(39.9, 116.6))
    base = problem([vehicle("V1")], [stop("S1"), stop("S2")])
    both = Problem((*base.depots, east), base.vehicles, base.stops, line_matrix([0.0, 10.0, 20.0, 30.0]))
    solution = solve(both, SolveParams(time_limit_s=1, strategy=strategy, seed=3))  # type: ignore[arg-type]
    assert check_solution(both, solution).ok
    assert solution.is_feasible() and not solution.unassigned
    assert [v.stop_id for r in solution.routes for v in r.visits] in (["S1", "S2"], ["S2", "S1"])
