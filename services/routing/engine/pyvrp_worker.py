"""Child-process entry point running PyVRP for the portfolio.

Protocol (one line each, on stdout): ``P <cost>`` for every new feasible best,
then ``R <json>`` with the result (``R null`` when nothing feasible was found).
Input on stdin: a pickle of ``(instance, time_limit_s, seed)`` written by the
parent (same code base, so pickling is safe here).
"""

from __future__ import annotations

import json
import pickle
import sys
import time


def main() -> None:
    inst, time_limit_s, seed, deadline = pickle.load(sys.stdin.buffer)
    from .pyvrp_solver import solve_pyvrp  # heavy import after reading input

    out = sys.stdout

    def report(cost: int) -> None:
        out.write(f"P {cost}\n")
        out.flush()

    # The parent's wall-clock deadline already accounts for our start-up time.
    budget = min(time_limit_s, deadline - time.time())
    res = solve_pyvrp(inst, time_limit_s=max(0.05, budget), seed=seed, on_improvement=report)
    payload = None
    if res is not None:
        payload = {
            "sequences": {str(k): v for k, v in res.sequences.items()},
            "starts": {str(k): v for k, v in res.start_hints.items()},
        }
    out.write("R " + json.dumps(payload) + "\n")
    out.flush()


if __name__ == "__main__":
    main()
