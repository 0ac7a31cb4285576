"""Headline benchmark: a lockdown scenario through the real system, Lifeline vs. baseline.

    .venv/bin/python bench/simulate.py [--scenario lockdown-day] [--scale 1] [--speed 240]
    .venv/bin/python bench/simulate.py --lockstep [--planner-iterations 300]   # reproducible

Prints, per policy, the supply office's figures and the wall time, and writes the report
(HTML and JSON) under var/simulation. The same as ``lifeline simulate``, with a table.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import timedelta
from pathlib import Path

from services.simulation.report import write_report
from services.simulation.run import LOCKSTEP_ITERATIONS, SimulationOptions, simulate

ROWS = [
    ("medical within 6 h", "medical_within_6h_share"),
    ("  gate opens within 6 h", "medical_reachable_within_6h_share"),
    ("  of those, within 6 h", "medical_within_6h_share_of_reachable"),
    ("vulnerable unserved > 24 h", "vulnerable_unserved_over_24h"),
    ("fill rate worst/best", "fill_rate_worst_best_ratio"),
    ("orders lost", "orders_lost"),
    ("orders doubled", "orders_doubled"),
    ("stock conserved", "stock_conserved"),
    ("vehicle-km per tonne", "vehicle_km_per_tonne"),
    ("vehicle utilisation", "vehicle_utilisation"),
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scenario", default="lockdown-day")
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--speed", type=float, default=240.0)
    parser.add_argument("--drain-hours", type=float, default=6.0)
    parser.add_argument("--planner-time-limit", type=float, default=1.0)
    parser.add_argument("--lockstep", action="store_true", help="time conducted: same seed, same figures")
    parser.add_argument("--planner-iterations", type=int, default=LOCKSTEP_ITERATIONS)
    args = parser.parse_args()
    out = Path("var/simulation")
    outcome = asyncio.run(simulate(SimulationOptions(
        scenario=args.scenario, scale=args.scale, speed=args.speed, drain=timedelta(hours=args.drain_hours),
        planner_time_limit_s=args.planner_time_limit, out_dir=out, lockstep=args.lockstep,
        planner_iterations=args.planner_iterations)))
    _json, html = write_report(outcome, out, stem=f"{args.scenario}-report")
    runs = outcome["runs"]
    out_lines = [f"{'figure':28}" + "".join(f"{name:>14}" for name in runs)]
    for label, key in ROWS:
        out_lines.append(f"{label:28}" + "".join(f"{runs[n]['figures'][key]!s:>14}" for n in runs))
    for label, key in (("orders placed", "placed"), ("orders delivered", "delivered")):
        out_lines.append(f"{label:28}" + "".join(f"{runs[n]['orders'][key]!s:>14}" for n in runs))
    out_lines.append(f"{'wall seconds':28}" + "".join(f"{runs[n]['wall_seconds']!s:>14}" for n in runs))
    out_lines.append(f"report: {html}")
    sys.stdout.write("\n".join(out_lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
