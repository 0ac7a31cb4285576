"""The orders unit of work: one transaction, its repositories, and the outbox."""

from __future__ import annotations

from types import TracebackType
from typing import Self

from services.orders.adapters.intake import IntakeStore
from services.orders.adapters.repository import (
    CatalogRepository,
    CommunityRepository,
    HouseholdRepository,
    OrderRepository,
)
from services.orders.adapters.status import StatusStore
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
