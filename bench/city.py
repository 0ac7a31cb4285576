"""Lockdown-city benchmark: 1,000 stops (and a 10-depot city of 3,000) with every side constraint.

Synthetic but shaped like the lockdown reports: 4 district centres, ~1,000
community stops within ~15 km (``--cities 3000x10``: ten centres, six of them on a
ring), two receiving windows for most communities,
25 % sealed (closed-loop vehicles only, depot before open stops), cold-chain
stops (refrigerated vehicles), medicine deadlines (placed + 6 h), priorities
and waiting ages, some oversized stops (split), multi-trip vans, fixed costs.

Reports time to the first feasible plan and the cost after each budget,
compared with a long run:

    python bench/city.py                          # budgets 10,30,60 s + 300 s long run
    python bench/city.py --cities 1000x4,3000x10 --long 600   # both cities, one run
    python bench/city.py --budgets 5,10 --long 30 --cities 300x4
    python bench/city.py --replan 0.05 --budgets 10   # warm start against cold on a changed day
    python bench/city.py --lanes 1                    # depots improved in turn, not two at a time

``--replan SHARE`` measures the operations loop's case: a plan is made, then SHARE of the stops
are gone and as many new ones have come; the changed day is solved cold and warm-started from
the first plan, at each budget, in the same run.
"""

from __future__ import annotations

import argparse
import math
import random
import resource
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from services.routing.engine import (
    Depot,
    Location,
    Problem,
    Progress,
    Solution,
    SolveParams,
    Stop,
    TimeWindow,
    Vehicle,
    check_solution,
    decompose,
    solve,
)

H = 3600
CENTRE = (39.91, 116.40)


#: The four depots of the 1,000-stop city; a city with more depots adds them on a ring.
FOUR_DEPOTS = [(0.06, 0.06), (0.06, -0.07), (-0.07, 0.06), (-0.06, -0.06)]


def depot_offsets(n_depots: int) -> list[tuple[float, float]]:
    if n_depots <= len(FOUR_DEPOTS):
        return FOUR_DEPOTS[:n_depots]
    ring = n_depots - len(FOUR_DEPOTS)
    return FOUR_DEPOTS + [
        (0.12 * math.sin(2 * math.pi * k / ring), 0.15 * math.cos(2 * math.pi * k / ring)) for k in range(ring)
    ]


def make_city(n_stops: int = 1000, seed: int = 7, n_depots: int = 4) -> Problem:
    """A city of ``n_stops`` gates around ``n_depots`` depots, 22 vehicles per 250 stops."""
    rng = random.Random(seed)
    depots = []
    for k, (dlat, dlon) in enumerate(depot_offsets(n_depots)):
        depots.append(Depot(f"DC-{k}", Location(CENTRE[0] + dlat, CENTRE[1] + dlon), load_s=900))
    vehicles = []
    per_depot = max(4, round(n_stops / n_depots / 250 * 22))
    for d in depots:
        for j in range(per_depot):
            big = j % 3 == 0
            vehicles.append(
                Vehicle(
                    f"{d.id}-V{j:02d}",
                    d.id,
                    capacity_kg=3000 if big else 1500,
                    capacity_l=15000 if big else 8000,
                    refrigerated=j % 4 in (0, 1),
                    closed_loop=j % 2 == 0,
                    shift_start_s=6 * H,
                    shift_end_s=20 * H,
                    max_duration_s=12 * H,
                    fixed_cost=1800,
                    max_trips=2 if not big else 1,
                )
            )
    stops = []
    for i in range(n_stops):
        d = depots[i % len(depots)]
        lat = d.location.lat + rng.gauss(0, 0.045)
        lon = d.location.lon + rng.gauss(0, 0.055)
        lat = min(max(lat, CENTRE[0] - 0.16), CENTRE[0] + 0.16)
        lon = min(max(lon, CENTRE[1] - 0.2), CENTRE[1] + 0.2)
        cold = rng.random() < 0.10
        sealed = rng.random() < 0.25
        prio_roll = rng.random()
        priority = "medical" if prio_roll < 0.05 else "vulnerable" if prio_roll < 0.25 else "standard"
        windows: tuple[TimeWindow, ...]
        if rng.random() < 0.6:
            windows = (TimeWindow(7 * H, 9 * H + 1800), TimeWindow(15 * H, 17 * H + 1800))
        elif rng.random() < 0.5:
            windows = (TimeWindow(8 * H, 12 * H),)
        else:
            windows = (TimeWindow(13 * H, 18 * H),)
        kg = rng.uniform(40, 300) if not cold else rng.uniform(20, 120)
        if rng.random() < 0.01:
            kg = rng.uniform(3200, 5000)  # a big compound: split across vehicles
        deadline = None
        if priority == "medical":
            placed = rng.randint(1 * H, 9 * H)
            deadline = max(placed + 6 * H, windows[0].start_s + H)
        stops.append(
            Stop(
                f"S{i:04d}",
                Location(lat, lon),
                d.id,
                demand_kg=round(kg, 1),
                demand_l=round(kg * rng.uniform(2.0, 4.0), 1),
                windows=windows,
                service_s=rng.choice([600, 900, 1200]),
                refrigerated=cold,
                sealed=sealed,
                priority=priority,  # type: ignore[arg-type]
                waiting_s=rng.randint(0, 2 * 86_400),
                deadline_s=deadline,
                order_ids=tuple(f"O{i:04d}-{k}" for k in range(rng.randint(1, 5))),
            )
        )
    return Problem(tuple(depots), tuple(vehicles), tuple(stops))


def changed_day(problem: Problem, share: float, seed: int = 11) -> Problem:
    """``problem`` a little later: ``share`` of its stops served or cancelled, as many new."""
    rng = random.Random(seed)
    n = round(share * len(problem.stops))
    kept = rng.sample(problem.stops, len(problem.stops) - n)
    fresh = make_city(len(problem.stops), seed=seed, n_depots=len(problem.depots)).stops[:n]
    new = [
        replace(s, id=f"N{k:04d}", order_ids=tuple(f"N{k:04d}-{j}" for j in range(len(s.order_ids))))
        for k, s in enumerate(fresh)
    ]
    return replace(problem, stops=tuple(sorted(kept, key=lambda s: s.id)) + tuple(new), matrix=None)


def run(
    problem: Problem, budget: float, seed: int, strategy: str, warm_start: Solution | None = None
) -> dict[str, object]:
    events: list[Progress] = []
    t0 = time.monotonic()
    params = SolveParams(time_limit_s=budget, seed=seed, strategy=strategy)  # type: ignore[arg-type]
    sol = solve(problem, params, on_progress=events.append, warm_start=warm_start)
    wall = time.monotonic() - t0
    rep = check_solution(problem, sol)
    codes: dict[str, int] = {}
    for u in sol.unassigned:
        codes[u.reason_code] = codes.get(u.reason_code, 0) + 1
    return {
        "budget": budget,
        "wall": wall,
        "first": events[0].elapsed_s if events else None,
        "cost": sol.cost,
        "travel_h": sol.travel_s / 3600,
        "vehicles": len(sol.routes),
        "unassigned": codes,
        "ok": rep.ok and sol.is_feasible(),
        "source": sol.source,
        "solution": sol,
    }


def replan(problem: Problem, share: float, budgets: list[float], seed: int, strategy: str) -> None:
    first = run(problem, budgets[0], seed, strategy)
    later = changed_day(problem, share)
    print(f"first plan ({budgets[0]:.0f} s): cost {first['cost']}; then {share:.0%} of the stops replaced")
    print(
        f"{'budget s':>8} {'cold cost':>12} {'warm cost':>12} {'warm vs cold':>12} "
        f"{'cold 1st s':>10} {'warm 1st s':>10}"
    )
    for b in budgets:
        cold = run(later, b, seed, strategy)
        warm = run(later, b, seed, strategy, warm_start=first["solution"])  # type: ignore[arg-type]
        gap = 100 * (warm["cost"] - cold["cost"]) / cold["cost"]  # type: ignore[operator]
        print(
            f"{b:8.0f} {cold['cost']:12d} {warm['cost']:12d} {gap:11.2f}% {cold['first']:10.2f} {warm['first']:10.2f}"
            f"   ok {cold['ok']}/{warm['ok']}"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cities", default="1000x4", help="comma-separated STOPSxDEPOTS")
    ap.add_argument("--budgets", default="10,30,60", help="comma-separated seconds")
    ap.add_argument("--long", type=float, default=300.0, help="reference long run (0 = skip)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--strategy", default="auto", help="auto, ortools, pyvrp, portfolio")
    ap.add_argument("--compare", choices=["pyvrp"], help="also solve a plain PyVRP model (bench/pyvrp_peer.py)")
    ap.add_argument("--replan", type=float, default=0.0, help="share of stops replaced: warm start against cold")
    ap.add_argument("--lanes", type=int, choices=[1, 2], default=decompose.LANES,
                    help="depots improved at once in a city's second round (engine/lanes.py; 1: in turn)")
    args = ap.parse_args()
    decompose.LANES = args.lanes

    budgets = [float(b) for b in args.budgets.split(",") if b.strip()]
    for city in args.cities.split(","):
        n_stops, n_depots = (int(x) for x in city.lower().split("x"))
        t0 = time.monotonic()
        problem = make_city(n_stops, n_depots=n_depots)
        print(
            f"city: {len(problem.stops)} stops, {len(problem.vehicles)} vehicles, {len(problem.depots)} depots "
            f"(built in {time.monotonic() - t0:.1f} s), strategy {args.strategy}, lanes {args.lanes}"
        )
        if args.replan > 0:
            replan(problem, args.replan, budgets, args.seed, args.strategy)
        else:
            report(problem, budgets, args.long, args.seed, args.strategy)
        if args.compare == "pyvrp":
            compare(problem, budgets, args.seed, args.strategy)
        print(f"max RSS so far: this process {_rss_mb(resource.RUSAGE_SELF)} MB, "
              f"largest child {_rss_mb(resource.RUSAGE_CHILDREN)} MB")


def compare(problem: Problem, budgets: list[float], seed: int, strategy: str) -> None:
    """The engine against plain PyVRP: on the city as it is (the peer's relaxed model lets it
    do what the rules forbid) and on a one-depot city where both models are the same."""
    from pyvrp_peer import coinciding, solve_peer  # only this mode needs the peer

    same = coinciding(make_city(len(problem.stops), n_depots=1))
    for title, city in (("this city; the peer's model is relaxed", problem),
                        (f"{len(same.stops)} stops at one depot, rules that coincide: engine <= peer?", same)):
        print(f"against plain PyVRP (bench/pyvrp_peer.py), same objective and budget - {title}")
        print(f"{'budget s':>8} {'engine cost':>12} {'dropped':>7} {'peer cost':>12} {'dropped':>7} "
              f"{'engine vs peer':>14}")
        for b in budgets:
            ours = run(city, b, seed, strategy)
            peer = solve_peer(city, b, seed)
            dropped = sum(ours["unassigned"].values())  # type: ignore[attr-defined]
            if peer["cost"] is None:
                print(f"{b:8.0f} {ours['cost']:12d} {dropped:7d} {'infeasible':>12}")
                continue
            gap = 100 * (ours["cost"] - peer["cost"]) / peer["cost"]  # type: ignore[operator]
            print(f"{b:8.0f} {ours['cost']:12d} {dropped:7d} {peer['cost']:12d} {peer['dropped']:7d} {gap:13.2f}%")


def _rss_mb(who: int) -> int:
    return resource.getrusage(who).ru_maxrss // 1024


def report(problem: Problem, budgets: list[float], long: float, seed: int, strategy: str) -> None:
    runs = [*budgets, long] if long > 0 else budgets
    rows = [run(problem, b, seed, strategy) for b in runs]
    ref = rows[-1]["cost"] if long > 0 else min(r["cost"] for r in rows)  # type: ignore[type-var]
    print(
        f"{'budget s':>8} {'wall s':>7} {'1st feas s':>10} {'cost':>12} {'vs long':>8} {'travel h':>9} "
        f"{'veh':>4} {'src':>7} ok  unassigned"
    )
    for r in rows:
        gap = 100 * (r["cost"] - ref) / ref  # type: ignore[operator]
        first = f"{r['first']:.2f}" if r["first"] is not None else "-"
        print(
            f"{r['budget']:8.0f} {r['wall']:7.1f} {first:>10} {r['cost']:12d} {gap:7.2f}% {r['travel_h']:9.1f} "
            f"{r['vehicles']:4d} {r['source']:>7} {'yes' if r['ok'] else 'NO':3} {r['unassigned']}"
        )

if __name__ == "__main__":
    main()
