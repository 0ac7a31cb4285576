"""Our instance as a PyVRP model, and PyVRP's solutions as our plans (with
:mod:`.pyvrp_solver`, the only modules that import PyVRP).

Mapping of our constraints onto PyVRP 0.14:

* several windows -> one client per window in a mutually exclusive group;
* eligibility (depot, refrigerated, closed-loop) -> one routing profile per
  vehicle class whose matrix makes ineligible stops unreachable in time
  (travel time far beyond any shift, i.e. infeasible, not just expensive);
* risk order -> arcs sealed -> open stop made unreachable in every profile;
* multi-trip -> ``reload_depots`` / ``max_reloads``; depot loading ->
  depot ``service_duration``;
* deadlines and split pieces are already folded into the instance.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyvrp

from .build import RELOAD
from .instance import Instance, depots_with_room, eligible, scaled_capacity, scaled_demand
from .model import MAX_TIME_S
from .solution import Solution

#: Travel time that no shift can absorb: forbids an arc through time warp.
UNREACHABLE = 10 * MAX_TIME_S


@dataclass
class Mapping:
    data: pyvrp.ProblemData
    client_piece: list[int]
    #: vehicle type -> our vehicle indices.
    type_members: list[list[int]]
    #: Sum of the prizes of optional pieces: what dropping everything would cost.
    optional_total: int
    #: piece -> its clients, one per receiving window (in the piece's window order).
    piece_clients: list[list[int]]


def build_data(inst: Instance, *, required: bool | None = None) -> Mapping:
    """``required``: True/False for every stop; None = required at the depots with room."""
    problem = inst.problem
    n_dep = len(problem.depots)
    if required is None:
        roomy = depots_with_room(inst)
    else:
        roomy = frozenset(d.id for d in problem.depots) if required else frozenset()
    locations = [pyvrp.Location(x=loc.lon, y=loc.lat) for loc in problem.locations()]
    depots = [pyvrp.Depot(location=k, service_duration=d.load_s) for k, d in enumerate(problem.depots)]

    clients: list[pyvrp.Client] = []
    client_piece: list[int] = []
    piece_clients: list[list[int]] = []
    groups: list[pyvrp.ClientGroup] = []
    optional_total = 0
    for x, p in enumerate(inst.pieces):
        required = problem.stops[p.stop_idx].depot_id in roomy
        delivery = [scaled_demand(p.kg), scaled_demand(p.litres)]
        multi = len(p.windows) > 1
        group = len(groups) if multi else None
        members = []
        for w in p.windows:
            members.append(len(clients))
            clients.append(
                pyvrp.Client(
                    location=p.loc,
                    delivery=delivery,
                    service_duration=p.service_s,
                    tw_early=w.start_s,
                    tw_late=w.end_s,
                    prize=0 if required and not multi else p.penalty,
                    required=required and not multi,
                    group=group,
                )
            )
            client_piece.append(x)
        piece_clients.append(members)
        if multi:
            groups.append(pyvrp.ClientGroup(members, required=required))
        if multi or not required:
            optional_total += p.penalty

    # One profile per vehicle class; identical vehicles share a vehicle type.
    base = np.array(inst.duration, dtype=np.int64)
    sealed_locs = [n_dep + i for i, s in enumerate(problem.stops) if s.sealed]
    open_locs = [n_dep + i for i, s in enumerate(problem.stops) if not s.sealed]
    if sealed_locs and open_locs:
        base = base.copy()
        base[np.ix_(sealed_locs, open_locs)] = UNREACHABLE
    profiles: dict[tuple[str, bool, bool], int] = {}
    matrices: list[np.ndarray] = []
    types: dict[tuple[object, ...], int] = {}
    type_members: list[list[int]] = []
    vtypes: list[dict[str, object]] = []
    for vi, v in enumerate(problem.vehicles):
        pkey = (v.depot_id, v.refrigerated, v.closed_loop)
        if pkey not in profiles:
            bad = [n_dep + i for i, s in enumerate(problem.stops) if not eligible(v, s)]
            m = base
            if bad:
                m = base.copy()
                m[:, bad] = UNREACHABLE
                np.fill_diagonal(m, 0)  # PyVRP insists on a zero diagonal
            profiles[pkey] = len(matrices)
            matrices.append(m)
        depot = problem.depot_index(v.depot_id)
        spec: dict[str, object] = dict(
            capacity=[scaled_capacity(v.capacity_kg), scaled_capacity(v.capacity_l)],
            start_depot=depot,
            end_depot=depot,
            fixed_cost=int(v.fixed_cost),
            tw_early=v.shift_start_s,
            tw_late=v.shift_end_s,
            shift_duration=v.duration_limit_s,
            unit_distance_cost=1,
            profile=profiles[pkey],
        )
        if v.max_trips > 1:
            spec.update(reload_depots=[depot], max_reloads=v.max_trips - 1)
        tkey = tuple(sorted((k, str(val)) for k, val in spec.items()))
        if tkey not in types:
            types[tkey] = len(type_members)
            type_members.append([])
            vtypes.append(spec)
        type_members[types[tkey]].append(vi)
    vehicle_types = [
        pyvrp.VehicleType(num_available=len(type_members[t]), **spec)  # type: ignore[arg-type]
        for t, spec in enumerate(vtypes)
    ]
    # "distance" is our objective (travel seconds); duration drives the schedule.
    data = pyvrp.ProblemData(
        locations=locations,
        clients=clients,
        depots=depots,
        vehicle_types=vehicle_types,
        distance_matrices=matrices,  # type: ignore[arg-type]  # stub wants ndarray[int]
        duration_matrices=matrices,  # type: ignore[arg-type]
        groups=groups,
    )
    return Mapping(data, client_piece, type_members, optional_total, piece_clients)


def plan_sequences(mapping: Mapping, best: pyvrp.Solution) -> tuple[dict[int, list[int]], dict[int, int]]:
    """PyVRP's routes as our vehicles' piece sequences (``RELOAD`` between trips) and starts."""
    free = [list(m) for m in mapping.type_members]
    seqs: dict[int, list[int]] = {}
    starts: dict[int, int] = {}
    for route in best.routes():
        vi = free[route.vehicle_type()].pop(0)
        seq: list[int] = []
        trip = 0
        for act in route.schedule():
            if not act.is_client():
                continue
            if act.trip != trip:
                seq.append(RELOAD)
                trip = act.trip
            seq.append(mapping.client_piece[act.idx])
        seqs[vi] = seq
        starts[vi] = int(route.start_time())
    return seqs, starts


def as_pyvrp(mapping: Mapping, inst: Instance, plan: Solution) -> pyvrp.Solution:
    """Our plan as a PyVRP solution: each visit becomes the client of the window it is served in."""
    problem = inst.problem
    type_of = {vi: t for t, members in enumerate(mapping.type_members) for vi in members}
    routes = []
    for r in plan.routes:
        vi = problem.vehicle_index(r.vehicle_id)
        depot = pyvrp.Activity(pyvrp.ActivityType.DEPOT, problem.depot_index(problem.vehicles[vi].depot_id))
        activities = []
        trip = 0
        for vis in r.visits:
            if vis.trip != trip:
                activities.append(depot)
                trip = vis.trip
            x = inst.pieces_of[vis.stop_id][vis.part]
            copies = mapping.piece_clients[x]
            k = min(problem.stop(vis.stop_id).windows.index(vis.window), len(copies) - 1)
            activities.append(pyvrp.Activity(pyvrp.ActivityType.CLIENT, copies[k]))
        routes.append(pyvrp.Route(mapping.data, activities, type_of[vi]))
    return pyvrp.Solution(mapping.data, routes)
