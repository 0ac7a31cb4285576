"""Portfolio: OR-Tools in this process, PyVRP in a child process, best checked plan wins.

Why a child *process* (not a thread): both engines are CPU-bound C++ that keep
the GIL for long stretches; a separate interpreter gives PyVRP its own core.
``subprocess`` (not ``multiprocessing``) because the service already calls
:func:`solve` inside a ``ProcessPoolExecutor`` worker, where forking helpers or
daemonic-process rules would bite; a plain child with pipes works anywhere.
"""

from __future__ import annotations

import json
import logging
import os
import pickle
import subprocess
import sys
import tempfile
import threading
import time
from typing import TYPE_CHECKING

from .build import build_solution
from .instance import Instance, fleet_has_room
from .model import SolveParams
from .ortools_solver import solve_ortools
from .solution import Solution

if TYPE_CHECKING:
    from .api import _Reporter

log = logging.getLogger(__name__)

#: Seconds kept back from the budget to build and check the plan.
FINISH_MARGIN_S = 0.15
#: Extra time the child gets to send its result after the deadline.
CHILD_GRACE_S = 2.0
#: Share of the budget OR-Tools gets on the calling core when PyVRP can take over.
ORTOOLS_SHARE = 0.3


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


class _PyvrpChild:
    """PyVRP running in a child interpreter; results come back over a pipe."""

    def __init__(self, inst: Instance, budget_s: float, seed: int, reporter: _Reporter) -> None:
        self.result: dict[str, object] | None = None
        self.done = threading.Event()
        self._reporter = reporter
        env = dict(os.environ)
        # The child must import this package exactly as we did.
        env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
        self._stderr = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", f"{__package__}.pyvrp_worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            env=env,
        )
        self.deadline = time.time() + budget_s
        assert self.proc.stdin is not None
        try:
            pickle.dump((inst, budget_s, seed, self.deadline), self.proc.stdin)
            self.proc.stdin.close()
        except BrokenPipeError:
            log.warning("PyVRP worker exited before reading its input")
        self._reader = threading.Thread(target=self._read, name="pyvrp-reader", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        try:
            for raw in self.proc.stdout:
                line = raw.decode().strip()
                if line.startswith("P "):
                    self._reporter.improvement(int(line[2:]), "pyvrp")
                elif line.startswith("R "):
                    self.result = json.loads(line[2:])
        except Exception:  # a garbled pipe only costs us this engine
            log.exception("reading the PyVRP worker failed")
        finally:
            self.done.set()

    def wait(self) -> dict[str, object] | None:
        self.done.wait(max(0.0, self.deadline - time.time()) + CHILD_GRACE_S)
        if self.proc.poll() is None:
            self.proc.kill()
            log.warning("PyVRP worker overran its budget and was stopped")
        self.proc.wait()
        if self.proc.returncode not in (0, -9) and self.result is None:
            self._stderr.seek(0)
            log.warning("PyVRP worker failed (%s): %s", self.proc.returncode, self._stderr.read()[-2000:].decode(errors="replace"))
        self._stderr.close()
        return self.result

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def _from_payload(inst: Instance, payload: dict[str, object] | None, source: str) -> Solution | None:
    if payload is None:
        return None
    seqs = {int(k): list(v) for k, v in payload["sequences"].items()}  # type: ignore[attr-defined]
    starts = {int(k): int(v) for k, v in payload["starts"].items()}  # type: ignore[attr-defined]
    return build_solution(inst, seqs, source=source, start_hints=starts)


def _pyvrp_inline(inst: Instance, budget: float, seed: int, reporter: _Reporter) -> Solution | None:
    from .pyvrp_solver import solve_pyvrp  # imported lazily: OR-Tools-only callers never pay for it

    res = solve_pyvrp(
        inst, time_limit_s=budget, seed=seed, on_improvement=lambda c: reporter.improvement(c, "pyvrp")
    )
    if res is None:
        return None
    return build_solution(inst, res.sequences, source="pyvrp", start_hints=res.start_hints)


def run(inst: Instance, params: SolveParams, reporter: _Reporter) -> Solution:
    t0 = time.monotonic()
    budget = max(0.1, params.time_limit_s - FINISH_MARGIN_S)

    def left() -> float:
        return budget - (time.monotonic() - t0)

    candidates: list[Solution] = []

    def add(sol: Solution | None) -> None:
        if sol is not None:
            candidates.append(sol)

    strategy = params.strategy
    if strategy == "auto":
        strategy = "portfolio" if params.workers >= 1 and (os.cpu_count() or 1) >= 2 else "ortools"
    if strategy == "ortools":
        add(_ortools(inst, params, reporter, left()))
    elif strategy == "pyvrp":
        add(_pyvrp_inline(inst, left(), params.seed, reporter))
    else:
        # Core 1: PyVRP for the whole budget in a child process.  Core 2: OR-Tools
        # (a quick, robust first plan and strong at dropping the right stops),
        # then - when every stop can be required - a second PyVRP run with
        # another seed, since PyVRP is by far the stronger improver on such plans.
        child = _PyvrpChild(inst, left(), params.seed, reporter)
        try:
            share = 1.0 if not fleet_has_room(inst) else ORTOOLS_SHARE
            add(_ortools(inst, params, reporter, left() * share))
            if left() > 0.5:
                add(_pyvrp_inline(inst, left(), params.seed + 1, reporter))
            add(_from_payload(inst, child.wait(), "pyvrp"))
        finally:
            child.kill()
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
