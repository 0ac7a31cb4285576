"""PyVRP restarts from a repaired plan: our plan must reach PyVRP unchanged (same visits, same
window copies, same trips) and cost the same there as here, or the search would restart from
something else than the plan it was handed."""

from dataclasses import replace

from services.routing.engine import TimeWindow
from services.routing.engine.build import RELOAD, build_solution
from services.routing.engine.instance import compile_problem
from services.routing.engine.pyvrp_model import as_pyvrp, build_data, plan_sequences
from services.routing.engine.pyvrp_solver import _Watch

from .helpers import H, problem, stop, vehicle


def test_a_plan_reaches_pyvrp_with_its_windows_trips_and_cost() -> None:
    two_windows = (TimeWindow(7 * H, 8 * H), TimeWindow(15 * H, 16 * H))
    stops = [
        stop("A", windows=two_windows),
        stop("B", demand_kg=800, demand_l=800),
        stop("C", windows=two_windows, service_s=900),
        stop("D"),  # left out: its prize is the plan's penalty in both models
    ]
    inst = compile_problem(problem([vehicle("V1", max_trips=2), vehicle("V2", fixed_cost=500)], stops))
    ours = build_solution(inst, {0: [0, 1, RELOAD, 2], 1: []}, source="test")
    assert ours.is_feasible(), ours._violations
    assert ours.routes[0].visits[2].window == two_windows[1]  # C after the reload: afternoon window

    mapping = build_data(inst, required=False)
    theirs = as_pyvrp(mapping, inst, ours)

    assert theirs.is_feasible()
    dropped = _Watch(None, mapping.optional_total, None).dropped(theirs)
    assert theirs.distance_cost() + theirs.fixed_vehicle_cost() + dropped == ours.cost
    seqs, _ = plan_sequences(mapping, theirs)
    assert seqs == {0: [0, 1, RELOAD, 2]}
    assert replace(ours, stats={}) == replace(build_solution(inst, seqs, source="test"), stats={})


def test_the_previous_plan_is_carried_over_and_the_new_stop_inserted() -> None:
    from services.routing.engine import SolveParams, solve
    from services.routing.engine.warm import carried_over, warm_sequences

    before = problem([vehicle("V1"), vehicle("V2")], [stop("A"), stop("B"), stop("C")], [10.0, 20.0, 30.0])
    plan = solve(before, SolveParams(time_limit_s=1, strategy="pyvrp"))
    assert not plan.unassigned
    # Later: B was delivered, a new stop N came, and C's window moved out of reach of its route.
    later = problem(
        [vehicle("V1"), vehicle("V2")],
        [stop("A"), stop("C", windows=(TimeWindow(19 * H, 19 * H + 600),)), stop("N")],
        [10.0, 30.0, 15.0],
    )
    inst = compile_problem(later)
    carried = carried_over(inst, plan)
    kept = {inst.problem.stops[inst.pieces[x].stop_idx].id for seq in carried.values() for x in seq}
    assert "A" in kept and "N" not in kept
    started = warm_sequences(inst, plan, 1.0)
    assert {inst.problem.stops[inst.pieces[x].stop_idx].id for seq in started.values() for x in seq} >= {"A", "N"}
    again = solve(later, SolveParams(time_limit_s=1, strategy="pyvrp"), warm_start=plan)
    assert again.is_feasible() and not again.unassigned


def test_a_replan_of_an_unchanged_day_is_no_worse_than_the_plan_it_starts_from() -> None:
    from services.routing.engine import SolveParams, solve

    day = problem(
        [vehicle("V1"), vehicle("V2", fixed_cost=500)],
        [stop("A"), stop("B", demand_kg=600, demand_l=600), stop("C"), stop("D")],
        [10.0, 20.0, 30.0, 25.0],
    )
    first = solve(day, SolveParams(time_limit_s=1))
    assert first.is_feasible()
    again = solve(day, SolveParams(time_limit_s=1), warm_start=first)
    assert again.is_feasible()
    assert again.cost <= first.cost
