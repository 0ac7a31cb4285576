"""Child-process entry point of the portfolio (``python -m <package>.worker``).

Input on stdin: a pickle of the instance, then one of ``(steps, deadline)`` where
``steps`` is a list of ``(engine, until, seed, first_solution, limit)`` run one after
the other; ``until`` and ``deadline`` are wall-clock (``time.time()``) instants,
shared with the parent; ``limit`` (None: by the clock) stops the step's engine by
count (PyVRP iterations / OR-Tools solutions), ``until`` then being only its cap.
Output on stdout, one line each:

* ``P <engine> <cost>`` - new best (objective without pre-rejected stops),
  a few per second at most (:class:`.child.ProgressLines`);
* ``R <engine> <json>`` - result of a step (``null`` when it found nothing);
* ``D`` - all steps done.
"""

from __future__ import annotations

import json
import pickle
import sys
import time
from typing import IO

from .child import ProgressLines


def _run_step(
    inst: object, engine: str, budget: float, seed: int, first_solution: str, limit: int | None, report: ProgressLines
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
        report = ProgressLines(out, engine)
        payload = _run_step(inst, engine, budget, seed, first_solution, limit, report)
        report.flush()
        out.write(f"R {engine} {json.dumps(payload)}\n")
        out.flush()
    out.write("D\n")
    out.flush()


if __name__ == "__main__":
    main()
