"""Repair pass on an engine's plan: serve dropped stops when the plan has room, never break a rule.

Each test hands :func:`repair` hand-made node sequences (piece index = stop index here, no splits)
as an engine would, and checks the rebuilt plan with the shared scheduler and the checker.
"""

import time
from dataclasses import replace

from services.routing.engine import TimeWindow, check_solution
from services.routing.engine.build import RELOAD, build_solution
from services.routing.engine.instance import Instance, compile_problem
from services.routing.engine.repair import repair, sequences_of

from .helpers import H, problem, stop, vehicle


def _repair(inst: Instance, seqs: dict[int, list[int]]):  # type: ignore[no-untyped-def]
    new = repair(inst, seqs, time.monotonic() + 5)
    if new is None:
        return None
    sol = build_solution(inst, new, source="test")
    assert sol.is_feasible(), sol._violations
    assert check_solution(inst.problem, sol).ok
    return sol


def test_dropped_stop_is_inserted_when_the_route_has_room() -> None:
    inst = compile_problem(problem([vehicle("V1")], [stop("A"), stop("B"), stop("C")]))
    sol = _repair(inst, {0: [0, 2]})
    assert sol is not None and not sol.unassigned
    assert [v.stop_id for v in sol.routes[0].visits] == ["A", "B", "C"]  # cheapest position: on the way


def test_nothing_infeasible_is_inserted() -> None:
    # Capacity: A and B together exceed the only vehicle.
    inst = compile_problem(problem([vehicle("V1")], [stop("A", demand_kg=600), stop("B", demand_kg=600)]))
    assert repair(inst, {0: [0]}, time.monotonic() + 5) is None
    # Windows: A (10 km) is served at 08:00 sharp, B (20 km) only 07:00-07:10.
    stops = [
        stop("A", windows=(TimeWindow(8 * H, 8 * H),), service_s=600),
        stop("B", windows=(TimeWindow(7 * H, 7 * H + 600),)),
    ]
    inst2 = compile_problem(problem([vehicle("V1", shift_start_s=7 * H - 1800)], stops))
    # After A, B's window has closed; B first, then A (waiting until 08:00) works: only that order.
    sol = _repair(inst2, {0: [0]})
    assert sol is not None and [v.stop_id for v in sol.routes[0].visits] == ["B", "A"]
    # Risk order: an open stop may not follow a sealed one on the same trip, and there is no second trip.
    late = (TimeWindow(12 * H, 13 * H),)
    stops3 = [stop("S", sealed=True, windows=(TimeWindow(7 * H, 8 * H),)), stop("O", windows=late)]
    inst3 = compile_problem(problem([vehicle("V1", closed_loop=True)], stops3))
    assert repair(inst3, {0: [0]}, time.monotonic() + 5) is None


def test_unused_vehicle_or_second_trip_serves_a_dropped_stop() -> None:
    stops = [stop("A", demand_kg=600), stop("B", demand_kg=600)]
    inst = compile_problem(problem([vehicle("V1"), vehicle("V2")], stops))
    sol = _repair(inst, {0: [0]})
    assert sol is not None and not sol.unassigned and len(sol.routes) == 2
    inst2 = compile_problem(problem([vehicle("V1", max_trips=2)], stops))
    sol2 = _repair(inst2, {0: [0]})
    assert sol2 is not None and not sol2.unassigned and sol2.routes[0].trips == 2


def test_higher_penalty_stop_takes_the_place_of_a_lower_one() -> None:
    # Room for one of the two: the medical stop must be served, the standard one dropped.
    stops = [stop("A", demand_kg=600), stop("M", demand_kg=600, priority="medical")]
    inst = compile_problem(problem([vehicle("V1")], stops))
    sol = _repair(inst, {0: [0]})
    assert sol is not None
    assert [v.stop_id for v in sol.routes[0].visits] == ["M"] and [u.stop_id for u in sol.unassigned] == ["A"]


def test_big_vehicle_is_freed_for_a_big_stop() -> None:
    # BIG (900 kg) fits only the big truck, which carries two small stops that also fit the van.
    big = vehicle("T", capacity_kg=1000)
    van = vehicle("V", capacity_kg=400)
    stops = [stop("a", demand_kg=150), stop("b", demand_kg=150), stop("BIG", demand_kg=900)]
    inst = compile_problem(problem([big, van], stops))
    sol = _repair(inst, {0: [0, 1]})
    assert sol is not None and not sol.unassigned
    routes = {r.vehicle_id: [v.stop_id for v in r.visits] for r in sol.routes}
    assert routes["T"] == ["BIG"] and sorted(routes["V"]) == ["a", "b"]


def test_sequences_round_trip_through_a_plan() -> None:
    stops = [stop("A"), replace(stop("B"), demand_kg=100), stop("C")]
    inst = compile_problem(problem([vehicle("V1", max_trips=2)], stops))
    sol = build_solution(inst, {0: [0, RELOAD, 1, 2]}, source="test")
    seqs, starts = sequences_of(inst, sol)
    assert seqs == {0: [0, RELOAD, 1, 2]} and starts == {0: sol.routes[0].start_s}
    assert repair(inst, seqs, time.monotonic() + 5) is None  # nothing dropped: nothing to do
