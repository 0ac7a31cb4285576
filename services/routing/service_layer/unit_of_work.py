"""The routing unit of work: one transaction, its repositories, and the outbox."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Self

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

    def __enter__(self) -> Self:
        super().__enter__()
        self.plans = PlanRepository(self.session)
        self.dispatched = DispatchedOrderRepository(self.session)
        self.demand = DemandRepository(self.session)
        self.vehicles = VehicleRepository(self.session)
        return self

    @contextlib.contextmanager
    def writes_at_commit(self) -> Iterator[None]:
        """Nothing is written before the commit: a key clash (a concurrent dispatch) fails
        there, as one IntegrityError to answer, not halfway through the handler."""
        with self.session.no_autoflush:
            yield
