"""The OR-Tools model (the only module that imports OR-Tools).

Node layout: one node per depot (vehicle start/end), one per stop piece and
receiving window (the windows of a piece form one disjunction: at most one is
visited), then ``max_trips - 1`` private *reload* nodes per multi-trip vehicle.

* arc cost = travel seconds; fixed cost per used vehicle; one disjunction per
  piece with its drop penalty (reload nodes: penalty 0, so unused is free);
* time dimension: transit = service at the tail + travel, slack = waiting; each
  window node's cumul (service start) lies in its window;
  shift = start/end cumul ranges; max duration = span upper bound;
* kg and litre dimensions; reload nodes carry ``-capacity`` plus a slack so the
  load can drop back to zero there (the classic OR-Tools reload model);
* eligibility = allowed vehicles per node;
* risk order: arcs sealed -> non-sealed piece are removed, so once a trip has
  entered a sealed community its only way back to open ones is via the depot.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from ortools.constraint_solver import pywrapcp, routing_enums_pb2

from .build import RELOAD, legs_of
from .instance import Instance, scaled_capacity, scaled_demand
from .model import MAX_TIME_S
from .schedule import simulate

log = logging.getLogger(__name__)

#: The reproducible mode counts work in PyVRP iterations (``SolveParams.iterations``). A solution
#: of OR-Tools' guided local search costs several of them (3-20 ms against 1-3 ms on 50-300
#: stops, more as its search goes on), so OR-Tools stops after one solution per this many.
ITERATIONS_PER_SOLUTION = 10


def solution_limit(iterations: int | None, share: float = 1.0) -> int | None:
    """OR-Tools' solution limit for ``share`` of ``iterations`` (None: stopped by the clock)."""
    if iterations is None:
        return None
    return max(1, math.ceil(share * iterations / ITERATIONS_PER_SOLUTION))


_FIRST = {
    "parallel_cheapest_insertion": routing_enums_pb2.FirstSolutionStrategy.PARALLEL_CHEAPEST_INSERTION,
    "local_cheapest_insertion": routing_enums_pb2.FirstSolutionStrategy.LOCAL_CHEAPEST_INSERTION,
    "path_cheapest_arc": routing_enums_pb2.FirstSolutionStrategy.PATH_CHEAPEST_ARC,
    "savings": routing_enums_pb2.FirstSolutionStrategy.SAVINGS,
}


@dataclass(frozen=True, slots=True)
class OrtoolsResult:
    #: vehicle index -> piece indices with ``RELOAD`` between trips.
    sequences: dict[int, list[int]]
    start_hints: dict[int, int]
    objective: int
    solutions_found: int


class _Model:
    def __init__(self, inst: Instance) -> None:
        problem = inst.problem
        self.inst = inst
        n_dep = len(problem.depots)
        vehicles = problem.vehicles
        self.n_dep = n_dep
        # One node per (piece, window): alternatives in one disjunction.  A
        # single node whose time domain has holes is equivalent but makes the
        # insertion heuristics crawl (10x slower first plans on 1,000 stops).
        self.node_piece: list[int] = []
        self.node_window: list[int] = []
        self.piece_nodes: list[list[int]] = []
        for x, p in enumerate(inst.pieces):
            self.piece_nodes.append([])
            for k in range(len(p.windows)):
                self.piece_nodes[x].append(n_dep + len(self.node_piece))
                self.node_piece.append(x)
                self.node_window.append(k)
        n_pc = len(self.node_piece)
        self.n_pc = n_pc
        # Reload nodes, owned by one vehicle each.
        self.reload_owner: list[int] = [vi for vi, v in enumerate(vehicles) for _ in range(v.max_trips - 1)]
        n_nodes = n_dep + n_pc + len(self.reload_owner)
        pieces = [inst.pieces[x] for x in self.node_piece]
        loc = np.empty(n_nodes, dtype=np.int64)
        loc[:n_dep] = np.arange(n_dep)
        loc[n_dep : n_dep + n_pc] = [p.loc for p in pieces]
        loc[n_dep + n_pc :] = [problem.depot_location_index(vehicles[vi].depot_id) for vi in self.reload_owner]
        service = np.zeros(n_nodes, dtype=np.int64)
        service[:n_dep] = [d.load_s for d in problem.depots]
        service[n_dep : n_dep + n_pc] = [p.service_s for p in pieces]
        service[n_dep + n_pc :] = [problem.depot(vehicles[vi].depot_id).load_s for vi in self.reload_owner]

        starts = [problem.depot_index(v.depot_id) for v in vehicles]
        self.manager = pywrapcp.RoutingIndexManager(n_nodes, len(vehicles), starts, starts)
        self.routing = routing = pywrapcp.RoutingModel(self.manager)
        manager = self.manager

        travel = inst.duration[np.ix_(loc, loc)]
        cost_cb = routing.RegisterTransitMatrix(travel.tolist())
        routing.SetArcCostEvaluatorOfAllVehicles(cost_cb)
        time_cb = routing.RegisterTransitMatrix((travel + service[:, None]).tolist())
        routing.AddDimension(time_cb, MAX_TIME_S, MAX_TIME_S, False, "time")
        self.time = time_dim = routing.GetDimensionOrDie("time")

        multi = bool(self.reload_owner)
        for name, dem_of, cap_of in (
            ("kg", lambda p: p.kg, lambda v: v.capacity_kg),
            ("l", lambda p: p.litres, lambda v: v.capacity_l),
        ):
            caps = [scaled_capacity(cap_of(v)) for v in vehicles]
            demand = [0] * n_dep + [scaled_demand(dem_of(p)) for p in pieces]
            demand += [-caps[vi] for vi in self.reload_owner]
            cb = routing.RegisterUnaryTransitVector(demand)
            routing.AddDimensionWithVehicleCapacity(cb, max(caps) if multi else 0, caps, not multi, name)
            if multi:
                dim = routing.GetDimensionOrDie(name)
                for node in range(n_dep, n_dep + n_pc):
                    dim.SlackVar(manager.NodeToIndex(node)).SetValue(0)
                for vi in range(len(vehicles)):
                    dim.CumulVar(routing.Start(vi)).SetValue(0)

        for x, p in enumerate(inst.pieces):
            idxs = [manager.NodeToIndex(node) for node in self.piece_nodes[x]]
            for idx, w in zip(idxs, p.windows, strict=True):
                time_dim.CumulVar(idx).SetRange(w.start_s, w.end_s)
                if len(p.vehicles) < len(vehicles):
                    # SetAllowedVehiclesForIndex's Span<int> argument is not
                    # callable from Python in this OR-Tools build; restricting
                    # the vehicle variable is equivalent (-1 = unperformed).
                    routing.VehicleVar(idx).SetValues([-1, *p.vehicles])
            routing.AddDisjunction(idxs, p.penalty, 1)
        for d in sorted(set(range(n_dep)) - set(starts)):
            # A depot no vehicle starts from (all of its vans out of service) is a node like
            # any other to OR-Tools, one it would have to visit: optional at no cost, and
            # performed by no vehicle.
            idx = manager.NodeToIndex(d)
            routing.AddDisjunction([idx], 0)
            routing.VehicleVar(idx).SetValues([-1])
        for k, vi in enumerate(self.reload_owner):
            idx = manager.NodeToIndex(n_dep + n_pc + k)
            v = vehicles[vi]
            time_dim.CumulVar(idx).SetRange(v.shift_start_s, v.shift_end_s)
            routing.VehicleVar(idx).SetValues([-1, vi])
            routing.AddDisjunction([idx], 0)
        for vi, v in enumerate(vehicles):
            s, e = routing.Start(vi), routing.End(vi)
            time_dim.CumulVar(s).SetRange(v.shift_start_s, v.shift_end_s)
            time_dim.CumulVar(e).SetRange(v.shift_start_s, v.shift_end_s)
            time_dim.SetSpanUpperBoundForVehicle(v.duration_limit_s, vi)
            routing.SetFixedCostOfVehicle(int(v.fixed_cost), vi)
            # Leave as late and come back as early as possible: short duties, real ETAs.
            routing.AddVariableMaximizedByFinalizer(time_dim.CumulVar(s))
            routing.AddVariableMinimizedByFinalizer(time_dim.CumulVar(e))

        sealed = [manager.NodeToIndex(n) for n in range(n_dep, n_dep + n_pc) if pieces[n - n_dep].sealed]
        if sealed:
            open_ = [manager.NodeToIndex(n) for n in range(n_dep, n_dep + n_pc) if not pieces[n - n_dep].sealed]
            for idx in sealed:
                routing.NextVar(idx).RemoveValues(open_)

    def reload_indices(self, vi: int) -> list[int]:
        base = self.n_dep + self.n_pc
        return [int(self.manager.NodeToIndex(base + k)) for k, o in enumerate(self.reload_owner) if o == vi]

    def _window_choice(self, vi: int, seq: Sequence[int]) -> list[int]:
        """Window each piece of ``seq`` is served in when the vehicle leaves at shift start."""
        problem = self.inst.problem
        v = problem.vehicles[vi]
        pieces = [x for x in seq if x != RELOAD]
        tl = simulate(
            self.inst.duration,
            None,
            problem.depot_location_index(v.depot_id),
            problem.depot(v.depot_id).load_s,
            legs_of(self.inst, seq),
            v.shift_start_s,
        )
        # A missed window (-1) keeps the last one; OR-Tools will then refuse the route.
        return [
            k if k >= 0 else len(self.inst.pieces[x].windows) - 1 for x, k in zip(pieces, tl.window_idx, strict=True)
        ]

    def to_index_routes(self, sequences: Mapping[int, Sequence[int]]) -> list[list[int]]:
        routes: list[list[int]] = []
        for vi in range(len(self.inst.problem.vehicles)):
            seq = list(sequences.get(vi, []))
            reloads = iter(self.reload_indices(vi))
            windows = iter(self._window_choice(vi, seq))
            route: list[int] = []
            for x in seq:
                if x == RELOAD:
                    nxt = next(reloads, None)
                    if nxt is None:
                        raise ValueError(f"vehicle {vi}: more trips than max_trips")
                    route.append(nxt)
                else:
                    route.append(int(self.manager.NodeToIndex(self.piece_nodes[x][next(windows)])))
            routes.append(route)
        return routes

    def read(self, assignment: pywrapcp.Assignment) -> tuple[dict[int, list[int]], dict[int, int]]:
        routing, manager = self.routing, self.manager
        seqs: dict[int, list[int]] = {}
        starts: dict[int, int] = {}
        for vi in range(len(self.inst.problem.vehicles)):
            idx = routing.Start(vi)
            starts[vi] = int(assignment.Value(self.time.CumulVar(idx)))
            seq: list[int] = []
            idx = assignment.Value(routing.NextVar(idx))
            while not routing.IsEnd(idx):
                node = manager.IndexToNode(idx)
                seq.append(self.node_piece[node - self.n_dep] if node < self.n_dep + self.n_pc else RELOAD)
                idx = assignment.Value(routing.NextVar(idx))
            if seq:
                seqs[vi] = seq
        return seqs, starts


def solve_ortools(
    inst: Instance,
    *,
    time_limit_s: float,
    first_solution: str = "parallel_cheapest_insertion",
    on_improvement: Callable[[int, int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    locks: Mapping[int, Sequence[int]] | None = None,
    initial: Mapping[int, Sequence[int]] | None = None,
    solution_limit: int | None = None,
) -> OrtoolsResult | None:
    """Run first solution + guided local search; ``None`` when nothing was found.

    ``on_improvement(objective, solutions_found)`` is called for every new best
    (objective excludes the penalty of stops rejected before solving).
    ``locks``: vehicle -> piece prefix (``RELOAD`` allowed) kept as is.
    ``initial``: a warm start in the same format (e.g. another engine's plan).
    ``solution_limit`` (the reproducible mode): stop after that many solutions; the time
    limit is then only a safety cap, and the search holds no other clock.
    """
    t0 = time.monotonic()
    model = _Model(inst)
    routing = model.routing
    params = pywrapcp.DefaultRoutingSearchParameters()
    params.first_solution_strategy = _FIRST[first_solution]
    params.local_search_metaheuristic = routing_enums_pb2.LocalSearchMetaheuristic.GUIDED_LOCAL_SEARCH
    remaining = max(0.05, time_limit_s - (time.monotonic() - t0))
    params.time_limit.FromMilliseconds(int(remaining * 1000))
    if solution_limit is not None:
        params.solution_limit = solution_limit
        # Sub-searches (the finalizer that places the shift starts, LNS neighbourhoods) stop
        # after 0.1 s by default: on a loaded machine that would cut them at another point.
        params.lns_time_limit.FromMilliseconds(int(remaining * 1000))

    best = [-1]
    found = [0]

    def at_solution() -> None:
        found[0] += 1
        obj = int(routing.CostVar().Value())
        if best[0] < 0 or obj < best[0]:
            best[0] = obj
            if on_improvement is not None:
                on_improvement(obj, found[0])
        if should_stop is not None and should_stop():
            routing.solver().FinishCurrentSearch()

    routing.AddAtSolutionCallback(at_solution)
    routing.CloseModelWithParameters(params)
    if locks:
        # Locks need a closed model; they fix next[] along each prefix from the start.
        lock_routes = model.to_index_routes(locks)
        if not routing.ApplyLocksToAllVehicles(lock_routes, False):
            raise ValueError("fixed: the locked prefixes are not valid routes")
    assignment = None
    if initial:
        start = routing.ReadAssignmentFromRoutes(model.to_index_routes(initial), True)
        if start is not None:
            assignment = routing.SolveFromAssignmentWithParameters(start, params)
        else:
            log.info("warm start rejected by OR-Tools; solving from scratch")
    if assignment is None:
        assignment = routing.SolveWithParameters(params)
    if solution_limit is not None and found[0] < solution_limit and time.monotonic() - t0 >= 0.98 * time_limit_s:
        log.warning("OR-Tools stopped by the time limit after %d of %d solutions: the plan may vary from run "
                    "to run (raise time_limit_s)", found[0], solution_limit)
    if assignment is None:
        log.info("OR-Tools found no solution (status %s)", routing.status())
        return None
    seqs, starts = model.read(assignment)
    return OrtoolsResult(seqs, starts, int(assignment.ObjectiveValue()), found[0])
