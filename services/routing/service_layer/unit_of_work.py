"""The routing unit of work: one transaction, its repositories, and the outbox."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Self

from services.routing.adapters.demand import DemandStore
from services.routing.adapters.repository import (
    DemandRepository,
    DispatchedOrderRepository,
    PlanRepository,
    VehicleRepository,
)
from shared.messaging.unit_of_work import SqlUnitOfWork


class RoutingUnitOfWork(SqlUnitOfWork):
    plans: PlanRepository
    dispatched: DispatchedOrderRepository
    demand: DemandRepository
    vehicles: VehicleRepository

    _demand_store: DemandStore | None = None

    def __enter__(self) -> Self:
        super().__enter__()
        self.plans = PlanRepository(self.session)
        self.dispatched = DispatchedOrderRepository(self.session)
        self.demand = DemandRepository(self.session)
        self.vehicles = VehicleRepository(self.session)
        self._demand_store = None
        return self

    @property
    def demand_store(self) -> DemandStore:
        """The demand read model's driver-level statements (every order passes twice), in
        this transaction."""
        if self._demand_store is None:
            self._demand_store = DemandStore(self.session)
        return self._demand_store

    @contextlib.contextmanager
    def writes_at_commit(self) -> Iterator[None]:
        """Nothing is written before the commit: a key clash (a concurrent dispatch) fails
        there, as one IntegrityError to answer, not halfway through the handler."""
        with self.session.no_autoflush:
            yield
