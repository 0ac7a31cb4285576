"""Two depots at a time: a city's second round solved on both cores.

Depots share nothing (:mod:`.decompose`), so with two cores the round that improves every
depot's first plan runs as two *lanes* side by side: this process solves one lane's depots
one after another, a child process the other lane's. Each depot then gets about twice the
time it would get in turn. Inside a lane a depot is solved by PyVRP alone, warm from its
first plan: a portfolio there would put four engines on two cores.

A lane shares its time out as it goes (what is left, by the sizes still to solve), so a
depot that overran its slot takes from the lane's later depots, not from the other lane.

The child (``python -m <package>.lane_worker``) gets its depots, their warm starts and the
lane's end (wall clock, shared with the parent) on stdin, and writes one line each:

* ``P <k> <cost> <source>`` - depot ``k``'s best so far, a few per second;
* ``R <k> <base64 pickle>`` - depot ``k``'s plan;
* ``D`` - the lane is done.
"""

from __future__ import annotations

import base64
import pickle
import time
from collections.abc import Callable, Sequence
from dataclasses import replace

from .child import Child
from .model import Problem, Progress, ProgressCallback, SolveParams
from .solution import Solution

#: One depot of a lane: its index in the city, its problem and the plan to start from.
Job = tuple[int, Problem, Solution | None]
#: Solves one depot (the engine's ``solve``): problem, params, progress, warm start -> plan.
SolveFn = Callable[[Problem, SolveParams, ProgressCallback, Solution | None], Solution]
#: A depot's progress and its plan, by the depot's index.
OnProgress = Callable[[int, Progress], None]
OnPlan = Callable[[int, Solution], None]

#: No depot's slot shorter than this (PyVRP needs a moment to load the warm start).
MIN_SLOT_S = 0.05


def balanced(sizes: Sequence[int]) -> tuple[list[int], list[int]]:
    """Two lanes of about the same total size (largest first, each to the lighter lane)."""
    lanes: tuple[list[int], list[int]] = ([], [])
    load = [0, 0]
    for k in sorted(range(len(sizes)), key=lambda k: (-sizes[k], k)):
        lane = 0 if load[0] <= load[1] else 1
        lanes[lane].append(k)
        load[lane] += sizes[k]
    return lanes


def run_lane(
    jobs: Sequence[Job],
    params: SolveParams,
    seconds_left: Callable[[], float],
    solve_one: SolveFn,
    on_progress: OnProgress,
    on_plan: OnPlan,
) -> None:
    """Solve ``jobs`` one after another until ``seconds_left()`` runs out, each by PyVRP."""
    remaining = sum(len(part.stops) for _, part, _ in jobs)
    for k, part, warm in jobs:
        size = len(part.stops)
        slot = seconds_left() * size / max(1, remaining)
        remaining -= size
        if slot < MIN_SLOT_S:
            continue  # the lane's time is over: the depot keeps its first plan
        part_params = replace(params, time_limit_s=slot, strategy="pyvrp")
        on_plan(k, solve_one(part, part_params, lambda p, k=k: on_progress(k, p), warm))  # type: ignore[misc]


class LaneChild(Child):
    """A lane run in a child process; its progress and plans arrive over a pipe."""

    def __init__(
        self, jobs: Sequence[Job], params: SolveParams, seconds: float, on_progress: OnProgress, on_plan: OnPlan
    ) -> None:
        self._on_progress = on_progress
        self._on_plan = on_plan
        end = time.time() + seconds
        super().__init__("lane_worker", [(list(jobs), params, end)], end, "lane")

    def line(self, kind: str, rest: str) -> None:
        if kind == "P":
            k, cost, source = rest.split(" ", 2)
            self._on_progress(int(k), Progress(0.0, int(cost), 0, source))
        elif kind == "R":
            k, _, blob = rest.partition(" ")
            self._on_plan(int(k), pickle.loads(base64.b64decode(blob)))


def solve_in_lanes(
    jobs: Sequence[Job],
    params: SolveParams,
    seconds: float,
    solve_one: SolveFn,
    on_progress: OnProgress,
    on_plan: OnPlan,
) -> None:
    """``jobs`` in two lanes for ``seconds``: the heavier lane's depots here, the other's in a child."""
    here, there = balanced([len(part.stops) for _, part, _ in jobs])
    end = time.monotonic() + seconds
    child = LaneChild([jobs[i] for i in there], params, seconds, on_progress, on_plan)
    try:
        run_lane([jobs[i] for i in here], params, lambda: end - time.monotonic(), solve_one, on_progress, on_plan)
    except BaseException:
        child.kill()
        raise
    child.wait()
