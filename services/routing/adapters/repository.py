"""Routing's repositories: plans (with what was recorded at their stops), the dispatched
orders that say which plan drives an order, demand rows and vehicles. The handlers that
change them (dispatch, deliveries, vehicles, the planner) go through these; the read
routes go through ``service_layer.views``; the hot read-model writes through
``adapters.demand`` (raw statements)."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from datetime import date

from sqlalchemy import delete, select
from sqlalchemy.orm import Session
from sqlmodel import col

from services.routing.adapters.orm import DemandOrder, Depot, DispatchedOrder, Plan, StopOutcome, Vehicle
from services.routing.domain import demand as demand_states


class PlanRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def get(self, plan_id: str) -> Plan | None:
        return self._session.get(Plan, plan_id)

    def add(self, plan: Plan) -> None:
        self._session.add(plan)

    def dispatched(self, depot_ids: Iterable[str], service_date: date | None = None) -> list[Plan]:
        """The plans being driven (dispatched, not superseded) that serve any of ``depot_ids``."""
        wanted = set(depot_ids)
        query = select(Plan).where(col(Plan.status) == "dispatched")
        if service_date is not None:
            query = query.where(col(Plan.service_date) == service_date)
        plans = self._session.execute(query.order_by(col(Plan.id))).scalars()
        return [p for p in plans if wanted & set(p.depot_ids)]

    def solving(self) -> list[Plan]:
        return list(self._session.execute(select(Plan).where(col(Plan.status) == "solving")).scalars())

    # -- what was recorded at the stops ----------------------------------------------------

    def outcome(self, plan_id: str, stop_id: str) -> StopOutcome | None:
        return self._session.get(StopOutcome, (plan_id, stop_id))

    def outcomes(self, plan_id: str) -> list[StopOutcome]:
        return list(self._session.execute(
            select(StopOutcome).where(col(StopOutcome.plan_id) == plan_id)).scalars())

    def recorded_stops(self, plan_id: str) -> set[str]:
        return set(self._session.execute(
            select(col(StopOutcome.stop_id)).where(col(StopOutcome.plan_id) == plan_id)).scalars())

    def record(self, outcome: StopOutcome) -> None:
        """A stop's first outcome (a second one for the same stop fails at commit)."""
        self._session.add(outcome)

    def carry(self, outcome: StopOutcome) -> None:
        """Carry ``outcome`` over to a re-plan: added, or replacing one already there."""
        self._session.merge(outcome)


class DispatchedOrderRepository:
    """Which plan drives an order: the primary key lets one plan at a time have it."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def taken(self, order_ids: Collection[str]) -> list[DispatchedOrder]:
        return list(self._session.execute(
            select(DispatchedOrder).where(col(DispatchedOrder.order_id).in_(order_ids))).scalars())

    def of_plan(self, plan_id: str, order_ids: Collection[str]) -> set[str]:
        """The orders among ``order_ids`` that ``plan_id`` drives."""
        return set(self._session.execute(
            select(col(DispatchedOrder.order_id)).where(
                col(DispatchedOrder.order_id).in_(order_ids), col(DispatchedOrder.plan_id) == plan_id)
        ).scalars())

    def add(self, row: DispatchedOrder) -> None:
        self._session.add(row)

    def release(self, order_id: str) -> None:
        """The order returns to demand: a later plan may dispatch it again."""
        self._session.execute(delete(DispatchedOrder).where(col(DispatchedOrder.order_id) == order_id))


class DemandRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def get(self, order_id: str) -> DemandOrder | None:
        return self._session.get(DemandOrder, order_id)

    def by_ids(self, order_ids: Collection[str]) -> dict[str, DemandOrder]:
        rows = self._session.execute(select(DemandOrder).where(col(DemandOrder.order_id).in_(order_ids)))
        return {row.order_id: row for row in rows.scalars()}

    def add(self, row: DemandOrder) -> None:
        self._session.add(row)

    def reserved_at(self, depot_id: str) -> list[tuple[str, str]]:
        """(order id, priority) of the orders reserved at ``depot_id`` that no plan took."""
        rows = self._session.execute(
            select(col(DemandOrder.order_id), col(DemandOrder.priority)).where(
                col(DemandOrder.depot_id) == depot_id, col(DemandOrder.status) == demand_states.RESERVED))
        return [(order_id, priority) for order_id, priority in rows]


class VehicleRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def get(self, vehicle_id: str) -> Vehicle | None:
        return self._session.get(Vehicle, vehicle_id)

    def add(self, vehicle: Vehicle) -> None:
        self._session.add(vehicle)

    def in_service_at(self, depot_id: str) -> list[Vehicle]:
        return list(self._session.execute(
            select(Vehicle).where(col(Vehicle.depot_id) == depot_id, col(Vehicle.in_service))).scalars())

    def depot_ids(self) -> list[str]:
        """Every depot routing knows, vehicles or not."""
        return list(self._session.execute(select(col(Depot.id)).order_by(col(Depot.id))).scalars())
