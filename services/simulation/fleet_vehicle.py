"""One simulated vehicle: where it is in its route, and what it does next.

State only; the simulator (``fleet.py``) fires the events and talks to the world.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from services.simulation.fleet_itinerary import Itinerary, Leg, PlannedStop, Point
from shared.events.payloads import VehicleState

Action = Literal["leave", "report", "arrive", "hand_over", "return"]


@dataclass(frozen=True)
class HandoverFailure:
    """The next hand-over at a community (by one vehicle, or any) fails with ``reason``."""

    community_id: str
    reason: str
    vehicle_id: str | None = None

    def applies_to(self, vehicle_id: str, community_id: str) -> bool:
        return community_id == self.community_id and self.vehicle_id in (None, vehicle_id)

    def describe(self) -> dict[str, Any]:
        return {"community_id": self.community_id, "reason": self.reason, "vehicle_id": self.vehicle_id}


@dataclass
class Run:
    """A vehicle working through one re-plan chain: the newest plan's route for it, minus
    the stops it has handed over (kept in ``done``: a re-plan lists them again)."""

    itinerary: Itinerary
    #: The plan the chain began with; names the run's arrival events.
    chain_root: str
    done: set[str] = field(default_factory=set)
    started: bool = False
    at_gate: bool = False

    @property
    def next_stop(self) -> PlannedStop | None:
        return self.itinerary.stops[0] if self.itinerary.stops else None

    def require_next_stop(self) -> PlannedStop:
        stop = self.next_stop
        if stop is None:
            raise RuntimeError(f"{self.itinerary.vehicle_id} has no stop left in plan {self.itinerary.plan_id}")
        return stop


@dataclass
class SimVehicle:
    vehicle_id: str
    depot_id: str
    state: VehicleState = "at_depot"
    location: Point | None = None
    run: Run | None = None
    #: Routes of other plans, driven when the current one is done.
    queued: list[Itinerary] = field(default_factory=list)
    leg: Leg | None = None
    #: How far behind the plan the vehicle runs (late-arrival faults add up).
    delay: timedelta = timedelta(0)
    next_report: datetime | None = None
    #: A breakdown being reported to routing: no events until it answered.
    held: bool = False
    broken_at: datetime | None = None
    #: Bumped on every change; the simulator's agenda drops entries of older versions.
    version: int = 0
    last_plan_id: str | None = None
    deliveries_recorded: int = 0
    deliveries_failed: int = 0

    @property
    def plan_id(self) -> str | None:
        return self.run.itinerary.plan_id if self.run is not None else self.last_plan_id

    def require_run(self) -> Run:
        if self.run is None:
            raise RuntimeError(f"{self.vehicle_id} has no route")
        return self.run

    def shifted(self, planned: datetime) -> datetime:
        return planned + self.delay

    def where(self, at: datetime) -> Point | None:
        if self.state == "driving" and self.leg is not None:
            return self.leg.position(at)
        return self.location

    def leg_to(self, waypoints: tuple[Point, ...], start_at: datetime, end_at: datetime) -> Leg:
        return Leg(waypoints, start_at, max(start_at, end_at))

    def postpone(self, delta: timedelta) -> None:
        """Every remaining event moves ``delta`` later (the road ahead takes that longer)."""
        self.delay += delta
        if self.leg is not None:
            self.leg = self.leg.later(delta)

    def count(self, outcome: str) -> None:
        if outcome == "delivered":
            self.deliveries_recorded += 1
        else:
            self.deliveries_failed += 1

    def next_event(self) -> tuple[datetime, Action] | None:
        """When the vehicle next does something, and what (planned times shifted by the delay)."""
        run = self.run
        if run is None or self.held or self.state == "broken_down":
            return None
        if not run.started:
            return self.shifted(run.itinerary.start), "leave"
        stop = run.next_stop
        if stop is None:
            return self._report_before(self.shifted(run.itinerary.end), "return")
        if run.at_gate:
            return self.shifted(stop.departure), "hand_over"
        return self._report_before(self.shifted(stop.service_start), "arrive")

    def _report_before(self, due: datetime, action: Action) -> tuple[datetime, Action]:
        # Positions while on the road; a vehicle waiting for the gate to open has none to give.
        on_road_until = min(due, self.leg.end_at) if self.leg is not None else due
        if self.next_report is not None and self.next_report < on_road_until:
            return self.next_report, "report"
        return due, action

    def describe(self, now: datetime) -> dict[str, Any]:
        where = self.where(now)
        next_stop = self.run.next_stop if self.run is not None else None
        return {
            "vehicle_id": self.vehicle_id, "depot_id": self.depot_id, "state": self.state,
            "lat": where[0] if where else None, "lon": where[1] if where else None,
            "plan_id": self.plan_id,
            "next_stop_id": next_stop.stop_id if next_stop else None,
            "next_community_id": next_stop.community_id if next_stop else None,
            "stops_left": len(self.run.itinerary.stops) if self.run is not None else 0,
            "queued_plan_ids": [q.plan_id for q in self.queued],
            "delay_min": round(self.delay.total_seconds() / 60, 1),
            "deliveries_recorded": self.deliveries_recorded,
            "deliveries_failed": self.deliveries_failed,
        }
