"""Flattening a :class:`Problem` into what the solvers see.

* A stop that no eligible vehicle can carry is split into equal pieces (each
  piece is a separate node, served independently).
* A deadline is folded into the windows (it is a late end for every window).
* Every stop is first checked against the fleet *on its own* (could one
  eligible vehicle serve it on an otherwise empty route?).  Stops that fail get
  their reason code right here and never reach a solver; stops a solver later
  drops are therefore ``fleet_capacity_exhausted``.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from .model import Problem, Stop, TimeWindow, Vehicle
from .solution import ReasonCode, Unassigned

#: Loads are scaled to integer grams / millilitres for the solvers.
LOAD_SCALE = 1000
#: Share of the fleet's capacity that demand may use before stops are treated as droppable.
ROOM_MARGIN = 0.8
#: Tolerance of float load comparisons in kg / litres.
LOAD_EPS = 1e-6


def scaled_demand(x: float) -> int:
    return math.ceil(x * LOAD_SCALE - 1e-6)


def scaled_capacity(x: float) -> int:
    return math.floor(x * LOAD_SCALE + 1e-6)


@dataclass(frozen=True, slots=True)
class Piece:
    stop_idx: int
    part: int
    parts: int
    kg: float
    litres: float
    windows: tuple[TimeWindow, ...]
    service_s: int
    loc: int
    sealed: bool
    penalty: int
    #: Indices of vehicles that may serve this piece (depot, equipment, size).
    vehicles: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class StopCheck:
    parts: int
    vehicles: tuple[int, ...]
    code: ReasonCode | None
    reason: str


def eligible(vehicle: Vehicle, stop: Stop) -> bool:
    return (
        vehicle.depot_id == stop.depot_id
        and (vehicle.refrigerated or not stop.refrigerated)
        and (vehicle.closed_loop or not stop.sealed)
    )


def fits(vehicle: Vehicle, kg: float, litres: float) -> bool:
    return scaled_demand(kg) <= scaled_capacity(vehicle.capacity_kg) and scaled_demand(litres) <= scaled_capacity(
        vehicle.capacity_l
    )


def parts_needed(vehicle: Vehicle, stop: Stop) -> int:
    n = max(
        1, math.ceil(stop.demand_kg / vehicle.capacity_kg - 1e-9), math.ceil(stop.demand_l / vehicle.capacity_l - 1e-9)
    )
    # Float division can land a hair above the capacity after scaling; add a piece.
    while not fits(vehicle, stop.demand_kg / n, stop.demand_l / n):
        n += 1
    return n


def _alone_reachable(problem: Problem, vehicle: Vehicle, stop: Stop, windows: tuple[TimeWindow, ...]) -> bool:
    """Can ``vehicle`` serve ``stop`` on an otherwise empty route?"""
    if not windows:
        return False
    dur = problem.travel.duration_s
    d = problem.depot_location_index(vehicle.depot_id)
    s = problem.stop_location_index(stop.id)
    load_s = problem.depot(vehicle.depot_id).load_s
    out, back = int(dur[d, s]), int(dur[s, d])
    arrival = vehicle.shift_start_s + load_s + out
    for w in windows:
        if arrival > w.end_s:
            continue
        start = max(arrival, w.start_s)
        # Waiting before the window can be avoided by leaving later, so only the
        # busy time counts against the duration limit.
        busy = load_s + out + stop.service_s + back
        if start + stop.service_s + back <= vehicle.shift_end_s and busy <= vehicle.duration_limit_s:
            return True
    return False


def check_stop(problem: Problem, stop: Stop, split_oversized: bool = True) -> StopCheck:
    """Classify ``stop`` against the fleet on its own (independent of other stops)."""
    cands = [i for i, v in enumerate(problem.vehicles) if eligible(v, stop)]
    if not cands:
        need = [w for w, on in (("refrigerated", stop.refrigerated), ("closed-loop", stop.sealed)) if on]
        what = " and ".join(need) + " " if need else ""
        return StopCheck(1, (), "no_eligible_vehicle", f"No {what}vehicle is available at depot {stop.depot_id}.")
    fitting = [i for i in cands if fits(problem.vehicles[i], stop.demand_kg, stop.demand_l)]
    parts = 1
    if not fitting:
        if not split_oversized:
            big = max(cands, key=lambda i: problem.vehicles[i].capacity_kg)
            v = problem.vehicles[big]
            return StopCheck(
                1,
                (),
                "exceeds_vehicle_capacity",
                f"{stop.demand_kg:g} kg / {stop.demand_l:g} l exceeds the largest eligible vehicle "
                f"({v.id}: {v.capacity_kg:g} kg / {v.capacity_l:g} l) and splitting is disabled.",
            )
        parts = min(parts_needed(problem.vehicles[i], stop) for i in cands)
        fitting = [i for i in cands if fits(problem.vehicles[i], stop.demand_kg / parts, stop.demand_l / parts)]
    reach = [i for i in fitting if _alone_reachable(problem, problem.vehicles[i], stop, stop.effective_windows())]
    if reach:
        return StopCheck(parts, tuple(reach), None, "")
    if stop.deadline_s is not None and any(
        _alone_reachable(problem, problem.vehicles[i], stop, stop.windows) for i in fitting
    ):
        return StopCheck(
            parts,
            (),
            "deadline_unreachable",
            f"No eligible vehicle can reach the stop before its deadline ({_hhmm(stop.deadline_s)}).",
        )
    wins = ", ".join(f"{_hhmm(w.start_s)}-{_hhmm(w.end_s)}" for w in stop.windows)
    return StopCheck(
        parts,
        (),
        "window_unreachable",
        f"No eligible vehicle can reach the stop within its receiving windows ({wins}) inside its shift.",
    )


FLEET_EXHAUSTED = (
    "The stop can be served on its own, but the fleet had no room left for it within "
    "capacities, windows and shifts; it was dropped in favour of higher-priority or older stops."
)


def _hhmm(t: int) -> str:
    return f"{t // 3600:02d}:{t % 3600 // 60:02d}" + ("(+1d)" if t >= 86_400 else "")


@dataclass(frozen=True, eq=False)
class Instance:
    problem: Problem
    pieces: tuple[Piece, ...]
    #: Stops that failed :func:`check_stop`, one entry per piece.
    rejected: tuple[Unassigned, ...]
    rejected_penalty: int
    duration: npt.NDArray[np.int64]
    distance: npt.NDArray[np.int64]
    #: stop id -> indices of its pieces in ``pieces``.
    pieces_of: dict[str, tuple[int, ...]]


def compile_problem(problem: Problem, split_oversized: bool = True) -> Instance:
    pieces: list[Piece] = []
    rejected: list[Unassigned] = []
    rejected_penalty = 0
    pieces_of: dict[str, tuple[int, ...]] = {}
    for si, stop in enumerate(problem.stops):
        chk = check_stop(problem, stop, split_oversized)
        if chk.code is not None:
            for p in range(chk.parts):
                rejected.append(Unassigned(stop.id, stop.order_ids, chk.code, chk.reason, p, chk.parts))
                rejected_penalty += stop.penalty
            continue
        first = len(pieces)
        for p in range(chk.parts):
            pieces.append(
                Piece(
                    stop_idx=si,
                    part=p,
                    parts=chk.parts,
                    kg=stop.demand_kg / chk.parts,
                    litres=stop.demand_l / chk.parts,
                    windows=stop.effective_windows(),
                    service_s=stop.service_s,
                    loc=len(problem.depots) + si,
                    sealed=stop.sealed,
                    penalty=stop.penalty,
                    vehicles=chk.vehicles,
                )
            )
        pieces_of[stop.id] = tuple(range(first, len(pieces)))
    return Instance(
        problem=problem,
        pieces=tuple(pieces),
        rejected=tuple(rejected),
        rejected_penalty=rejected_penalty,
        duration=problem.travel.duration_s,
        distance=problem.travel.distance_m,
        pieces_of=pieces_of,
    )


def depots_with_room(inst: Instance) -> frozenset[str]:
    """Depots whose fleet plainly has room for all of their demand (kg and litres).

    Depots are independent (a stop is served only by its depot's vehicles), so
    one overbooked depot says nothing about the others: PyVRP searches required
    clients much better than prize-collecting ones, so stops are made optional
    for it only at the depots where some may have to be dropped.
    """
    need: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    for p in inst.pieces:
        d = need[inst.problem.stops[p.stop_idx].depot_id]
        d[0] += p.kg
        d[1] += p.litres
    have: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    for v in inst.problem.vehicles:
        h = have[v.depot_id]
        h[0] += v.capacity_kg * v.max_trips
        h[1] += v.capacity_l * v.max_trips
    # Windows and shifts also eat capacity, hence the margin.
    return frozenset(
        d for d in need if need[d][0] <= ROOM_MARGIN * have[d][0] and need[d][1] <= ROOM_MARGIN * have[d][1]
    )


def fleet_has_room(inst: Instance) -> bool:
    """True when every depot's fleet plainly has room for its demand (see :func:`depots_with_room`)."""
    roomy = depots_with_room(inst)
    return all(inst.problem.stops[p.stop_idx].depot_id in roomy for p in inst.pieces)
