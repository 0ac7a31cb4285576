"""Portfolio: OR-Tools and PyVRP side by side, the best *checked* plan wins.

With two or more cores (``strategy="auto"``/``"portfolio"``):

* engine A, in this process: PyVRP for the whole budget (seed ``s``);
* engine B, in a child process: OR-Tools (a quick, robust first plan; strong at choosing which stops
  to drop), then - when the fleet plainly has room for every stop - PyVRP with
  seed ``s + 1`` for the rest of the budget, since PyVRP is the stronger
  improver on such plans.  When stops may have to be dropped, OR-Tools keeps the
  whole budget.

Reproducible mode (``SolveParams.iterations``): every slot above is counted in iterations
instead of seconds - OR-Tools' 15 % slot is 15 % of the iterations (one solution per
:data:`.ortools_solver.ITERATIONS_PER_SOLUTION`), the repair pass's is a number of route
timings - and ``auto`` is ``sequential`` whatever the cores and the time limit, which is then
only the safety cap: the same input and seed give the same plan however loaded the machine is.

Why a child *process* for B: OR-Tools is CPU-bound C++ that holds the GIL for
long stretches (its whole first-solution heuristic); next to it nothing else in
this interpreter - PyVRP, the progress reporting - could run (:mod:`.child`).
"""

from __future__ import annotations

import json
import logging
import os
import pickle
import time
from collections.abc import Sequence
from dataclasses import replace

from .build import build_solution
from .child import Child
from .instance import Instance, fleet_has_room
from .model import SolveParams
from .ortools_solver import solution_limit, solve_ortools
from .progress import Reporter
from .repair import WORK_PER_ITERATION, Seqs, repair_counted, sequences_of
from .solution import Solution

log = logging.getLogger(__name__)

#: Seconds kept back from the budget to build and check the plans.
FINISH_MARGIN_S = 0.1
FINISH_PER_PIECE_S = 0.0003
#: Share of the budget OR-Tools gets on core B when PyVRP can take over
#: (enough for its first plan and a short GLS; PyVRP improves better after that).
ORTOOLS_SHARE = 0.15
#: ... but at least this long: the worker's start-up (~0.3 s) comes out of that slot.
ORTOOLS_MIN_S = 1.5
#: Below this budget, starting worker interpreters (~0.5 s each) costs more than it brings.
PORTFOLIO_MIN_S = 3.0
#: When stops may have to be dropped, this share of the budget (at most REPAIR_MAX_S) is kept
#: back from the engines for the repair pass on their plans (see :mod:`.repair`).
REPAIR_SHARE = 0.04
REPAIR_MAX_S = 2.0

#: engine, until (wall clock), seed, first_solution, limit (PyVRP iterations / OR-Tools solutions; None: the clock)
Step = tuple[str, float, int, str, int | None]


class _Child(Child):
    """One worker process running ``steps``; its results arrive over a pipe."""

    def __init__(self, inst_blob: bytes, steps: Sequence[Step], deadline: float, reporter: Reporter, name: str) -> None:
        self.results: list[tuple[str, dict[str, object] | None]] = []
        self._reporter = reporter
        # The worker reads the instance, then its steps: two pickles.
        super().__init__("worker", [(list(steps), deadline)], deadline, name, blob=inst_blob)

    def line(self, kind: str, rest: str) -> None:
        engine, _, payload = rest.partition(" ")
        if kind == "P":
            self._reporter.improvement(int(payload), engine)
        elif kind == "R":
            self.results.append((engine, json.loads(payload)))

    def collect(self) -> list[tuple[str, dict[str, object] | None]]:
        self.wait()
        return list(self.results)


def _from_payload(inst: Instance, payload: dict[str, object] | None, source: str) -> Solution | None:
    if payload is None:
        return None
    seqs = {int(k): list(v) for k, v in payload["sequences"].items()}  # type: ignore[attr-defined]
    starts = {int(k): int(v) for k, v in payload["starts"].items()}  # type: ignore[attr-defined]
    return build_solution(inst, seqs, source=source, start_hints=starts)


def resolve_strategy(params: SolveParams) -> str:
    """The recipe ``params.strategy`` stands for (see the module docstring)."""
    if params.strategy != "auto":
        return params.strategy
    if params.iterations is not None:
        return "sequential"
    parallel = params.workers >= 1 and (os.cpu_count() or 1) >= 2 and params.time_limit_s >= PORTFOLIO_MIN_S
    return "portfolio" if parallel else "sequential"


def _ortools_inline(
    inst: Instance, params: SolveParams, reporter: Reporter, budget: float, share: float = 1.0
) -> Solution | None:
    """``share``: of the iterations, in the reproducible mode (``budget`` is then the cap)."""
    res = solve_ortools(
        inst,
        time_limit_s=budget,
        first_solution=params.first_solution,
        on_improvement=lambda obj, n: reporter.improvement(obj, "ortools"),
        solution_limit=solution_limit(params.iterations, share),
    )
    if res is None:
        return None
    return build_solution(inst, res.sequences, source="ortools", start_hints=res.start_hints)


def _pyvrp_inline(
    inst: Instance, params: SolveParams, reporter: Reporter, budget: float, start: Solution | None = None
) -> Solution | None:
    from .pyvrp_solver import solve_pyvrp  # lazily: OR-Tools-only callers never pay for the import

    res = solve_pyvrp(
        inst,
        time_limit_s=budget,
        seed=params.seed,
        on_improvement=lambda c: reporter.improvement(c, "pyvrp"),
        max_iterations=params.iterations,
        start=start,
    )
    if res is None:
        return None
    return build_solution(inst, res.sequences, source="pyvrp", start_hints=res.start_hints)


def run(
    inst: Instance, params: SolveParams, reporter: Reporter, started: float, start: Seqs | None = None
) -> Solution:
    """Solve within ``params.time_limit_s`` counted from ``started`` (monotonic clock).

    ``start``: sequences PyVRP starts from (a warm start); they are a candidate plan too.
    With ``params.iterations`` the engines and the repair pass stop by counts, and the time
    limit is only the safety cap."""
    # Keep back the time to build and check the plans (grows with size).
    margin = FINISH_MARGIN_S + FINISH_PER_PIECE_S * len(inst.pieces)
    repair_s = 0.0 if fleet_has_room(inst) else min(REPAIR_MAX_S, REPAIR_SHARE * params.time_limit_s)
    budget = max(0.1, params.time_limit_s - margin - repair_s)

    def left() -> float:
        return budget - (time.monotonic() - started)

    fixed = params.iterations is not None
    strategy = resolve_strategy(params)
    candidates: list[Solution | None] = []
    warm = None
    if start:
        # Built and checked once: a candidate, and PyVRP's start when it holds.
        plan = build_solution(inst, start, source="warm")
        candidates.append(plan)
        if plan.is_feasible():
            reporter.improvement(plan.cost, plan.source, absolute=True)
            warm = plan
    if strategy == "ortools":
        candidates.append(_ortools_inline(inst, params, reporter, left()))
    elif strategy == "pyvrp":
        candidates.append(_pyvrp_inline(inst, params, reporter, left(), warm))
    elif strategy == "sequential":
        # One core or a short budget: core B's recipe, in this process.
        share = ORTOOLS_SHARE if fleet_has_room(inst) else 1.0
        if fixed:
            candidates.append(_ortools_inline(inst, params, reporter, left(), share))
        else:
            candidates.append(_ortools_inline(inst, params, reporter, left() * share))
        if left() > 0.2:
            candidates.append(_pyvrp_inline(inst, replace(params, seed=params.seed + 1), reporter, left(), warm))
    else:
        candidates.extend(_portfolio(inst, params, reporter, left(), warm))
        if not any(c is not None and c.is_feasible() for c in candidates) and left() > 0.2:
            log.warning("no engine worker delivered a plan; solving in-process with OR-Tools")
            candidates.append(_ortools_inline(inst, params, reporter, left()))
    found = [c for c in candidates if c is not None]
    # The repair pass may use the time up to the caller's limit, less building and checking.
    work = None if params.iterations is None else WORK_PER_ITERATION * params.iterations
    found.extend(_repaired(inst, found, reporter, started + params.time_limit_s - margin, work))
    return _pick(inst, found)


def _repaired(
    inst: Instance, candidates: list[Solution], reporter: Reporter, deadline: float, work: int | None = None
) -> list[Solution]:
    """Each feasible plan with dropped pieces after the repair pass (cheapest plans first).

    ``deadline`` is on the monotonic clock; the remaining time is shared out between the plans.
    ``work`` (the reproducible mode): route timings shared out instead, the deadline being
    only the safety cap of each.
    """

    def dropped_some(c: Solution) -> bool:
        return any(u.reason_code == "fleet_capacity_exhausted" for u in c.unassigned)

    todo = sorted((c for c in candidates if c.is_feasible() and dropped_some(c)), key=lambda c: c.cost)
    out: list[Solution] = []
    for k, sol in enumerate(todo):
        now = time.monotonic()
        if now >= deadline:
            break
        seqs, starts = sequences_of(inst, sol)
        if work is None:
            new, _ = repair_counted(inst, seqs, now + (deadline - now) / (len(todo) - k))
        else:
            if work <= 0:
                break
            new, spent = repair_counted(inst, seqs, deadline, max_work=work // (len(todo) - k))
            work -= spent
        if new is None:
            continue
        fixed = build_solution(inst, new, source=sol.source, start_hints=starts, stats={"repaired": True})
        if not fixed.is_feasible():
            log.warning("repaired %s plan rejected by the checker: %s", sol.source, list(fixed._violations[:5]))
        elif fixed.cost < sol.cost:
            reporter.improvement(fixed.cost, fixed.source, absolute=True)
            out.append(fixed)
    return out


def _portfolio(
    inst: Instance, params: SolveParams, reporter: Reporter, budget: float, start: Solution | None
) -> list[Solution | None]:
    now = time.time()
    deadline = now + budget
    fs = params.first_solution
    its = params.iterations
    if fleet_has_room(inst):
        # Reproducible mode: OR-Tools' slot is a share of the iterations; the clock only caps it.
        until = deadline if its is not None else now + min(budget, max(ORTOOLS_SHARE * budget, ORTOOLS_MIN_S))
        b_steps: list[Step] = [
            ("ortools", until, params.seed, fs, solution_limit(its, ORTOOLS_SHARE)),
            ("pyvrp", deadline, params.seed + 1, fs, its),
        ]
    else:
        b_steps = [("ortools", deadline, params.seed, fs, solution_limit(its))]
    child = _Child(pickle.dumps(inst, protocol=pickle.HIGHEST_PROTOCOL), b_steps, deadline, reporter, "B")
    out: list[Solution | None] = []
    try:
        # Engine A (PyVRP) runs here: no interpreter start-up eaten from its
        # budget, and its Python-level loop leaves the GIL to the pipe reader.
        out.append(_pyvrp_inline(inst, params, reporter, deadline - time.time(), start))
        for engine, payload in child.collect():
            out.append(_from_payload(inst, payload, engine))
    finally:
        child.kill()
    return out


def _pick(inst: Instance, candidates: list[Solution]) -> Solution:
    ok = [s for s in candidates if s.is_feasible()]
    for s in candidates:
        if not s.is_feasible():
            log.warning("%s plan rejected by the checker: %s", s.source, list(s._violations[:5]))
    # What each engine achieved, for logs and metrics (None = rejected by the checker).
    stats: dict[str, object] = {}
    repaired: dict[str, int] = {}
    for s in candidates:
        if s.stats.get("repaired"):
            if s.is_feasible():
                repaired[s.source] = min(s.cost, repaired.get(s.source, s.cost))
            continue
        prev = stats.get(s.source)
        cost = s.cost if s.is_feasible() else None
        if prev is None or (cost is not None and cost < prev):  # type: ignore[operator]
            stats[s.source] = cost
    if ok:
        # Deterministic tie-break: cost, then engine name (min keeps the first of equals).
        best = min(ok, key=lambda s: (s.cost, s.source))
        return replace(best, stats={"engines": stats, "repaired": repaired})
    return replace(build_solution(inst, {}, source="none"), stats={"engines": stats, "repaired": repaired})
