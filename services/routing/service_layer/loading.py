"""Reading what a solve needs from routing's tables: depots, fleet, demand and gates."""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlmodel import col

from services.routing.adapters.orm import Community, DemandOrder, Depot, Sku, Vehicle
from services.routing.domain import demand as demand_states
from services.routing.domain.demand import SkuSize, load_of
from services.routing.domain.planning import (
    CommunityInfo,
    DemandInfo,
    DepotInfo,
    StopMeta,
    VehicleInfo,
    build_problem,
    unroutable,
)
from services.routing.engine import Problem
from services.routing.service_layer.unit_of_work import RoutingUnitOfWork
from shared import clock
from shared.errors import NotFound


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


@dataclass(frozen=True)
class Horizon:
    """Same-day planning: nothing starts before ``not_before``; the vehicles in ``started``
    are already on the road (their shift began), the others leave no earlier than then."""

    not_before: datetime
    started: frozenset[str] = frozenset()


def depots_and_fleet(
    uow: RoutingUnitOfWork, depot_ids: list[str], vehicle_ids: Collection[str] | None = None,
) -> tuple[list[DepotInfo], list[VehicleInfo]]:
    """The depots and their vehicles in service (or only ``vehicle_ids`` of them)."""
    session = uow.session
    depots = session.execute(select(Depot).where(col(Depot.id).in_(depot_ids))).scalars().all()
    missing = sorted(set(depot_ids) - {d.id for d in depots})
    if missing:
        raise NotFound(f"unknown depot(s): {', '.join(missing)}", depot_ids=missing)
    vehicles = session.execute(
        select(Vehicle).where(col(Vehicle.depot_id).in_(depot_ids), col(Vehicle.in_service))
        .order_by(col(Vehicle.id))
    ).scalars().all()
    if vehicle_ids is not None:
        vehicles = [v for v in vehicles if v.id in vehicle_ids]
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
    demand: list[DemandInfo] | None = None, *, vehicle_ids: Collection[str] | None = None,
    horizon: Horizon | None = None,
) -> Loaded:
    depots, vehicles = depots_and_fleet(uow, depot_ids, vehicle_ids)
    if demand is None:
        demand = reserved_demand(uow, depot_ids)
    communities = communities_of(uow, {o.community_id for o in demand})
    problem, meta = build_problem(
        service_date=service_date, now=clock.now(), tz=tz, depots=depots, vehicles=vehicles,
        communities=communities, demand=demand,
        not_before=None if horizon is None else horizon.not_before,
        started=frozenset() if horizon is None else horizon.started,
    )
    return Loaded(problem, meta, communities, unroutable(demand, communities))


def _aware(moment: datetime | None) -> datetime:
    return clock.now() if moment is None else clock.as_utc(moment)

