"""Turning a solver's node sequences into a :class:`Solution` (solver-agnostic)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from .checker import check_solution
from .instance import FLEET_EXHAUSTED, Instance
from .model import Problem
from .schedule import Leg, latest_feasible_start, prompt_start, simulate
from .solution import Route, Solution, Unassigned, Visit

#: Marks a return to the depot to reload inside a node sequence.
RELOAD = -1


def normalise(seq: Sequence[int]) -> list[int]:
    """Drop reloads that start no new trip (leading, trailing, repeated)."""
    out: list[int] = []
    for x in seq:
        if x == RELOAD and (not out or out[-1] == RELOAD):
            continue
        out.append(x)
    while out and out[-1] == RELOAD:
        out.pop()
    return out


def legs_of(inst: Instance, seq: Sequence[int]) -> list[Leg]:
    legs: list[Leg] = []
    trip = 0
    for x in seq:
        if x == RELOAD:
            trip += 1
            continue
        p = inst.pieces[x]
        legs.append(Leg(p.loc, p.windows, p.service_s, trip))
    return legs


def build_solution(
    inst: Instance,
    sequences: Mapping[int, Sequence[int]],
    *,
    source: str,
    start_hints: Mapping[int, int] | None = None,
    stats: dict[str, object] | None = None,
) -> Solution:
    """``sequences``: vehicle index -> piece indices (``RELOAD`` between trips).

    Pieces that appear in no sequence are reported as dropped.  Each route starts so
    that every service is as early as possible (no waiting at the first gate); if that
    breaks the duration limit, as late as the chosen windows allow, then the solver's
    own start time (``start_hints``).
    """
    problem = inst.problem
    routes: list[Route] = []
    served: set[int] = set()
    for vi in sorted(sequences):
        seq = normalise(sequences[vi])
        if not seq:
            continue
        vehicle = problem.vehicles[vi]
        depot = problem.depot(vehicle.depot_id)
        dloc = problem.depot_location_index(vehicle.depot_id)
        legs = legs_of(inst, seq)
        candidates = [
            prompt_start(inst.duration, dloc, depot.load_s, legs, vehicle.shift_start_s),
            latest_feasible_start(inst.duration, dloc, depot.load_s, legs, vehicle.shift_start_s, vehicle.shift_end_s),
        ]
        if start_hints and vi in start_hints:
            candidates.append(start_hints[vi])
        candidates.append(vehicle.shift_start_s)
        best = None
        for start in candidates:
            tl = simulate(inst.duration, inst.distance, dloc, depot.load_s, legs, start)
            ok = not tl.missed and tl.end_s <= vehicle.shift_end_s and tl.end_s - start <= vehicle.duration_limit_s
            if best is None or ok:
                best = (start, tl)
            if ok:
                break
        assert best is not None
        start, tl = best
        pieces = [x for x in seq if x != RELOAD]
        served.update(pieces)
        # On-board load per trip: everything for the trip is loaded at the depot.
        trip_kg: dict[int, float] = {}
        trip_l: dict[int, float] = {}
        for leg, x in zip(legs, pieces, strict=True):
            trip_kg[leg.trip] = trip_kg.get(leg.trip, 0.0) + inst.pieces[x].kg
            trip_l[leg.trip] = trip_l.get(leg.trip, 0.0) + inst.pieces[x].litres
        visits: list[Visit] = []
        for i, (leg, x) in enumerate(zip(legs, pieces, strict=True)):
            p = inst.pieces[x]
            stop = problem.stops[p.stop_idx]
            k = tl.window_idx[i]
            # Effective windows are a prefix of the stop's windows (the deadline
            # only cuts the tail), so the index maps back to the real window.
            window = stop.windows[k] if k >= 0 else stop.windows[-1]
            visits.append(
                Visit(
                    stop_id=stop.id,
                    trip=leg.trip,
                    arrival_s=tl.arrivals[i],
                    start_s=tl.starts[i],
                    departure_s=tl.departures[i],
                    window=window,
                    load_kg=p.kg,
                    load_l=p.litres,
                    order_ids=stop.order_ids,
                    part=p.part,
                    parts=p.parts,
                    onboard_kg=trip_kg[leg.trip],
                    onboard_l=trip_l[leg.trip],
                )
            )
            trip_kg[leg.trip] -= p.kg
            trip_l[leg.trip] -= p.litres
        routes.append(
            Route(
                vehicle_id=vehicle.id,
                visits=tuple(visits),
                distance_m=tl.distance_m,
                duration_s=tl.end_s - start,
                start_s=start,
                end_s=tl.end_s,
                travel_s=tl.travel_s,
                trips=legs[-1].trip + 1,
                trip_departures_s=tuple(tl.trip_departures),
            )
        )
    unassigned = list(inst.rejected)
    for x, p in enumerate(inst.pieces):
        if x not in served:
            stop = problem.stops[p.stop_idx]
            unassigned.append(
                Unassigned(stop.id, stop.order_ids, "fleet_capacity_exhausted", FLEET_EXHAUSTED, p.part, p.parts)
            )
    return finish(problem, routes, unassigned, source=source, stats=stats)


def finish(
    problem: Problem,
    routes: Iterable[Route],
    unassigned: Iterable[Unassigned],
    *,
    source: str,
    stats: dict[str, object] | None = None,
) -> Solution:
    routes_t = tuple(routes)
    unassigned_t = tuple(unassigned)
    travel = sum(r.travel_s for r in routes_t)
    fixed = sum(problem.vehicle(r.vehicle_id).fixed_cost for r in routes_t)
    penalty = sum(problem.stop(u.stop_id).penalty for u in unassigned_t)
    draft = Solution(
        routes=routes_t,
        unassigned=unassigned_t,
        cost=travel + fixed + penalty,
        distance_m=sum(r.distance_m for r in routes_t),
        duration_s=sum(r.duration_s for r in routes_t),
        travel_s=travel,
        fixed_cost=fixed,
        penalty=penalty,
        source=source,
        stats=dict(stats or {}),
    )
    report = check_solution(problem, draft)
    return Solution(
        routes=draft.routes,
        unassigned=draft.unassigned,
        cost=draft.cost,
        distance_m=draft.distance_m,
        duration_s=draft.duration_s,
        travel_s=draft.travel_s,
        fixed_cost=draft.fixed_cost,
        penalty=draft.penalty,
        source=source,
        stats=draft.stats,
        _violations=tuple(report.violations),
    )


def empty_solution(inst: Instance, source: str = "none") -> Solution:
    return build_solution(inst, {}, source=source)
