"""A city's plan as one plan per depot.

Depots share nothing in this problem: every stop is delivered from its own depot, and every
vehicle starts and ends at its own, so the best city plan is the best plan of each depot side
by side. Solving them apart costs no quality and saves a great deal at city scale: PyVRP
keeps a matrix per routing profile (depot x refrigerated x closed-loop), so ten depots and
3,000 stops would hold 40 matrices of 3,010 x 3,010 (some 2.9 GB), most of whose arcs join
stops no vehicle may link; a depot of 300 stops needs four of 310 x 310.

The budget goes in two rounds. First every depot gets a short PyVRP solve, so that a
whole-city plan exists early (the first feasible plan); then the rest of the budget is shared
out by size and each depot is solved again, warm-started from its first plan: on two cores
in two lanes, two depots at a time (:mod:`.lanes`); otherwise in turn, each by a portfolio
solve where its slot is long enough for one. The merged plan is rebuilt and
checked on the whole problem like any engine's plan.

In the reproducible mode (``SolveParams.iterations``) the rounds are the same, but no slot
comes from the clock: every depot's solve stops by its iterations, with what is left of the
caller's time limit as its safety cap only; the first round is PyVRP alone, the second
``params.strategy`` (``auto`` being the sequential recipe there).
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import replace
from functools import partial

import numpy as np

from . import lanes
from .build import build_solution
from .instance import Instance
from .model import Problem, Progress, SolveParams
from .portfolio import PORTFOLIO_MIN_S
from .progress import Reporter
from .repair import sequences_of
from .solution import Solution
from .travel import TravelMatrix

log = logging.getLogger(__name__)

#: Solve depot by depot from this many stops on (and with more than one depot holding stops).
#: Measured on the 1,000-stop, 4-depot city: by depot is cheaper at 10 s and at 30 s than one
#: model (6.149M vs 6.170M, 6.124M vs 6.146M) and has its first plan after 0.5 s instead of
#: 2.3 s. Small problems gain nothing from it and pay a model per depot.
DECOMPOSE_MIN_STOPS = 500
#: Share of the budget for the first round (a plan for every depot), at most FIRST_ROUND_MAX_S ...
FIRST_ROUND_SHARE = 0.12
FIRST_ROUND_MAX_S = 2.0
#: ... and no depot's first solve shorter than this.
FIRST_ROUND_MIN_S = 0.3

#: Depots improved at the same time in the second round (2: :mod:`.lanes`; 1: in turn).
#: Measured on the 1,000-stop, 4-depot city (bench/city.py --lanes 1|2, idle machine, one
#: run each): two lanes 6.130M at 10 s and 6.108M at 30 s, in turn 6.150M and 6.131M.
LANES = 2
#: ... when that round has at least this long (a lane's child needs ~0.5 s to start).
LANES_MIN_S = 2.0


def depot_problems(problem: Problem) -> list[Problem]:
    """One problem per depot that has stops: its stops, its vehicles, its rows of the matrix."""
    matrix = problem.travel
    n_depots = len(problem.depots)
    parts = []
    for di, depot in enumerate(problem.depots):
        stops = tuple(s for s in problem.stops if s.depot_id == depot.id)
        if not stops:
            continue
        rows = np.array([di] + [n_depots + problem.stop_index(s.id) for s in stops])
        sub = TravelMatrix(matrix.distance_m[np.ix_(rows, rows)], matrix.duration_s[np.ix_(rows, rows)])
        vehicles = tuple(v for v in problem.vehicles if v.depot_id == depot.id)
        parts.append(Problem((depot,), vehicles, stops, matrix=sub))
    return parts


def worth_decomposing(problem: Problem) -> bool:
    return len(problem.stops) >= DECOMPOSE_MIN_STOPS and len({s.depot_id for s in problem.stops}) > 1


def in_lanes(params: SolveParams, n_parts: int, seconds: float) -> bool:
    """Whether the second round runs two depots at a time (:mod:`.lanes`)."""
    return (
        LANES >= 2
        and n_parts >= 2
        and seconds >= LANES_MIN_S
        and params.strategy == "auto"
        and params.iterations is None  # the reproducible mode keeps one order of work
        and params.workers >= 1
        and (os.cpu_count() or 1) >= 2
    )


def solve_by_depot(
    inst: Instance,
    params: SolveParams,
    reporter: Reporter,
    started: float,
    solve_one: lanes.SolveFn,
    warm_start: Solution | None = None,
) -> Solution:
    """The whole problem's plan, solved depot by depot within ``params.time_limit_s``."""
    parts = depot_problems(inst.problem)
    sizes = [len(p.stops) for p in parts]
    total = sum(sizes)
    deadline = started + params.time_limit_s
    best: list[Solution | None] = [None] * len(parts)
    part_cost = [0] * len(parts)

    def on_part(k: int, progress: Progress) -> None:
        if progress.best_cost is None:
            return
        part_cost[k] = progress.best_cost
        if all(b is not None for j, b in enumerate(best) if j != k):
            reporter.improvement(sum(part_cost), progress.source, absolute=True)

    def keep(k: int, plan: Solution) -> None:
        if best[k] is None or (plan.is_feasible() and plan.cost < best[k].cost):  # type: ignore[union-attr]
            best[k] = plan
            part_cost[k] = plan.cost
        else:  # the re-solve found nothing better: the first round's plan stays
            part_cost[k] = best[k].cost  # type: ignore[union-attr]

    def solve_round(budget: float, minimum: float) -> None:
        for k, part in enumerate(parts):
            slot = max(minimum, budget * sizes[k] / total)
            left = deadline - time.monotonic()
            if left <= 0.05 and best[k] is not None:
                continue
            if params.iterations is not None:
                # Reproducible mode: the engines stop by count; the time left only caps them.
                part_params = replace(params, time_limit_s=max(0.05, left))
                if params.strategy == "auto" and best[k] is None:
                    part_params = replace(part_params, strategy="pyvrp")
            else:
                part_params = replace(params, time_limit_s=max(0.05, min(slot, left)))
                if params.strategy == "auto" and (best[k] is None or part_params.time_limit_s < PORTFOLIO_MIN_S):
                    # A first plan, or a slot too short for the portfolio's second process: PyVRP
                    # alone, here (a first plan in a few tenths of a second; warm from then on).
                    part_params = replace(part_params, strategy="pyvrp")
            # The city's earlier plan as it is: the warm start keeps only this depot's routes.
            previous = best[k] if best[k] is not None else warm_start
            keep(k, solve_one(part, part_params, partial(on_part, k), previous))

    solve_round(min(FIRST_ROUND_MAX_S, FIRST_ROUND_SHARE * params.time_limit_s), FIRST_ROUND_MIN_S)
    reporter.improvement(sum(part_cost), "by_depot", absolute=True)
    log.info("by depot: first round done after %.1f s (%d depots)", reporter.elapsed(), len(parts))
    rest = max(0.0, deadline - time.monotonic())
    if in_lanes(params, len(parts), rest):
        jobs = [(k, part, best[k]) for k, part in enumerate(parts)]

        def keep_reported(k: int, plan: Solution) -> None:
            # A child's last progress line may have been held back; its plan says it all.
            keep(k, plan)
            reporter.improvement(sum(part_cost), plan.source, absolute=True)

        lanes.solve_in_lanes(jobs, params, rest, solve_one, on_part, keep_reported)
    else:
        solve_round(rest, 0.05)
    return merged(inst, [b for b in best if b is not None])


def merged(inst: Instance, plans: list[Solution]) -> Solution:
    """The depots' plans as one plan of the whole problem, rebuilt and checked there."""
    seqs: dict[int, list[int]] = {}
    starts: dict[int, int] = {}
    for plan in plans:
        s, t = sequences_of(inst, plan)
        seqs.update(s)
        starts.update(t)
    sources = sorted({p.source for p in plans})
    sol = build_solution(inst, seqs, source="+".join(sources), start_hints=starts)
    return replace(sol, stats={"by_depot": [{"source": p.source, "cost": p.cost} for p in plans]})
