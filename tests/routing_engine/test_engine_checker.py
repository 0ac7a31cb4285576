"""The checker rejects each kind of violation (plans built by hand, no solver)."""

from dataclasses import replace

from services.routing.engine import TimeWindow, check_solution
from services.routing.engine.build import RELOAD, build_solution
from services.routing.engine.instance import compile_problem

from .helpers import H, problem, stop, vehicle


def _plan(p, seq, vi=0):  # type: ignore[no-untyped-def]
    """Build a plan for a fixed sequence of stop indices (one piece per stop)."""
    return build_solution(compile_problem(p), {vi: seq}, source="test")


def _violations(p, sol) -> str:  # type: ignore[no-untyped-def]
    rep = check_solution(p, sol)
    assert not rep.ok
    return "\n".join(rep.violations)


def test_valid_plan_passes() -> None:
    p = problem([vehicle()], [stop("A"), stop("B")])
    sol = _plan(p, [0, 1])
    assert sol.is_feasible() and check_solution(p, sol).ok


def test_capacity() -> None:
    p = problem([vehicle(max_trips=2)], [stop("A", demand_kg=600), stop("B", demand_l=700, demand_kg=500)])
    assert "kg > capacity" in _violations(p, _plan(p, [0, 1]))
    assert _plan(p, [0, RELOAD, 1]).is_feasible()
    p2 = problem([vehicle()], [stop("A", demand_l=600), stop("B", demand_l=600)])
    assert "l > capacity" in _violations(p2, _plan(p2, [0, 1]))
    p3 = problem([vehicle(max_trips=1)], [stop("A"), stop("B")])
    assert "max_trips" in _violations(p3, _plan(p3, [0, RELOAD, 1]))


def test_windows_shift_duration_deadline() -> None:
    late = problem([vehicle()], [stop("A", windows=(TimeWindow(7 * H, 7 * H + 100),), service_s=H), stop("B")])
    assert "after the last receiving window" in _violations(late, _plan(late, [1, 0]))
    # Stops that are unreachable on their own never reach a solver, so these
    # plans are built on the relaxed problem and checked against the strict one.
    relaxed = _plan(problem([vehicle()], [stop("A")]), [0])
    short = problem([vehicle(shift_end_s=7 * H)], [stop("A")])
    assert "after the shift" in _violations(short, relaxed)
    dur = problem([vehicle(max_duration_s=600)], [stop("A")])
    assert "max_duration_s" in _violations(dur, relaxed)
    dl = problem([vehicle()], [stop("A", service_s=H), stop("B", deadline_s=7 * H + 1800)], [10.0, 10.0])
    # Built against a version without the deadline, checked against the real one.
    no_dl = problem([vehicle()], [stop("A", service_s=H), stop("B")], [10.0, 10.0])
    assert "deadline" in _violations(dl, _plan(no_dl, [0, 1]))


def test_eligibility_and_risk_order() -> None:
    plain = problem([vehicle(closed_loop=True)], [stop("A"), stop("B")])
    sol = _plan(plain, [0, 1])
    cold = problem([vehicle(closed_loop=True)], [stop("A", refrigerated=True), stop("B")])
    assert "may not serve" in _violations(cold, sol)
    sealed = problem([vehicle(closed_loop=True, max_trips=2)], [stop("A", sealed=True), stop("B")])
    assert "after sealed stop" in _violations(sealed, sol)
    assert check_solution(sealed, _plan(sealed, [1, 0])).ok  # open then sealed is fine
    assert check_solution(sealed, _plan(sealed, [0, RELOAD, 1])).ok


def test_bookkeeping() -> None:
    p = problem([vehicle()], [stop("A"), stop("B")])
    sol = _plan(p, [0, 1])
    assert "cost" in _violations(p, replace(sol, cost=sol.cost - 1))
    r = sol.routes[0]
    moved = replace(r, visits=(replace(r.visits[0], arrival_s=r.visits[0].arrival_s - 1), *r.visits[1:]))
    assert "reported times" in _violations(p, replace(sol, routes=(moved,)))
    dropped = _plan(p, [0])
    assert dropped.unassigned[0].reason_code == "fleet_capacity_exhausted"
    assert "neither routed" in _violations(p, replace(dropped, unassigned=()))
    wrong = replace(dropped, unassigned=(replace(dropped.unassigned[0], reason_code="no_eligible_vehicle"),))
    assert "reason" in _violations(p, wrong)
