"""Use cases: each takes a command (or an event payload) and a unit of work.

Every write is one transaction: the state change, its timeline row and its outbox
event commit together or not at all.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy.exc import IntegrityError

from services.orders.adapters.intake import IntakeFacts, NewOrder, PipelinedIntake
from services.orders.adapters.orm import CatalogSku, Community, Household, Order, TimelineEntry, utc
from services.orders.adapters.repository import NOT_COUNTING
from services.orders.domain import rules, status
from services.orders.domain.commands import (
    CancelOrder,
    PlaceOrder,
    RegisterCommunity,
    RegisterHousehold,
)
from services.orders.domain.ids import new_order_id
from services.orders.domain.model import HouseholdProfile, Line, OrderStatus, OrderView
from services.orders.service_layer.unit_of_work import OrdersUnitOfWork
from shared import clock
from shared.auth import Principal
from shared.events import payloads
from shared.group_commit import GroupCommit
from shared.http import Conflict, DomainError, Forbidden, NotFound, TooManyRequests
from shared.messaging.consumer import PoisonEvent
from shared.pipelined import AsyncPostgres

log = logging.getLogger(__name__)

T = TypeVar("T")


def _rule_error(violation: rules.RuleViolation) -> DomainError:
    return DomainError(
        violation.message, code=violation.code, field=violation.field, **violation.context
    )


def _retry_on_conflict(attempt: Callable[[], T]) -> T:
    """Run once more when a concurrent writer inserted the same key first (PostgreSQL)."""
    try:
        return attempt()
    except IntegrityError:
        return attempt()


# --- communities and households --------------------------------------------------------

_COMMUNITY_FIELDS = ("name", "district", "lat", "lon", "risk_level", "receiving_windows",
                     "gate_service_min")


def register_community(cmd: RegisterCommunity, uow: OrdersUnitOfWork) -> tuple[Community, bool]:
    """Create or update a community; publishes Registered once, then Updated on change."""
    try:
        windows = rules.validate_receiving_windows(cmd.receiving_windows)
    except rules.RuleViolation as violation:
        raise _rule_error(violation) from violation
    wanted: dict[str, Any] = {
        "name": cmd.name, "district": cmd.district, "lat": cmd.lat, "lon": cmd.lon,
        "risk_level": cmd.risk_level, "receiving_windows": [list(w) for w in windows],
        "gate_service_min": cmd.gate_service_min,
    }

    def attempt() -> tuple[Community, bool]:
        with uow:
            now = clock.now()
            community = uow.communities.get(cmd.community_id, for_update=True)
            created = community is None
            if community is None:
                community = Community(id=cmd.community_id, created_at=now, updated_at=now, **wanted)
                uow.communities.add(community)
                event: type[payloads.CommunityChanged] = payloads.CommunityRegistered
            else:
                if all(getattr(community, name) == wanted[name] for name in _COMMUNITY_FIELDS):
                    return community, False  # nothing changed: no event
                for name in _COMMUNITY_FIELDS:
                    setattr(community, name, wanted[name])
                community.updated_at = now
                event = payloads.CommunityUpdated
            uow.session.flush()
            uow.publish(event(
                community_id=community.id, name=community.name, district=community.district,
                lat=community.lat, lon=community.lon, risk_level=community.risk_level,  # type: ignore[arg-type]
                receiving_windows=[tuple(w) for w in community.receiving_windows],  # type: ignore[misc]
                gate_service_min=community.gate_service_min,
            ))
            uow.commit()
            return community, created

    return _retry_on_conflict(attempt)


def get_community(community_id: str, uow: OrdersUnitOfWork) -> Community:
    with uow:
        community = uow.communities.get(community_id)
        if community is None:
            raise NotFound(f"community {community_id} not found", community_id=community_id)
        return community


def list_communities(
    uow: OrdersUnitOfWork, *, district: str | None, risk_level: str | None
) -> Sequence[Community]:
    with uow:
        return uow.communities.list(district=district, risk_level=risk_level)


def register_household(
    cmd: RegisterHousehold, principal: Principal, uow: OrdersUnitOfWork
) -> tuple[Household, bool]:
    # Scope first, existence second: a worker learns nothing about other communities.
    if not principal.can_act_for_community(cmd.community_id):
        raise Forbidden(
            f"you may not register households in community {cmd.community_id}",
            field="community_id",
        )

    def attempt() -> tuple[Household, bool]:
        with uow:
            if uow.communities.get(cmd.community_id) is None:
                raise DomainError(
                    f"community {cmd.community_id} is not registered",
                    code="unknown_community", field="community_id",
                )
            now = clock.now()
            household = uow.households.get(cmd.household_id, for_update=True)
            created = household is None
            flags = sorted(cmd.flags)
            if household is None:
                household = Household(
                    id=cmd.household_id, community_id=cmd.community_id, members=cmd.members,
                    flags=flags, created_at=now, updated_at=now,
                )
                uow.households.add(household)
            else:
                if not principal.can_act_for_community(household.community_id):
                    raise Forbidden(
                        f"household {cmd.household_id} belongs to a community outside your scope",
                        field="household_id",
                    )
                household.community_id = cmd.community_id
                household.members = cmd.members
                household.flags = flags
                household.updated_at = now
            uow.commit()
            return household, created

    return _retry_on_conflict(attempt)


def get_household(household_id: str, principal: Principal, uow: OrdersUnitOfWork) -> Household:
    with uow:
        household = uow.households.get(household_id)
        visible = household is not None and (
            principal.role == "admin"
            or principal.household_id == household.id
            or (principal.role == "community_worker"
                and household.community_id in principal.community_ids)
        )
        if household is None or not visible:
            raise NotFound(f"household {household_id} not found", household_id=household_id)
        return household


# --- orders ------------------------------------------------------------------------------

def order_view(order: Order) -> OrderView:
    return OrderView(
        id=order.id, household_id=order.household_id, community_id=order.community_id,
        status=order.status, priority=order.priority, contactless=order.contactless,
        note=order.note, created_at=utc(order.created_at), updated_at=utc(order.updated_at),
        status_reason=order.status_reason, depot_id=order.depot_id, plan_id=order.plan_id,
        vehicle_id=order.vehicle_id, stop_id=order.stop_id, eta=utc(order.eta),
        window_start=utc(order.window_start), window_end=utc(order.window_end),
        delivered_at=utc(order.delivered_at), received_by=order.received_by,
    )


@dataclass
class OrderDetails:
    order: OrderView
    lines: list[Line]
    timeline: Sequence[TimelineEntry] | None = None


RATE_WINDOW = timedelta(seconds=60)  # order placement is limited per household per minute

Placed = tuple[OrderDetails, bool]
"""An order and whether it was created (False: the replay of an Idempotency-Key)."""

OrderIntake = GroupCommit[tuple[PlaceOrder, Principal], Placed]
"""Where the HTTP edge submits orders: ``place_orders`` in batches (bootstrap wires it)."""


def place_order(
    cmd: PlaceOrder,
    principal: Principal,
    uow: OrdersUnitOfWork,
    *,
    rate_per_minute: int,
) -> Placed:
    """Place one order in a transaction of its own."""
    try:
        (outcome,) = _place_all([(cmd, principal)], uow, rate_per_minute)
    except IntegrityError:
        # Only the (caller, idempotency key) constraint can clash: a concurrent request
        # with the same key committed first. Answer as its replay.
        if cmd.idempotency_key is None:
            raise
        with uow:
            existing = uow.orders.by_idempotency_key(cmd.caller, cmd.idempotency_key)
            if existing is None:  # pragma: no cover - the clash says it exists
                raise Conflict("concurrent request with this Idempotency-Key", code="retry") from None
            return _replay(existing, cmd, uow), False
    if isinstance(outcome, Exception):
        raise outcome
    return outcome


def place_orders(
    requests: Sequence[tuple[PlaceOrder, Principal]],
    uow: OrdersUnitOfWork,
    *,
    rate_per_minute: int,
) -> list[Placed | Exception]:
    """Place several orders in one transaction (group commit, see shared/group_commit.py):
    per request the order, or the error that refused it (a refused order writes nothing,
    the others commit without it).

    If the batch itself fails (a concurrent writer took an Idempotency-Key first, a
    statement the database refused), it is rolled back and every order gets a transaction
    of its own, so one bad request fails alone."""
    if len(requests) > 1:
        try:
            return _place_all(requests, uow, rate_per_minute)
        except Exception:
            log.info("a batch of %d orders failed; placing them one by one", len(requests),
                     exc_info=True)
    outcomes: list[Placed | Exception] = []
    for cmd, principal in requests:
        try:
            outcomes.append(place_order(cmd, principal, uow, rate_per_minute=rate_per_minute))
        except Exception as exc:
            outcomes.append(exc)
    return outcomes


def _place_all(
    requests: Sequence[tuple[PlaceOrder, Principal]], uow: OrdersUnitOfWork, rate_per_minute: int
) -> list[Placed | Exception]:
    """Check and write the orders in one transaction: the reads of the whole batch first,
    then each order decided in memory against what the database held plus the orders
    accepted before it, then the writes of all of them."""
    now = clock.now()
    outcomes, wanted = _lines_wanted(requests)
    with uow:
        if wanted:
            households, keys, skus = _batch_subjects(requests, wanted)
            facts = uow.intake.read_for_intake(
                households, keys, skus, now=now, rate_window=RATE_WINDOW, not_counting=NOT_COUNTING,
            )
            batch = _IntakeBatch(facts, now, uow)
            batch.decide_all(requests, wanted, outcomes, rate_per_minute)
            if batch.orders:
                store = uow.intake
                with store.batch():
                    store.insert_orders(batch.orders)
                    uow.publish_all(batch.events)
        uow.commit()
    return outcomes


class OrderPlacement:
    """The order intake's batch function (see ``OrderIntake``).

    On PostgreSQL a batch runs on the async connection (shared/pipelined.py), so the event
    loop serves HTTP while the database answers; SQLite, a batch that needs an earlier
    order read back (an Idempotency-Key used before) and a batch that failed take the
    synchronous path, ``place_orders``."""

    def __init__(
        self,
        uow_factory: Callable[[], OrdersUnitOfWork],
        *,
        rate_per_minute: int,
        postgres: AsyncPostgres | None,
        on_published: Callable[[], None],
    ) -> None:
        self._uow_factory = uow_factory
        self._rate_per_minute = rate_per_minute
        self._postgres = postgres
        self._on_published = on_published

    async def __call__(self, requests: Sequence[tuple[PlaceOrder, Principal]]) -> list[Placed | Exception]:
        if self._postgres is not None:
            try:
                outcomes = await self._place_pipelined(requests, self._postgres)
                if outcomes is not None:
                    return outcomes
            except Exception:
                log.info("a pipelined batch of %d orders failed; placing them again", len(requests),
                         exc_info=True)
        return place_orders(requests, self._uow_factory(), rate_per_minute=self._rate_per_minute)

    async def _place_pipelined(
        self, requests: Sequence[tuple[PlaceOrder, Principal]], postgres: AsyncPostgres
    ) -> list[Placed | Exception] | None:
        """The batch in one transaction, as ``_place_all``; None (nothing written) when an
        Idempotency-Key was used before and its order must be read back."""
        now = clock.now()
        outcomes, wanted = _lines_wanted(requests)
        if not wanted:
            return outcomes
        households, keys, skus = _batch_subjects(requests, wanted)
        uow = self._uow_factory()  # not entered: it only says how this service's events look
        async with postgres.transaction() as transaction:
            store = PipelinedIntake(transaction)
            facts = await store.read_for_intake(
                households, keys, skus, now=now, rate_window=RATE_WINDOW, not_counting=NOT_COUNTING,
            )
            if facts.used_keys:
                return None
            batch = _IntakeBatch(facts, now, uow=None)
            batch.decide_all(requests, wanted, outcomes, self._rate_per_minute)
            if batch.orders:
                _events, rows = uow.outbox_rows(batch.events)
                await store.write(batch.orders, rows)
        if batch.orders:
            self._on_published()
        return outcomes


def _lines_wanted(
    requests: Sequence[tuple[PlaceOrder, Principal]],
) -> tuple[list[Placed | Exception], list[tuple[int, tuple[Line, ...]]]]:
    """Each request's merged lines, by household (arrival order within one: the order in
    which the household rows are locked); a request whose lines are refused gets its error
    in the outcomes at once."""
    outcomes: list[Placed | Exception] = [Exception("not placed")] * len(requests)
    wanted: list[tuple[int, tuple[Line, ...]]] = []
    for i, (cmd, _principal) in enumerate(requests):
        try:
            wanted.append((i, _merged_lines(cmd)))
        except DomainError as refused:
            outcomes[i] = refused
    wanted.sort(key=lambda item: requests[item[0]][0].household_id)
    return outcomes, wanted


def _batch_subjects(
    requests: Sequence[tuple[PlaceOrder, Principal]], wanted: Sequence[tuple[int, tuple[Line, ...]]]
) -> tuple[list[str], list[tuple[str, str]], list[str]]:
    """The households, (caller, Idempotency-Key) pairs and SKUs a batch reads about."""
    cmds = [requests[i][0] for i, _ in wanted]
    households = sorted({cmd.household_id for cmd in cmds})
    keys = sorted({(cmd.caller, cmd.idempotency_key) for cmd in cmds if cmd.idempotency_key})
    skus = sorted({line.sku for _, lines in wanted for line in lines})
    return households, keys, skus


def _merged_lines(cmd: PlaceOrder) -> tuple[Line, ...]:
    try:
        return rules.merge_lines(cmd.lines)
    except rules.RuleViolation as violation:
        raise _rule_error(violation) from violation


class _IntakeBatch:
    """The facts a batch of orders is checked against, kept up to date as orders are
    accepted (rate limit, rations and Idempotency-Keys count the batch's own orders),
    and the rows to write."""

    def __init__(self, facts: IntakeFacts, now: datetime, uow: OrdersUnitOfWork | None) -> None:
        self._facts = facts
        self._now = now
        self._uow = uow  # to read back an order placed before with a key; None: none was
        self._accepted: dict[tuple[str, str], tuple[OrderDetails, str]] = {}
        self.orders: list[NewOrder] = []
        self.events: list[payloads.OrderPlaced] = []

    def decide_all(
        self, requests: Sequence[tuple[PlaceOrder, Principal]],
        wanted: Sequence[tuple[int, tuple[Line, ...]]], outcomes: list[Placed | Exception],
        rate_per_minute: int,
    ) -> None:
        for i, lines in wanted:
            cmd, principal = requests[i]
            try:
                outcomes[i] = self.place(cmd, lines, principal, rate_per_minute)
            except DomainError as refused:
                outcomes[i] = refused

    def place(self, cmd: PlaceOrder, lines: tuple[Line, ...], principal: Principal,
              rate_per_minute: int) -> Placed:
        """Decide one order; a refusal raises before anything of it is recorded."""
        household = self._facts.households.get(cmd.household_id)
        if household is None:
            raise DomainError(
                f"household {cmd.household_id} is not registered",
                code="unknown_household", field="household_id",
            )
        if principal.role == "community_worker" and not principal.can_act_for_community(
            household.community_id
        ):
            raise Forbidden(
                f"household {cmd.household_id} is not in one of your communities",
                field="household_id",
            )
        key = (cmd.caller, cmd.idempotency_key) if cmd.idempotency_key is not None else None
        if key is not None:
            replayed = self._replay(cmd, key)
            if replayed is not None:
                return replayed, False
        catalog = self._facts.catalog
        recent = self._facts.recent_order_times.setdefault(cmd.household_id, [])
        history = self._facts.ration_history.setdefault(cmd.household_id, [])
        try:
            rules.require_known_skus(lines, catalog)
            rules.check_rate(recent, rate_per_minute, self._now, window_s=int(RATE_WINDOW.total_seconds()))
            rules.check_rations(lines, catalog, history, self._now)
        except rules.RuleViolation as violation:
            raise _rule_error(violation) from violation
        except rules.RateLimited as limited:
            raise TooManyRequests(
                str(limited), retry_after_s=limited.retry_after_s, limit_per_minute=limited.limit,
            ) from limited
        profile = HouseholdProfile(cmd.household_id, household.community_id, household.members,
                                   household.flags)
        priority = rules.derive_priority(profile, lines, catalog).value
        order = OrderView(
            id=new_order_id(), household_id=cmd.household_id, community_id=household.community_id,
            status=OrderStatus.PLACED.value, priority=priority, contactless=cmd.contactless,
            note=cmd.note, created_at=self._now, updated_at=self._now,
        )
        self.orders.append(NewOrder(
            order, caller=cmd.caller, idempotency_key=cmd.idempotency_key,
            request_fingerprint=cmd.request_fingerprint, lines=lines,
        ))
        self.events.append(payloads.OrderPlaced(
            order_id=order.id, household_id=order.household_id, community_id=order.community_id,
            priority=priority, placed_at=self._now, contactless=cmd.contactless,
            items=[payloads.OrderLine(sku=line.sku, quantity=line.quantity) for line in lines],
        ))
        recent.append(self._now)
        history.extend(rules.PastLine(line.sku, line.quantity, self._now) for line in lines)
        details = OrderDetails(order, list(lines))
        if key is not None:
            self._accepted[key] = (details, cmd.request_fingerprint)
        return details, True

    def _replay(self, cmd: PlaceOrder, key: tuple[str, str]) -> OrderDetails | None:
        """The order this Idempotency-Key placed before, in this batch or earlier."""
        accepted = self._accepted.get(key)
        if accepted is not None:
            details, fingerprint = accepted
            if fingerprint != cmd.request_fingerprint:
                raise _key_reused(details.order.id)
            return details
        if key not in self._facts.used_keys:
            return None
        assert self._uow is not None, "a batch that reads keys used before needs the unit of work"
        existing = self._uow.orders.by_idempotency_key(*key)
        assert existing is not None  # read in this very transaction
        return _replay(existing, cmd, self._uow)


def _key_reused(order_id: str) -> Conflict:
    return Conflict(
        "this Idempotency-Key was already used with a different request",
        code="idempotency_key_reused", order_id=order_id,
    )


def _replay(existing: Order, cmd: PlaceOrder, uow: OrdersUnitOfWork) -> OrderDetails:
    if existing.request_fingerprint != cmd.request_fingerprint:
        raise _key_reused(existing.id)
    return OrderDetails(order_view(existing), uow.orders.lines([existing.id])[existing.id])


def can_see(principal: Principal, order: Order) -> bool:
    if principal.role in ("admin", "dispatcher"):
        return True
    if principal.role == "resident":
        return order.household_id == principal.subject
    if principal.role == "community_worker":
        return order.community_id in principal.community_ids
    return False


def get_order(order_id: str, principal: Principal, uow: OrdersUnitOfWork) -> OrderDetails:
    with uow:
        order = uow.orders.get(order_id)
        # Someone else's order is "not found", never "forbidden": no object-level leak.
        if order is None or not can_see(principal, order):
            raise NotFound(f"order {order_id} not found", order_id=order_id)
        return OrderDetails(order_view(order), uow.orders.lines([order.id])[order.id],
                            uow.orders.timeline(order.id))


def list_orders(
    principal: Principal,
    uow: OrdersUnitOfWork,
    *,
    status_filter: str | None,
    before_id: str | None,
    limit: int,
) -> tuple[list[OrderDetails], str | None]:
    scope: dict[str, Any] = {}
    if principal.role == "resident":
        scope["household_id"] = principal.subject
    elif principal.role == "community_worker":
        scope["community_ids"] = sorted(principal.community_ids)
    with uow:
        orders = uow.orders.page(
            status=status_filter, before_id=before_id, limit=limit + 1, **scope
        )
        more = len(orders) > limit
        orders = orders[:limit]
        lines = uow.orders.lines([order.id for order in orders])
        items = [OrderDetails(order_view(order), lines[order.id]) for order in orders]
    return items, (orders[-1].id if more and orders else None)


def cancel_order(cmd: CancelOrder, principal: Principal, uow: OrdersUnitOfWork) -> OrderDetails:
    with uow:
        order = uow.orders.get(cmd.order_id, for_update=True)
        if order is None or not can_see(principal, order):
            raise NotFound(f"order {cmd.order_id} not found", order_id=cmd.order_id)
        current = OrderStatus(order.status)
        # Cancelling twice is harmless: the second answer is the cancelled order, no event.
        if current is not OrderStatus.CANCELLED:
            refusal = status.cancellation_refusal(current)
            if refusal is not None:
                raise Conflict(
                    f"order {order.id} cannot be cancelled: {refusal}",
                    code="not_cancellable", status=current.value,
                )
            now = clock.now()
            order.status = OrderStatus.CANCELLED.value
            order.status_reason = cmd.reason
            order.updated_at = now
            uow.session.flush()
            uow.orders.add_timeline(order.id, now, OrderStatus.CANCELLED.value, {
                "reason": cmd.reason, "by": f"{principal.role}:{principal.subject}",
            })
            uow.publish(payloads.OrderCancelled(order_id=order.id, reason=cmd.reason))
        details = OrderDetails(order_view(order), uow.orders.lines([order.id])[order.id],
                               uow.orders.timeline(order.id))
        uow.commit()
        return details


# --- events from other services ----------------------------------------------------------

def define_sku(payload: payloads.SkuDefined, uow: OrdersUnitOfWork) -> None:
    """Upsert the catalog read model (the topic is compacted: the last definition wins)."""
    sku = uow.catalog.get(payload.sku)
    values: dict[str, Any] = {
        "name": payload.name, "category": payload.category,
        "unit_weight_kg": payload.unit_weight_kg, "unit_volume_l": payload.unit_volume_l,
        "cold_chain": payload.cold_chain, "urgent": payload.urgent,
        "ration_quantity": payload.ration.quantity if payload.ration else None,
        "ration_per_days": payload.ration.per_days if payload.ration else None,
        "updated_at": clock.now(),
    }
    if sku is None:
        uow.catalog.add(CatalogSku(sku=payload.sku, **values))
    else:
        for name, value in values.items():
            setattr(sku, name, value)
    uow.session.flush()


def list_catalog(uow: OrdersUnitOfWork) -> Sequence[CatalogSku]:
    with uow:
        return uow.catalog.list()


def apply_fact(order_id: str, fact: status.Fact, at: datetime, uow: OrdersUnitOfWork) -> None:
    """Move an order along the status machine; ignored facts change nothing.

    Read, decide, write through ``uow.statuses`` (driver-level statements, see
    adapters/status.py): each fact reads what the previous one in the batch left."""
    store = uow.statuses
    tracking = store.tracking(order_id)
    if tracking is None:
        # Orders are created here before any service hears of them: an unknown id can
        # never become valid.
        raise PoisonEvent(f"unknown order {order_id}")
    changes = status.advance(tracking, fact)
    if not changes:
        log.info("order %s: %s ignored in status %s", order_id, type(fact).__name__,
                 tracking.status.value)
        return
    values = _fact_values(fact, tracking)
    values["status"] = changes[-1].status.value
    values["updated_at"] = clock.now()
    store.apply(order_id, tracking.status, values, at, changes)


def _fact_values(fact: status.Fact, order: status.Tracking) -> dict[str, Any]:
    match fact:
        case status.StockWasReserved(depot_id=depot):
            return {"depot_id": depot, "status_reason": None}
        case status.OrderWasBackordered(reason=reason):
            return {"status_reason": reason}
        case status.ReservationWasRejected(reason=reason):
            return {"status_reason": reason}
        case status.OrderWasScheduled():
            return {
                "depot_id": fact.depot_id, "plan_id": fact.plan_id, "vehicle_id": fact.vehicle_id,
                "stop_id": fact.stop_id, "eta": fact.eta, "window_start": fact.window_start,
                "window_end": fact.window_end, "scheduled_fact_at": fact.stated_at,
                "status_reason": None,
            }
        case status.OrderWasDelivered():
            return {"plan_id": fact.plan_id, "stop_id": fact.stop_id,
                    "delivered_at": fact.delivered_at, "received_by": fact.received_by,
                    "status_reason": None}
        case status.DeliveryHasFailed():
            # Off the failed route: the order waits, reserved, for the next plan.
            closed = sorted({*order.closed_plan_ids, fact.plan_id})
            return {"closed_plan_ids": closed, "status_reason": fact.reason, "plan_id": None,
                    "vehicle_id": None, "stop_id": None, "eta": None, "window_start": None,
                    "window_end": None, "scheduled_fact_at": None}
    return {}  # pragma: no cover


def note_release(payload: payloads.ReservationReleased, at: datetime, uow: OrdersUnitOfWork) -> None:
    """A released reservation changes no status (inventory releases after a cancel, or to
    re-allocate); it is kept on the timeline so the history stays explainable."""
    noted = uow.statuses.note(payload.order_id, at, {
        "note": "reservation released", "depot_id": payload.depot_id, "reason": payload.reason,
    })
    if not noted:
        raise PoisonEvent(f"unknown order {payload.order_id}")
