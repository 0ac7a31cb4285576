"""Same scenario, same seed, same figures: the smoke morning twice in lockstep.

Each run is the real system (broker, three service processes with their SQLite databases,
the operations loop, the fleet simulator) on a stepped clock that its conductor moves only
when everything is at rest, with plans bounded by solver iterations instead of seconds.
The two runs must agree on every figure and every order's delivery, not only on the
headline: the simulated clock decides alike whatever the machine's load.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from services.simulation.run import SimulationOptions, simulate

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

#: How long a run took, and how many steps the conductor made to get there, may differ.
RUN_ONLY = {"wall_seconds"}


async def _smoke_in_lockstep(out_dir: Path) -> dict[str, Any]:
    outcome = await simulate(SimulationOptions(
        scenario="smoke", policies=("lifeline",), lockstep=True, drain=timedelta(hours=1), out_dir=out_dir,
    ))
    run: dict[str, Any] = outcome["runs"]["lifeline"]
    return {key: value for key, value in run.items() if key not in RUN_ONLY}


async def test_the_smoke_morning_twice_in_lockstep_gives_the_same_figures(tmp_path: Path) -> None:
    first = await _smoke_in_lockstep(tmp_path / "first")
    second = await _smoke_in_lockstep(tmp_path / "second")

    assert first["orders"]["placed"] > 50 and first["orders"]["delivered"] > 0, first["orders"]
    assert first["figures"]["orders_lost"] == 0 and first["figures"]["orders_doubled"] == 0
    assert first["figures"]["stock_conserved"] is True
    differing = sorted(key for key in first.keys() | second.keys() if first.get(key) != second.get(key))
    assert not differing, {key: (_short(first.get(key)), _short(second.get(key))) for key in differing}


def _short(value: Any) -> str:
    return json.dumps(value, default=str)[:600]
