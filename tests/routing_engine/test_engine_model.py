import pytest

from services.routing.engine import (
    Location,
    Problem,
    SolveParams,
    TimeWindow,
    haversine_matrix,
    problem_from_json,
    problem_to_json,
    solution_from_json,
    solution_to_json,
    solve,
)
from services.routing.engine.schema import SolveRequest

from .helpers import FAST, H, depot, problem, stop, vehicle


def test_validation_names_the_field() -> None:
    with pytest.raises(ValueError, match="end_s"):
        TimeWindow(10, 5)
    with pytest.raises(ValueError, match="demand_kg"):
        stop("A", demand_kg=-1)
    with pytest.raises(ValueError, match="windows"):
        stop("A", windows=())
    with pytest.raises(ValueError, match=r"windows\[1\]"):
        stop("A", windows=(TimeWindow(100, 200), TimeWindow(150, 300)))
    with pytest.raises(ValueError, match=r"stops\[0\]\.depot_id"):
        Problem((depot(),), (vehicle(),), (stop("A", depot_id="nope"),))
    with pytest.raises(ValueError, match=r"vehicles\[1\]\.id"):
        Problem((depot(),), (vehicle("V"), vehicle("V")), ())
    with pytest.raises(ValueError, match="matrix"):
        problem([vehicle()], [stop("A")], xs_km=[1.0, 2.0])
    with pytest.raises(ValueError, match="time_limit_s"):
        SolveParams(time_limit_s=0)


def test_haversine_matrix_is_symmetric_and_plausible() -> None:
    m = haversine_matrix([Location(39.9, 116.4), Location(39.9, 116.5)])
    # ~8.5 km apart at this latitude, x1.3 detour, 30 km/h.
    assert 10_500 < m.distance_m[0, 1] < 11_500
    assert m.distance_m[0, 1] == m.distance_m[1, 0]
    assert abs(m.duration_s[0, 1] - m.distance_m[0, 1] / (30 / 3.6)) <= 1
    p = Problem((depot(),), (vehicle(),), (stop("A", location=Location(0.01, 0.01)),))
    assert p.travel.size == 2 and p.travel.duration_s[0, 1] > 0


def test_json_round_trip_and_field_paths() -> None:
    p = problem([vehicle()], [stop("A"), stop("B", windows=(TimeWindow(8 * H, 9 * H), TimeWindow(15 * H, 16 * H)))])
    data = problem_to_json(p)
    q = problem_from_json(data)
    assert q.stops == p.stops and q.vehicles == p.vehicles
    assert (q.travel.duration_s == p.travel.duration_s).all()
    bad = problem_to_json(p)
    bad["stops"][1]["windows"][0]["end_s"] = -5
    with pytest.raises(ValueError, match=r"^stops\[1\]\.windows\[0\]\.end_s"):
        problem_from_json(bad)
    bad = problem_to_json(p)
    bad["stops"][0]["windows"] = [{"start_s": 50, "end_s": 10}]
    with pytest.raises(ValueError, match=r"^stops\[0\]\.windows\[0\]\.end_s"):
        problem_from_json(bad)
    bad = problem_to_json(p)
    bad["vehicles"][0]["capacity_kgs"] = 3
    with pytest.raises(ValueError, match=r"vehicles\[0\]\.capacity_kgs"):
        problem_from_json(bad)
    bad = problem_to_json(p)
    bad["stops"][0]["depot_id"] = "X"
    with pytest.raises(ValueError, match=r"stops\[0\]\.depot_id"):
        problem_from_json(bad)


def test_schema_example_solves() -> None:
    example = SolveRequest.model_json_schema()["examples"][0]
    req = SolveRequest.model_validate(example)
    p = problem_from_json(req.problem.model_dump())
    sol = solve(p, FAST)
    out = solution_to_json(sol)
    assert out["feasible"] and not out["unassigned"]
    assert {v["stop_id"] for r in out["routes"] for v in r["visits"]} == {"C-101", "C-102-cold"}


def test_solution_json_round_trip() -> None:
    p = problem([vehicle()], [stop("A"), stop("B", demand_kg=1500)])
    sol = solve(p, FAST)
    back = solution_from_json(solution_to_json(sol), p)
    assert back.is_feasible() and back.routes == sol.routes and back.unassigned == sol.unassigned
    assert back.cost == sol.cost
