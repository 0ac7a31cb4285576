"""A short simulated morning through the real system: broker, three service processes with
their SQLite databases, the operations loop and the fleet simulator, on a fast clock.

Checks the invariants the supply office relies on: no accepted order lost, none doubled,
the stock ledger balanced, and every medical order with an outcome.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from services.simulation.run import SimulationOptions, simulate

pytestmark = pytest.mark.e2e


async def test_a_simulated_morning_loses_nothing_doubles_nothing_and_conserves_stock(tmp_path: Path) -> None:
    outcome = await simulate(SimulationOptions(
        scenario="smoke", policies=("lifeline",), speed=900, drain=timedelta(hours=2),
        planner_time_limit_s=0.5, out_dir=tmp_path,
        # Booting and loading the city take some 30 s here; the 90 s default is for slower
        # machines. Were it short, the first actions would run late, not wrong.
        setup_wall_s=50,
    ))
    run = outcome["runs"]["lifeline"]
    figures = run["figures"]
    assert run["orders"]["placed"] > 50, run["orders"]
    assert figures["orders_lost"] == 0
    assert figures["orders_doubled"] == 0
    assert figures["stock_conserved"] is True
    assert run["orders"]["delivered"] > 0, "the fleet simulator delivered what the loop dispatched"
    assert figures["medical_orders"] > 0
    # Every medical order has an outcome: none is still waiting to be placed or reserved.
    assert run["orders"]["refused_at_intake"] == 0, run["orders"]["refusals"]
    assert run["actions_failed"] == 0, run["failed_actions"]
