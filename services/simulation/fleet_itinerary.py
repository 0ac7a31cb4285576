"""What a vehicle has to do, read from a dispatched plan, and where it is along the way.

Pure data and arithmetic: no clock, no I/O. The simulator (``fleet.py``) shifts these
planned times by a vehicle's delay and asks where the vehicle is at a given instant.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

Point = tuple[float, float]  # (lat, lon)


@dataclass(frozen=True)
class PlannedStop:
    stop_id: str
    community_id: str
    trip: int
    location: Point
    arrival: datetime
    service_start: datetime
    departure: datetime
    order_ids: tuple[str, ...]


@dataclass(frozen=True)
class Itinerary:
    """One vehicle's route in one plan: leave the depot, serve the gates, come back."""

    plan_id: str
    vehicle_id: str
    depot_id: str
    start: datetime
    end: datetime
    stops: tuple[PlannedStop, ...]

    def without(self, done: Iterable[str]) -> Itinerary:
        """The same route minus the stops already handed over (a re-plan repeats them)."""
        skip = set(done)
        return Itinerary(self.plan_id, self.vehicle_id, self.depot_id, self.start, self.end,
                         tuple(s for s in self.stops if s.stop_id not in skip))

    def index_of(self, stop_id: str) -> int | None:
        return next((i for i, s in enumerate(self.stops) if s.stop_id == stop_id), None)


def itineraries_of(plan: dict[str, Any]) -> dict[str, Itinerary]:
    """Every vehicle's itinerary in a plan as ``GET /v1/plans/{id}`` returns it."""
    return {route["vehicle_id"]: _itinerary(plan["id"], route) for route in plan.get("routes", [])}


def _itinerary(plan_id: str, route: dict[str, Any]) -> Itinerary:
    stops = tuple(
        PlannedStop(
            stop_id=s["stop_id"], community_id=s["community_id"], trip=int(s.get("trip", 0)),
            location=(float(s["lat"]), float(s["lon"])),
            arrival=datetime.fromisoformat(s["arrival"]),
            service_start=datetime.fromisoformat(s["service_start"]),
            departure=datetime.fromisoformat(s["departure"]),
            order_ids=tuple(s.get("order_ids", ())),
        )
        for s in route["stops"]
    )
    return Itinerary(plan_id=plan_id, vehicle_id=route["vehicle_id"], depot_id=route["depot_id"],
                     start=datetime.fromisoformat(route["start"]), end=datetime.fromisoformat(route["end"]),
                     stops=stops)


@dataclass(frozen=True)
class Leg:
    """A drive from ``start_at`` to ``end_at`` along ``waypoints`` (straight lines between
    them, at an even pace: the simulator's positions are for a map, not for navigation)."""

    waypoints: tuple[Point, ...]
    start_at: datetime
    end_at: datetime

    def position(self, at: datetime) -> Point:
        if len(self.waypoints) == 1 or at >= self.end_at:
            return self.waypoints[-1]
        if at <= self.start_at:
            return self.waypoints[0]
        fraction = (at - self.start_at) / (self.end_at - self.start_at)
        return along(self.waypoints, fraction)

    def later(self, delta: timedelta) -> Leg:
        """The rest of the leg takes ``delta`` longer (a hold-up on the road)."""
        return Leg(self.waypoints, self.start_at, self.end_at + delta)


def along(waypoints: Sequence[Point], fraction: float) -> Point:
    """The point ``fraction`` (0..1) of the way along the polyline, by distance."""
    lengths = [_distance(a, b) for a, b in itertools.pairwise(waypoints)]
    total = sum(lengths)
    if total == 0:
        return waypoints[-1]
    remaining = max(0.0, min(1.0, fraction)) * total
    for (a, b), length in zip(itertools.pairwise(waypoints), lengths, strict=True):
        if remaining <= length and length > 0:
            share = remaining / length
            return (a[0] + (b[0] - a[0]) * share, a[1] + (b[1] - a[1]) * share)
        remaining -= length
    return waypoints[-1]


def _distance(a: Point, b: Point) -> float:
    # Equirectangular: exact enough to share a leg's time between its parts inside a city.
    dlat = b[0] - a[0]
    dlon = (b[1] - a[1]) * math.cos(math.radians((a[0] + b[0]) / 2))
    return math.hypot(dlat, dlon)
