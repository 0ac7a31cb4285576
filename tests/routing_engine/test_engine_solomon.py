"""Quality smoke test on real benchmark data (slow: seconds of solving)."""

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
@pytest.mark.parametrize(("name", "max_gap"), [("C101", 0.001), ("R101", 0.02), ("RC201", 0.03)])
def test_solomon_close_to_best_known(name: str, max_gap: float) -> None:
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        import solomon  # bench/solomon.py
    finally:
        sys.path.pop(0)
    from services.routing.engine import SolveParams, check_solution, solve

    problem = solomon.to_problem(solomon.parse_vrp(solomon.DATA / f"{name}.vrp"))
    sol = solve(problem, SolveParams(time_limit_s=5))
    assert sol.is_feasible() and check_solution(problem, sol).ok and not sol.unassigned
    assert sol.travel_s / 10 <= solomon.best_known(name) * (1 + max_gap)
