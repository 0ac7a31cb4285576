"""Routing's service layer without a database: dispatch, deliveries, breakdowns, vehicles
and the vehicle read model run on fake repositories (``tests.unit.fakes``), and what they
are built from (the demand transitions, a re-plan's locked prefixes) is checked alone.
The planner, the problem's loading and the views query tables: they stay with the
database tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.routing.adapters.orm import DemandOrder, DispatchedOrder, Plan, Vehicle, VehiclePosition
from services.routing.domain import demand
from services.routing.domain.plan_result import PlannedRoute, PlannedVisit, PlanResult
from services.routing.engine import RELOAD_TOKEN
from services.routing.service_layer import dispatch, read_models
from services.routing.service_layer.deliveries import RecordDelivery, record_delivery, report_breakdown
from services.routing.service_layer.reoptimize import fixed_prefixes
from services.routing.service_layer.vehicles import put_vehicle
from shared.auth import Principal
from shared.errors import Conflict, DomainError, Forbidden, NotFound
from shared.events.codec import wrap
from shared.events.payloads import (
    OrderDelivered,
    OrderDeliveryFailed,
    OrderScheduled,
    PlanDispatched,
    VehiclePositioned,
)
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


# --- dispatch and deliveries, on the fake repositories --------------------------------

def _plan(plan_id: str, *routes: PlannedRoute, status: str = "solved", parent: str | None = None) -> Plan:
    return Plan(id=plan_id, depot_ids=["DC-1"], service_date=T0.date(), status=status,
                result=PlanResult(routes=routes).to_json(), parent_plan_id=parent)


def _fleet(*orders: tuple[str, str]) -> FakeRoutingUnitOfWork:
    uow = FakeRoutingUnitOfWork()
    for order_id, status in orders:
        uow.demand.add(DemandOrder(order_id=order_id, community_id="C-1", depot_id="DC-1", status=status))
    return uow


def test_dispatch_schedules_the_reserved_orders_skips_the_gone_and_is_idempotent() -> None:
    uow = _fleet(("O-a", demand.RESERVED), ("O-b", demand.CANCELLED), ("O-c", demand.RESERVED))
    uow.plans.add(_plan("P-1", _route("V-1", _visit("a"), _visit("b")), _route("V-2", _visit("c"))))

    plan = dispatch.dispatch(routing_uow(uow), "P-1", DISPATCHER)
    assert plan.status == "dispatched" and plan.outcome.skipped_at_dispatch == ("O-b",)
    assert uow.committed and uow.dispatched.plan_of == {"O-a": "P-1", "O-c": "P-1"}
    assert {o: (row.status, row.plan_id) for o, row in uow.demand.rows.items()} == {
        "O-a": (demand.SCHEDULED, "P-1"), "O-b": (demand.CANCELLED, None), "O-c": (demand.SCHEDULED, "P-1")}
    scheduled = [e for e in uow.published if isinstance(e, OrderScheduled)]
    assert [(e.order_id, e.vehicle_id, e.stop_id) for e in scheduled] == [("O-a", "V-1", "a"), ("O-c", "V-2", "c")]
    assert [e.order_ids for e in uow.published if isinstance(e, PlanDispatched)] == [["O-a", "O-c"]]

    uow.reset()
    assert dispatch.dispatch(routing_uow(uow), "P-1", DISPATCHER) is plan  # the same dispatch
    assert uow.published == [] and not uow.committed


def test_dispatch_refuses_orders_another_plan_drives_and_an_unsolved_plan() -> None:
    uow = _fleet(("O-a", demand.RESERVED))
    uow.dispatched.add(DispatchedOrder(order_id="O-a", plan_id="P-OTHER"))
    uow.plans.add(_plan("P-1", _route("V-1", _visit("a"))))
    uow.plans.add(_plan("P-2", _route("V-1", _visit("a")), status="failed"))
    with pytest.raises(Conflict) as taken:
        dispatch.dispatch(routing_uow(uow), "P-1", DISPATCHER)
    assert taken.value.code == "orders_already_dispatched" and taken.value.context["orders"] == {"O-a": "P-OTHER"}
    with pytest.raises(Conflict) as unsolved:
        dispatch.dispatch(routing_uow(uow), "P-2", DISPATCHER)
    assert unsolved.value.code == "plan_not_solved"
    with pytest.raises(NotFound):  # another depot's plan is not found, like a missing one
        dispatch.dispatch(routing_uow(uow), "P-1", Principal("disp-2", "dispatcher", depot_ids=frozenset({"DC-2"})))
    assert not uow.committed and uow.published == [] and uow.plans.rows["P-1"].status == "solved"


def test_a_replan_takes_over_its_parent_and_announces_only_new_and_moved_orders() -> None:
    uow = _fleet(("O-a", demand.RESERVED), ("O-b", demand.RESERVED))
    uow.plans.add(_plan("P-1", _route("V-1", _visit("a"), _visit("b"))))
    dispatch.dispatch(routing_uow(uow), "P-1", DISPATCHER)
    record_delivery(routing_uow(uow), RecordDelivery("P-1", "a", "delivered", "gate guard", None), DISPATCHER)
    uow.demand.add(DemandOrder(order_id="O-n", community_id="C-1", depot_id="DC-1", status=demand.RESERVED))
    # The re-plan keeps a and b on V-1 and inserts the new order n before b.
    uow.plans.add(_plan("P-2", _route("V-1", _visit("a"), _visit("n"), _visit("b")), parent="P-1"))

    uow.reset()
    dispatch.dispatch(routing_uow(uow), "P-2", DISPATCHER)
    parent = uow.plans.rows["P-1"]
    assert parent.status == "superseded" and parent.outcome.superseded_by == "P-2"
    assert uow.dispatched.plan_of == {"O-a": "P-2", "O-b": "P-2", "O-n": "P-2"}
    assert uow.plans.recorded_stops("P-2") == {"a"}  # the delivery carries over
    assert [e.order_id for e in uow.published if isinstance(e, OrderScheduled)] == ["O-n"]


def test_a_stop_is_recorded_once_and_a_failure_returns_its_orders_to_demand() -> None:
    uow = _fleet(("O-a", demand.RESERVED), ("O-b", demand.RESERVED))
    uow.plans.add(_plan("P-1", _route("V-1", _visit("a"), _visit("b"))))
    dispatch.dispatch(routing_uow(uow), "P-1", DISPATCHER)

    uow.reset()
    done = record_delivery(routing_uow(uow), RecordDelivery("P-1", "a", "delivered", "gate guard", None), DISPATCHER)
    assert done["duplicate"] is False and uow.demand.rows["O-a"].status == demand.DELIVERED
    assert [type(e) for e in uow.published] == [OrderDelivered]
    uow.reset()
    again = record_delivery(routing_uow(uow), RecordDelivery("P-1", "a", "delivered", "gate guard", None), DISPATCHER)
    assert again["duplicate"] is True and uow.published == []
    with pytest.raises(Conflict):
        record_delivery(routing_uow(uow), RecordDelivery("P-1", "a", "failed", None, "gate closed"), DISPATCHER)
    with pytest.raises(DomainError) as missing:
        record_delivery(routing_uow(uow), RecordDelivery("P-1", "b", "failed", None, None), DISPATCHER)
    assert missing.value.code == "missing_reason"

    record_delivery(routing_uow(uow), RecordDelivery("P-1", "b", "failed", None, "gate closed"), DISPATCHER)
    assert uow.demand.rows["O-b"].status == demand.RESERVED and "O-b" not in uow.dispatched.plan_of
    assert [type(e) for e in uow.published] == [OrderDeliveryFailed]


def test_a_breakdown_fails_the_vehicles_pending_stops_and_takes_it_out_of_service() -> None:
    uow = _fleet(("O-a", demand.RESERVED), ("O-b", demand.RESERVED), ("O-c", demand.RESERVED))
    uow.vehicles.add(Vehicle(id="V-1", depot_id="DC-1", capacity_kg=1000.0, capacity_l=5000.0))
    uow.plans.add(_plan("P-1", _route("V-1", _visit("a"), _visit("b")), _route("V-2", _visit("c"))))
    dispatch.dispatch(routing_uow(uow), "P-1", DISPATCHER)
    record_delivery(routing_uow(uow), RecordDelivery("P-1", "a", "delivered", "gate guard", None), DISPATCHER)

    uow.reset()
    broken = report_breakdown(routing_uow(uow), "V-1", "flat tyre", DISPATCHER)
    assert broken == {"vehicle_id": "V-1", "plan_id": "P-1", "failed_stop_ids": ["b"], "returned_order_ids": ["O-b"]}
    vehicle = uow.vehicles.get("V-1")
    assert vehicle is not None and not vehicle.in_service and vehicle.out_of_service_reason == "flat tyre"
    assert {o: row.status for o, row in uow.demand.rows.items()} == {
        "O-a": demand.DELIVERED, "O-b": demand.RESERVED, "O-c": demand.SCHEDULED}
    assert uow.committed and [e.order_id for e in uow.published if isinstance(e, OrderDeliveryFailed)] == ["O-b"]
