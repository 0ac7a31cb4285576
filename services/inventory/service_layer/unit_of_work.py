"""Inventory's unit of work: the shared outbox/inbox transaction plus its repositories."""

from __future__ import annotations

from typing import Self

from services.inventory.adapters.hot import ReservationStore
from services.inventory.adapters.repository import (
    AllocationRepository,
    CatalogRepository,
    CommunityRepository,
    LedgerRepository,
    StockRepository,
)
from shared.messaging.unit_of_work import SqlUnitOfWork


class InventoryUnitOfWork(SqlUnitOfWork):
    catalog: CatalogRepository
    communities: CommunityRepository
    stock: StockRepository
    ledger: LedgerRepository
    allocations: AllocationRepository
    _hot: ReservationStore | None = None

    def __enter__(self) -> Self:
        super().__enter__()
        self.catalog = CatalogRepository(self.session)
        self.communities = CommunityRepository(self.session)
        self.stock = StockRepository(self.session)
        self.ledger = LedgerRepository(self.session)
        self.allocations = AllocationRepository(self.session)
        self._hot = None
        return self

    @property
    def hot(self) -> ReservationStore:
        """The reservation statements on the raw cursor of this transaction's connection."""
        if self._hot is None or not self._hot.usable:
            self._hot = ReservationStore(self.session)
        return self._hot
