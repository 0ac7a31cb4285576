"""The reproducible mode: with ``SolveParams(iterations=N)`` the same input and seed give the same
plan, visit for visit, however loaded the machine is.

Every path the routing service takes is covered: a cold solve, a warm start from the last plan
on a changed day, a re-optimisation with locked prefixes, a day where stops must be dropped
(the repair pass), a day whose required-stops model is infeasible (PyVRP gives up on it and
switches to optional stops) and a city solved depot by depot. The day is solved twice on an
idle machine, once in another process (another hash seed), once next to busy-looping processes,
and once on a clock that runs a hundred times too fast (a machine a hundred times slower, as far
as every deadline in this process can tell: the slots of the time-limited mode would then all be
cut short). The time limit is generous: it is only the safety cap here.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from services.routing.engine import (
    Problem,
    Solution,
    SolveParams,
    TimeWindow,
    decompose,
    portfolio,
    reoptimize,
    solve,
    warm,
)
from services.routing.engine.ortools_solver import solution_limit
from services.routing.engine.pyvrp_solver import INFEASIBLE_COST, _GiveUp
from services.routing.engine.repair import WORK_PER_ITERATION

from .helpers import H, depot, line_matrix, problem, stop, vehicle

ROOT = Path(__file__).resolve().parents[2]
PARAMS = SolveParams(time_limit_s=600, seed=5, iterations=300)
MORNING, AFTERNOON, ALL_DAY = TimeWindow(7 * H, 11 * H), TimeWindow(13 * H, 17 * H), TimeWindow(7 * H, 18 * H)
#: Most windows are two: the engines then choose between window copies too.
WINDOWS = [(MORNING, AFTERNOON), (MORNING,), (AFTERNOON,), (ALL_DAY,)]


def _xs(n: int, seed: int) -> list[float]:
    return [float((k * 37 + seed * 11) % 61 - 30) for k in range(n)]


def roomy_day() -> Problem:
    """18 stops, 3 vans with room for all of them (72 % of the capacity)."""
    stops = [stop(f"S{k:02d}", demand_kg=120, demand_l=120, windows=WINDOWS[k % 4]) for k in range(18)]
    return problem([vehicle("V1"), vehicle("V2", max_trips=2), vehicle("V3", fixed_cost=900)], stops, _xs(18, 1))


def changed_day(day: Problem) -> Problem:
    """``day`` later on: four stops delivered, five new ones (two of them medical)."""
    kept = [s for s in day.stops if s.id not in {"S00", "S05", "S10", "S15"}]
    new = [
        stop(f"N{k}", demand_kg=110, demand_l=110, windows=WINDOWS[(k + 1) % 4], priority=pr)
        for k, pr in enumerate(["standard", "medical", "standard", "vulnerable", "medical"])
    ]
    xs = [x for s, x in zip(day.stops, _xs(18, 1), strict=True) if s.id not in {"S00", "S05", "S10", "S15"}]
    return problem(list(day.vehicles), kept + new, [*xs, -27.0, 4.0, 13.0, 22.0, -8.0])


def tight_day(delivered: int = 0) -> Problem:
    """More than the two vans can carry: stops are dropped and the repair pass has work.
    ``delivered``: that many of the first stops are gone (a later re-plan of the day)."""
    stops = [
        stop(f"T{k:02d}", demand_kg=90 + 40 * (k % 4), demand_l=90 + 40 * (k % 4), windows=WINDOWS[k % 4],
             priority="vulnerable" if k % 5 == 0 else "standard")
        for k in range(16)
    ]
    vans = [vehicle("V1"), vehicle("V2", max_trips=2, capacity_kg=600, capacity_l=600)]
    return problem(vans, stops[delivered:], _xs(16, 2)[delivered:])


def window_bound_day() -> Problem:
    """Room by weight, but six gates open for the same 20 minutes far apart: the required-stops
    model cannot be feasible, and PyVRP gives up on it for the prize-collecting one."""
    gate = (TimeWindow(8 * H, 8 * H + 1200),)
    stops = [stop(f"G{k}", windows=gate, service_s=600) for k in range(6)]
    return problem([vehicle("V1"), vehicle("V2")], stops, [-40.0, -20.0, 20.0, 40.0, 60.0, -60.0])


def two_depot_city() -> Problem:
    """Depot D at 0 km, depot E at 100 km (solved depot by depot: see the fixture below)."""
    stops = [stop(f"D{k}", demand_kg=150, windows=WINDOWS[k % 4]) for k in range(6)]
    stops += [stop(f"E{k}", depot_id="E", demand_kg=150, windows=WINDOWS[(k + 2) % 4]) for k in range(6)]
    xs = [5.0 * (k + 1) - 15 for k in range(6)] + [100 + 6.0 * (k + 1) - 18 for k in range(6)]
    vehicles = [vehicle("VD1"), vehicle("VD2"), vehicle("VE1", depot_id="E"), vehicle("VE2", depot_id="E")]
    return Problem((depot("D"), depot("E")), tuple(vehicles), tuple(stops), line_matrix([0.0, 100.0, *xs]))


@pytest.fixture(autouse=True)
def _small_cities_by_depot(monkeypatch: pytest.MonkeyPatch) -> None:
    # One-depot problems are never decomposed; the two-depot city here is, however small.
    monkeypatch.setattr(decompose, "DECOMPOSE_MIN_STOPS", 1)


@dataclass(frozen=True)
class Day:
    """Every plan of one run of :func:`plan_the_day`, by path."""

    plans: dict[str, Solution]

    def fingerprints(self) -> dict[str, str]:
        """Each plan whole: routes (visit for visit, with times and loads), cost, dropped stops,
        winning engine and what every engine achieved."""
        return {
            name: repr((plan.cost, plan.routes, plan.unassigned, plan.source, plan.stats))
            for name, plan in self.plans.items()
        }

    def differences(self, other: Day) -> list[str]:
        theirs = other.fingerprints()
        return [name for name, mine in self.fingerprints().items() if mine != theirs[name]]


def plan_the_day(params: SolveParams = PARAMS) -> Day:
    day = roomy_day()
    cold = solve(day, params)
    later = changed_day(day)
    replan = solve(later, params, warm_start=cold)
    # Mid-day: each route's first two visits are done or under way and stay as they are.
    fixed = {r.vehicle_id: [v.stop_id for v in r.visits[:2]] for r in replan.routes if len(r.visits) >= 2
             and r.visits[1].trip == 0}
    reopt = reoptimize(later, fixed, params)
    tight = solve(tight_day(), params)
    tight_warm = solve(tight_day(delivered=2), params, warm_start=tight)
    bound = solve(window_bound_day(), params)
    city = solve(two_depot_city(), params)
    plans = {"cold": cold, "warm": replan, "reoptimize": reopt, "tight": tight, "tight_warm": tight_warm,
             "window_bound": bound, "by_depot": city}
    for name, plan in plans.items():
        assert plan.is_feasible(), (name, plan._violations)
    return Day(plans)


def test_every_path_is_taken(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    repairs: list[tuple[str, int | None]] = []

    def spy(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            repairs.append((name, kwargs.get("max_work")))
            return fn(*args, **kwargs)

        return wrapped

    monkeypatch.setattr(portfolio, "repair_counted", spy("repair", portfolio.repair_counted))
    monkeypatch.setattr(warm, "repair", spy("warm start", warm.repair))
    caplog.set_level(logging.INFO, logger="services.routing.engine")
    p = plan_the_day().plans

    assert "warm" in p["warm"].stats["engines"]  # type: ignore[operator]
    assert {"N1", "N4"} <= {v.stop_id for r in p["warm"].routes for v in r.visits}  # the medical newcomers
    assert p["reoptimize"].source == "ortools"
    assert p["tight"].unassigned and p["window_bound"].unassigned
    assert "by_depot" in p["by_depot"].stats
    # The warm starts' insertions and the repair passes ran, bounded by work, not by the clock.
    assert ("warm start", WORK_PER_ITERATION * PARAMS.iterations) in repairs  # type: ignore[operator]
    assert any(name == "repair" for name, _ in repairs)
    assert all(work is not None for _, work in repairs)
    assert "switching to optional stops" in caplog.text  # PyVRP gave up on the required stops
    assert "stopped by the time limit" not in caplog.text  # the cap never bound


def test_the_same_input_and_seed_give_the_same_plans() -> None:
    first, second = plan_the_day(), plan_the_day()
    assert first.differences(second) == []
    # Another seed is another search (the comparison above is not trivially true).
    other = plan_the_day(replace(PARAMS, seed=PARAMS.seed + 1))
    assert other.differences(first) != []


def test_another_process_plans_the_same_day() -> None:
    # A simulation replays in a new process, with another seed for str hashes (set order).
    script = (
        "import json\n"
        "from services.routing.engine import decompose\n"
        "from tests.routing_engine.test_engine_reproducible import plan_the_day\n"
        "decompose.DECOMPOSE_MIN_STOPS = 1\n"
        "print(json.dumps(plan_the_day().fingerprints()))\n"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=True
    )
    theirs = json.loads(done.stdout.strip().splitlines()[-1])
    assert theirs == plan_the_day().fingerprints()


@contextlib.contextmanager
def busy_cpus() -> Iterator[None]:
    """Every core busy with a spinning process (at least two of them) while it lasts."""
    n = max(2, min(os.cpu_count() or 2, 8))
    procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]
    try:
        time.sleep(0.2)  # let them get going
        yield
    finally:
        for proc in procs:
            proc.kill()
        for proc in procs:
            proc.wait()


def test_a_loaded_machine_plans_the_same_day() -> None:
    idle = plan_the_day()
    with busy_cpus():
        loaded = plan_the_day()
    assert loaded.differences(idle) == []


def _fast_clock(factor: float) -> Callable[[Callable[[], float]], Callable[[], float]]:
    def make(real: Callable[[], float]) -> Callable[[], float]:
        t0 = real()
        return lambda: t0 + factor * (real() - t0)

    return make


def test_a_clock_a_hundred_times_too_fast_plans_the_same_day(monkeypatch: pytest.MonkeyPatch) -> None:
    # A machine a hundred times slower, as every deadline in this process sees it (warm-start
    # insertion, repair passes, engine slots, give-up, depot rounds): the cap is 6 s of real
    # time per solve then, the first round of the depots' 0.01 s.
    idle = plan_the_day()
    fast = _fast_clock(100)
    monkeypatch.setattr(time, "monotonic", fast(time.monotonic))
    monkeypatch.setattr(time, "perf_counter", fast(time.perf_counter))
    slow = plan_the_day()
    monkeypatch.undo()
    assert slow.differences(idle) == []


def test_reoptimize_stops_by_iterations_not_by_the_time_limit() -> None:
    later = changed_day(roomy_day())
    started = time.monotonic()
    reoptimize(later, {}, SolveParams(time_limit_s=60, seed=5, iterations=50))
    assert time.monotonic() - started < 20


def test_the_give_up_on_required_stops_counts_iterations() -> None:
    give_up = _GiveUp(0.0, after_iterations=3)  # by the clock it would give up at once
    assert [give_up(INFEASIBLE_COST) for _ in range(4)] == [False, False, False, True]
    feasible = _GiveUp(0.0, after_iterations=3)
    assert not any(feasible(1000) for _ in range(10))


def test_ortools_slot_is_a_share_of_the_iterations(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[float, int | None]] = []
    real = portfolio.solve_ortools

    def spy(*args: Any, **kwargs: Any) -> Any:
        calls.append((kwargs["time_limit_s"], kwargs["solution_limit"]))
        return real(*args, **kwargs)

    monkeypatch.setattr(portfolio, "solve_ortools", spy)
    solve(roomy_day(), PARAMS)  # the fleet has room: OR-Tools makes a first plan, PyVRP the rest
    ((cap, solutions),) = calls
    assert solutions == solution_limit(PARAMS.iterations, portfolio.ORTOOLS_SHARE) == 5  # 15 % of 300 / 10
    assert cap > 0.5 * PARAMS.time_limit_s  # the clock only caps it
