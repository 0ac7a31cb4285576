"""The fleet simulator: plays the vehicles of dispatched plans on the service clock.

Nobody drives the trucks in a simulation (or in the demo), so this process does, as a
client of the system like a real fleet would be: it learns of dispatches from
``lifeline.routes.v1`` (``fleet_feed.py``), reads each plan through routing's API, follows
every vehicle's route on the service clock, publishes positions and gate arrivals on
``lifeline.fleet.v1`` and confirms each stop through ``POST /v1/deliveries`` when the
vehicle leaves the gate. Faults are injected on request (``fleet_api.py``).

One task drives every vehicle: a heap holds each vehicle's next event (leave the depot,
report the position, arrive at a gate, hand over, be back), and the task sleeps on the
service clock until the earliest is due. A vehicle whose plans change gets a new version;
heap entries of older versions are dropped when they come up.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import httpx

from services.simulation.fleet_clients import DeliveryRecorder, FleetPublisher, RoutingClient
from services.simulation.fleet_itinerary import Itinerary, Point, itineraries_of
from services.simulation.fleet_plans import Lineage, PlanChains
from services.simulation.fleet_vehicle import Action, HandoverFailure, Run, SimVehicle
from shared import clock
from shared.events.payloads import PlanDispatched, VehicleArrived, VehiclePositioned

log = logging.getLogger(__name__)

POSITION_EVERY = timedelta(minutes=5)
#: The longest the driving task sleeps at once (wall seconds): a clock installed anew
#: (tests do) or a vehicle changed without a wake-up is noticed within this time.
LONGEST_NAP_S = 1.0

DepotLookup = Callable[[str], Point | None]


class FleetSimulator:
    def __init__(self, routing: RoutingClient, publisher: FleetPublisher, depot_location: DepotLookup, *,
                 position_every: timedelta = POSITION_EVERY) -> None:
        self._routing = routing
        self._publisher = publisher
        self._depot_location = depot_location
        self._position_every = position_every
        self._vehicles: dict[str, SimVehicle] = {}
        self._agenda: list[tuple[datetime, int, str, int]] = []  # (due, tie-break, vehicle, version)
        self._tie_break = itertools.count()
        self._wake = asyncio.Event()
        self._plans = PlanChains(routing)
        self._handover_failures: list[HandoverFailure] = []
        self._deliveries = DeliveryRecorder(routing, self._plans.newest)

    # --- dispatched plans -------------------------------------------------------------

    async def plan_dispatched(self, event: PlanDispatched, dispatched_at: datetime) -> None:
        """Take over a dispatched plan's routes (a re-plan's replace those of its ancestors)."""
        if self._plans.settled(event.plan_id):
            return  # read again, or superseded by a plan already driven
        found = await self._plans.dispatched(event.plan_id)
        if found is not None:
            self._apply(*found, dispatched_at)

    def _apply(self, plan: dict[str, Any], lineage: Lineage, dispatched_at: datetime) -> None:
        self._plans.applied(lineage)
        routes = itineraries_of(plan)
        for vehicle_id, itinerary in routes.items():
            vehicle = self._vehicles.setdefault(vehicle_id, SimVehicle(vehicle_id, itinerary.depot_id))
            self._assign(vehicle, itinerary, lineage.members, dispatched_at)
        for vehicle in self._vehicles.values():
            if vehicle.vehicle_id not in routes:
                self._withdraw(vehicle, set(lineage.ancestors))
        log.info("plan %s dispatched: %s", lineage.plan_id, ", ".join(sorted(routes)) or "no routes")

    def _assign(self, vehicle: SimVehicle, itinerary: Itinerary, lineage: set[str], dispatched_at: datetime) -> None:
        if vehicle.state == "broken_down" and not self._repaired(vehicle, itinerary, dispatched_at):
            log.warning("plan %s has work for %s, which is broken down; not driven", itinerary.plan_id,
                        vehicle.vehicle_id)
            return
        run = vehicle.run
        queued = next((i for i, q in enumerate(vehicle.queued) if q.plan_id in lineage), None)
        if run is not None and run.itinerary.plan_id in lineage:
            self._replace(vehicle, run, itinerary)
        elif queued is not None:
            vehicle.queued[queued] = itinerary
        elif run is None:
            self._start_run(vehicle, itinerary)
        else:
            # Another chain's plan while this one is driven: it follows when the vehicle is back.
            vehicle.queued.append(itinerary)
        self._changed(vehicle)

    def _repaired(self, vehicle: SimVehicle, itinerary: Itinerary, dispatched_at: datetime) -> bool:
        """A plan dispatched after the breakdown that still gives the vehicle stops means it
        was put back in service (routing plans only vehicles in service): it starts again
        from its depot (towed home and repaired). A re-plan that only repeats what it had
        done, or a plan dispatched before the breakdown, leaves it where it broke down."""
        if vehicle.broken_at is None or dispatched_at <= vehicle.broken_at:
            return False
        if not itinerary.without(self._plans.done(itinerary.plan_id)).stops:
            return False
        vehicle.broken_at, vehicle.state, vehicle.run = None, "at_depot", None
        return True

    def _replace(self, vehicle: SimVehicle, run: Run, itinerary: Itinerary) -> None:
        """The newest plan of the chain: the stops handed over stay done; a vehicle at a gate
        finishes there, one on the road heads for its (new) next stop from where it is."""
        gate = run.next_stop.stop_id if run.at_gate and run.next_stop is not None else None
        run.itinerary = itinerary.without(run.done)
        upcoming = run.next_stop
        run.at_gate = gate is not None and upcoming is not None and upcoming.stop_id == gate
        if run.started and not run.at_gate:
            now = clock.now()
            self._head_on(vehicle, vehicle.where(now) or self._home_of(vehicle), now)

    def _withdraw(self, vehicle: SimVehicle, superseded: set[str]) -> None:
        """A re-plan gave this vehicle nothing more to do: what it has not done is gone."""
        vehicle.queued = [q for q in vehicle.queued if q.plan_id not in superseded]
        run = vehicle.run
        if run is None or run.itinerary.plan_id not in superseded or not run.itinerary.stops:
            return
        run.itinerary = run.itinerary.without(s.stop_id for s in run.itinerary.stops)
        run.at_gate = False
        if run.started and vehicle.state != "broken_down":
            now = clock.now()
            self._head_on(vehicle, vehicle.where(now) or self._home_of(vehicle), now)
        self._changed(vehicle)

    def _start_run(self, vehicle: SimVehicle, itinerary: Itinerary) -> None:
        done = self._plans.done(itinerary.plan_id)
        vehicle.run = Run(itinerary.without(done), chain_root=self._plans.root(itinerary.plan_id), done=done)
        # A fresh route is planned from where the vehicle is: an earlier route's delay is history.
        vehicle.delay = timedelta(0)
        vehicle.leg, vehicle.state = None, "at_depot"
        vehicle.location = self._home_of(vehicle, itinerary)
        self._report(vehicle, clock.now())

    # --- driving ----------------------------------------------------------------------

    async def drive(self) -> None:
        """Until cancelled: fire each vehicle's events when the service clock reaches them."""
        while True:
            self._wake.clear()
            due = self._earliest_due()
            # Even when it is due already, the clock says when: a stepped clock lets it fire
            # only in the fleet's phase of the instant, not amid routing's plans.
            await clock.wait(self._wake, due, LONGEST_NAP_S)
            if self._wake.is_set() or due is None or due > clock.now():
                continue
            _due, _tie, vehicle_id, _version = heapq.heappop(self._agenda)
            self._fire(self._vehicles[vehicle_id])

    def _earliest_due(self) -> datetime | None:
        while self._agenda:
            due, _tie, vehicle_id, version = self._agenda[0]
            if self._vehicles[vehicle_id].version == version:
                return due
            heapq.heappop(self._agenda)  # the vehicle changed since: a newer entry is in
        return None

    def _fire(self, vehicle: SimVehicle) -> None:
        event = vehicle.next_event()
        if event is None:
            return
        at, action = event
        handlers: dict[Action, Callable[[SimVehicle, datetime, datetime], None]] = {
            "leave": self._leave, "report": self._report_due, "arrive": self._arrive,
            "hand_over": self._hand_over, "return": self._return,
        }
        try:
            handlers[action](vehicle, at, clock.now())
        except Exception:
            # The vehicle stops here (its entry is gone) instead of failing again and again.
            log.exception("vehicle %s stalled at %s (%s)", vehicle.vehicle_id, action, at.isoformat())
            return
        self._changed(vehicle)

    def _leave(self, vehicle: SimVehicle, at: datetime, now: datetime) -> None:
        run = vehicle.require_run()
        run.started = True
        self._head_on(vehicle, self._home_of(vehicle, run.itinerary), at)
        self._report(vehicle, now)

    def _report_due(self, vehicle: SimVehicle, _at: datetime, now: datetime) -> None:
        self._report(vehicle, now)

    def _arrive(self, vehicle: SimVehicle, at: datetime, now: datetime) -> None:
        run = vehicle.require_run()
        stop = run.require_next_stop()
        run.at_gate, vehicle.state, vehicle.location, vehicle.leg = True, "at_gate", stop.location, None
        # The vehicle keeps to the plan but for the delays injected: that is how late it is.
        late_min = round(vehicle.delay.total_seconds() / 60, 1)
        self._publisher.arrival(
            VehicleArrived(vehicle_id=vehicle.vehicle_id, plan_id=run.itinerary.plan_id, stop_id=stop.stop_id,
                           community_id=stop.community_id, at=at, late_min=late_min),
            # Fixed by the chain and the stop: a re-plan or a restart re-sends the same event.
            event_id=f"arrived/{vehicle.vehicle_id}/{run.chain_root}/{stop.stop_id}",
        )
        self._report(vehicle, now)

    def _hand_over(self, vehicle: SimVehicle, at: datetime, now: datetime) -> None:
        run = vehicle.require_run()
        stop = run.require_next_stop()
        failure = self._take_handover_failure(vehicle.vehicle_id, stop.community_id)
        body = {
            "plan_id": run.itinerary.plan_id, "stop_id": stop.stop_id,
            "outcome": "failed" if failure else "delivered",
            "received_by": None if failure else f"gate staff, {stop.community_id}",
            "reason": failure.reason if failure else None,
        }
        self._deliveries.submit(body, vehicle.count)
        run.done.add(stop.stop_id)
        run.itinerary, run.at_gate = run.itinerary.without({stop.stop_id}), False
        upcoming = run.next_stop
        # Another trip starts with a reload at the depot.
        self._head_on(vehicle, stop.location, at, via_depot=upcoming is not None and upcoming.trip != stop.trip)
        self._report(vehicle, now)

    def _return(self, vehicle: SimVehicle, _at: datetime, now: datetime) -> None:
        run = vehicle.require_run()
        vehicle.location = self._home_of(vehicle, run.itinerary)
        vehicle.state, vehicle.leg, vehicle.last_plan_id, vehicle.run = "at_depot", None, run.itinerary.plan_id, None
        self._report(vehicle, now)
        if vehicle.queued:
            self._start_run(vehicle, vehicle.queued.pop(0))

    def _head_on(self, vehicle: SimVehicle, origin: Point, at: datetime, *, via_depot: bool = False) -> None:
        """On the road from ``origin`` to the next gate, or home when none is left."""
        run = vehicle.require_run()
        upcoming, home = run.next_stop, self._home_of(vehicle, run.itinerary)
        if upcoming is None:
            vehicle.leg = vehicle.leg_to((origin, home), at, vehicle.shifted(run.itinerary.end))
        else:
            waypoints = (origin, home, upcoming.location) if via_depot else (origin, upcoming.location)
            vehicle.leg = vehicle.leg_to(waypoints, at, vehicle.shifted(upcoming.arrival))
        vehicle.state = "driving"

    def _report(self, vehicle: SimVehicle, now: datetime) -> None:
        """Publish where the vehicle is; while driving, again in a few simulated minutes."""
        vehicle.location = vehicle.where(now) or vehicle.location
        next_stop = vehicle.run.next_stop if vehicle.run is not None else None
        lat, lon = vehicle.location or (0.0, 0.0)
        self._publisher.position(VehiclePositioned(
            vehicle_id=vehicle.vehicle_id, depot_id=vehicle.depot_id, plan_id=vehicle.plan_id,
            lat=lat, lon=lon, at=now, state=vehicle.state,
            next_stop_id=next_stop.stop_id if next_stop is not None else None,
        ))
        vehicle.next_report = now + self._position_every if vehicle.state == "driving" else None

    def _home_of(self, vehicle: SimVehicle, itinerary: Itinerary | None = None) -> Point:
        """The depot; before its definition is read, where the vehicle was last seen, or its
        first gate (better a plausible point on the map than none)."""
        known = self._depot_location(vehicle.depot_id) or vehicle.location
        if known is None and itinerary is not None and itinerary.stops:
            known = itinerary.stops[0].location
        return known or (0.0, 0.0)

    def _changed(self, vehicle: SimVehicle) -> None:
        vehicle.version += 1
        event = vehicle.next_event()
        if event is not None:
            heapq.heappush(self._agenda, (event[0], next(self._tie_break), vehicle.vehicle_id, vehicle.version))
        self._wake.set()

    # --- deliveries -------------------------------------------------------------------

    def _take_handover_failure(self, vehicle_id: str, community_id: str) -> HandoverFailure | None:
        failure = next((f for f in self._handover_failures if f.applies_to(vehicle_id, community_id)), None)
        if failure is not None:
            self._handover_failures.remove(failure)
        return failure

    async def settle(self) -> None:
        """Wait a little for the deliveries being recorded and the events being sent (at shutdown)."""
        await self._deliveries.settle()
        await self._publisher.drain()

    # --- faults -----------------------------------------------------------------------

    async def break_down(self, vehicle_id: str, reason: str) -> tuple[int, dict[str, Any]]:
        """Routing is told first; the vehicle is held meanwhile so that it hands nothing
        over while its stops are being returned to demand."""
        vehicle = self._vehicles.get(vehicle_id)
        if vehicle is not None:
            vehicle.held = True
            self._changed(vehicle)
        try:
            response = await self._routing.break_down(vehicle_id, reason)
        except httpx.TransportError as exc:
            response = None
            failure: dict[str, Any] = {"code": "routing_unreachable", "message": repr(exc)}
        if response is not None and response.status_code == 200:
            answer: dict[str, Any] = response.json()
            if vehicle is not None:
                self._stop(vehicle, answer.get("failed_stop_ids", []))
            return 200, answer
        if vehicle is not None:
            vehicle.held = False
            self._changed(vehicle)
        if response is None:
            return 502, failure
        status = 502 if response.status_code >= 500 else response.status_code
        return status, {"code": "routing_refused", "routing_status": response.status_code,
                        "routing_answer": response.text[:1000]}

    def _stop(self, vehicle: SimVehicle, failed_stop_ids: list[str]) -> None:
        now = clock.now()
        vehicle.location = vehicle.where(now) or vehicle.location
        vehicle.state, vehicle.leg, vehicle.held, vehicle.broken_at = "broken_down", None, False, now
        if vehicle.run is not None:
            # Routing recorded them failed: a repaired vehicle must not hand them over.
            vehicle.run.done.update(failed_stop_ids)
        self._report(vehicle, now)
        self._changed(vehicle)

    def fail_handover(self, community_id: str, reason: str, vehicle_id: str | None = None) -> dict[str, Any]:
        failure = HandoverFailure(community_id, reason, vehicle_id)
        self._handover_failures.append(failure)
        return {"pending": True, **failure.describe(), "expected": self._next_handover(failure)}

    def _next_handover(self, failure: HandoverFailure) -> dict[str, str] | None:
        """Which vehicle and stop the failure will meet, as things stand."""
        candidates = [
            (vehicle.shifted(stop.departure), vehicle.vehicle_id, stop.stop_id)
            for vehicle in self._vehicles.values() if vehicle.run is not None and vehicle.state != "broken_down"
            for stop in vehicle.run.itinerary.stops if failure.applies_to(vehicle.vehicle_id, stop.community_id)
        ]
        if not candidates:
            return None
        _at, vehicle_id, stop_id = min(candidates)
        return {"vehicle_id": vehicle_id, "stop_id": stop_id}

    def delay(self, vehicle_id: str, minutes: float) -> dict[str, Any]:
        vehicle = self._vehicles.get(vehicle_id)
        if vehicle is None or vehicle.run is None or vehicle.state == "broken_down":
            return {"applied": False, "vehicle_id": vehicle_id, "reason": "the vehicle is not on a route"}
        vehicle.postpone(timedelta(minutes=minutes))
        self._changed(vehicle)
        return {"applied": True, "vehicle_id": vehicle_id, "delay_min": vehicle.delay.total_seconds() / 60}

    # --- what it looks like ----------------------------------------------------------

    def live_plan_ids(self) -> set[str]:
        """Plans with work left (the dispatch feed commits its offsets past the others)."""
        live = self._plans.fetching | self._deliveries.pending_plan_ids()
        for vehicle in self._vehicles.values():
            if vehicle.run is not None and vehicle.state != "broken_down":
                live.add(vehicle.run.itinerary.plan_id)
            live.update(q.plan_id for q in vehicle.queued)
        return live

    def status(self) -> dict[str, Any]:
        now = clock.now()
        vehicles = [v.describe(now) for v in sorted(self._vehicles.values(), key=lambda v: v.vehicle_id)]
        return {
            "now": now.isoformat(),
            "vehicles": vehicles,
            "deliveries_recorded": sum(v["deliveries_recorded"] for v in vehicles),
            "deliveries_failed": sum(v["deliveries_failed"] for v in vehicles),
            "pending_handover_failures": [f.describe() for f in self._handover_failures],
        }
