"""Independent plan checker (pure Python, no solver imports).

Recomputes everything a plan claims from the problem alone - loads, times,
windows, eligibility, risk order, deadlines, shifts, durations, capacities,
split pieces, reason codes and cost - so a solver bug or a relaxation that
leaked into a plan is caught before anyone dispatches it.
"""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING

from .instance import LOAD_EPS, check_stop, eligible
from .model import Problem
from .schedule import Leg, simulate
from .solution import REASON_CODES, CheckReport

if TYPE_CHECKING:
    from .solution import Solution


def check_solution(problem: Problem, solution: Solution, *, split_oversized: bool = True) -> CheckReport:
    v: list[str] = []
    dur = problem.travel.duration_s
    dist = problem.travel.distance_m
    seen_parts: dict[str, set[int]] = defaultdict(set)
    parts_of: dict[str, int] = {}
    used_vehicles: set[str] = set()
    travel_total = dist_total = fixed = 0

    def note_part(where: str, stop_id: str, part: int, parts: int) -> None:
        if parts_of.setdefault(stop_id, parts) != parts:
            v.append(f"{where}: stop {stop_id} has inconsistent piece counts")
        if not 0 <= part < parts:
            v.append(f"{where}: piece {part} of {parts} is out of range")
        if part in seen_parts[stop_id]:
            v.append(f"{where}: stop {stop_id} piece {part} appears twice")
        seen_parts[stop_id].add(part)

    for r_i, route in enumerate(solution.routes):
        where = f"routes[{r_i}]"
        if not problem.has_vehicle(route.vehicle_id):
            v.append(f"{where}: unknown vehicle {route.vehicle_id!r}")
            continue
        if route.vehicle_id in used_vehicles:
            v.append(f"{where}: vehicle {route.vehicle_id} has more than one route")
        used_vehicles.add(route.vehicle_id)
        veh = problem.vehicle(route.vehicle_id)
        if route.visits:
            fixed += veh.fixed_cost
        depot = problem.depot(veh.depot_id)
        dloc = problem.depot_location_index(veh.depot_id)
        legs: list[Leg] = []
        trip_kg: dict[int, float] = defaultdict(float)
        trip_l: dict[int, float] = defaultdict(float)
        sealed_seen: dict[int, str] = {}
        prev_trip = 0
        for k, vis in enumerate(route.visits):
            w = f"{where}.visits[{k}]"
            if not problem.has_stop(vis.stop_id):
                v.append(f"{w}: unknown stop {vis.stop_id!r}")
                continue
            stop = problem.stop(vis.stop_id)
            note_part(w, stop.id, vis.part, vis.parts)
            if not eligible(veh, stop):
                v.append(f"{w}: vehicle {veh.id} may not serve stop {stop.id} (depot/refrigeration/closed-loop)")
            if vis.trip < prev_trip:
                v.append(f"{w}: trip numbers must not decrease")
            prev_trip = vis.trip
            if vis.trip >= veh.max_trips:
                v.append(f"{w}: trip {vis.trip} exceeds max_trips={veh.max_trips} of {veh.id}")
            # Split pieces are equal shares of the stop.
            if (
                abs(vis.load_kg - stop.demand_kg / vis.parts) > LOAD_EPS
                or abs(vis.load_l - stop.demand_l / vis.parts) > LOAD_EPS
            ):
                v.append(f"{w}: delivered load does not match the stop's demand / {vis.parts}")
            trip_kg[vis.trip] += vis.load_kg
            trip_l[vis.trip] += vis.load_l
            if stop.sealed:
                sealed_seen.setdefault(vis.trip, stop.id)
            elif vis.trip in sealed_seen:
                v.append(
                    f"{w}: non-sealed stop {stop.id} after sealed stop {sealed_seen[vis.trip]} "
                    f"on the same trip (must return to the depot first)"
                )
            legs.append(Leg(problem.stop_location_index(stop.id), stop.windows, stop.service_s, vis.trip))
        for trip, kg in trip_kg.items():
            if kg > veh.capacity_kg + LOAD_EPS:
                v.append(f"{where}: trip {trip} carries {kg:g} kg > capacity {veh.capacity_kg:g} kg of {veh.id}")
            if trip_l[trip] > veh.capacity_l + LOAD_EPS:
                v.append(f"{where}: trip {trip} carries {trip_l[trip]:g} l > capacity {veh.capacity_l:g} l of {veh.id}")
        if len(legs) != len(route.visits):
            continue
        tl = simulate(dur, dist, dloc, depot.load_s, legs, route.start_s)
        travel_total += tl.travel_s
        dist_total += tl.distance_m
        if route.start_s < veh.shift_start_s:
            v.append(f"{where}: starts at {route.start_s} before the shift of {veh.id} ({veh.shift_start_s})")
        if legs and tl.end_s > veh.shift_end_s:
            v.append(f"{where}: ends at {tl.end_s} after the shift of {veh.id} ({veh.shift_end_s})")
        if legs and veh.max_duration_s is not None and tl.end_s - route.start_s > veh.max_duration_s:
            v.append(f"{where}: lasts {tl.end_s - route.start_s} s > max_duration_s={veh.max_duration_s}")
        for k, vis in enumerate(route.visits):
            w = f"{where}.visits[{k}]"
            stop = problem.stop(vis.stop_id)
            if tl.window_idx[k] < 0:
                v.append(f"{w}: arrives at {tl.arrivals[k]} after the last receiving window of {stop.id}")
            elif stop.deadline_s is not None and tl.starts[k] > stop.deadline_s:
                v.append(f"{w}: service starts at {tl.starts[k]} after the deadline {stop.deadline_s} of {stop.id}")
            if (vis.arrival_s, vis.start_s, vis.departure_s) != (tl.arrivals[k], tl.starts[k], tl.departures[k]):
                v.append(
                    f"{w}: reported times {(vis.arrival_s, vis.start_s, vis.departure_s)} differ from "
                    f"recomputed {(tl.arrivals[k], tl.starts[k], tl.departures[k])}"
                )
            if not vis.window.contains(vis.start_s) or vis.window not in stop.windows:
                v.append(f"{w}: reported window does not contain the service start")
        if legs:
            if route.end_s != tl.end_s:
                v.append(f"{where}: reported end {route.end_s} != recomputed {tl.end_s}")
            if route.travel_s != tl.travel_s or route.distance_m != tl.distance_m:
                v.append(f"{where}: reported travel/distance differ from the matrix")
            if route.duration_s != tl.end_s - route.start_s:
                v.append(f"{where}: reported duration differs from end - start")

    penalty = 0
    for u_i, u in enumerate(solution.unassigned):
        w = f"unassigned[{u_i}]"
        if not problem.has_stop(u.stop_id):
            v.append(f"{w}: unknown stop {u.stop_id!r}")
            continue
        stop = problem.stop(u.stop_id)
        note_part(w, stop.id, u.part, u.parts)
        penalty += stop.penalty
        if u.reason_code not in REASON_CODES:
            v.append(f"{w}: unknown reason code {u.reason_code!r}")
            continue
        chk = check_stop(problem, stop, split_oversized)
        expected = chk.code or "fleet_capacity_exhausted"
        if u.reason_code != expected:
            v.append(f"{w}: reason {u.reason_code} but checking the stop against the fleet gives {expected}")
        if not u.reason:
            v.append(f"{w}: missing human-readable reason")

    for stop in problem.stops:
        parts = parts_of.get(stop.id)
        if parts is None:
            v.append(f"stop {stop.id} is neither routed nor reported unassigned")
        elif seen_parts[stop.id] != set(range(parts)):
            v.append(f"stop {stop.id}: pieces {sorted(seen_parts[stop.id])} of {parts} accounted for")

    cost = travel_total + fixed + penalty
    if solution.cost != cost:
        v.append(
            f"cost {solution.cost} != recomputed {cost} (travel {travel_total} + fixed {fixed} + penalty {penalty})"
        )
    if solution.distance_m != dist_total:
        v.append(f"distance_m {solution.distance_m} != recomputed {dist_total}")
    return CheckReport(violations=v, cost=cost, travel_s=travel_total, distance_m=dist_total)
