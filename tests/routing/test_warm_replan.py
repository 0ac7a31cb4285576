"""A second plan of the same depot and day starts from the first one (the engine's warm
start), through the real service: the dispatcher's re-plan and the operations loop's cycles
improve the day they already have."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from services.routing.engine import Solution
from shared.settings import Settings
from tests.routing.events import publish, reserved, small_city
from tests.routing.helpers import request_plan, setup_fleet, solved, wait_for_demand
from tests.support import running_service


async def test_the_next_plan_of_the_same_day_is_warm_started_from_the_last(settings: Settings) -> None:
    await publish(settings, *small_city(), reserved("O-1", "C-1", rice=2), reserved("O-2", "C-1", rice=1),
                  reserved("O-3", "C-2", rice=1, priority="medical"))
    async with running_service("routing", settings) as (app, client):
        headers = await setup_fleet(client, settings)
        await wait_for_demand(client, headers, {"O-1", "O-2", "O-3"})
        planner = app.state.planner
        real_solver = planner._solver
        warm_starts: list[Solution | None] = []
        solutions: list[Solution] = []

        async def recording(*args: Any, warm_start: Solution | None = None, **kwargs: Any) -> Solution:
            warm_starts.append(warm_start)
            solution: Solution = await real_solver(*args, warm_start=warm_start, **kwargs)
            solutions.append(solution)
            return solution

        planner._solver = recording
        tomorrow = (date.today() + timedelta(days=1)).isoformat()
        body = {"depot_ids": ["DC-1"], "date": tomorrow, "time_limit_s": 1}
        first = await solved(client, headers, await request_plan(client, headers, body))
        second = await solved(client, headers, await request_plan(client, headers, body))
        other_day = {**body, "date": (date.today() + timedelta(days=2)).isoformat()}
        await solved(client, headers, await request_plan(client, headers, other_day))

        assert first["status"] == second["status"] == "solved"
        assert warm_starts[0] is None, "the first plan of a day starts cold"
        assert warm_starts[1] is solutions[0], "the next one starts from the last"
        assert warm_starts[2] is None, "another day has its own plans"
        assert solutions[1].cost <= solutions[0].cost
