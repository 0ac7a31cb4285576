"""The order intake on PostgreSQL: a batch on the async connection (shared/pipelined.py),
so the event loop serves HTTP while the database answers, and the answers to a batch
whose COMMIT's answer was lost, decided from the database. Everything else takes the
synchronous path, ``placing.place_orders``."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence

from services.orders.adapters.intake import PipelinedIntake
from services.orders.domain.commands import PlaceOrder
from services.orders.domain.intake import NOT_COUNTING, RATE_WINDOW, IntakeBook
from services.orders.service_layer.placing import IntakeBatch, Placed, batch_subjects, lines_wanted, place_orders
from services.orders.service_layer.unit_of_work import OrdersUnitOfWork
from shared import clock
from shared.auth import Principal
from shared.db import database_unavailable
from shared.errors import Unavailable
from shared.messaging.unit_of_work import OutboxFormat
from shared.pipelined import AsyncPostgres

log = logging.getLogger(__name__)


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
        outbox_format: OutboxFormat,
        rate_per_minute: int,
        postgres: AsyncPostgres | None,
        on_published: Callable[[], None],
    ) -> None:
        self._uow_factory = uow_factory
        self._outbox_format = outbox_format
        self._rate_per_minute = rate_per_minute
        self._postgres = postgres
        self._on_published = on_published

    async def __call__(self, requests: Sequence[tuple[PlaceOrder, Principal]]) -> list[Placed | Exception]:
        if self._postgres is not None:
            try:
                outcomes = await self._place_pipelined(requests, self._postgres)
                if outcomes is not None:
                    return outcomes
            except _CommitUnknown as unknown:
                # Placing them again would place twice the orders that did commit (an order
                # without an Idempotency-Key would be a second bundle): ask the database.
                answers = await self._after_lost_commit(unknown, self._postgres)
                if answers is not None:
                    return answers
                log.info("a pipelined batch of %d orders did not commit; placing them again", len(requests))
            except Exception as failure:
                log.info("a pipelined batch of %d orders failed before its commit (%s); placing them again",
                         len(requests), failure, exc_info=not database_unavailable(failure))
        return place_orders(requests, self._uow_factory(), rate_per_minute=self._rate_per_minute)

    async def _place_pipelined(
        self, requests: Sequence[tuple[PlaceOrder, Principal]], postgres: AsyncPostgres
    ) -> list[Placed | Exception] | None:
        """The batch in one transaction, as ``_place_all``; None (nothing written) when an
        Idempotency-Key was used before and its order must be read back. Raises
        ``_CommitUnknown`` when the COMMIT was sent and its answer did not come."""
        now = clock.now()
        outcomes, wanted = lines_wanted(requests)
        if not wanted:
            return outcomes
        households, keys, skus = batch_subjects(requests, wanted)
        batch: IntakeBatch | None = None
        committing = False
        backend = 0
        try:
            async with postgres.transaction() as transaction:
                backend = transaction.backend_pid
                store = PipelinedIntake(transaction)
                facts = await store.read_for_intake(
                    households, keys, skus, now=now, rate_window=RATE_WINDOW, not_counting=NOT_COUNTING,
                )
                if facts.used_keys:
                    return None
                batch = IntakeBatch(IntakeBook(facts, now, self._rate_per_minute), uow=None)
                batch.decide_all(requests, wanted, outcomes)
                if batch.orders:
                    _events, rows = self._outbox_format.rows(batch.events)
                    await store.write(batch.orders, rows)
                committing = True  # the block ends: psycopg sends COMMIT
        except Exception as failure:
            if committing and batch is not None and batch.orders:
                raise _CommitUnknown(outcomes, [o.order.id for o in batch.orders], backend) from failure
            raise
        if batch.orders:
            self._on_published()
        return outcomes

    async def _after_lost_commit(
        self, unknown: _CommitUnknown, postgres: AsyncPostgres,
    ) -> list[Placed | Exception] | None:
        """The answers to a batch whose COMMIT's answer was lost, from the database: the
        batch's outcomes if it committed (all its orders or none: one transaction), None if
        it did not. The server process that ran the batch is ended first: until it is gone
        a COMMIT still on its way could land after the look (and it may hold the
        households' row locks the synchronous retry needs). While the database cannot be
        asked, the batch's placed orders are answered 503: neither placed twice nor
        answered as placed when they might not be."""
        for attempt in range(COMMIT_CHECK_ATTEMPTS):
            try:
                async with postgres.transaction() as transaction:
                    settled = await transaction.end_backend(unknown.backend_pid)
                    found = await PipelinedIntake(transaction).placed(unknown.order_ids) if settled else None
            except Exception:
                log.warning("cannot tell yet whether %d orders committed (attempt %d)",
                            len(unknown.order_ids), attempt + 1, exc_info=True)
                found = None
            if found is None:
                await asyncio.sleep(0.2 * 2**attempt)
                continue
            if not found:
                return None
            self._on_published()
            return unknown.outcomes
        unavailable = Unavailable("the order's outcome is not known yet; retry with the same Idempotency-Key",
                                  code="outcome_unknown")
        return [outcome if isinstance(outcome, Exception) else unavailable for outcome in unknown.outcomes]


#: Tries to learn a lost COMMIT's outcome (0.2 s, 0.4 s, ... apart: about 12 s in all).
COMMIT_CHECK_ATTEMPTS = 6


class _CommitUnknown(Exception):
    """A batch's COMMIT was sent and its answer lost (the connection broke): it may have committed."""

    def __init__(self, outcomes: list[Placed | Exception], order_ids: list[str], backend_pid: int) -> None:
        super().__init__(f"commit of {len(order_ids)} orders unknown")
        self.outcomes = outcomes
        self.order_ids = order_ids
        self.backend_pid = backend_pid
