"""Inventory's unit of work: the shared outbox/inbox transaction plus its repositories."""

from __future__ import annotations

from typing import Self

from services.inventory.adapters.allocations import AllocationRepository
from services.inventory.adapters.repository import (
    CatalogRepository,
    CommunityRepository,
    LedgerRepository,
    StockRepository,
)
from services.inventory.adapters.reservation_store import ReservationStore
from shared.messaging.unit_of_work import SqlUnitOfWork


class InventoryUnitOfWork(SqlUnitOfWork):
    catalog: CatalogRepository
    communities: CommunityRepository
    stock: StockRepository
    ledger: LedgerRepository
    allocations: AllocationRepository
    _reservation_store: ReservationStore | None = None

    def __enter__(self) -> Self:
        super().__enter__()
        self.catalog = CatalogRepository(self.session)
        self.communities = CommunityRepository(self.session)
        self.stock = StockRepository(self.session)
        self.ledger = LedgerRepository(self.session)
        self.allocations = AllocationRepository(self.session)
        self._reservation_store = None
        return self

    @property
    def reservation_store(self) -> ReservationStore:
        """The reservation statements on the raw cursor of this transaction's connection."""
        if self._reservation_store is None or not self._reservation_store.usable:
            self._reservation_store = ReservationStore(self.session)
        return self._reservation_store
