"""A strong peer on the same city: plain PyVRP with the side constraints it expresses directly.

Kept: time windows (one per client: the hull of the stop's windows, deadline folded in),
kg and litre capacities, the fleet (per vehicle: depot, shift, duration limit, fixed cost,
reloads between trips, depot loading time), optional clients with prizes (our drop penalty
of each piece), and the split pieces of oversized stops (the engine's split, so both solve
the same clients). Relaxed: several windows per stop (a vehicle may serve between them),
eligibility (any vehicle of any depot may serve any stop: no refrigerated / closed-loop /
own-depot rule) and the risk order (open gates after a sealed one on the same trip).

Both objectives are the same sum: travel seconds + fixed costs of the vehicles used + drop
penalties. Every plan of the engine is feasible in this relaxed model, so on the same
budget the engine's cost should be no higher than the peer's unless the relaxations let the
peer find a cheaper plan that the real rules forbid.
"""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np
import pyvrp
from pyvrp.stop import MaxRuntime

from services.routing.engine import Problem, TimeWindow
from services.routing.engine.instance import Instance, compile_problem, scaled_capacity, scaled_demand


def coinciding(problem: Problem) -> Problem:
    """``problem`` with only what the peer's model expresses: one depot's city without cold
    chain, sealed gates or second windows (each stop keeps its windows' hull), so that both
    solve the very same problem and the engine must be no worse."""
    if len(problem.depots) != 1:
        raise ValueError("the rules coincide on one depot only (the peer lets any van serve any stop)")
    stops = tuple(
        replace(s, refrigerated=False, sealed=False, windows=(TimeWindow(s.windows[0].start_s, s.windows[-1].end_s),))
        for s in problem.stops
    )
    return replace(problem, stops=stops)


def relaxed_model(inst: Instance) -> pyvrp.ProblemData:
    problem = inst.problem
    locations = [pyvrp.Location(x=loc.lon, y=loc.lat) for loc in problem.locations()]
    depots = [pyvrp.Depot(location=k, service_duration=d.load_s) for k, d in enumerate(problem.depots)]
    clients = [
        pyvrp.Client(
            location=p.loc,
            delivery=[scaled_demand(p.kg), scaled_demand(p.litres)],
            service_duration=p.service_s,
            tw_early=p.windows[0].start_s,
            tw_late=p.windows[-1].end_s,
            prize=p.penalty,
            required=False,
        )
        for p in inst.pieces
    ]
    vehicle_types = []
    for v in problem.vehicles:
        depot = problem.depot_index(v.depot_id)
        reloads = dict(reload_depots=[depot], max_reloads=v.max_trips - 1) if v.max_trips > 1 else {}
        vehicle_types.append(
            pyvrp.VehicleType(
                num_available=1,
                capacity=[scaled_capacity(v.capacity_kg), scaled_capacity(v.capacity_l)],
                start_depot=depot,
                end_depot=depot,
                fixed_cost=int(v.fixed_cost),
                tw_early=v.shift_start_s,
                tw_late=v.shift_end_s,
                shift_duration=v.duration_limit_s,
                unit_distance_cost=1,
                **reloads,  # type: ignore[arg-type]
            )
        )
    matrix = np.array(inst.duration, dtype=np.int64)
    # "distance" = travel seconds (the objective); duration drives the schedule.
    return pyvrp.ProblemData(
        locations=locations,
        clients=clients,
        depots=depots,
        vehicle_types=vehicle_types,
        distance_matrices=[matrix],  # type: ignore[list-item]
        duration_matrices=[matrix],  # type: ignore[list-item]
    )


def solve_peer(problem: Problem, budget_s: float, seed: int = 0) -> dict[str, object]:
    """The peer's best plan after ``budget_s`` (model building counts), in our objective."""
    t0 = time.monotonic()
    inst = compile_problem(problem)
    data = relaxed_model(inst)
    left = max(0.1, budget_s - (time.monotonic() - t0))
    res = pyvrp.solve(data, MaxRuntime(left), seed=seed, collect_stats=False)
    best = res.best
    cost = int(best.distance_cost() + best.fixed_vehicle_cost() + best.uncollected_prizes()) + inst.rejected_penalty
    return {
        "cost": cost if best.is_feasible() else None,
        "dropped": len(inst.pieces) - best.num_clients(),
        "vehicles": best.num_routes(),
        "wall": time.monotonic() - t0,
    }
