"""Which events routing consumes, and the handler each one goes to."""

from __future__ import annotations

from typing import Any

from services.routing.service_layer import read_models
from shared.events import topics
from shared.events.payloads import (
    CommunityRegistered,
    CommunityUpdated,
    DepotDefined,
    OrderCancelled,
    OrderPlaced,
    ReservationReleased,
    SkuDefined,
    StockReserved,
    VehiclePositioned,
)
from shared.messaging.consumer import Handler

CONSUMED_TOPICS = [
    topics.COMMUNITIES.name, topics.CATALOG.name, topics.ORDERS.name, topics.RESERVATIONS.name,
    topics.FLEET.name,
]

# Handlers take routing's unit of work (a SqlUnitOfWork); the consumer passes that one.
_HANDLERS: dict[str, Any] = {
    CommunityRegistered.TYPE: read_models.community_changed,
    CommunityUpdated.TYPE: read_models.community_changed,
    SkuDefined.TYPE: read_models.sku_defined,
    DepotDefined.TYPE: read_models.depot_defined,
    OrderPlaced.TYPE: read_models.order_placed,
    OrderCancelled.TYPE: read_models.order_cancelled,
    StockReserved.TYPE: read_models.stock_reserved,
    ReservationReleased.TYPE: read_models.reservation_released,
    VehiclePositioned.TYPE: read_models.vehicle_positioned,
}
HANDLERS: dict[str, Handler] = _HANDLERS
