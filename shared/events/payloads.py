"""Typed, versioned payloads: one class per event type of SPEC section 4.

Each payload knows its CloudEvents ``type``, its topic and its Kafka key, so a
producer cannot put an event on the wrong topic or break per-aggregate ordering.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.events import topics
from shared.events.topics import TopicSpec
from shared.priority import Priority

RiskLevel = Literal["sealed", "controlled", "prevention", "normal"]
Category = Literal["staple", "vegetable", "meat", "dairy", "medicine", "infant", "hygiene"]
DepotTier = Literal["city", "district", "community"]
ClockTime = Annotated[str, Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$")]
PositiveQty = Annotated[int, Field(gt=0, le=1_000_000)]


class EventPayload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    TYPE: ClassVar[str]
    TOPIC: ClassVar[TopicSpec]
    VERSION: ClassVar[str] = "1"

    def key(self) -> str:
        raise NotImplementedError

    def subject(self) -> str:
        return self.key()


class OrderLine(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    sku: str = Field(min_length=1, max_length=64)
    quantity: PositiveQty


class Ration(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    quantity: PositiveQty
    per_days: Annotated[int, Field(gt=0, le=366)]


# --- communities -----------------------------------------------------------------

class CommunityChanged(EventPayload):
    TOPIC = topics.COMMUNITIES
    community_id: str
    name: str
    district: str
    lat: float
    lon: float
    risk_level: RiskLevel
    receiving_windows: list[tuple[ClockTime, ClockTime]]
    gate_service_min: int

    def key(self) -> str:
        return self.community_id


class CommunityRegistered(CommunityChanged):
    TYPE = "lifeline.community.registered"


class CommunityUpdated(CommunityChanged):
    TYPE = "lifeline.community.updated"


# --- catalog ---------------------------------------------------------------------

class SkuDefined(EventPayload):
    TYPE = "lifeline.sku.defined"
    TOPIC = topics.CATALOG
    sku: str
    name: str
    category: Category
    unit_weight_kg: float
    unit_volume_l: float
    cold_chain: bool
    urgent: bool = False
    ration: Ration | None = None

    def key(self) -> str:
        return f"sku:{self.sku}"


class DepotDefined(EventPayload):
    TYPE = "lifeline.depot.defined"
    TOPIC = topics.CATALOG
    depot_id: str
    name: str
    tier: DepotTier
    lat: float
    lon: float
    district: str
    cold_storage: bool
    community_ids: list[str] = Field(default_factory=list)

    def key(self) -> str:
        return f"depot:{self.depot_id}"


# --- orders ----------------------------------------------------------------------

class OrderEvent(EventPayload):
    TOPIC = topics.ORDERS
    order_id: str

    def key(self) -> str:
        return self.order_id


class OrderPlaced(OrderEvent):
    TYPE = "lifeline.order.placed"
    household_id: str
    community_id: str
    priority: Priority
    items: list[OrderLine]
    placed_at: datetime
    contactless: bool = True


class OrderCancelled(OrderEvent):
    TYPE = "lifeline.order.cancelled"
    reason: str = "cancelled by requester"


# --- stock updates (external contract, SPEC section 4) ----------------------------

class StockEvent(EventPayload):
    """Published by warehouse systems we do not control; extra fields are tolerated."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    TOPIC = topics.STOCK_UPDATES
    depot_id: str = Field(min_length=1)
    sku: str = Field(min_length=1)
    quantity: int
    reason: str | None = None

    def key(self) -> str:
        return f"{self.depot_id}:{self.sku}"


class StockReceived(StockEvent):
    TYPE = "lifeline.stock.received"
    quantity: Annotated[int, Field(gt=0)]


class StockAdjusted(StockEvent):
    TYPE = "lifeline.stock.adjusted"
    reason: str = Field(min_length=1)


class StockCounted(StockEvent):
    TYPE = "lifeline.stock.counted"
    quantity: Annotated[int, Field(ge=0)]


# --- reservations ----------------------------------------------------------------

class ReservationEvent(EventPayload):
    TOPIC = topics.RESERVATIONS
    order_id: str

    def key(self) -> str:
        return self.order_id


class StockReserved(ReservationEvent):
    TYPE = "lifeline.stock.reserved"
    depot_id: str
    community_id: str
    priority: Priority
    lines: list[OrderLine]
    placed_at: datetime


class OrderBackordered(ReservationEvent):
    TYPE = "lifeline.order.backordered"
    reason: str


class ReservationRejected(ReservationEvent):
    TYPE = "lifeline.reservation.rejected"
    reason_code: str
    reason: str


class ReservationReleased(ReservationEvent):
    TYPE = "lifeline.reservation.released"
    depot_id: str
    reason: str


class StockShipped(ReservationEvent):
    TYPE = "lifeline.stock.shipped"
    depot_id: str
    plan_id: str


# --- routes ----------------------------------------------------------------------

class PlanDispatched(EventPayload):
    TYPE = "lifeline.plan.dispatched"
    TOPIC = topics.ROUTES
    plan_id: str
    depot_ids: list[str]
    service_date: date
    order_ids: list[str]
    vehicle_ids: list[str]

    def key(self) -> str:
        return self.plan_id


class OrderScheduled(EventPayload):
    TYPE = "lifeline.order.scheduled"
    TOPIC = topics.ROUTES
    order_id: str
    plan_id: str
    depot_id: str
    vehicle_id: str
    stop_id: str
    eta: datetime
    window_start: datetime
    window_end: datetime

    def key(self) -> str:
        return self.order_id


class OrderUnscheduled(EventPayload):
    """A re-plan took the order off its route (another order needed the room); it is demand
    again, stock still reserved, and the next plan takes it."""

    TYPE = "lifeline.order.unscheduled"
    TOPIC = topics.ROUTES
    order_id: str
    plan_id: str
    replaced_by: str
    reason: str

    def key(self) -> str:
        return self.order_id


# --- deliveries ------------------------------------------------------------------

class DeliveryEvent(EventPayload):
    TOPIC = topics.DELIVERIES
    order_id: str
    plan_id: str
    stop_id: str

    def key(self) -> str:
        return self.order_id


class OrderDelivered(DeliveryEvent):
    TYPE = "lifeline.order.delivered"
    delivered_at: datetime
    received_by: str


class OrderDeliveryFailed(DeliveryEvent):
    TYPE = "lifeline.order.delivery_failed"
    failed_at: datetime
    reason: str


# --- alerts ----------------------------------------------------------------------

class StockLow(EventPayload):
    TYPE = "lifeline.stock.low"
    TOPIC = topics.ALERTS
    depot_id: str
    sku: str
    available: int
    days_of_supply: float | None
    threshold_days: float

    def key(self) -> str:
        return self.depot_id


class SlaAtRisk(EventPayload):
    TYPE = "lifeline.sla.at_risk"
    TOPIC = topics.ALERTS
    depot_id: str
    order_id: str
    reason: str

    def key(self) -> str:
        return self.depot_id


# --- fleet (positions are telemetry; arrivals mark a vehicle at a gate) -----------------

VehicleState = Literal["at_depot", "driving", "at_gate", "broken_down"]


class VehiclePositioned(EventPayload):
    TYPE = "lifeline.vehicle.positioned"
    TOPIC = topics.FLEET
    vehicle_id: str
    depot_id: str
    plan_id: str | None
    lat: float
    lon: float
    at: datetime
    state: VehicleState
    next_stop_id: str | None

    def key(self) -> str:
        return self.vehicle_id


class VehicleArrived(EventPayload):
    TYPE = "lifeline.vehicle.arrived"
    TOPIC = topics.FLEET
    vehicle_id: str
    plan_id: str
    stop_id: str
    community_id: str
    at: datetime
    #: Minutes behind the plan's arrival at this gate (0 on time).
    late_min: float

    def key(self) -> str:
        return self.vehicle_id


PAYLOAD_TYPES: dict[str, type[EventPayload]] = {
    cls.TYPE: cls
    for cls in (
        CommunityRegistered, CommunityUpdated, SkuDefined, DepotDefined, OrderPlaced,
        OrderCancelled, StockReceived, StockAdjusted, StockCounted, StockReserved,
        OrderBackordered, ReservationRejected, ReservationReleased, StockShipped,
        PlanDispatched, OrderScheduled, OrderUnscheduled, OrderDelivered, OrderDeliveryFailed, StockLow, SlaAtRisk,
        VehiclePositioned, VehicleArrived,
    )
}
