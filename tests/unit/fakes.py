"""Fake units of work for the service-layer tier (cosmicpython's tests/unit/test_handlers.py):
handlers run on them directly, with no database, no broker and no HTTP.

Each fake offers what the handlers use of the real one, duck-typed, and no more: a handler
that starts to need something else fails here with an AttributeError instead of being
answered by a guess. The unit of work records what a handler committed and published
(``committed``, ``published``); the repositories hold rows in dicts.

Orders: ``OrdersUnitOfWork`` exposes repositories (``communities``, ``households``,
``catalog``, ``orders``) and two driver-level stores (``intake``, ``statuses``); the fakes
answer them from the same in-memory rows, as the SQL does from the tables. The handlers'
one direct use of the session is ``flush()``, a no-op here (nothing is pending in memory).

Routing: ``RoutingUnitOfWork`` exposes repositories (``plans`` with their stops' outcomes,
``dispatched``, ``demand``, ``vehicles``), faked here over dicts. The read model's
handlers ask the session for a row by primary key and add one: ``FakeIdentityMap`` offers
that and nothing else, so a handler that runs a SQL statement cannot run on it, by design.
The planner, the problem's loading and the views query tables and stay with the
database tests.
"""

from __future__ import annotations

import contextlib
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import Any, Self, cast

from sqlalchemy import inspect as sa_inspect

from services.orders.adapters.intake import NewOrder
from services.orders.adapters.orm import CatalogSku, Community, Household, Order, TimelineEntry
from services.orders.domain.intake import IntakeFacts
from services.orders.domain.model import CatalogItem, HouseholdProfile, Line, OrderStatus, RationRule
from services.orders.domain.rules import PastLine
from services.orders.domain.status import Change, Tracking
from services.orders.service_layer.unit_of_work import OrdersUnitOfWork
from services.routing.adapters.orm import DemandOrder, DispatchedOrder, Plan, StopOutcome, Vehicle
from services.routing.service_layer.unit_of_work import RoutingUnitOfWork
from shared.events.payloads import EventPayload

# --- the unit of work's own part: what was committed, what was published ------------------


class _Recording:
    def __init__(self) -> None:
        self.committed = False
        self.published: list[EventPayload] = []

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def commit(self) -> None:
        self.committed = True

    def rollback(self) -> None:
        pass

    def publish(self, payload: EventPayload) -> None:
        self.published.append(payload)

    def publish_all(self, payloads: Sequence[EventPayload]) -> None:
        self.published.extend(payloads)

    def reset(self) -> None:
        """Observe the next call afresh: nothing committed or published yet (rows stay)."""
        self.committed = False
        self.published = []


# --- orders ---------------------------------------------------------------------------


class FakeSession:
    def flush(self) -> None:
        """Nothing is pending in memory: every add is already in its repository."""


class FakeCommunityRepository:
    def __init__(self) -> None:
        self.rows: dict[str, Community] = {}

    def get(self, community_id: str, *, for_update: bool = False) -> Community | None:
        return self.rows.get(community_id)

    def list(self, *, district: str | None = None, risk_level: str | None = None) -> list[Community]:
        return [c for _, c in sorted(self.rows.items())
                if district in (None, c.district) and risk_level in (None, c.risk_level)]

    def add(self, community: Community) -> None:
        self.rows[community.id] = community


class FakeHouseholdRepository:
    def __init__(self) -> None:
        self.rows: dict[str, Household] = {}

    def get(self, household_id: str, *, for_update: bool = False) -> Household | None:
        return self.rows.get(household_id)

    def add(self, household: Household) -> None:
        self.rows[household.id] = household


class FakeCatalogRepository:
    def __init__(self) -> None:
        self.rows: dict[str, CatalogSku] = {}

    def get(self, sku: str) -> CatalogSku | None:
        return self.rows.get(sku)

    def add(self, sku: CatalogSku) -> None:
        self.rows[sku.sku] = sku

    def list(self) -> list[CatalogSku]:
        return [s for _, s in sorted(self.rows.items())]


class FakeOrderRepository:
    def __init__(self) -> None:
        self.rows: dict[str, Order] = {}
        self._lines: dict[str, list[Line]] = {}
        self._timeline: dict[str, list[TimelineEntry]] = {}

    def add(self, order: Order, lines: Sequence[Line]) -> None:
        self.rows[order.id] = order
        self._lines[order.id] = list(lines)

    def get(self, order_id: str, *, for_update: bool = False) -> Order | None:
        return self.rows.get(order_id)

    def by_idempotency_key(self, caller: str, key: str) -> Order | None:
        return next((o for o in self.rows.values() if (o.caller, o.idempotency_key) == (caller, key)), None)

    def add_timeline(self, order_id: str, at: datetime, status: str, detail: dict[str, Any]) -> None:
        entries = self._timeline.setdefault(order_id, [])
        entries.append(TimelineEntry(id=len(entries) + 1, order_id=order_id, at=at, status=status,
                                     detail=dict(detail)))

    def lines(self, order_ids: Sequence[str]) -> dict[str, list[Line]]:
        return {order_id: list(self._lines.get(order_id, [])) for order_id in order_ids}

    def timeline(self, order_id: str) -> list[TimelineEntry]:
        return list(self._timeline.get(order_id, []))

    def page(
        self, *, household_id: str | None = None, community_ids: Sequence[str] | None = None,
        status: str | None = None, before_id: str | None = None, limit: int,
    ) -> list[Order]:
        found = [
            o for o in self.rows.values()
            if household_id in (None, o.household_id)
            and (community_ids is None or o.community_id in community_ids)
            and status in (None, o.status) and (before_id is None or o.id < before_id)
        ]
        return sorted(found, key=lambda o: o.id, reverse=True)[:limit]


class FakeIntakeStore:
    """The intake's reads and writes (adapters/intake.py) over the repositories' rows."""

    def __init__(self, households: FakeHouseholdRepository, catalog: FakeCatalogRepository,
                 orders: FakeOrderRepository) -> None:
        self._households, self._catalog, self._orders = households, catalog, orders

    def read_for_intake(
        self, household_ids: Sequence[str], keys: Sequence[tuple[str, str]], skus: Sequence[str],
        *, now: datetime, rate_window: timedelta, not_counting: Sequence[str],
    ) -> IntakeFacts:
        households = {h.id: HouseholdProfile(h.id, h.community_id, h.members, frozenset(h.flags))
                      for h in map(self._households.get, household_ids) if h is not None}
        catalog = {
            s.sku: CatalogItem(s.sku, s.category, s.urgent,
                               RationRule(s.ration_quantity, s.ration_per_days)
                               if s.ration_quantity is not None and s.ration_per_days is not None else None)
            for s in map(self._catalog.get, skus) if s is not None
        }
        theirs = [o for o in self._orders.rows.values() if o.household_id in household_ids]
        recent: dict[str, list[datetime]] = {}
        history: dict[str, list[PastLine]] = {}
        for order in theirs:
            if order.created_at > now - rate_window:
                recent.setdefault(order.household_id, []).append(order.created_at)
            if order.status in not_counting:
                continue
            for line in self._orders.lines([order.id])[order.id]:
                ration = catalog[line.sku].ration if line.sku in catalog else None
                if ration is not None and order.created_at > now - timedelta(days=ration.per_days):
                    history.setdefault(order.household_id, []).append(
                        PastLine(line.sku, line.quantity, order.created_at))
        used = {key for key in keys if self._orders.by_idempotency_key(*key) is not None}
        return IntakeFacts(households=households, catalog=catalog, recent_order_times=recent,
                           used_keys=used, ration_history=history)

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        yield

    def insert_orders(self, orders: Sequence[NewOrder]) -> None:
        for new in orders:
            view = new.order
            self._orders.add(Order(
                id=view.id, household_id=view.household_id, community_id=view.community_id,
                status=view.status, priority=view.priority, contactless=view.contactless, note=view.note,
                created_at=view.created_at, updated_at=view.updated_at, closed_plan_ids=[],
                caller=new.caller, idempotency_key=new.idempotency_key,
                request_fingerprint=new.request_fingerprint,
            ), new.lines)
            self._orders.add_timeline(view.id, view.created_at, view.status,
                                      {"priority": view.priority, "by": new.caller})


class FakeStatusStore:
    """The status facts' reads and writes (adapters/status.py) over the orders' rows."""

    def __init__(self, orders: FakeOrderRepository) -> None:
        self._orders = orders

    def tracking(self, order_id: str) -> Tracking | None:
        order = self._orders.get(order_id)
        if order is None:
            return None
        return Tracking(status=OrderStatus(order.status), plan_id=order.plan_id,
                        closed_plan_ids=frozenset(order.closed_plan_ids),
                        scheduled_fact_at=order.scheduled_fact_at)

    def apply(self, order_id: str, read_status: OrderStatus, values: Mapping[str, Any], at: datetime,
              changes: Sequence[Change]) -> None:
        order = self._orders.rows[order_id]
        if order.status != read_status.value:
            raise RuntimeError(f"order {order_id} is no longer {read_status.value}")
        for column, value in values.items():
            if column not in Order.model_fields:
                raise ValueError(f"not a status column: {column}")
            setattr(order, column, value)
        for change in changes:
            self._orders.add_timeline(order_id, at, change.status.value, change.detail)

    def note(self, order_id: str, at: datetime, detail: Mapping[str, Any]) -> bool:
        order = self._orders.get(order_id)
        if order is None:
            return False
        self._orders.add_timeline(order_id, at, order.status, dict(detail))
        return True


class FakeOrdersUnitOfWork(_Recording):
    def __init__(self) -> None:
        super().__init__()
        self.session = FakeSession()
        self.communities = FakeCommunityRepository()
        self.households = FakeHouseholdRepository()
        self.catalog = FakeCatalogRepository()
        self.orders = FakeOrderRepository()
        self.intake = FakeIntakeStore(self.households, self.catalog, self.orders)
        self.statuses = FakeStatusStore(self.orders)


def orders_uow(fake: FakeOrdersUnitOfWork) -> OrdersUnitOfWork:
    """The fake where a handler's signature names the real unit of work (duck typing)."""
    return cast(OrdersUnitOfWork, fake)


# --- routing --------------------------------------------------------------------------


class FakeIdentityMap:
    """``Session.get(model, primary key)`` and ``Session.add(row)``: nothing else."""

    def __init__(self) -> None:
        self.rows: dict[tuple[type[Any], Any], Any] = {}

    def get(self, model: type[Any], key: Any) -> Any:
        return self.rows.get((model, key))

    def add(self, row: Any) -> None:
        identity = sa_inspect(type(row)).primary_key_from_instance(row)
        self.rows[(type(row), identity[0] if len(identity) == 1 else tuple(identity))] = row


class FakePlanRepository:
    def __init__(self) -> None:
        self.rows: dict[str, Plan] = {}
        self.stop_outcomes: dict[tuple[str, str], StopOutcome] = {}

    def get(self, plan_id: str) -> Plan | None:
        return self.rows.get(plan_id)

    def add(self, plan: Plan) -> None:
        self.rows[plan.id] = plan

    def dispatched(self, depot_ids: Iterable[str], service_date: date | None = None) -> list[Plan]:
        wanted = set(depot_ids)
        return [p for _, p in sorted(self.rows.items()) if p.status == "dispatched"
                and (service_date is None or p.service_date == service_date) and wanted & set(p.depot_ids)]

    def solving(self) -> list[Plan]:
        return [p for p in self.rows.values() if p.status == "solving"]

    def outcome(self, plan_id: str, stop_id: str) -> StopOutcome | None:
        return self.stop_outcomes.get((plan_id, stop_id))

    def outcomes(self, plan_id: str) -> list[StopOutcome]:
        return [o for (plan, _), o in self.stop_outcomes.items() if plan == plan_id]

    def recorded_stops(self, plan_id: str) -> set[str]:
        return {stop for plan, stop in self.stop_outcomes if plan == plan_id}

    def record(self, outcome: StopOutcome) -> None:
        key = (outcome.plan_id, outcome.stop_id)
        if key in self.stop_outcomes:  # the primary key, as the table's
            raise AssertionError(f"stop outcome {key} recorded twice")
        self.stop_outcomes[key] = outcome

    def carry(self, outcome: StopOutcome) -> None:
        self.stop_outcomes[(outcome.plan_id, outcome.stop_id)] = outcome


class FakeDispatchedOrderRepository:
    def __init__(self) -> None:
        self.plan_of: dict[str, str] = {}

    def taken(self, order_ids: Collection[str]) -> list[DispatchedOrder]:
        return [DispatchedOrder(order_id=o, plan_id=self.plan_of[o]) for o in sorted(order_ids) if o in self.plan_of]

    def of_plan(self, plan_id: str, order_ids: Collection[str]) -> set[str]:
        return {o for o in order_ids if self.plan_of.get(o) == plan_id}

    def add(self, row: DispatchedOrder) -> None:
        self.plan_of[row.order_id] = row.plan_id

    def release(self, order_id: str) -> None:
        self.plan_of.pop(order_id, None)


class FakeDemandRepository:
    def __init__(self) -> None:
        self.rows: dict[str, DemandOrder] = {}

    def get(self, order_id: str) -> DemandOrder | None:
        return self.rows.get(order_id)

    def by_ids(self, order_ids: Collection[str]) -> dict[str, DemandOrder]:
        return {o: self.rows[o] for o in order_ids if o in self.rows}

    def add(self, row: DemandOrder) -> None:
        self.rows[row.order_id] = row

    def reserved_at(self, depot_id: str) -> list[tuple[str, str]]:
        return [(o.order_id, o.priority) for o in self.rows.values()
                if o.depot_id == depot_id and o.status == "reserved"]


class FakeVehicleRepository:
    def __init__(self, identity_map: FakeIdentityMap) -> None:
        self._rows = identity_map

    def get(self, vehicle_id: str) -> Vehicle | None:
        found: Vehicle | None = self._rows.get(Vehicle, vehicle_id)
        return found

    def add(self, vehicle: Vehicle) -> None:
        self._rows.add(vehicle)


class FakeRoutingUnitOfWork(_Recording):
    def __init__(self) -> None:
        super().__init__()
        self.session = FakeIdentityMap()  # for the read model's ``session.get``/``add``
        self.plans = FakePlanRepository()
        self.dispatched = FakeDispatchedOrderRepository()
        self.demand = FakeDemandRepository()
        self.vehicles = FakeVehicleRepository(self.session)

    def writes_at_commit(self) -> contextlib.AbstractContextManager[None]:
        return contextlib.nullcontext()


def routing_uow(fake: FakeRoutingUnitOfWork) -> RoutingUnitOfWork:
    return cast(RoutingUnitOfWork, fake)
