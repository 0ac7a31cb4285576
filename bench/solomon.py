"""Solomon VRPTW benchmark: the Lifeline engine vs plain OR-Tools vs PyVRP, same budget.

Convention (see bench/data/solomon/README.md): d(i,j) = floor(10 x Euclidean),
travel time = d, windows and service x10, objective = total distance, reported
cost = total / 10, fleet = VEHICLES.  Gap = (cost - best known) / best known.

    python bench/solomon.py                        # all 56, 10 s each, 3 solvers
    python bench/solomon.py --time-limit 2 --instances C101,R101,RC201
    python bench/solomon.py --solvers engine       # only the engine
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from services.routing.engine import (
    Depot,
    Location,
    Problem,
    SolveParams,
    Stop,
    TimeWindow,
    TravelMatrix,
    Vehicle,
    check_solution,
    solve,
)

DATA = Path(__file__).resolve().parent / "data" / "solomon"


def parse_vrp(path: Path) -> dict[str, object]:
    meta: dict[str, str] = {}
    sections: dict[str, list[list[int]]] = {}
    current = None
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line == "EOF":
            continue
        if ":" in line and not line[0].isdigit():
            k, v = line.split(":", 1)
            meta[k.strip()] = v.strip()
            current = None
        elif line.endswith("_SECTION"):
            current = line
            sections[current] = []
        elif current:
            sections[current].append([int(float(t)) for t in line.split()])
    return {
        "name": meta["NAME"],
        "vehicles": int(meta["VEHICLES"]),
        "capacity": int(meta["CAPACITY"]),
        "service": int(meta.get("SERVICE_TIME", 0)),
        "coords": [r[1:] for r in sections["NODE_COORD_SECTION"]],
        "demand": [r[1] for r in sections["DEMAND_SECTION"]],
        "tw": [r[1:] for r in sections["TIME_WINDOW_SECTION"]],
    }


def best_known(name: str) -> float:
    for line in (DATA / f"{name}.sol").read_text().splitlines():
        if line.startswith("Cost"):
            return float(line.split()[1])
    raise ValueError(f"no Cost in {name}.sol")


def to_problem(inst: dict[str, object]) -> Problem:
    coords = np.array(inst["coords"], dtype=float)
    d = np.floor(10 * np.sqrt(((coords[:, None, :] - coords[None, :, :]) ** 2).sum(-1))).astype(np.int64)
    tw = inst["tw"]
    depot_tw = tw[0]  # type: ignore[index]
    # Coordinates are abstract; any valid lat/lon will do since the matrix is given.
    locs = [Location(y / 100, x / 100) for x, y in inst["coords"]]  # type: ignore[attr-defined]
    depot = Depot("depot", locs[0])
    cap = inst["capacity"]
    vehicles = tuple(
        Vehicle(
            f"v{k}",
            "depot",
            capacity_kg=cap,  # type: ignore[arg-type]
            capacity_l=1.0,
            shift_start_s=10 * depot_tw[0],
            shift_end_s=10 * depot_tw[1],
        )
        for k in range(inst["vehicles"])  # type: ignore[call-overload]
    )
    stops = tuple(
        Stop(
            f"c{i}",
            locs[i],
            "depot",
            demand_kg=inst["demand"][i],  # type: ignore[index]
            demand_l=0.0,
            windows=(TimeWindow(10 * tw[i][0], 10 * tw[i][1]),),  # type: ignore[index]
            service_s=10 * inst["service"],  # type: ignore[operator]
        )
        for i in range(1, len(locs))
    )
    return Problem((depot,), vehicles, stops, TravelMatrix(d, d))


def run_engine(problem: Problem, limit: float, seed: int, **kw: object) -> tuple[float | None, int, float]:
    t0 = time.monotonic()
    sol = solve(problem, SolveParams(time_limit_s=limit, seed=seed, **kw))  # type: ignore[arg-type]
    wall = time.monotonic() - t0
    if sol.unassigned or not sol.is_feasible() or not check_solution(problem, sol).ok:
        return None, 0, wall
    return sol.travel_s / 10, len(sol.routes), wall


def run_pyvrp(name: str, limit: float, seed: int) -> tuple[float | None, int, float]:
    import pyvrp
    from pyvrp.stop import MaxRuntime

    t0 = time.monotonic()
    data = pyvrp.read(str(DATA / f"{name}.vrp"), round_func="dimacs")
    res = pyvrp.solve(data, MaxRuntime(limit), seed=seed, collect_stats=False)
    wall = time.monotonic() - t0
    if not res.is_feasible():
        return None, 0, wall
    return res.best.distance() / 10, res.best.num_routes(), wall


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--time-limit", type=float, default=10.0, help="seconds per instance and solver")
    ap.add_argument("--instances", default="", help="comma-separated names or prefixes (default: all 56)")
    ap.add_argument("--solvers", default="engine,ortools,pyvrp", help="subset of engine,ortools,pyvrp")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    names = sorted(p.stem for p in DATA.glob("*.vrp"))
    if args.instances:
        wanted = [w.strip().upper() for w in args.instances.split(",") if w.strip()]
        names = [n for n in names if any(n == w or n.startswith(w) for w in wanted)]
    solvers = [s.strip() for s in args.solvers.split(",") if s.strip()]
    labels = {
        "engine": "engine (portfolio)",
        "ortools": "OR-Tools GLS, PATH_CHEAPEST_ARC",
        "pyvrp": "PyVRP (plain)",
    }
    gaps: dict[str, list[float]] = {s: [] for s in solvers}
    vehicles: dict[str, list[int]] = {s: [] for s in solvers}
    failed: dict[str, int] = {s: 0 for s in solvers}
    print(f"time limit {args.time_limit} s per instance and solver, seed {args.seed}")
    head = f"{'instance':9} {'BKS':>9} " + " ".join(f"{s + ' dist':>14} {'veh':>3} {'gap%':>6}" for s in solvers)
    print(head, flush=True)
    for name in names:
        bks = best_known(name)
        problem = to_problem(parse_vrp(DATA / f"{name}.vrp"))
        cells = []
        for s in solvers:
            if s == "engine":
                cost, nveh, _ = run_engine(problem, args.time_limit, args.seed)
            elif s == "ortools":
                cost, nveh, _ = run_engine(
                    problem, args.time_limit, args.seed, strategy="ortools", first_solution="path_cheapest_arc"
                )
            else:
                cost, nveh, _ = run_pyvrp(name, args.time_limit, args.seed)
            if cost is None:
                failed[s] += 1
                cells.append(f"{'no solution':>14} {'-':>3} {'-':>6}")
            else:
                gap = 100 * (cost - bks) / bks
                gaps[s].append(gap)
                vehicles[s].append(nveh)
                cells.append(f"{cost:14.1f} {nveh:3d} {gap:6.2f}")
        print(f"{name:9} {bks:9.1f} " + " ".join(cells), flush=True)
    print()
    print(f"{'solver':34} {'solved':>8} {'mean gap':>9} {'median':>7} {'worst':>7} {'mean veh':>8}")
    for s in solvers:
        g = gaps[s]
        if g:
            print(
                f"{labels[s]:34} {len(g):>4}/{len(names):<3} {statistics.mean(g):8.2f}% {statistics.median(g):6.2f}% "
                f"{max(g):6.2f}% {statistics.mean(vehicles[s]):8.2f}"
            )
        else:
            print(f"{labels[s]:34} {0:>4}/{len(names):<3} {'-':>9}")
    if any(math.isnan(x) for g in gaps.values() for x in g):
        sys.exit(1)


if __name__ == "__main__":
    main()
