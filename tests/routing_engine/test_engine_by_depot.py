"""A city solved depot by depot: the parts carry their own rows of the matrix, and the merged
plan is the whole problem's plan (checked there), as good as one model of the whole city."""

import pytest

from services.routing.engine import Problem, SolveParams, check_solution, decompose, solve
from services.routing.engine.decompose import depot_problems

from .helpers import H, depot, line_matrix, stop, vehicle


def two_depot_city() -> Problem:
    # Depot D at 0 km, depot E at 100 km; each has two stops near it and a van.
    stops = [
        stop("D1"),
        stop("E1", depot_id="E"),
        stop("D2", deadline_s=9 * H),
        stop("E2", depot_id="E", demand_kg=1500, demand_l=1500),  # split: two vans' worth
    ]
    vehicles = [vehicle("VD"), vehicle("VE1", depot_id="E"), vehicle("VE2", depot_id="E")]
    return Problem((depot("D"), depot("E")), tuple(vehicles), tuple(stops), line_matrix([0, 100, 10, 110, 20, 90]))


def test_each_depot_gets_its_stops_vehicles_and_matrix_rows() -> None:
    city = two_depot_city()
    d, e = depot_problems(city)
    assert [s.id for s in d.stops] == ["D1", "D2"] and [v.id for v in d.vehicles] == ["VD"]
    assert [s.id for s in e.stops] == ["E1", "E2"] and [v.id for v in e.vehicles] == ["VE1", "VE2"]
    # E's matrix: E (100 km), E1 (110 km), E2 (90 km) - 10 km = 600 s apart from the depot.
    assert e.travel.duration_s.tolist() == [[0, 600, 600], [600, 0, 1200], [600, 1200, 0]]


def test_the_merged_plan_is_checked_on_the_whole_city_and_matches_one_model(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    city = two_depot_city()
    whole = solve(city, SolveParams(time_limit_s=1, strategy="pyvrp"))
    monkeypatch.setattr(decompose, "DECOMPOSE_MIN_STOPS", 1)
    assert decompose.worth_decomposing(city)
    progress: list[int | None] = []
    params = SolveParams(time_limit_s=2, strategy="pyvrp")
    parts = solve(city, params, on_progress=lambda p: progress.append(p.best_cost))
    assert parts.is_feasible() and not parts.unassigned
    assert check_solution(city, parts).ok
    assert parts.cost == whole.cost
    assert {r.vehicle_id for r in parts.routes} == {"VD", "VE1", "VE2"}
    assert progress and progress[-1] == parts.cost and progress == sorted(progress, reverse=True)  # type: ignore[type-var]
    assert [p["cost"] for p in parts.stats["by_depot"]] == [  # type: ignore[attr-defined]
        solve(p, SolveParams(time_limit_s=1, strategy="pyvrp")).cost for p in depot_problems(city)
    ]
