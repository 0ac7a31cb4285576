"""PyVRP's search on our model (:mod:`.pyvrp_model`; the two are the only modules that import
PyVRP): required stops first, the prize-collecting model when some must be dropped, and turns
with the repair pass.

PyVRP works with penalties, so its best plan is only taken when PyVRP calls it
feasible *and* our checker agrees.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import pyvrp
from pyvrp.stop import MaxIterations, MultipleCriteria, StoppingCriterion

from .build import build_solution
from .instance import Instance, depots_with_room
from .pyvrp_model import Mapping, as_pyvrp, build_data, plan_sequences
from .repair import repair, sequences_of
from .solution import Solution

log = logging.getLogger(__name__)

#: PyVRP's CostEvaluator.cost() of an infeasible solution is "a very large number".
INFEASIBLE_COST = 2**60
#: A search without a new best for this share of the budget (at least STALL_MIN_S) while its
#: plan drops pieces hands over to the repair pass, which gets at most REPAIR_SHARE of the
#: time left (and REPAIR_MAX_S).
STALL_SHARE = 0.08
STALL_MIN_S = 0.5
REPAIR_SHARE = 0.25
REPAIR_MAX_S = 2.0
#: Share of the budget (or of the iterations) after which a required-stops run still infeasible gives up.
GIVE_UP_SHARE = 0.4


@dataclass(frozen=True, slots=True)
class PyvrpResult:
    sequences: dict[int, list[int]]
    start_hints: dict[int, int]
    cost: int


class _Watch(pyvrp.IteratedLocalSearchCallbacks):
    """Reports each new feasible best, and stops a search that has stalled on a plan that
    drops pieces (``stall_s`` without a new best), so the repair pass can take a turn."""

    def __init__(self, report: Callable[[int], None] | None, optional_total: int, stall_s: float | None) -> None:
        self._report = report
        self._optional_total = optional_total
        self._stall_s = stall_s
        self._last_best = time.monotonic()
        self.dropping = False
        self.stalled = False

    def dropped(self, solution: pyvrp.Solution) -> int:
        """The penalty of the pieces ``solution`` leaves out (PyVRP's own "uncollected
        prizes" would also count the unused window copies)."""
        return self._optional_total - int(solution.prizes())

    def on_best(self, best: pyvrp.Solution) -> None:
        self._last_best = time.monotonic()
        if best.is_feasible():
            dropped = self.dropped(best)
            self.dropping = dropped > 0
            if self._report is not None:
                # Our objective: travel + fixed + penalties of dropped pieces.
                self._report(int(best.distance_cost() + best.fixed_vehicle_cost()) + dropped)

    def on_repaired(self, objective: int) -> None:
        self._last_best = time.monotonic()
        if self._report is not None:
            self._report(objective)

    def restart(self, start: pyvrp.Solution) -> None:
        self._last_best = time.monotonic()
        self.dropping = start.is_feasible() and self.dropped(start) > 0
        self.stalled = False

    def __call__(self, best_cost: int) -> bool:
        if self._stall_s is None or not self.dropping:
            return False
        self.stalled = time.monotonic() - self._last_best > self._stall_s
        return self.stalled


class _Deadline:
    """Stopping criterion on an absolute clock.

    ``MaxRuntime`` starts counting at its first call, i.e. after PyVRP's
    initial exhaustive local search, which takes ~1 s on 1,000 stops and would
    make us overrun the caller's budget.
    """

    def __init__(self, deadline: float) -> None:
        self._deadline = deadline
        self.reached = False

    def __call__(self, best_cost: int) -> bool:
        self.reached = time.monotonic() >= self._deadline
        return self.reached


class _GiveUp:
    """Stopping criterion: quit a run still infeasible after ``after_s`` seconds (or ``after_iterations``)."""

    def __init__(self, after_s: float, after_iterations: int | None = None) -> None:
        self._after = after_s
        self._after_iterations = after_iterations
        self._t0: float | None = None
        self.iterations = 0
        self.triggered = False

    def __call__(self, best_cost: int) -> bool:
        self.iterations += 1
        if self._t0 is None:
            self._t0 = time.perf_counter()
        its = self._after_iterations
        late = self.iterations > its if its is not None else time.perf_counter() - self._t0 > self._after
        # PyVRP reports an infeasible best as a huge cost.
        if best_cost >= INFEASIBLE_COST and late:
            self.triggered = True
        return self.triggered


def _run(
    mapping: Mapping,
    deadline: float,
    seed: int,
    watch: _Watch,
    max_iterations: int | None,
    give_up: _GiveUp | None = None,
    start: pyvrp.Solution | None = None,
) -> pyvrp.Result:
    # A fresh ILS params object: SolveParams' default one is shared module state.
    params = pyvrp.SolveParams(ils=pyvrp.IteratedLocalSearchParams(callbacks=watch))  # type: ignore[arg-type]
    clock = _Deadline(deadline)
    criteria: list[StoppingCriterion] = [clock, watch]
    if max_iterations is not None:
        criteria.append(MaxIterations(max_iterations))
    if give_up is not None:
        criteria.append(give_up)
    if start is not None:
        watch.restart(start)
    result = pyvrp.solve(
        mapping.data, MultipleCriteria(criteria), seed=seed, collect_stats=False, params=params, initial_solution=start
    )
    if max_iterations is not None and clock.reached:
        log.warning("PyVRP stopped by the time limit before %d iterations: the plan may vary", max_iterations)
    return result


def _searched(
    inst: Instance, mapping: Mapping, result: pyvrp.Result, deadline: float, seed: int, watch: _Watch
) -> tuple[Solution | None, pyvrp.Result]:
    """Search and repair in turns until ``deadline``: when PyVRP stalls on a plan that drops
    pieces, :func:`.repair.repair` re-inserts what it can (moves a local search does not
    find: a big piece into a truck whose other stops go elsewhere), and PyVRP starts again
    from the repaired plan. Returns the best checked plan of all turns."""
    best: Solution | None = None
    turn = 0
    while True:
        plan = None
        if result.best.is_feasible():
            seqs, starts = plan_sequences(mapping, result.best)
            plan = build_solution(inst, seqs, source="pyvrp", start_hints=starts)
            if plan.is_feasible() and (best is None or plan.cost < best.cost):
                best = plan
        left = deadline - time.monotonic()
        if not watch.stalled or plan is None or left < STALL_MIN_S:
            return best, result
        repaired = repair(inst, seqs, time.monotonic() + min(REPAIR_MAX_S, REPAIR_SHARE * left))
        start = result.best
        if repaired is not None:
            fixed = build_solution(inst, repaired, source="pyvrp", start_hints=starts)
            if fixed.is_feasible() and fixed.cost < plan.cost:
                if best is None or fixed.cost < best.cost:
                    best = fixed
                watch.on_repaired(fixed.cost - inst.rejected_penalty)
                start = as_pyvrp(mapping, inst, fixed)
        turn += 1
        result = _run(mapping, deadline, seed + turn, watch, None, start=start)


def solve_pyvrp(
    inst: Instance,
    *,
    time_limit_s: float,
    seed: int = 0,
    on_improvement: Callable[[int], None] | None = None,
    max_iterations: int | None = None,
    start: Solution | None = None,
) -> PyvrpResult | None:
    """Iterated local search for ``time_limit_s``; ``None`` when no feasible plan was found.

    At every depot whose fleet looks large enough (:func:`.instance.depots_with_room`),
    stops are first made *required* (PyVRP's strongest mode); the other depots'
    stops are optional with their penalties.  If that run is still infeasible at
    40 % of the budget - some stop really must be dropped - the rest of the budget
    goes to the prize-collecting model, where every stop is optional.  A search that
    stalls on a plan that drops pieces takes turns with the repair pass (:func:`_searched`);
    with ``max_iterations`` (the reproducible mode) it runs in one go, 40 % of the iterations
    rather than of the time decide the switch, and ``time_limit_s`` is only the safety cap.
    ``start``: a checked plan to start from instead of PyVRP's random construction (a warm start).
    """
    # Model building counts against the budget too; keep a little for the caller.
    deadline = time.monotonic() + max(0.05, time_limit_s - 0.05)
    stall_s = None if max_iterations is not None else max(STALL_MIN_S, STALL_SHARE * time_limit_s)
    mapping = build_data(inst)
    watch = _Watch(on_improvement, mapping.optional_total, stall_s)
    required = bool(depots_with_room(inst))
    after = None if max_iterations is None else max(1, int(GIVE_UP_SHARE * max_iterations))
    give_up = _GiveUp(GIVE_UP_SHARE * time_limit_s, after) if required else None
    initial = as_pyvrp(mapping, inst, start) if start is not None and start.is_feasible() else None
    result = _run(mapping, deadline, seed, watch, max_iterations, give_up, initial)
    if required and not result.best.is_feasible() and deadline - time.monotonic() > 0.05:
        log.info("PyVRP: required-stops model infeasible; switching to optional stops")
        mapping = build_data(inst, required=False)
        watch = _Watch(on_improvement, mapping.optional_total, stall_s)
        used = give_up.iterations if give_up is not None else 0
        result = _run(mapping, deadline, seed, watch, None if max_iterations is None else max(1, max_iterations - used))
    best, result = _searched(inst, mapping, result, deadline, seed, watch)
    if best is None:
        log.info("PyVRP found no feasible plan")
        return None
    seqs, starts = sequences_of(inst, best)
    return PyvrpResult(seqs, starts, best.cost)
