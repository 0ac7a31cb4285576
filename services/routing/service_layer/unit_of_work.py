from __future__ import annotations

from shared.messaging.unit_of_work import SqlUnitOfWork


class RoutingUnitOfWork(SqlUnitOfWork):
    """Routing's handlers work with the session directly: its tables are few and small."""
