"""Drop penalties weighed per order: the weights' bound, the integer limits, and a fleet
that can serve only one of two stops."""

from __future__ import annotations

import pytest

from services.routing.engine import SolveParams, check_solution, solve
from services.routing.engine.model import (
    AGE_SATURATION_S,
    BASE_PENALTY,
    MAX_DROP_PENALTY,
    MAX_ORDERS_PER_DEPOT,
    MAX_TIME_S,
    derived_penalty,
    orders_penalty,
)
from shared.priority import Priority

from .helpers import problem, reasons, stop, vehicle

ENGINES = pytest.mark.parametrize(
    "params",
    [SolveParams(time_limit_s=1, strategy="ortools", seed=7), SolveParams(time_limit_s=1, strategy="pyvrp", seed=7)],
    ids=["ortools", "pyvrp"],
)
STANDARD, VULNERABLE, MEDICAL = (BASE_PENALTY[p] for p in (Priority.STANDARD, Priority.VULNERABLE, Priority.MEDICAL))


def test_one_fresh_medical_order_outweighs_every_standard_order_of_a_depot_at_any_age() -> None:
    worst = orders_penalty([("standard", AGE_SATURATION_S)] * MAX_ORDERS_PER_DEPOT)
    assert worst == MAX_ORDERS_PER_DEPOT * STANDARD * 2
    # ...with room left for whatever travel and fixed costs the displaced routes would save:
    # a thousand vehicles driving a whole two-day shift with the largest fixed cost the API takes.
    assert orders_penalty([("medical", 0)]) - worst > 1000 * (MAX_TIME_S + 1_000_000)
    # Below the bound, the ladder of one order still holds at the worst ages.
    assert derived_penalty("vulnerable", 0) > derived_penalty("standard", 10 * AGE_SATURATION_S)
    assert derived_penalty("medical", 0) > derived_penalty("vulnerable", 10 * AGE_SATURATION_S)


def test_a_stop_weighs_the_sum_of_its_orders_within_the_integer_limits() -> None:
    orders = [("standard", 0), ("standard", AGE_SATURATION_S // 2), ("vulnerable", 2 * AGE_SATURATION_S)]
    assert orders_penalty(orders) == STANDARD + STANDARD * 3 // 2 + 2 * VULNERABLE
    assert orders_penalty([]) == 0
    # Capped where Stop validates drop_penalty; a capped stop is still a valid Stop.
    many = orders_penalty([("medical", AGE_SATURATION_S)] * 1000)
    assert many == MAX_DROP_PENALTY
    assert stop("M", drop_penalty=many).penalty == MAX_DROP_PENALTY
    with pytest.raises(ValueError, match="drop_penalty"):
        stop("M", drop_penalty=MAX_DROP_PENALTY + 1)
    # 3,000 stops at the cap: inside int64 (both solvers), under PyVRP's infeasible-cost
    # sentinel (2**60) and exact as a JSON number.
    assert 3000 * MAX_DROP_PENALTY < 2**53 < 2**60 < 2**63
    # Without orders, a stop weighs one order of its priority (the engine's default).
    assert stop("S", priority="medical").penalty == derived_penalty("medical", 0)


@ENGINES
def test_two_medical_orders_beat_forty_standard_ones(params: SolveParams) -> None:
    # Room for one of the two stops; the standard one is nearer (cheaper) and waited longer.
    std = stop("STD", demand_kg=400, drop_penalty=orders_penalty([("standard", AGE_SATURATION_S)] * 40),
               order_ids=tuple(f"S-{k}" for k in range(40)))
    med = stop("MED", demand_kg=200, drop_penalty=orders_penalty([("medical", 0)] * 2), order_ids=("M-1", "M-2"))
    p = problem([vehicle(capacity_kg=450)], [std, med], [5.0, 40.0])
    s = solve(p, params)
    assert check_solution(p, s).ok
    assert [v.stop_id for r in s.routes for v in r.visits] == ["MED"]
    assert reasons(s) == {"STD": "fleet_capacity_exhausted"}


@ENGINES
def test_forty_households_beat_one_of_the_same_priority(params: SolveParams) -> None:
    # Per stop (the old rule) both weighed the same and travel chose the near one-household stop.
    one = stop("ONE", demand_kg=300, drop_penalty=orders_penalty([("standard", 0)]))
    forty = stop("FORTY", demand_kg=300, drop_penalty=orders_penalty([("standard", 0)] * 40),
                 order_ids=tuple(f"S-{k}" for k in range(40)))
    p = problem([vehicle(capacity_kg=400)], [one, forty], [5.0, 60.0])
    s = solve(p, params)
    assert [v.stop_id for r in s.routes for v in r.visits] == ["FORTY"]
    assert reasons(s) == {"ONE": "fleet_capacity_exhausted"}
