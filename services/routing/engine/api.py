"""Public entry points: :func:`solve` and :func:`reoptimize`."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence

from . import decompose, portfolio
from .build import RELOAD, build_solution
from .instance import Instance, compile_problem
from .model import Problem, ProgressCallback, SolveParams
from .ortools_solver import solution_limit, solve_ortools
from .progress import Reporter
from .solution import Solution
from .warm import warm_sequences

log = logging.getLogger(__name__)

#: Token for a depot return inside a ``fixed`` prefix of :func:`reoptimize`.
RELOAD_TOKEN = "@reload"


def solve(
    problem: Problem,
    params: SolveParams | None = None,
    on_progress: ProgressCallback | None = None,
    warm_start: Solution | None = None,
) -> Solution:
    """Best plan found within ``params.time_limit_s``; always returns a checked plan.

    Every returned solution has been through :func:`check_solution`; if no
    engine produced a valid plan, an all-unassigned plan is returned instead
    (which is feasible: every stop is then reported with a reason).

    ``warm_start``: an earlier plan of (mostly) the same day. What still holds of it, with
    the new stops inserted, is where PyVRP starts searching (:mod:`.warm`).

    A large problem over several depots is solved depot by depot (:mod:`.decompose`).
    """
    params = params or SolveParams()
    started = time.monotonic()
    inst = compile_problem(problem, params.split_oversized)
    reporter = Reporter(on_progress, inst.rejected_penalty, started)
    if not inst.pieces:
        sol = build_solution(inst, {}, source="none")
        reporter.improvement(sol.cost, "none", absolute=True)
        return sol
    if decompose.worth_decomposing(problem):
        plan = decompose.solve_by_depot(inst, params, reporter, started, _solve_depot, warm_start)
        if plan.is_feasible():
            return plan
        log.warning("the depots' plans together failed the checker: %s", plan._violations[:5])
        return build_solution(inst, {}, source="none")
    start = None
    if warm_start is not None:
        start = warm_sequences(inst, warm_start, params.time_limit_s, params.iterations)
    return portfolio.run(inst, params, reporter, started, start)


def _solve_depot(
    problem: Problem, params: SolveParams, on_progress: ProgressCallback, warm_start: Solution | None
) -> Solution:
    return solve(problem, params, on_progress, warm_start)


def reoptimize(
    problem: Problem,
    fixed: Mapping[str, Sequence[str]],
    params: SolveParams | None = None,
    on_progress: ProgressCallback | None = None,
) -> Solution:
    """Insert the remaining stops into a dispatched plan, keeping route prefixes.

    ``fixed`` maps vehicle id -> stop ids already done or under way, in order
    (use ``"@reload"`` where the vehicle went back to the depot between trips).
    A split stop is listed once per piece.  The prefixes are kept exactly; the
    rest of each route and the other vehicles are re-planned (OR-Tools only,
    since it supports locked prefixes). With ``params.iterations`` (the reproducible mode)
    OR-Tools stops by its solutions (:func:`.ortools_solver.solution_limit`), the time limit
    being only the safety cap.
    """
    params = params or SolveParams()
    inst = compile_problem(problem, params.split_oversized)
    locks = _locks(inst, fixed)
    reporter = Reporter(on_progress, inst.rejected_penalty)
    res = solve_ortools(
        inst,
        time_limit_s=params.time_limit_s,
        first_solution=params.first_solution,
        on_improvement=lambda obj, n: reporter.improvement(obj, "ortools"),
        locks=locks,
        solution_limit=solution_limit(params.iterations),
    )
    if res is None:
        raise ValueError("fixed: no plan keeps these prefixes (shift, window or capacity violated)")
    sol = build_solution(inst, res.sequences, source="ortools", start_hints=res.start_hints)
    if not sol.is_feasible():
        log.warning("re-optimised plan failed the checker: %s", sol._violations[:5])
    return sol


def _locks(inst: Instance, fixed: Mapping[str, Sequence[str]]) -> dict[int, list[int]]:
    problem = inst.problem
    locks: dict[int, list[int]] = {}
    used: dict[str, int] = {}
    for vid, stop_ids in fixed.items():
        if not problem.has_vehicle(vid):
            raise ValueError(f"fixed.{vid}: unknown vehicle")
        vi = problem.vehicle_index(vid)
        seq: list[int] = []
        for k, sid in enumerate(stop_ids):
            if sid == RELOAD_TOKEN:
                seq.append(RELOAD)
                continue
            if not problem.has_stop(sid):
                raise ValueError(f"fixed.{vid}[{k}]: unknown stop {sid!r}")
            pieces = inst.pieces_of.get(sid, ())
            n = used.get(sid, 0)
            if n >= len(pieces):
                raise ValueError(f"fixed.{vid}[{k}]: stop {sid!r} cannot be served or is listed too often")
            x = pieces[n]
            if vi not in inst.pieces[x].vehicles:
                raise ValueError(f"fixed.{vid}[{k}]: vehicle {vid} may not serve stop {sid!r}")
            used[sid] = n + 1
            seq.append(x)
        if seq.count(RELOAD) >= problem.vehicles[vi].max_trips:
            raise ValueError(f"fixed.{vid}: more trips than max_trips")
        locks[vi] = seq
    return locks
