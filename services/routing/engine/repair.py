"""Repair pass: serve stops an engine dropped, when the plan still has room for them.

Anytime solvers stop with some stops dropped that a longer run would serve
(a van with a free trip, an unused vehicle, a lower-penalty stop in the way).
Each move below works on the engine's node sequences (pure Python, solver
agnostic) and is kept only when the route still passes the shared scheduler
(:mod:`.schedule`, the same rules :func:`.build.build_solution` and the checker
use) and the objective (travel + fixed costs + drop penalties) goes down:

* **insert**: cheapest feasible position of a dropped piece in any route of an
  eligible vehicle, as a new trip of a used vehicle, or on an unused vehicle;
* **swap**: a dropped piece takes the place of a served piece with a lower
  penalty, which is then re-inserted elsewhere if it fits (else it is dropped);
* **make room**: a dropped piece goes into one trip of an eligible route whose
  other stops are taken out and re-inserted anywhere (back into that route too);
  this frees a large vehicle for a large piece whose small stops fit on vans.

Cheap filters come first (eligibility, per-trip capacity, sealed order); only
then is the route timed.  The pass is bounded by a wall-clock deadline and
returns the best sequences found so far.  In the reproducible mode
(``SolveParams.iterations``) it is bounded by its work as well - ``max_work`` route
timings - so that where it stops does not depend on the machine's speed or load.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence

from .build import RELOAD, normalise
from .instance import Instance, scaled_capacity, scaled_demand
from .schedule import Leg, latest_feasible_start, simulate
from .solution import Solution

Seqs = dict[int, list[int]]

#: Reproducible mode: route timings a repair pass may spend per solver iteration
#: (``SolveParams.iterations``).  A timing costs some 20-150 us (longer routes cost more),
#: a PyVRP iteration on 50-300 stops 1-3 ms.
WORK_PER_ITERATION = 10


class _Planner:
    def __init__(
        self, inst: Instance, sequences: Mapping[int, Sequence[int]], deadline: float, max_work: int | None = None
    ) -> None:
        self.inst = inst
        self.deadline = deadline
        self.max_work = max_work
        #: Route timings so far (the pass's work; it bounds the pass when ``max_work`` is set).
        self.work = 0
        problem = inst.problem
        self.vehicles = problem.vehicles
        self.dloc = [problem.depot_location_index(v.depot_id) for v in problem.vehicles]
        self.load_s = [problem.depot(v.depot_id).load_s for v in problem.vehicles]
        self.cap = [(scaled_capacity(v.capacity_kg), scaled_capacity(v.capacity_l)) for v in problem.vehicles]
        self.demand = [(scaled_demand(p.kg), scaled_demand(p.litres)) for p in inst.pieces]
        self._legs: dict[tuple[int, int], Leg] = {}
        self.seqs: Seqs = {vi: normalise(s) for vi, s in sequences.items() if normalise(s)}
        self.route_cost: dict[int, int] = {}
        #: Routes our rules reject are left exactly as the engine made them (the checker decides).
        self.frozen: set[int] = set()
        for vi, seq in self.seqs.items():
            c = self.cost_of(vi, seq)
            if c is None:
                self.frozen.add(vi)
            self.route_cost[vi] = c or 0
        served = {x for s in self.seqs.values() for x in s if x != RELOAD}
        self.dropped = [x for x in range(len(inst.pieces)) if x not in served]

    def out_of_budget(self) -> bool:
        """Past ``max_work`` route timings (when set), or past the deadline."""
        if self.max_work is not None and self.work >= self.max_work:
            return True
        return time.monotonic() > self.deadline

    def legs(self, seq: Sequence[int]) -> list[Leg]:
        """Same as :func:`.build.legs_of`, with the legs cached (they are timed very often)."""
        out: list[Leg] = []
        trip = 0
        for x in seq:
            if x == RELOAD:
                trip += 1
                continue
            leg = self._legs.get((x, trip))
            if leg is None:
                p = self.inst.pieces[x]
                leg = self._legs[(x, trip)] = Leg(p.loc, p.windows, p.service_s, trip)
            out.append(leg)
        return out

    # -- evaluation -------------------------------------------------------------------------
    def cost_of(self, vi: int, seq: Sequence[int]) -> int | None:
        """Travel + fixed cost of ``seq`` on vehicle ``vi``; None when it breaks a rule."""
        if not seq:
            return 0
        v = self.vehicles[vi]
        if seq.count(RELOAD) >= v.max_trips:
            return None
        cap_kg, cap_l = self.cap[vi]
        kg = litres = 0
        sealed = False
        for x in seq:
            if x == RELOAD:
                kg = litres = 0
                sealed = False
                continue
            p = self.inst.pieces[x]
            if vi not in p.vehicles:
                return None
            dk, dl = self.demand[x]
            kg += dk
            litres += dl
            if kg > cap_kg or litres > cap_l:
                return None
            if p.sealed:
                sealed = True
            elif sealed:
                return None
        self.work += 1
        legs = self.legs(seq)
        dur = self.inst.duration
        tl = simulate(dur, None, self.dloc[vi], self.load_s[vi], legs, v.shift_start_s)
        if tl.missed or tl.end_s > v.shift_end_s:
            return None  # waiting is free, so the earliest start is the best for the windows
        if tl.end_s - v.shift_start_s > v.duration_limit_s:
            start = latest_feasible_start(dur, self.dloc[vi], self.load_s[vi], legs, v.shift_start_s, v.shift_end_s)
            late = simulate(dur, None, self.dloc[vi], self.load_s[vi], legs, start)
            if late.missed or late.end_s > v.shift_end_s or late.end_s - start > v.duration_limit_s:
                return None
        return tl.travel_s + v.fixed_cost

    def best_insertion(
        self, x: int, seqs: Seqs, costs: dict[int, int], only: int | None = None
    ) -> tuple[int, int, list[int]] | None:
        """(cost increase, vehicle, new sequence) of the cheapest feasible insertion of piece ``x``."""
        p = self.inst.pieces[x]
        dk, dl = self.demand[x]
        best: tuple[int, int, list[int]] | None = None
        tried_empty: set[tuple[int, ...]] = set()
        for vi in p.vehicles if only is None else (only,):
            if vi in self.frozen:
                continue
            seq = seqs.get(vi, [])
            cap_kg, cap_l = self.cap[vi]
            if dk > cap_kg or dl > cap_l:
                continue
            if not seq:
                # Unused identical vehicles give the same answer: try one of each kind.
                v = self.vehicles[vi]
                kind = (self.dloc[vi], v.shift_start_s, v.shift_end_s, v.duration_limit_s, v.fixed_cost, *self.cap[vi])
                if kind in tried_empty:
                    continue
                tried_empty.add(kind)
            base = costs.get(vi, 0)
            for cand in self._positions(vi, seq, x):
                c = self.cost_of(vi, cand)
                if c is not None and (best is None or c - base < best[0]):
                    best = (c - base, vi, cand)
        return best

    def _positions(self, vi: int, seq: list[int], x: int) -> list[list[int]]:
        """Sequences with ``x`` added: anywhere in a trip with room, or as a new first/last trip.

        Positions that cannot work are skipped before any timing: a full trip, an open
        stop after a sealed one, or an arrival (on the current earliest schedule) after
        the piece's last window.
        """
        p = self.inst.pieces[x]
        dk, dl = self.demand[x]
        cap_kg, cap_l = self.cap[vi]
        if not seq:
            return [[x]]
        out: list[list[int]] = []
        bounds: list[tuple[int, int]] = []  # [start, end) of each trip in seq
        s = 0
        for i, y in enumerate([*seq, RELOAD]):
            if y == RELOAD:
                bounds.append((s, i))
                s = i + 1
        v = self.vehicles[vi]
        dloc = self.dloc[vi]
        self.work += 1
        tl = simulate(self.inst.duration, None, dloc, self.load_s[vi], self.legs(seq), v.shift_start_s)
        departures = tl.departures  # one per piece, in order
        last_end = p.windows[-1].end_s
        dur = self.inst.duration
        k = 0  # index into departures (pieces only)
        for t, (a, b) in enumerate(bounds):
            trip = seq[a:b]
            fits = (
                sum(self.demand[y][0] for y in trip) + dk <= cap_kg
                and sum(self.demand[y][1] for y in trip) + dl <= cap_l
            )
            if fits:
                for i in range(a, b + 1):
                    if i > a:
                        prev = self.inst.pieces[seq[i - 1]]
                        arrive = departures[k + i - a - 1] + int(dur[prev.loc, p.loc])
                        if not p.sealed and prev.sealed:
                            continue
                    else:
                        arrive = tl.trip_departures[t] + int(dur[dloc, p.loc])
                    if p.sealed and i < b and not self.inst.pieces[seq[i]].sealed:
                        continue
                    if arrive > last_end:
                        continue
                    out.append([*seq[:i], x, *seq[i:]])
            k += b - a
        if len(bounds) < v.max_trips:
            out.append([*seq, RELOAD, x])
            out.append([x, RELOAD, *seq])
        return out

    # -- moves ---------------------------------------------------------------------------------
    def _reinsert(
        self, pieces: list[int], seqs: Seqs, costs: dict[int, int], give_up: int | None = None
    ) -> tuple[int, list[int]] | None:
        """Greedy cheapest insertion of ``pieces`` (highest penalty first): (cost change, left out).

        None as soon as the penalties of the pieces left out reach ``give_up`` (no gain possible)
        or the pass is out of time.
        """
        delta = 0
        lost = 0
        left: list[int] = []
        for y in sorted(pieces, key=lambda z: (-self.inst.pieces[z].penalty, -self.demand[z][0])):
            if self.out_of_budget():
                return None
            ins = self.best_insertion(y, seqs, costs)
            if ins is None or ins[0] >= self.inst.pieces[y].penalty:
                left.append(y)
                delta += self.inst.pieces[y].penalty
                lost += self.inst.pieces[y].penalty
                if give_up is not None and lost >= give_up:
                    return None
                continue
            d, vi, new = ins
            seqs[vi] = new
            costs[vi] = costs.get(vi, 0) + d
            delta += d
        return delta, left

    def _commit(self, seqs: Seqs, costs: dict[int, int], left: list[int], removed: set[int]) -> None:
        self.seqs = {vi: s for vi, s in seqs.items() if s}
        self.route_cost = {vi: c for vi, c in costs.items() if vi in self.seqs}
        self.dropped = [y for y in self.dropped if y not in removed] + left

    def try_insert(self, x: int) -> bool:
        ins = self.best_insertion(x, self.seqs, self.route_cost)
        if ins is None or ins[0] >= self.inst.pieces[x].penalty:
            return False
        d, vi, new = ins
        seqs = dict(self.seqs)
        costs = dict(self.route_cost)
        seqs[vi] = new
        costs[vi] = costs.get(vi, 0) + d
        self._commit(seqs, costs, [], {x})
        return True

    def try_swap(self, x: int) -> bool:
        """Serve ``x`` instead of a served piece with a lower penalty (best gain)."""
        pen = self.inst.pieces[x].penalty
        best: tuple[int, Seqs, dict[int, int], list[int]] | None = None
        for vi in self.inst.pieces[x].vehicles:
            seq = self.seqs.get(vi)
            if not seq or vi in self.frozen or self.out_of_budget():
                continue
            for i, y in enumerate(seq):
                if y == RELOAD or self.inst.pieces[y].penalty >= pen:
                    continue
                without = normalise(seq[:i] + seq[i + 1 :])
                c0 = self.cost_of(vi, without)
                if c0 is None:
                    continue
                seqs = dict(self.seqs)
                costs = dict(self.route_cost)
                seqs[vi] = without
                costs[vi] = c0
                ins = self.best_insertion(x, {vi: without}, {vi: c0}, only=vi)
                if ins is None:
                    continue
                seqs[vi] = ins[2]
                costs[vi] = c0 + ins[0]
                res = self._reinsert([y], seqs, costs)
                if res is None:
                    return False  # out of time
                d_re, left = res
                gain = pen - (costs[vi] - self.route_cost[vi]) - d_re
                if gain > 0 and (best is None or gain > best[0]):
                    best = (gain, seqs, costs, left)
        if best is None:
            return False
        self._commit(best[1], best[2], best[3], {x})
        return True

    def try_make_room(self, x: int) -> bool:
        """Put ``x`` into one trip of an eligible route after taking that trip's other stops out."""
        pen = self.inst.pieces[x].penalty
        for vi in self.inst.pieces[x].vehicles:
            seq = self.seqs.get(vi)
            if not seq or vi in self.frozen or self.out_of_budget():
                continue
            trips: list[list[int]] = [[]]
            for y in seq:
                if y == RELOAD:
                    trips.append([])
                else:
                    trips[-1].append(y)
            for t, trip in enumerate(trips):
                rest = [z for k, tr in enumerate(trips) if k != t for z in (*tr, RELOAD)][:-1] if len(trips) > 1 else []
                without = normalise(rest)
                c0 = self.cost_of(vi, without)
                if c0 is None:
                    continue
                ins = self.best_insertion(x, {vi: without}, {vi: c0}, only=vi)
                if ins is None:
                    continue
                seqs = dict(self.seqs)
                costs = dict(self.route_cost)
                seqs[vi] = ins[2]
                costs[vi] = c0 + ins[0]
                res = self._reinsert(trip, seqs, costs, give_up=pen)
                if res is None:
                    continue
                d_re, left = res
                gain = pen - (costs[vi] - self.route_cost[vi]) - d_re
                if gain > 0:
                    self._commit(seqs, costs, left, {x})
                    return True
        return False


def sequences_of(inst: Instance, solution: Solution) -> tuple[Seqs, dict[int, int]]:
    """A plan's node sequences and shift starts, as an engine would hand them over."""
    problem = inst.problem
    seqs: Seqs = {}
    starts: dict[int, int] = {}
    for r in solution.routes:
        vi = problem.vehicle_index(r.vehicle_id)
        seq: list[int] = []
        trip = 0
        for vis in r.visits:
            if vis.trip != trip:
                seq.append(RELOAD)
                trip = vis.trip
            seq.append(inst.pieces_of[vis.stop_id][vis.part])
        seqs[vi] = seq
        starts[vi] = r.start_s
    return seqs, starts


def repair(
    inst: Instance, sequences: Mapping[int, Sequence[int]], deadline: float, max_work: int | None = None
) -> Seqs | None:
    """Improved sequences (same format as the engines'), or None when nothing was gained.

    ``deadline`` is on the :func:`time.monotonic` clock. ``max_work``: at most this many route
    timings as well (the reproducible mode: then the deadline is only a safety cap).
    """
    return repair_counted(inst, sequences, deadline, max_work)[0]


def repair_counted(
    inst: Instance, sequences: Mapping[int, Sequence[int]], deadline: float, max_work: int | None = None
) -> tuple[Seqs | None, int]:
    """:func:`repair`, and the route timings it spent."""
    plan = _Planner(inst, sequences, deadline, max_work)
    if not plan.dropped:
        return None, plan.work
    changed = False
    improved = True
    while improved and not plan.out_of_budget():
        improved = False
        for move in ("insert", "swap", "make_room"):
            for x in sorted(plan.dropped, key=lambda z: -inst.pieces[z].penalty):
                if plan.out_of_budget():
                    break
                if x not in plan.dropped:
                    continue
                if move == "insert":
                    ok = plan.try_insert(x)
                elif move == "swap":
                    ok = plan.try_swap(x)
                else:
                    ok = plan.try_make_room(x)
                improved |= ok
            if improved:
                break  # cheaper moves first again
        changed |= improved
    return (plan.seqs if changed else None), plan.work
