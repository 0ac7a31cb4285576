"""Child-process entry point of a lane (``python -m <package>.lane_worker``; see :mod:`.lanes`).

Input on stdin: one pickle of ``(jobs, params, end)``, ``end`` being the lane's end on the
wall clock (``time.time()``), shared with the parent. Output: the lines :mod:`.lanes` reads.
"""

from __future__ import annotations

import base64
import pickle
import sys
import time
from typing import IO

from .api import solve
from .lanes import run_lane
from .model import Progress
from .solution import Solution

#: Minimum seconds between two progress lines of one depot (its plan always goes out).
PROGRESS_EVERY_S = 0.1


def main(stdin: IO[bytes] | None = None, out: IO[str] | None = None) -> None:
    jobs, params, end = pickle.load(stdin or sys.stdin.buffer)
    sink = out or sys.stdout
    last = [0.0]

    def progress(k: int, p: Progress) -> None:
        now = time.monotonic()
        if p.best_cost is not None and now - last[0] >= PROGRESS_EVERY_S:
            sink.write(f"P {k} {p.best_cost} {p.source or '-'}\n")
            sink.flush()
            last[0] = now

    def plan(k: int, sol: Solution) -> None:
        blob = base64.b64encode(pickle.dumps(sol, pickle.HIGHEST_PROTOCOL)).decode()
        sink.write(f"R {k} {blob}\n")
        sink.flush()

    run_lane(jobs, params, lambda: end - time.time(), solve, progress, plan)
    sink.write("D\n")
    sink.flush()


if __name__ == "__main__":
    main()
