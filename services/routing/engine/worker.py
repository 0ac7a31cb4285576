"""Child-process entry point of the portfolio (``python -m <package>.worker``).

Input on stdin: a pickle of the instance, then one of ``(steps, deadline)`` where
``steps`` is a list of ``(engine, until, seed, first_solution, limit)`` run one after
the other; ``until`` and ``deadline`` are wall-clock (``time.time()``) instants,
shared with the parent; ``limit`` (None: by the clock) stops the step's engine by
count (PyVRP iterations / OR-Tools solutions), ``until`` then being only its cap.
Output on stdout, one line each:

* ``P <engine> <cost>`` - new best (objective without pre-rejected stops),
  throttled to a few per second;
* ``R <engine> <json>`` - result of a step (``null`` when it found nothing);
* ``D`` - all steps done.
"""

from __future__ import annotations

import json
import pickle
import sys
import time
from typing import IO

#: Minimum seconds between two progress lines (the final best always goes out).
PROGRESS_EVERY_S = 0.1


class _Progress:
    def __init__(self, out: IO[str], engine: str) -> None:
        self._out = out
        self._engine = engine
        self._last = 0.0
        self._pending: int | None = None

    def __call__(self, cost: int, *_: object) -> None:
        now = time.monotonic()
        if now - self._last >= PROGRESS_EVERY_S:
            self._emit(cost)
            self._last = now
        else:
            self._pending = cost

    def _emit(self, cost: int) -> None:
        self._out.write(f"P {self._engine} {cost}\n")
        self._out.flush()
        self._pending = None

    def flush(self) -> None:
        if self._pending is not None:
            self._emit(self._pending)


def _run_step(
    inst: object, engine: str, budget: float, seed: int, first_solution: str, limit: int | None, report: _Progress
) -> dict[str, object] | None:
    from .instance import Instance

    assert isinstance(inst, Instance)
    res: object
    if engine == "ortools":
        from .ortools_solver import solve_ortools

        res = solve_ortools(
            inst,
            time_limit_s=budget,
            first_solution=first_solution,
            on_improvement=report,
            solution_limit=limit,
        )
    else:
        from .pyvrp_solver import solve_pyvrp

        res = solve_pyvrp(inst, time_limit_s=budget, seed=seed, on_improvement=report, max_iterations=limit)
    if res is None:
        return None
    seqs: dict[int, list[int]] = res.sequences  # type: ignore[attr-defined]
    starts: dict[int, int] = res.start_hints  # type: ignore[attr-defined]
    return {"sequences": {str(k): v for k, v in seqs.items()}, "starts": {str(k): v for k, v in starts.items()}}


def main(stdin: IO[bytes] | None = None, out: IO[str] | None = None) -> None:
    src = stdin or sys.stdin.buffer
    inst = pickle.load(src)
    steps, deadline = pickle.load(src)
    out = out or sys.stdout
    for engine, until, seed, first_solution, limit in steps:
        budget = min(until, deadline) - time.time()
        if budget <= 0.05:
            continue  # this step's slot is over (slow start); later steps may still run
        report = _Progress(out, engine)
        payload = _run_step(inst, engine, budget, seed, first_solution, limit, report)
        report.flush()
        out.write(f"R {engine} {json.dumps(payload)}\n")
        out.flush()
    out.write("D\n")
    out.flush()


if __name__ == "__main__":
    main()
