"""Plan for the demo city's busiest depot: time to the first plan and the plan's KPIs.

The demand is the demo day of ``services.demo.demand`` (the night's orders of the demo
city, each reserved at the depot inventory's own rule picks). The problem is built by the
routing service's own ``build_problem`` (one stop per community and temperature, receiving
windows, closed-loop rule, medicine deadlines, waiting ages) from the depot's orders,
communities, SKUs and vehicles, and solved by the engine as the service solves it
(``strategy="auto"``) for each budget. The baseline is plain OR-Tools: PATH_CHEAPEST_ARC
first solution + guided local search, same budget, same seed.

    .venv/bin/python bench/depot_plan.py                      # busiest depot, 10 s and 30 s
    .venv/bin/python bench/depot_plan.py --depot DC-CY-1 --budgets 5,10
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from collections import Counter
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from services.demo.city import build_city
from services.demo.demand import DemoOrder, demand_by_depot, demo_orders
from services.routing.domain.demand import SkuSize, load_of
from services.routing.domain.planning import (
    CommunityInfo,
    DemandInfo,
    DepotInfo,
    StopMeta,
    VehicleInfo,
    build_problem,
    kpis,
)
from services.routing.engine import Problem, Progress, SolveParams, check_solution, solve

TZ = ZoneInfo("Asia/Shanghai")
warnings.filterwarnings("ignore", module=r"pyvrp\..*")  # PenaltyBoundWarning while it searches


def depot_problem(
    depot_id: str | None, service_date: date
) -> tuple[str, Problem, dict[str, StopMeta], list[DemoOrder]]:
    city = build_city()
    orders = demo_orders(city, service_date, TZ)
    ranking = demand_by_depot(orders).most_common()
    print("reserved orders per depot: " + ", ".join(f"{d} {n}" for d, n in ranking))
    depot_id = depot_id or ranking[0][0]
    mine = [o for o in orders if o.depot_id == depot_id]
    skus = {s["id"]: s for s in city.skus}
    sizes = {k: SkuSize(s["unit_weight_kg"], s["unit_volume_l"], bool(s.get("cold_chain"))) for k, s in skus.items()}
    demand = [
        DemandInfo(
            order_id=o.id, depot_id=depot_id, community_id=o.community_id, priority=o.priority,
            placed_at=o.placed_at, load=load_of([{"sku": s, "quantity": q} for s, q in o.items], sizes),
            has_medicine=any(skus[s]["category"] == "medicine" for s, _ in o.items),
        )
        for o in mine
    ]
    communities = {
        c["id"]: CommunityInfo(c["id"], c["name"], c["lat"], c["lon"], c["risk_level"],
                               c["receiving_windows"], c["gate_service_min"])
        for c in city.communities
    }
    depot = next(d for d in city.depots if d["id"] == depot_id)
    vehicles = [
        VehicleInfo(v["id"], v["depot_id"], v["capacity_kg"], v["capacity_l"], v["refrigerated"],
                    v["closed_loop"], v["shift_start"], v["shift_end"], v["max_trips"], v["fixed_cost"])
        for v in city.vehicles if v["depot_id"] == depot_id
    ]
    # The dispatcher plans at 06:00 on the service date (waiting ages are measured from then).
    now = datetime.combine(service_date, datetime.min.time(), tzinfo=TZ) + timedelta(hours=6)
    problem, meta = build_problem(service_date=service_date, now=now, tz=TZ, depots=[DepotInfo(
        depot_id, depot["lat"], depot["lon"])], vehicles=vehicles, communities=communities, demand=demand)
    return depot_id, problem, meta, mine


def run(problem: Problem, meta: dict[str, StopMeta], params: SolveParams) -> dict[str, Any]:
    events: list[Progress] = []
    started = time.monotonic()
    solution = solve(problem, params, on_progress=events.append)
    wall = time.monotonic() - started
    orders_by_reason: dict[str, set[str]] = {}
    for item in solution.unassigned:  # an order in an ambient and a cold stop counts once
        orders_by_reason.setdefault(item.reason_code, set()).update(item.order_ids)
    return {
        "wall_s": wall,
        "first_s": events[0].elapsed_s if events else None,
        "checked": check_solution(problem, solution).ok and solution.is_feasible(),
        "cost": solution.cost,
        "source": solution.source,
        "kpis": kpis(solution, problem, (), meta),
        "unassigned": {code: len(orders) for code, orders in sorted(orders_by_reason.items())},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--depot", help="depot id (default: the busiest of the demo day)")
    parser.add_argument("--budgets", default="10,30", help="comma-separated seconds")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--date", default="2026-11-20", help="service date")
    parser.add_argument("--no-baseline", action="store_true")
    args = parser.parse_args()

    depot_id, problem, meta, orders = depot_problem(args.depot, date.fromisoformat(args.date))
    kg = sum(s.demand_kg for s in problem.stops)
    cold = sum(s.demand_kg for s in problem.stops if s.refrigerated)
    capacity = sum(v.capacity_kg * v.max_trips for v in problem.vehicles)
    print(f"{depot_id}: {len(orders)} orders "
          f"({', '.join(f'{k} {v}' for k, v in sorted(Counter(o.priority for o in orders).items()))}), "
          f"{len(problem.stops)} stops ({sum(s.sealed for s in problem.stops)} sealed, "
          f"{sum(s.refrigerated for s in problem.stops)} cold, "
          f"{sum(s.deadline_s is not None for s in problem.stops)} with a medicine deadline), "
          f"{kg:.0f} kg of which {cold:.0f} kg cold; {len(problem.vehicles)} vehicles, "
          f"{capacity:.0f} kg over all their trips")
    solvers: list[tuple[str, dict[str, Any]]] = [("engine (auto)", {})]
    if not args.no_baseline:
        solvers.append(("OR-Tools PCA+GLS", {"strategy": "ortools", "first_solution": "path_cheapest_arc"}))
    header = (f"{'solver':<18} {'budget':>6} {'wall s':>6} {'1st plan s':>10} {'ok':>3} {'cost':>11} "
              f"{'veh':>5} {'km':>7} {'h':>6} {'served':>9} {'on time':>7} {'prio':>6}  unassigned orders by reason")
    print(header)
    for budget in (float(b) for b in args.budgets.split(",") if b.strip()):
        for name, extra in solvers:
            result = run(problem, meta, SolveParams(time_limit_s=budget, seed=args.seed, **extra))  # type: ignore[arg-type]
            k = result["kpis"]
            first = f"{result['first_s']:.2f}" if result["first_s"] is not None else "-"
            print(f"{name:<18} {budget:6.0f} {result['wall_s']:6.1f} {first:>10} "
                  f"{'yes' if result['checked'] else 'NO':>3} {result['cost']:11d} "
                  f"{k['vehicles_used']:>2}/{k['vehicles_available']:<2} {k['distance_km']:7.1f} "
                  f"{k['duration_h']:6.1f} {k['orders_served']:>4}/{k['orders_total']:<4} "
                  f"{100 * k['on_time_share']:6.1f}% {100 * k['priority_served_share']:5.1f}%  "
                  f"{result['unassigned'] or '-'} [{result['source']}]")
            sys.stdout.flush()


if __name__ == "__main__":
    main()
