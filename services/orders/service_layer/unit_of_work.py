"""The orders unit of work: one transaction, its repositories, and the outbox."""

from __future__ import annotations

from collections.abc import Sequence
from types import TracebackType
from typing import Self

from services.orders.adapters.intake import IntakeStore, OutboxRow
from services.orders.adapters.repository import (
    CatalogRepository,
    CommunityRepository,
    HouseholdRepository,
    OrderRepository,
)
from services.orders.adapters.status import StatusStore
from shared.events.codec import wrap
from shared.events.envelope import CloudEvent, utcnow
from shared.events.payloads import EventPayload
from shared.messaging.unit_of_work import SqlUnitOfWork


class OrdersUnitOfWork(SqlUnitOfWork):
    communities: CommunityRepository
    households: HouseholdRepository
    catalog: CatalogRepository
    orders: OrderRepository
    _intake: IntakeStore | None = None
    _statuses: StatusStore | None = None

    def __enter__(self) -> Self:
        super().__enter__()
        self.communities = CommunityRepository(self.session)
        self.households = HouseholdRepository(self.session)
        self.catalog = CatalogRepository(self.session)
        self.orders = OrderRepository(self.session)
        self._intake = None
        self._statuses = None
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._intake = None
        self._statuses = None
        super().__exit__(exc_type, exc, tb)

    @property
    def intake(self) -> IntakeStore:
        """The driver-level statements of the order-intake hot path, in this transaction."""
        if self._intake is None:
            self._intake = IntakeStore(self.session)
        return self._intake

    @property
    def statuses(self) -> StatusStore:
        """The driver-level statements that apply status facts, in this transaction."""
        if self._statuses is None:
            self._statuses = StatusStore(self.session)
        return self._statuses

    def publish(self, payload: EventPayload) -> CloudEvent:
        return self.publish_all([payload])[0]

    def publish_all(self, payloads: Sequence[EventPayload]) -> list[CloudEvent]:
        """The same outbox rows as ``SqlUnitOfWork.publish``, written through the driver's
        cursor in one statement: building the SQLAlchemy INSERT cost more than the rest
        of an order."""
        events = [wrap(p, source=self._source, correlation_id=self.correlation_id) for p in payloads]
        now = utcnow()
        self.intake.insert_outbox([
            OutboxRow(event_id=event.id, topic=self._topic_name(payload.TOPIC.name),
                      key=payload.key(), event_type=payload.TYPE, payload=event.to_bytes(),
                      created_at=now)
            for payload, event in zip(payloads, events, strict=True)
        ])
        self._published += len(events)
        return events
