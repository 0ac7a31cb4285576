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
from .child import ProgressLines
from .lanes import run_lane
from .model import Progress
from .solution import Solution


def main(stdin: IO[bytes] | None = None, out: IO[str] | None = None) -> None:
    jobs, params, end = pickle.load(stdin or sys.stdin.buffer)
    sink = out or sys.stdout
    lines = {k: ProgressLines(sink, str(k)) for k, _, _ in jobs}

    def progress(k: int, p: Progress) -> None:
        if p.best_cost is not None:
            lines[k].best(p.best_cost, p.source or "-")

    def plan(k: int, sol: Solution) -> None:
        lines[k].flush()
        blob = base64.b64encode(pickle.dumps(sol, pickle.HIGHEST_PROTOCOL)).decode()
        sink.write(f"R {k} {blob}\n")
        sink.flush()

    run_lane(jobs, params, lambda: end - time.time(), solve, progress, plan)
    sink.write("D\n")
    sink.flush()


if __name__ == "__main__":
    main()
