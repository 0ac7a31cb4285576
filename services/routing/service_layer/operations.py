"""The operations loop: routing plans and dispatches by itself, all day, on the service clock.

``continuous`` (Lifeline): every ``cadence`` of service time, and at once when a medical
order becomes routable, each depot's open demand is planned for *today from now* with the
vehicles that are free (at the depot, in service, shift not over) and the plan is
dispatched (``auto_dispatch``). Medical orders that no free vehicle took are inserted into
the routes already on the road (re-optimisation keeps each vehicle's done and under-way
stops). A vehicle back from its route is free again and takes the next trip.

``day_ahead`` (the baseline a city has without Lifeline): once a day, at a fixed hour,
one plan per depot for the next day, dispatched as it is; nothing is inserted later.

Only one routing instance should run the loop (``LIFELINE_OPERATIONS_ENABLED`` on one
replica): two loops would not corrupt anything (a dispatched order's primary key decides
who dispatches it), but they would plan the same demand twice.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from services.routing.adapters.orm import Plan
from services.routing.domain.planning import clock_to_seconds
from services.routing.service_layer.dispatch import dispatch
from services.routing.service_layer.fleet_state import vehicles_on_the_road
from services.routing.service_layer.loading import Horizon
from services.routing.service_layer.planner import Planner, RequestPlan
from services.routing.service_layer.unit_of_work import RoutingUnitOfWork
from shared import clock
from shared.auth import Principal
from shared.errors import DomainError

log = logging.getLogger(__name__)

Policy = Literal["continuous", "day_ahead"]
LOOP = Principal(subject="operations-loop", role="admin")


@dataclass(frozen=True)
class OperationsConfig:
    policy: Policy = "continuous"
    cadence: timedelta = timedelta(minutes=15)
    #: How often (service time) the loop looks for newly routable medical orders.
    urgent_check: timedelta = timedelta(minutes=2)
    #: Loading at the depot: a plan made now has its vehicles leave this much later.
    lead: timedelta = timedelta(minutes=10)
    time_limit_s: float = 2.0
    auto_dispatch: bool = True
    #: The baseline's one planning hour (local time), for the next day.
    day_ahead_at: str = "18:00"
    seed: int = 0
    #: Plans and re-optimisations stop after this many solver iterations instead of by the
    #: clock, so that a simulation plans the same whatever the machine's load (``time_limit_s``
    #: is then only the safety cap); None: time-limited.
    iterations: int | None = None


@dataclass
class _Depot:
    id: str
    next_cycle: datetime | None = None
    urgent_seen: set[str] = field(default_factory=set)
    last_day_ahead: date | None = None


@dataclass(frozen=True)
class Snapshot:
    """One depot as a cycle finds it."""

    reserved: int
    urgent: frozenset[str]
    free: frozenset[str]
    on_the_road: dict[str, str]


class OperationsLoop:
    def __init__(
        self, uow_factory: Callable[[], RoutingUnitOfWork], planner: Planner, tz: ZoneInfo,
        config: OperationsConfig,
    ) -> None:
        self._uow_factory = uow_factory
        self._planner = planner
        self._tz = tz
        self.config = config
        self._depots: dict[str, _Depot] = {}
        self.cycles = 0
        self.plans_dispatched = 0

    async def run(self) -> None:
        log.info("operations loop on: %s", self.config)
        while True:
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception:  # one bad cycle must not stop the city's planning
                log.exception("operations cycle failed")
            await clock.sleep(self.config.urgent_check.total_seconds())

    async def tick(self) -> None:
        """Run every cycle that is due now."""
        now = clock.now()
        for depot_id in await asyncio.to_thread(self._depot_ids):
            depot = self._depots.setdefault(depot_id, _Depot(depot_id))
            if self.config.policy == "day_ahead":
                await self._day_ahead(depot, now)
            else:
                await self._continuous(depot, now)

    # --- continuous -----------------------------------------------------------------

    async def _continuous(self, depot: _Depot, now: datetime) -> None:
        today = now.astimezone(self._tz).date()
        snapshot = await asyncio.to_thread(self._snapshot, depot.id, today)
        new_urgent = snapshot.urgent - depot.urgent_seen
        due = depot.next_cycle is None or now >= depot.next_cycle
        if not (due or new_urgent):
            return
        if due:
            depot.next_cycle = now + self.config.cadence
        depot.urgent_seen |= snapshot.urgent
        if snapshot.reserved == 0:
            return
        self.cycles += 1
        horizon = Horizon(not_before=now + self.config.lead)
        if snapshot.free:
            await self._plan_and_dispatch(RequestPlan(
                depot_ids=[depot.id], service_date=today, time_limit_s=self.config.time_limit_s,
                seed=self.config.seed, horizon=horizon, vehicle_ids=snapshot.free,
                iterations=self.config.iterations,
            ))
        left = await asyncio.to_thread(self._snapshot, depot.id, today)
        if left.urgent and left.on_the_road:
            await self._insert_urgent(left, horizon)

    async def _insert_urgent(self, snapshot: Snapshot, horizon: Horizon) -> None:
        """Medical orders no free vehicle took go into the routes on the road."""
        by_plan: dict[str, set[str]] = {}
        for vehicle_id, plan_id in snapshot.on_the_road.items():
            by_plan.setdefault(plan_id, set()).add(vehicle_id)
        for plan_id, vehicle_ids in sorted(by_plan.items()):
            try:
                child = await self._planner.reoptimize(
                    plan_id, LOOP, self.config.time_limit_s, self.config.seed,
                    horizon=horizon, vehicle_ids=frozenset(vehicle_ids), iterations=self.config.iterations,
                )
            except DomainError as exc:  # superseded or re-planned meanwhile: next cycle
                log.info("no insertion into %s: %s", plan_id, exc)
                continue
            if await self._finish(child, replaces=plan_id):
                return  # the urgent orders have a vehicle; another plan would compete for them

    # --- day ahead (baseline) ------------------------------------------------------

    async def _day_ahead(self, depot: _Depot, now: datetime) -> None:
        local = now.astimezone(self._tz)
        if local.hour * 3600 + local.minute * 60 < clock_to_seconds(self.config.day_ahead_at):
            return
        if depot.last_day_ahead == local.date():
            return
        depot.last_day_ahead = local.date()
        snapshot = await asyncio.to_thread(self._snapshot, depot.id, local.date())
        if snapshot.reserved == 0:
            return
        self.cycles += 1
        await self._plan_and_dispatch(RequestPlan(
            depot_ids=[depot.id], service_date=local.date() + timedelta(days=1),
            time_limit_s=self.config.time_limit_s, seed=self.config.seed, iterations=self.config.iterations,
        ))

    # --- shared steps ---------------------------------------------------------------

    async def _plan_and_dispatch(self, command: RequestPlan) -> None:
        plan = await self._planner.request(command, LOOP)
        await self._finish(plan)

    async def _finish(self, plan: Plan, replaces: str | None = None) -> bool:
        """Wait for the solve; dispatch it when it routes anything. True if dispatched."""
        plan = await self._planner.solved(plan)
        if plan.status != "solved":
            log.warning("operations plan %s %s: %s", plan.id, plan.status, plan.error)
            return False
        routed = bool(plan.outcome.visits())
        if not (routed and self.config.auto_dispatch):
            return False
        try:
            await asyncio.to_thread(self._dispatch, plan.id)
        except DomainError as exc:  # orders taken by a dispatcher meanwhile, say
            log.info("operations plan %s not dispatched: %s", plan.id, exc)
            return False
        self.plans_dispatched += 1
        log.info("dispatched %s%s", plan.id, f" (re-plans {replaces})" if replaces else "")
        return True

    def _dispatch(self, plan_id: str) -> None:
        with self._uow_factory() as uow:
            dispatch(uow, plan_id, LOOP)

    def _depot_ids(self) -> list[str]:
        with self._uow_factory() as uow:
            return uow.vehicles.depot_ids()

    def _snapshot(self, depot_id: str, today: date) -> Snapshot:
        with self._uow_factory() as uow:
            reserved = uow.demand.reserved_at(depot_id)
            vehicles = uow.vehicles.in_service_at(depot_id)
            on_the_road = vehicles_on_the_road(uow, [depot_id], today)
        return Snapshot(
            reserved=len(reserved),
            urgent=frozenset(order_id for order_id, priority in reserved if priority == "medical"),
            free=frozenset(v.id for v in vehicles
                           if v.id not in on_the_road and self._on_shift(v.shift_start, v.shift_end)),
            on_the_road=on_the_road,
        )

    def _on_shift(self, shift_start: str, shift_end: str) -> bool:
        """A free vehicle is planned once its shift starts within a cadence and until the
        shift ends: committing it hours before it leaves would keep it from later orders."""
        local = clock.now().astimezone(self._tz)
        now_s = local.hour * 3600 + local.minute * 60
        lead_s = self.config.lead.total_seconds()
        return (clock_to_seconds(shift_start) - self.config.cadence.total_seconds() <= now_s
                and now_s + lead_s < clock_to_seconds(shift_end))
