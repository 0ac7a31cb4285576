"""The dispatcher's plan requests and re-plans, solved in the background.

A solve runs in a child process (``solver_process``) so it never holds the event loop;
the plan row says ``solving`` with progress until it is ``solved`` or ``failed``.

Each new plan of the same depots and day starts from the last one solved here (the engine's
warm start): the operations loop and a dispatcher re-plan a mostly unchanged day again and
again, and the search should spend its seconds improving the day, not finding it again. The
last plans are kept in memory only; after a restart the first solve is cold.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, replace
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from services.routing.adapters.orm import Plan
from services.routing.domain.describing import describe_solution
from services.routing.domain.plan_result import PlanResult
from services.routing.engine import Progress, Solution, SolveParams
from services.routing.service_layer.access import check_depot_access, visible_plan
from services.routing.service_layer.loading import Horizon, Loaded, Loader, load_problem
from services.routing.service_layer.reoptimize import build_reoptimization
from services.routing.service_layer.solver_process import Solver, solve_in_child
from services.routing.service_layer.unit_of_work import RoutingUnitOfWork
from shared import clock, ids
from shared.auth import Principal
from shared.errors import DomainError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RequestPlan:
    depot_ids: list[str]
    service_date: date
    time_limit_s: float
    seed: int
    #: Same-day planning from now (the operations loop); None plans the whole service day.
    horizon: Horizon | None = None
    #: Only these vehicles (the idle ones); None: the depots' whole fleet in service.
    vehicle_ids: frozenset[str] | None = None
    #: Reproducible mode: the engines stop after this many iterations, not by the clock
    #: (``time_limit_s`` is then only the safety cap); None: time-limited.
    iterations: int | None = None



class Planner:
    """Owns the background solves of one service instance."""

    def __init__(self, uow_factory: Any, tz: ZoneInfo, max_time_s: float, solver: Solver = solve_in_child) -> None:
        self._uow_factory = uow_factory
        self._tz = tz
        self._max_time_s = max_time_s
        self._solver = solver
        self._tasks: dict[str, asyncio.Task[None]] = {}
        #: The last solution per (depots, service date): the next plan's warm start.
        self._last: dict[tuple[tuple[str, ...], date], Solution] = {}

    async def request(self, command: RequestPlan, principal: Principal) -> Plan:
        """Create the plan and solve it in the background; the plan row says how it goes."""
        plan = await asyncio.to_thread(self._create, command, principal)
        params = SolveParams(time_limit_s=command.time_limit_s, seed=command.seed, iterations=command.iterations)
        day = (tuple(sorted(command.depot_ids)), command.service_date)
        self._tasks[plan.id] = asyncio.create_task(
            self._solve(plan.id, command.service_date, params, lambda: self._load(command), day))
        return plan

    async def solved(self, plan: Plan) -> Plan:
        """The plan once its solve has ended (solved or failed)."""
        task = self._tasks.get(plan.id)
        if task is not None:
            await asyncio.shield(task)

        def read() -> Plan:
            with self._uow_factory() as uow:
                found = uow.plans.get(plan.id)
                return found or plan

        return await asyncio.to_thread(read)

    def _create(self, command: RequestPlan, principal: Principal) -> Plan:
        check_depot_access(principal, command.depot_ids)
        if not 0 < command.time_limit_s <= self._max_time_s:
            raise DomainError(
                f"time_limit_s must be in (0, {self._max_time_s:g}]", code="invalid_time_limit"
            )
        with self._uow_factory() as uow:
            # Validate now so a bad request is a 4xx, not a plan that fails later.
            self._load_in(uow, command)
            plan = Plan(
                id=f"P-{ids.random_hex('plan', 12)}", depot_ids=command.depot_ids,
                service_date=command.service_date, time_limit_s=command.time_limit_s,
                seed=command.seed, requested_by=principal.subject, created_at=clock.now(),
                progress={"elapsed_s": 0, "best_cost": None, "solutions_found": 0},
            )
            uow.plans.add(plan)
            uow.commit()
        return plan

    async def reoptimize(
        self, plan_id: str, principal: Principal, time_limit_s: float, seed: int, *,
        horizon: Horizon | None = None, vehicle_ids: frozenset[str] | None = None,
        iterations: int | None = None,
    ) -> Plan:
        def build(uow: RoutingUnitOfWork) -> Loaded:
            return build_reoptimization(uow, plan_id, self._tz, horizon=horizon, vehicle_ids=vehicle_ids)[1]

        def create() -> Plan:
            with self._uow_factory() as uow:
                parent = visible_plan(uow, plan_id, principal)
                check_depot_access(principal, parent.depot_ids)
                build(uow)  # a bad request fails now, as a 4xx
                child = Plan(
                    id=f"P-{ids.random_hex('plan', 12)}", depot_ids=parent.depot_ids,
                    service_date=parent.service_date, time_limit_s=time_limit_s, seed=seed,
                    requested_by=principal.subject, created_at=clock.now(), parent_plan_id=parent.id,
                    progress={"elapsed_s": 0, "best_cost": None, "solutions_found": 0},
                )
                uow.plans.add(child)
                uow.commit()
                return child

        def load() -> Loaded:
            with self._uow_factory() as uow:
                return build(uow)

        child = await asyncio.to_thread(create)
        params = SolveParams(time_limit_s=time_limit_s, seed=seed, iterations=iterations)
        self._tasks[child.id] = asyncio.create_task(self._solve(child.id, child.service_date, params, load))
        return child

    async def _solve(
        self, plan_id: str, service_date: date, params: SolveParams, load: Loader,
        day: tuple[tuple[str, ...], date] | None = None,
    ) -> None:
        """``day``: depots and date whose last solution warm-starts this one (None: cold)."""
        started = time.monotonic()
        saving: asyncio.Future[None] | None = None
        try:
            loaded = await asyncio.to_thread(load)
            last_write = 0.0

            def on_progress(progress: Progress) -> None:
                # Called on the event loop: the database write goes to a thread, so that a
                # slow write never delays a request (one write at a time, at most twice a second).
                nonlocal last_write, saving
                now = time.monotonic()
                if now - last_write < 0.5 or (saving is not None and not saving.done()):
                    return  # progress is for people: twice a second is plenty
                last_write = now
                saving = asyncio.ensure_future(asyncio.to_thread(self._save_progress, plan_id, progress))

            warm = self._last.get(day) if day is not None else None
            solution = await self._solver(loaded.problem, params, on_progress, fixed=loaded.fixed, warm_start=warm)
            if day is not None:
                self._last = {k: v for k, v in self._last.items() if k[1] >= service_date}  # past days go
                self._last[day] = solution
            if saving is not None:
                await saving
            result = replace(describe_solution(
                solution, loaded.problem, loaded.meta, loaded.communities,
                service_date=service_date, tz=self._tz, unrouted=loaded.unrouted,
            ), solve_seconds=round(time.monotonic() - started, 2))
            await asyncio.to_thread(self._finish, plan_id, "solved", result, None)
        except asyncio.CancelledError:
            await asyncio.to_thread(self._finish, plan_id, "failed", None, "service stopped while solving")
            raise
        except Exception as exc:
            log.exception("plan %s failed", plan_id)
            await asyncio.to_thread(self._finish, plan_id, "failed", None, str(exc))
        finally:
            self._tasks.pop(plan_id, None)

    def _load(self, command: RequestPlan) -> Loaded:
        with self._uow_factory() as uow:
            return self._load_in(uow, command)

    def _load_in(self, uow: RoutingUnitOfWork, command: RequestPlan) -> Loaded:
        return load_problem(uow, command.depot_ids, command.service_date, self._tz,
                            vehicle_ids=command.vehicle_ids, horizon=command.horizon)

    def _save_progress(self, plan_id: str, progress: Progress) -> None:
        with self._uow_factory() as uow:
            plan = uow.plans.get(plan_id)
            if plan is not None and plan.status == "solving":
                plan.progress = {
                    "elapsed_s": round(progress.elapsed_s, 2),
                    "best_cost": progress.best_cost,
                    "solutions_found": progress.solutions_found,
                }
                uow.plans.add(plan)
                uow.commit()

    def _finish(self, plan_id: str, status: str, result: PlanResult | None, error: str | None) -> None:
        """``result`` is None for a failed solve: its plan keeps the empty result."""
        with self._uow_factory() as uow:
            plan = uow.plans.get(plan_id)
            if plan is None:
                return
            plan.status, plan.result, plan.error = status, {} if result is None else result.to_json(), error
            plan.solved_at = clock.now()
            if result is not None:
                plan.progress = {**plan.progress, "elapsed_s": result.solve_seconds}
            uow.plans.add(plan)
            uow.commit()

    def fail_interrupted(self) -> None:
        """Plans a previous process left 'solving' will never finish: say so."""
        with self._uow_factory() as uow:
            for plan in uow.plans.solving():
                plan.status, plan.error = "failed", "interrupted by a service restart"
                uow.plans.add(plan)
            uow.commit()

    async def stop(self) -> None:
        for task in list(self._tasks.values()):
            task.cancel()
        await asyncio.gather(*self._tasks.values(), return_exceptions=True)

