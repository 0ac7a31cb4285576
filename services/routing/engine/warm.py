"""A previous plan as the start of the next solve.

The operations loop re-plans a mostly unchanged day every few minutes: most stops, vehicles
and windows are the same as in the last plan, a few orders are new, a few are gone. Starting
the search from the last plan (what is still valid of it, with the new stops inserted by the
repair pass) spends the budget on improving the day rather than on finding it again.
"""

from __future__ import annotations

import time

from .build import RELOAD, build_solution, normalise
from .instance import Instance
from .repair import WORK_PER_ITERATION, Seqs, repair
from .solution import Solution

#: Share of the budget the warm start may spend inserting the new stops.
INSERT_SHARE = 0.15


def carried_over(inst: Instance, previous: Solution) -> Seqs:
    """The previous plan's routes, restricted to what the new problem still holds: a stop that
    is gone or split differently, a vehicle that may no longer serve it, and a route that no
    longer keeps its windows or shift are left out (the solver places those stops again)."""
    problem = inst.problem
    seqs: Seqs = {}
    placed: set[int] = set()
    for route in previous.routes:
        if not problem.has_vehicle(route.vehicle_id):
            continue
        vi = problem.vehicle_index(route.vehicle_id)
        seq: list[int] = []
        trip = 0
        for visit in route.visits:
            pieces = inst.pieces_of.get(visit.stop_id, ())
            if visit.parts != len(pieces):
                continue
            x = pieces[visit.part]
            if x in placed or vi not in inst.pieces[x].vehicles:
                continue
            if visit.trip != trip:
                seq.append(RELOAD)
                trip = visit.trip
            seq.append(x)
            placed.add(x)
        seq = normalise(seq)
        if seq and seq.count(RELOAD) < problem.vehicles[vi].max_trips:
            seqs[vi] = seq
    if build_solution(inst, seqs, source="warm").is_feasible():
        return seqs
    # Something changed under some route: keep the routes that still hold on their own.
    return {vi: seq for vi, seq in seqs.items() if build_solution(inst, {vi: seq}, source="warm").is_feasible()}


def warm_sequences(inst: Instance, previous: Solution, budget_s: float, iterations: int | None = None) -> Seqs:
    """Start sequences for a solve: the previous plan carried over, new stops inserted
    (nothing when nothing of it still holds: then the solve starts cold).

    ``iterations`` (the reproducible mode): the insertion is bounded by its work, not by a
    share of ``budget_s``, which is then only the safety cap."""
    seqs = carried_over(inst, previous)
    if not seqs:
        return seqs
    if iterations is None:
        inserted = repair(inst, seqs, time.monotonic() + INSERT_SHARE * budget_s)
    else:
        inserted = repair(inst, seqs, time.monotonic() + budget_s, max_work=WORK_PER_ITERATION * iterations)
    return inserted if inserted is not None else seqs
