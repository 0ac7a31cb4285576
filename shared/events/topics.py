"""The topic registry: every topic Lifeline uses, with its partitioning and retention."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int = 6
    compacted: bool = False

    @property
    def dlq(self) -> str:
        return f"{self.name}.dlq"


COMMUNITIES = TopicSpec("lifeline.communities.v1", partitions=3, compacted=True)
CATALOG = TopicSpec("lifeline.catalog.v1", partitions=3, compacted=True)
ORDERS = TopicSpec("lifeline.orders.v1")
STOCK_UPDATES = TopicSpec("lifeline.stock-updates.v1")
RESERVATIONS = TopicSpec("lifeline.reservations.v1")
ROUTES = TopicSpec("lifeline.routes.v1")
DELIVERIES = TopicSpec("lifeline.deliveries.v1")
ALERTS = TopicSpec("lifeline.alerts.v1", partitions=3)
#: Vehicles' positions and gate arrivals, published by the fleet (in simulation: the fleet
#: simulator); key: vehicle id.
FLEET = TopicSpec("lifeline.fleet.v1", partitions=3)

ALL_TOPICS: tuple[TopicSpec, ...] = (
    COMMUNITIES,
    CATALOG,
    ORDERS,
    STOCK_UPDATES,
    RESERVATIONS,
    ROUTES,
    DELIVERIES,
    ALERTS,
    FLEET,
)


def dlq_name(topic: str) -> str:
    return f"{topic}.dlq"
