"""Commands of the dispatcher: request a plan, dispatch it, record deliveries, re-plan."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlmodel import col

from services.routing.adapters.orm import (
    Community,
    DemandOrder,
    Depot,
    DispatchedOrder,
    Plan,
    Sku,
    StopOutcome,
    Vehicle,
)
from services.routing.domain import demand as demand_states
from services.routing.domain.demand import SkuSize, load_of
from services.routing.domain.planning import (
    CommunityInfo,
    DemandInfo,
    DepotInfo,
    StopMeta,
    VehicleInfo,
    build_problem,
    changed_assignments,
    describe_solution,
    unroutable,
)
from services.routing.engine import Problem, Progress, SolveParams
from services.routing.service_layer.solver_process import solve_in_child
from services.routing.service_layer.unit_of_work import RoutingUnitOfWork
from shared import clock
from shared.auth import Principal
from shared.events.payloads import (
    OrderDelivered,
    OrderDeliveryFailed,
    OrderScheduled,
    PlanDispatched,
)
from shared.http import Conflict, DomainError, Forbidden, NotFound

log = logging.getLogger(__name__)



@dataclass(frozen=True)
class Loaded:
    """What a solve needs: the engine's problem, how to read its stops back, and the orders
    that could not become stops (their community is unknown to routing yet)."""

    problem: Problem
    meta: dict[str, StopMeta]
    communities: dict[str, CommunityInfo]
    unrouted: list[DemandInfo] = field(default_factory=list)
    fixed: dict[str, list[str]] | None = None


Loader = Callable[[], Loaded]


def utcnow() -> datetime:
    return clock.now()


@dataclass(frozen=True)
class RequestPlan:
    depot_ids: list[str]
    service_date: date
    time_limit_s: float
    seed: int


@dataclass(frozen=True)
class RecordDelivery:
    plan_id: str
    stop_id: str
    outcome: str
    received_by: str | None
    reason: str | None


def check_depot_access(principal: Principal, depot_ids: list[str]) -> None:
    if principal.role == "admin":
        return
    outside = sorted(set(depot_ids) - principal.depot_ids)
    if outside:
        raise Forbidden(f"not a dispatcher of depot(s) {', '.join(outside)}", depot_ids=outside)


def visible_plan(uow: RoutingUnitOfWork, plan_id: str, principal: Principal) -> Plan:
    """Another depot's plan is "not found", like a missing one, so plan ids cannot be probed."""
    plan = uow.session.get(Plan, plan_id)
    if plan is None or (principal.role != "admin" and not set(plan.depot_ids) & principal.depot_ids):
        raise NotFound(f"plan {plan_id} not found")
    return plan


# --- building the problem ------------------------------------------------------------

def depots_and_fleet(uow: RoutingUnitOfWork, depot_ids: list[str]) -> tuple[list[DepotInfo], list[VehicleInfo]]:
    session = uow.session
    depots = session.execute(select(Depot).where(col(Depot.id).in_(depot_ids))).scalars().all()
    missing = sorted(set(depot_ids) - {d.id for d in depots})
    if missing:
        raise NotFound(f"unknown depot(s): {', '.join(missing)}", depot_ids=missing)
    vehicles = session.execute(
        select(Vehicle).where(col(Vehicle.depot_id).in_(depot_ids)).order_by(col(Vehicle.id))
    ).scalars().all()
    return (
        [DepotInfo(d.id, d.lat, d.lon) for d in depots],
        [
            VehicleInfo(v.id, v.depot_id, v.capacity_kg, v.capacity_l, v.refrigerated, v.closed_loop,
                        v.shift_start, v.shift_end, v.max_trips, v.fixed_cost)
            for v in vehicles
        ],
    )


def _demand(uow: RoutingUnitOfWork, orders: Sequence[DemandOrder]) -> list[DemandInfo]:
    catalog = {
        s.id: (SkuSize(s.unit_weight_kg, s.unit_volume_l, s.cold_chain), s.category)
        for s in uow.session.execute(select(Sku)).scalars()
    }
    sizes = {sku: size for sku, (size, _category) in catalog.items()}
    return [
        DemandInfo(
            order_id=o.order_id, depot_id=o.depot_id or "", community_id=o.community_id,
            priority=o.priority, placed_at=_aware(o.placed_at), load=load_of(o.lines, sizes),
            has_medicine=any(catalog.get(line["sku"], (None, ""))[1] == "medicine" for line in o.lines),
        )
        for o in orders
    ]


def reserved_demand(uow: RoutingUnitOfWork, depot_ids: list[str]) -> list[DemandInfo]:
    orders = uow.session.execute(
        select(DemandOrder)
        .where(col(DemandOrder.depot_id).in_(depot_ids), col(DemandOrder.status) == demand_states.RESERVED)
        .order_by(col(DemandOrder.order_id))
    ).scalars().all()
    return _demand(uow, orders)


def demand_of(uow: RoutingUnitOfWork, order_ids: list[str]) -> list[DemandInfo]:
    orders = uow.session.execute(
        select(DemandOrder).where(col(DemandOrder.order_id).in_(order_ids)).order_by(col(DemandOrder.order_id))
    ).scalars().all()
    return _demand(uow, orders)


def communities_of(uow: RoutingUnitOfWork, ids: set[str]) -> dict[str, CommunityInfo]:
    return {
        c.id: CommunityInfo(c.id, c.name, c.lat, c.lon, c.risk_level, c.receiving_windows,
                            c.gate_service_min)
        for c in uow.session.execute(select(Community).where(col(Community.id).in_(ids))).scalars()
    }


def load_problem(
    uow: RoutingUnitOfWork, depot_ids: list[str], service_date: date, tz: ZoneInfo,
    demand: list[DemandInfo] | None = None,
) -> Loaded:
    depots, vehicles = depots_and_fleet(uow, depot_ids)
    if demand is None:
        demand = reserved_demand(uow, depot_ids)
    communities = communities_of(uow, {o.community_id for o in demand})
    problem, meta = build_problem(
        service_date=service_date, now=utcnow(), tz=tz, depots=depots, vehicles=vehicles,
        communities=communities, demand=demand,
    )
    return Loaded(problem, meta, communities, unroutable(demand, communities))


def _aware(moment: datetime | None) -> datetime:
    if moment is None:
        return utcnow()
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


# --- the planner: runs solves in the background ---------------------------------------

class Planner:
    """Owns the background solves of one service instance."""

    def __init__(self, uow_factory: Any, tz: ZoneInfo, max_time_s: float) -> None:
        self._uow_factory = uow_factory
        self._tz = tz
        self._max_time_s = max_time_s
        self._tasks: dict[str, asyncio.Task[None]] = {}

    async def request(self, command: RequestPlan, principal: Principal) -> Plan:
        plan = await asyncio.to_thread(self._create, command, principal)
        params = SolveParams(time_limit_s=command.time_limit_s, seed=command.seed)
        self._tasks[plan.id] = asyncio.create_task(
            self._solve(plan.id, command.service_date, params, lambda: self._load(command)))
        return plan

    def _create(self, command: RequestPlan, principal: Principal) -> Plan:
        check_depot_access(principal, command.depot_ids)
        if not 0 < command.time_limit_s <= self._max_time_s:
            raise DomainError(
                f"time_limit_s must be in (0, {self._max_time_s:g}]", code="invalid_time_limit"
            )
        with self._uow_factory() as uow:
            # Validate now so a bad request is a 4xx, not a plan that fails later.
            load_problem(uow, command.depot_ids, command.service_date, self._tz)
            plan = Plan(
                id=f"P-{uuid.uuid4().hex[:12]}", depot_ids=command.depot_ids,
                service_date=command.service_date, time_limit_s=command.time_limit_s,
                seed=command.seed, requested_by=principal.subject, created_at=utcnow(),
                progress={"elapsed_s": 0, "best_cost": None, "solutions_found": 0},
            )
            uow.session.add(plan)
            uow.commit()
        return plan

    async def reoptimize(self, plan_id: str, principal: Principal, time_limit_s: float, seed: int) -> Plan:
        from services.routing.service_layer.reoptimize import build_reoptimization

        def create() -> Plan:
            with self._uow_factory() as uow:
                parent = visible_plan(uow, plan_id, principal)
                check_depot_access(principal, parent.depot_ids)
                build_reoptimization(uow, plan_id, self._tz)  # a bad request fails now, as a 4xx
                child = Plan(
                    id=f"P-{uuid.uuid4().hex[:12]}", depot_ids=parent.depot_ids,
                    service_date=parent.service_date, time_limit_s=time_limit_s, seed=seed,
                    requested_by=principal.subject, created_at=utcnow(), parent_plan_id=parent.id,
                    progress={"elapsed_s": 0, "best_cost": None, "solutions_found": 0},
                )
                uow.session.add(child)
                uow.commit()
                return child

        def load() -> Loaded:
            with self._uow_factory() as uow:
                _parent, loaded = build_reoptimization(uow, plan_id, self._tz)
                return loaded

        child = await asyncio.to_thread(create)
        params = SolveParams(time_limit_s=time_limit_s, seed=seed)
        self._tasks[child.id] = asyncio.create_task(self._solve(child.id, child.service_date, params, load))
        return child

    async def _solve(self, plan_id: str, service_date: date, params: SolveParams, load: Loader) -> None:
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

            solution = await solve_in_child(loaded.problem, params, on_progress, fixed=loaded.fixed)
            if saving is not None:
                await saving
            result = describe_solution(
                solution, loaded.problem, loaded.meta, loaded.communities,
                service_date=service_date, tz=self._tz, unrouted=loaded.unrouted,
            )
            result["solve_seconds"] = round(time.monotonic() - started, 2)
            await asyncio.to_thread(self._finish, plan_id, "solved", result, None)
        except asyncio.CancelledError:
            await asyncio.to_thread(self._finish, plan_id, "failed", {}, "service stopped while solving")
            raise
        except Exception as exc:
            log.exception("plan %s failed", plan_id)
            await asyncio.to_thread(self._finish, plan_id, "failed", {}, str(exc))
        finally:
            self._tasks.pop(plan_id, None)

    def _load(self, command: RequestPlan) -> Loaded:
        with self._uow_factory() as uow:
            return load_problem(uow, command.depot_ids, command.service_date, self._tz)

    def _save_progress(self, plan_id: str, progress: Progress) -> None:
        with self._uow_factory() as uow:
            plan = uow.session.get(Plan, plan_id)
            if plan is not None and plan.status == "solving":
                plan.progress = {
                    "elapsed_s": round(progress.elapsed_s, 2),
                    "best_cost": progress.best_cost,
                    "solutions_found": progress.solutions_found,
                }
                uow.session.add(plan)
                uow.commit()

    def _finish(self, plan_id: str, status: str, result: dict[str, Any], error: str | None) -> None:
        with self._uow_factory() as uow:
            plan = uow.session.get(Plan, plan_id)
            if plan is None:
                return
            plan.status, plan.result, plan.error = status, result, error
            plan.solved_at = utcnow()
            if status == "solved":
                plan.progress = {**plan.progress, "elapsed_s": result.get("solve_seconds")}
            uow.session.add(plan)
            uow.commit()

    def fail_interrupted(self) -> None:
        """Plans a previous process left 'solving' will never finish: say so."""
        with self._uow_factory() as uow:
            for plan in uow.session.execute(select(Plan).where(col(Plan.status) == "solving")).scalars():
                plan.status, plan.error = "failed", "interrupted by a service restart"
                uow.session.add(plan)
            uow.commit()

    async def stop(self) -> None:
        for task in list(self._tasks.values()):
            task.cancel()
        await asyncio.gather(*self._tasks.values(), return_exceptions=True)


# --- dispatch and deliveries -----------------------------------------------------------

def dispatch(uow: RoutingUnitOfWork, plan_id: str, principal: Principal) -> Plan:
    plan = visible_plan(uow, plan_id, principal)
    check_depot_access(principal, plan.depot_ids)
    if plan.status == "dispatched":
        return plan  # dispatching twice is the same dispatch
    if plan.status != "solved":
        raise Conflict(f"plan {plan_id} is {plan.status}; only a solved plan can be dispatched",
                       code="plan_not_solved")
    parent = uow.session.get(Plan, plan.parent_plan_id) if plan.parent_plan_id else None
    if parent is not None and parent.status != "dispatched":
        raise Conflict(f"plan {plan_id} re-plans {parent.id}, which is {parent.status} now",
                       code="parent_not_dispatched")
    stops = [(route, stop) for route in plan.result["routes"] for stop in route["stops"]]
    order_ids = sorted({o for _route, stop in stops for o in stop["order_ids"]})
    taken = uow.session.execute(
        select(DispatchedOrder).where(col(DispatchedOrder.order_id).in_(order_ids))
    ).scalars().all()
    carried = {t.order_id: t for t in taken if parent is not None and t.plan_id == parent.id}
    conflicts = [t for t in taken if t.order_id not in carried]
    if conflicts:
        raise Conflict(
            f"{len(conflicts)} order(s) already dispatched by another plan",
            code="orders_already_dispatched",
            orders={t.order_id: t.plan_id for t in conflicts[:50]},
        )
    demand = {
        o.order_id: o for o in uow.session.execute(
            select(DemandOrder).where(col(DemandOrder.order_id).in_(order_ids))
        ).scalars()
    }
    gone = sorted(
        o for o in order_ids
        if o not in carried and (demand.get(o) is None or demand[o].status != "reserved")
    )
    schedule: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}
    for route, stop in stops:
        for order_id in stop["order_ids"]:
            if order_id in gone:
                continue
            # An order split over an ambient and a cold stop is complete at its later stop.
            current = schedule.get(order_id)
            if current is None or stop["arrival"] > current[1]["arrival"]:
                schedule[order_id] = (route, stop)
    # A re-plan announces only what changed: new orders and orders that moved.
    changed = (
        set(changed_assignments(parent.result, plan.result)) if parent is not None else set(schedule)
    )
    if parent is not None:
        # What was delivered (or failed) is history: never announce it again.
        recorded = set(uow.session.execute(
            select(col(StopOutcome.stop_id)).where(col(StopOutcome.plan_id) == parent.id)).scalars())
        changed -= {o for _route, stop in stops if stop["stop_id"] in recorded for o in stop["order_ids"]}
    # No autoflush: the primary key on dispatched orders must fail at commit, where a
    # concurrent dispatch is turned into a 409, not halfway through as a 500.
    with uow.session.no_autoflush:
        for order_id, (route, stop) in sorted(schedule.items()):
            row = demand[order_id]
            if order_id in carried:
                carried[order_id].plan_id = plan_id
                uow.session.add(carried[order_id])
            else:
                uow.session.add(DispatchedOrder(order_id=order_id, plan_id=plan_id))
                row.status = demand_states.SCHEDULED
            row.plan_id = plan_id
            uow.session.add(row)
            if order_id not in changed:
                continue
            uow.publish(OrderScheduled(
                order_id=order_id, plan_id=plan_id, depot_id=route["depot_id"],
                vehicle_id=route["vehicle_id"], stop_id=stop["stop_id"],
                eta=datetime.fromisoformat(stop["arrival"]),
                window_start=datetime.fromisoformat(stop["window"][0]),
                window_end=datetime.fromisoformat(stop["window"][1]),
            ))
        if parent is not None:
            parent.status = "superseded"
            parent.result = {**parent.result, "superseded_by": plan_id}
            uow.session.add(parent)
            for outcome in uow.session.execute(
                select(StopOutcome).where(col(StopOutcome.plan_id) == parent.id)
            ).scalars():
                uow.session.merge(StopOutcome(
                    plan_id=plan_id, stop_id=outcome.stop_id, outcome=outcome.outcome,
                    received_by=outcome.received_by, reason=outcome.reason, recorded_at=outcome.recorded_at,
                ))
        uow.publish(PlanDispatched(
            plan_id=plan_id, depot_ids=plan.depot_ids, service_date=plan.service_date,
            order_ids=sorted(schedule), vehicle_ids=sorted({r["vehicle_id"] for r in plan.result["routes"]}),
        ))
        plan.status, plan.dispatched_at = "dispatched", utcnow()
        plan.result = {**plan.result, "skipped_at_dispatch": gone}
        uow.session.add(plan)
    try:
        uow.commit()
    except IntegrityError as exc:
        # Another dispatcher's plan won the race for some of these orders (PostgreSQL
        # lets both transactions run; the primary key on dispatched orders decides).
        uow.rollback()
        winners = uow.session.execute(
            select(DispatchedOrder).where(col(DispatchedOrder.order_id).in_(order_ids))
        ).scalars().all()
        raise Conflict(
            "orders of this plan were dispatched by another plan meanwhile",
            code="orders_already_dispatched",
            orders={t.order_id: t.plan_id for t in winners[:50]},
        ) from exc
    return plan


def record_delivery(uow: RoutingUnitOfWork, command: RecordDelivery, principal: Principal) -> dict[str, Any]:
    plan = visible_plan(uow, command.plan_id, principal)
    check_depot_access(principal, plan.depot_ids)
    if plan.status != "dispatched":
        raise Conflict(f"plan {plan.id} is {plan.status}; deliveries need a dispatched plan",
                       code="plan_not_dispatched")
    stop = next((s for r in plan.result["routes"] for s in r["stops"] if s["stop_id"] == command.stop_id), None)
    if stop is None:
        raise NotFound(f"stop {command.stop_id} is not in plan {plan.id}")
    if command.outcome == "delivered" and not command.received_by:
        raise DomainError("received_by is required for a delivered stop", code="missing_received_by")
    if command.outcome == "failed" and not command.reason:
        raise DomainError("reason is required for a failed stop", code="missing_reason")
    existing = uow.session.get(StopOutcome, (plan.id, command.stop_id))
    if existing is not None:
        if existing.outcome == command.outcome:
            return {"plan_id": plan.id, "stop_id": command.stop_id, "outcome": existing.outcome,
                    "order_ids": stop["order_ids"], "duplicate": True}
        raise Conflict(f"stop {command.stop_id} was already recorded as {existing.outcome}",
                       code="stop_already_recorded")
    now = utcnow()
    uow.session.add(StopOutcome(plan_id=plan.id, stop_id=command.stop_id, outcome=command.outcome,
                                received_by=command.received_by, reason=command.reason, recorded_at=now))
    mine = set(uow.session.execute(
        select(col(DispatchedOrder.order_id)).where(
            col(DispatchedOrder.order_id).in_(stop["order_ids"]), col(DispatchedOrder.plan_id) == plan.id)
    ).scalars())
    for order_id in stop["order_ids"]:
        if order_id not in mine:
            continue
        row = uow.session.get(DemandOrder, order_id)
        if command.outcome == "delivered":
            uow.publish(OrderDelivered(order_id=order_id, plan_id=plan.id, stop_id=command.stop_id,
                                       delivered_at=now, received_by=command.received_by or ""))
            happened = "delivered"
        else:
            uow.publish(OrderDeliveryFailed(order_id=order_id, plan_id=plan.id, stop_id=command.stop_id,
                                            failed_at=now, reason=command.reason or ""))
            happened = "delivery_failed"
            # Back to demand: free the order so a later plan may dispatch it again.
            uow.session.execute(delete(DispatchedOrder).where(col(DispatchedOrder.order_id) == order_id))
        if row is not None:
            status = demand_states.next_status(row.status, happened)
            if status is not None:
                row.status = status
                uow.session.add(row)
    uow.commit()
    return {"plan_id": plan.id, "stop_id": command.stop_id, "outcome": command.outcome,
            "order_ids": stop["order_ids"], "duplicate": False}

