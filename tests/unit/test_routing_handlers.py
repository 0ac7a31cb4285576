"""Routing's service layer without a database, where that is honest.

``RoutingUnitOfWork`` has no repositories: its handlers query the session directly
(``select(...)`` through ``session.execute``, raw SQL through ``DemandStore``). Those
(dispatch, record_delivery, report_breakdown, the planner, the views, the demand read
model) are not run on a fake here; what they are built from is: the demand transitions
dispatch and deliveries apply (``demand.next_status``) and the locked prefixes of a
re-plan (``reoptimize.fixed_prefixes``). The two handlers that ask the session only for a
row by primary key and to add one (``put_vehicle``, ``vehicle_positioned``) run on
``FakeIdentityMap``, which offers nothing else.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.routing.adapters.orm import Vehicle, VehiclePosition
from services.routing.domain import demand
from services.routing.domain.plan_result import PlannedRoute, PlannedVisit, PlanResult
from services.routing.engine import RELOAD_TOKEN
from services.routing.service_layer import dispatch, read_models
from services.routing.service_layer.reoptimize import fixed_prefixes
from services.routing.service_layer.vehicles import put_vehicle
from shared.auth import Principal
from shared.errors import Forbidden
from shared.events.codec import wrap
from shared.events.payloads import VehiclePositioned
from tests.unit.fakes import FakeRoutingUnitOfWork, routing_uow

T0 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
DISPATCHER = Principal("disp-1", "dispatcher", depot_ids=frozenset({"DC-1"}))
TRUCK = {"depot_id": "DC-1", "capacity_kg": 1000.0, "capacity_l": 5000.0}


def test_dispatch_takes_reserved_demand_only_and_late_events_never_revive_an_order() -> None:
    # What dispatch's schedule step asks of each order of the plan (dispatch.SCHEDULED).
    assert demand.next_status(demand.RESERVED, dispatch.SCHEDULED) == demand.SCHEDULED
    for gone in (None, demand.PLACED, demand.RELEASED, demand.CANCELLED, demand.SCHEDULED, demand.DELIVERED):
        assert demand.next_status(gone, dispatch.SCHEDULED) is None, gone
    # What recording a stop does: a failure returns the order to demand, a delivery ends it.
    assert demand.next_status(demand.SCHEDULED, "delivery_failed") == demand.RESERVED
    assert demand.next_status(demand.SCHEDULED, "delivered") == demand.DELIVERED
    assert demand.next_status(demand.RESERVED, "delivered") is None
    # Late or repeated events: a cancel is remembered even before the order is known, and
    # nothing brings a cancelled or delivered order back, or takes a dispatched one away.
    assert demand.next_status(None, "cancelled") == demand.CANCELLED
    assert demand.next_status(demand.CANCELLED, "reserved") is None
    assert demand.next_status(demand.DELIVERED, "reserved") is None
    assert demand.next_status(demand.SCHEDULED, "cancelled") is None
    assert demand.next_status(demand.RELEASED, "reserved") == demand.RESERVED


def _visit(stop_id: str, trip: int = 0) -> PlannedVisit:
    return PlannedVisit(
        stop_id=stop_id, community_id="C-1", community_name="C-1", risk_level="sealed", cold=False, trip=trip,
        arrival=T0, service_start=T0, departure=T0, window=(T0, T0 + timedelta(hours=2)), load_kg=1.0,
        load_l=1.0, order_ids=(f"O-{stop_id}",), lat=39.9, lon=116.4,
    )


def _route(vehicle_id: str, *visits: PlannedVisit) -> PlannedRoute:
    return PlannedRoute(vehicle_id=vehicle_id, depot_id="DC-1", start=T0, end=T0, distance_km=1.0,
                        duration_min=1.0, visits=visits)


def test_a_replan_locks_each_route_up_to_the_stop_its_vehicle_is_heading_to() -> None:
    result = PlanResult(routes=(
        _route("V-1", _visit("a"), _visit("b"), _visit("c", trip=1), _visit("d", trip=1)),
        _route("V-2", _visit("e")),
        _route("V-3", _visit("f"), _visit("g", trip=1)),
        _route("V-4"),
    ))
    assert fixed_prefixes(result, done={"a", "b", "f", "g"}) == {
        "V-1": ["a", "b", RELOAD_TOKEN, "c"],  # c is under way: locked; d stays free
        "V-2": ["e"],
        "V-3": ["f", RELOAD_TOKEN, "g"],  # all done: history
        "V-4": [],
    }


def test_a_dispatcher_puts_vehicles_of_their_own_depots_and_a_repaired_one_forgets_why_it_was_out() -> None:
    uow = FakeRoutingUnitOfWork()
    with pytest.raises(Forbidden):
        put_vehicle(routing_uow(uow), "V-2", {**TRUCK, "depot_id": "DC-2"}, DISPATCHER)
    assert uow.session.rows == {} and not uow.committed

    vehicle = put_vehicle(routing_uow(uow), "V-1", TRUCK, DISPATCHER)
    assert uow.committed and uow.session.get(Vehicle, "V-1") is vehicle and vehicle.in_service

    vehicle.in_service, vehicle.out_of_service_reason = False, "vehicle breakdown: flat tyre"
    uow.reset()
    repaired = put_vehicle(routing_uow(uow), "V-1", {**TRUCK, "in_service": True}, DISPATCHER)
    assert repaired is vehicle and repaired.in_service and repaired.out_of_service_reason is None
    assert uow.committed and uow.published == []

    # Another depot's dispatcher cannot take the vehicle over, even by naming their depot.
    uow.reset()
    with pytest.raises(Forbidden):
        put_vehicle(routing_uow(uow), "V-1", {**TRUCK, "depot_id": "DC-2"},
                    Principal("disp-2", "dispatcher", depot_ids=frozenset({"DC-2"})))
    assert vehicle.depot_id == "DC-1" and not uow.committed


def test_late_vehicle_telemetry_changes_nothing() -> None:
    uow = FakeRoutingUnitOfWork()

    def seen(at: datetime, lat: float) -> None:
        payload = VehiclePositioned(vehicle_id="V-1", depot_id="DC-1", plan_id="P-1", lat=lat, lon=116.4, at=at,
                                    state="driving", next_stop_id="DC-1/C-1/ambient")
        read_models.vehicle_positioned(routing_uow(uow), payload, wrap(payload, source="test"))

    seen(T0 + timedelta(minutes=5), 39.91)
    seen(T0, 39.80)  # older: arrived late
    seen(T0 + timedelta(minutes=5), 39.70)  # the same instant again
    position = uow.session.get(VehiclePosition, "V-1")
    assert position is not None and (position.lat, position.at) == (39.91, T0 + timedelta(minutes=5))
    seen(T0 + timedelta(minutes=10), 39.92)
    assert (position.lat, position.at) == (39.92, T0 + timedelta(minutes=10))
    assert len(uow.session.rows) == 1 and uow.published == []
