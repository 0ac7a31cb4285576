"""Placing orders: the intake's batches (group commit), checked as if one by one against
rations, the rate limit and Idempotency-Keys. One order is a batch of one. On PostgreSQL
the intake runs them through the async connection (``pipelined_placing``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from sqlalchemy.exc import IntegrityError

from services.orders.adapters.intake import NewOrder
from services.orders.adapters.orm import Order
from services.orders.domain import rules
from services.orders.domain.commands import (
    PlaceOrder,
)
from services.orders.domain.ids import new_order_id
from services.orders.domain.intake import NOT_COUNTING, RATE_WINDOW, IntakeBook
from services.orders.domain.model import Line, OrderStatus, OrderView
from services.orders.service_layer.errors import rule_error
from services.orders.service_layer.tracking import OrderDetails, order_view
from services.orders.service_layer.unit_of_work import OrdersUnitOfWork
from shared import clock
from shared.auth import Principal
from shared.errors import Conflict, DomainError, Forbidden, TooManyRequests
from shared.events import payloads
from shared.group_commit import GroupCommit

log = logging.getLogger(__name__)


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
    outcomes, wanted = lines_wanted(requests)
    with uow:
        if wanted:
            households, keys, skus = batch_subjects(requests, wanted)
            facts = uow.intake.read_for_intake(
                households, keys, skus, now=now, rate_window=RATE_WINDOW, not_counting=NOT_COUNTING,
            )
            batch = IntakeBatch(IntakeBook(facts, now, rate_per_minute), uow)
            batch.decide_all(requests, wanted, outcomes)
            if batch.orders:
                store = uow.intake
                with store.batch():
                    store.insert_orders(batch.orders)
                    uow.publish_all(batch.events)
        uow.commit()
    return outcomes


def lines_wanted(
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


def batch_subjects(
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
        raise rule_error(violation) from violation


class IntakeBatch:
    """A batch of orders decided against the intake book (``domain.intake``), with the
    Idempotency-Key replays, and the rows and events to write."""

    def __init__(self, book: IntakeBook, uow: OrdersUnitOfWork | None) -> None:
        self._book = book
        self._uow = uow  # to read back an order placed before with a key; None: none was
        self._accepted: dict[tuple[str, str], tuple[OrderDetails, str]] = {}
        self.orders: list[NewOrder] = []
        self.events: list[payloads.OrderPlaced] = []

    def decide_all(
        self, requests: Sequence[tuple[PlaceOrder, Principal]],
        wanted: Sequence[tuple[int, tuple[Line, ...]]], outcomes: list[Placed | Exception],
    ) -> None:
        for i, lines in wanted:
            cmd, principal = requests[i]
            try:
                outcomes[i] = self.place(cmd, lines, principal)
            except DomainError as refused:
                outcomes[i] = refused

    def place(self, cmd: PlaceOrder, lines: tuple[Line, ...], principal: Principal) -> Placed:
        """Decide one order; a refusal raises before anything of it is recorded."""
        try:
            household = self._book.household(cmd.household_id)
        except rules.RuleViolation as violation:
            raise rule_error(violation) from violation
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
        try:
            priority = self._book.admit(household, lines).value
        except rules.RuleViolation as violation:
            raise rule_error(violation) from violation
        except rules.RateLimited as limited:
            raise TooManyRequests(
                str(limited), retry_after_s=limited.retry_after_s, limit_per_minute=limited.limit,
            ) from limited
        now = self._book.now
        order = OrderView(
            id=new_order_id(), household_id=cmd.household_id, community_id=household.community_id,
            status=OrderStatus.PLACED.value, priority=priority, contactless=cmd.contactless,
            note=cmd.note, created_at=now, updated_at=now,
        )
        self.orders.append(NewOrder(
            order, caller=cmd.caller, idempotency_key=cmd.idempotency_key,
            request_fingerprint=cmd.request_fingerprint, lines=lines,
        ))
        self.events.append(payloads.OrderPlaced(
            order_id=order.id, household_id=order.household_id, community_id=order.community_id,
            priority=priority, placed_at=now, contactless=cmd.contactless,
            items=[payloads.OrderLine(sku=line.sku, quantity=line.quantity) for line in lines],
        ))
        self._book.count(household, lines)
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
        if key not in self._book.facts.used_keys:
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

