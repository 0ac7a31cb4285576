"""A city's second round in two lanes, two depots at a time (engine/lanes.py): every depot gets
its plan, one lane from a real child process, and a lane that dies costs only its round."""

from __future__ import annotations

import sys
import threading

import pytest

from services.routing.engine import Problem, SolveParams, check_solution, decompose, solve
from services.routing.engine.decompose import depot_problems, in_lanes
from services.routing.engine.lanes import balanced, solve_in_lanes
from services.routing.engine.solution import Solution

from .helpers import depot, line_matrix, stop, vehicle

DEPOTS = ("D", "E", "F", "G")


def four_depot_city() -> Problem:
    # Depots 100 km apart on a line; each has two vans and 2 to 5 stops within 30 km.
    xs = [100.0 * k for k in range(len(DEPOTS))]
    stops, stop_xs, vehicles = [], [], []
    for k, d in enumerate(DEPOTS):
        vehicles += [vehicle(f"V{d}1", depot_id=d), vehicle(f"V{d}2", depot_id=d)]
        for j in range(2 + k):
            stops.append(stop(f"{d}{j}", depot_id=d))
            stop_xs.append(xs[k] + 5.0 * (j + 1))
    return Problem(tuple(depot(d) for d in DEPOTS), tuple(vehicles), tuple(stops), line_matrix(xs + stop_xs))


def test_lanes_are_balanced_by_size_largest_first() -> None:
    assert balanced([250, 260, 240, 250]) == ([1, 2], [0, 3])
    assert balanced([900, 100, 100, 100]) == ([0], [1, 2, 3])
    assert balanced([5]) == ([0], [])


def test_only_a_timed_auto_solve_on_two_cores_runs_in_lanes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(decompose.os, "cpu_count", lambda: 2)
    auto = SolveParams(time_limit_s=30)
    assert in_lanes(auto, 4, 20.0)
    assert not in_lanes(auto, 1, 20.0)  # one depot: nothing to run beside it
    assert not in_lanes(auto, 4, 1.0)  # too short for a child's start
    assert not in_lanes(SolveParams(time_limit_s=30, iterations=100), 4, 20.0)  # reproducible: one order
    assert not in_lanes(SolveParams(time_limit_s=30, workers=0), 4, 20.0)
    assert not in_lanes(SolveParams(time_limit_s=30, strategy="pyvrp"), 4, 20.0)
    monkeypatch.setattr(decompose.os, "cpu_count", lambda: 1)
    assert not in_lanes(auto, 4, 20.0)
    monkeypatch.setattr(decompose.os, "cpu_count", lambda: 2)
    monkeypatch.setattr(decompose, "LANES", 1)  # lanes switched off: in turn
    assert not in_lanes(auto, 4, 20.0)


def test_every_depot_is_solved_one_lane_here_and_one_in_a_child() -> None:
    parts = depot_problems(four_depot_city())
    plans: dict[int, tuple[Solution, str]] = {}

    def on_plan(k: int, plan: Solution) -> None:
        plans[k] = (plan, threading.current_thread().name)

    jobs = [(k, part, None) for k, part in enumerate(parts)]
    solve_in_lanes(jobs, SolveParams(time_limit_s=4), 4.0, solve, lambda k, p: None, on_plan)

    assert sorted(plans) == [0, 1, 2, 3]
    for k, (plan, _) in plans.items():
        assert plan.is_feasible() and not plan.unassigned and plan.source == "pyvrp"
        assert check_solution(parts[k], plan).ok
    # Sizes 2, 3, 4, 5: G and D here (7 stops), F and E in the child (7).
    assert {k: thread for k, (_, thread) in plans.items()} == {
        3: "MainThread",
        0: "MainThread",
        2: "engine-lane",
        1: "engine-lane",
    }


def test_a_city_solved_in_lanes_is_one_checked_plan(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(decompose, "DECOMPOSE_MIN_STOPS", 1)
    monkeypatch.setattr(decompose, "LANES_MIN_S", 0.5)
    monkeypatch.setattr(decompose.os, "cpu_count", lambda: 2)
    city = four_depot_city()
    costs: list[int | None] = []
    plan = solve(city, SolveParams(time_limit_s=4), on_progress=lambda p: costs.append(p.best_cost))
    assert plan.is_feasible() and not plan.unassigned and check_solution(city, plan).ok
    assert len(plan.stats["by_depot"]) == 4  # type: ignore[arg-type]
    assert costs and costs[-1] == plan.cost and costs == sorted(costs, reverse=True)  # type: ignore[type-var]


def test_a_lane_whose_child_fails_keeps_its_depots_first_plans(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(decompose, "DECOMPOSE_MIN_STOPS", 1)
    monkeypatch.setattr(decompose, "LANES_MIN_S", 0.5)
    monkeypatch.setattr(decompose.os, "cpu_count", lambda: 2)
    monkeypatch.setattr(sys, "executable", "/bin/false")  # the lane's child exits at once
    city = four_depot_city()
    plan = solve(city, SolveParams(time_limit_s=3))
    assert plan.is_feasible() and not plan.unassigned and check_solution(city, plan).ok
    assert {r.vehicle_id[1] for r in plan.routes} == set(DEPOTS)
