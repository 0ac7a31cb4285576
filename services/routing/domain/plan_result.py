"""A solved plan as routing reads it: each vehicle's route of visits with their times, the
stops left out and why, the plan's figures. A typed, immutable result (PyVRP's style).

Stored and served as JSON (``Plan.result``, ``GET /v1/plans/{id}``): ``to_json`` writes and
``from_json`` reads exactly that shape, times as ISO strings; everywhere else a time is a
timezone-aware ``datetime``. Pure: no I/O.

Stop ids carry their lineage: ``<depot>/<community>/<ambient|cold>[/urgent]`` as planned,
``...#<part>`` for a part of a split stop, ``...+<plan id>`` for a stop a re-plan added.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

#: A re-plan's new stop is ``<stop id>+<parent plan id>``; a split stop's part ``<stop id>#<part>``.
REPLAN_MARK, PART_MARK = "+", "#"


def _at(raw: str) -> datetime:
    return datetime.fromisoformat(raw)


@dataclass(frozen=True)
class PlannedVisit:
    """A vehicle at a gate: when it arrives, serves and leaves, and what it hands over."""

    stop_id: str
    community_id: str
    community_name: str
    risk_level: str
    cold: bool
    trip: int
    arrival: datetime
    service_start: datetime
    departure: datetime
    #: The gate's receiving window the service falls in.
    window: tuple[datetime, datetime]
    load_kg: float
    load_l: float
    order_ids: tuple[str, ...]
    lat: float
    lon: float

    @property
    def origin_id(self) -> str:
        """The stop's id without a re-plan's ``+<plan id>``: one stop across a re-plan chain."""
        return self.stop_id.split(REPLAN_MARK, 1)[0]

    @property
    def urgent(self) -> bool:
        """Medicine due on the service day: its own ``.../urgent`` stop (the stored shape has
        no field of its own for it, so it is read from the id here, and only here)."""
        return self.origin_id.split(PART_MARK, 1)[0].endswith("/urgent")

    def to_json(self) -> dict[str, Any]:
        return {
            "stop_id": self.stop_id, "community_id": self.community_id, "community_name": self.community_name,
            "risk_level": self.risk_level, "cold": self.cold, "trip": self.trip,
            "arrival": self.arrival.isoformat(), "service_start": self.service_start.isoformat(),
            "departure": self.departure.isoformat(), "window": [w.isoformat() for w in self.window],
            "load_kg": self.load_kg, "load_l": self.load_l, "order_ids": list(self.order_ids),
            "lat": self.lat, "lon": self.lon,
        }

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> PlannedVisit:
        start, end = raw["window"]
        return cls(
            stop_id=raw["stop_id"], community_id=raw["community_id"], community_name=raw["community_name"],
            risk_level=raw["risk_level"], cold=raw["cold"], trip=raw["trip"], arrival=_at(raw["arrival"]),
            service_start=_at(raw["service_start"]), departure=_at(raw["departure"]),
            window=(_at(start), _at(end)), load_kg=raw["load_kg"], load_l=raw["load_l"],
            order_ids=tuple(raw["order_ids"]), lat=raw["lat"], lon=raw["lon"],
        )


@dataclass(frozen=True)
class PlannedRoute:
    """One vehicle's day: from the depot through its visits (over one or more trips) and back."""

    vehicle_id: str
    depot_id: str
    start: datetime
    end: datetime
    distance_km: float
    duration_min: float
    visits: tuple[PlannedVisit, ...]

    def pending(self, recorded: Collection[str]) -> tuple[PlannedVisit, ...]:
        """The visits whose stop has no recorded outcome yet, in route order."""
        return tuple(v for v in self.visits if v.stop_id not in recorded)

    def to_json(self) -> dict[str, Any]:
        return {
            "vehicle_id": self.vehicle_id, "depot_id": self.depot_id, "start": self.start.isoformat(),
            "end": self.end.isoformat(), "distance_km": self.distance_km, "duration_min": self.duration_min,
            "stops": [v.to_json() for v in self.visits],
        }

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> PlannedRoute:
        return cls(
            vehicle_id=raw["vehicle_id"], depot_id=raw["depot_id"], start=_at(raw["start"]),
            end=_at(raw["end"]), distance_km=raw["distance_km"], duration_min=raw["duration_min"],
            visits=tuple(PlannedVisit.from_json(s) for s in raw["stops"]),
        )


@dataclass(frozen=True)
class LeftOut:
    """Orders the plan does not serve, with the engine's reason code (or ``community_unknown``:
    then there is no stop and no location)."""

    stop_id: str | None
    community_id: str
    community_name: str | None
    order_ids: tuple[str, ...]
    reason_code: str
    reason: str
    lat: float | None
    lon: float | None

    def to_json(self) -> dict[str, Any]:
        return {
            "stop_id": self.stop_id, "community_id": self.community_id, "community_name": self.community_name,
            "order_ids": list(self.order_ids), "reason_code": self.reason_code, "reason": self.reason,
            "lat": self.lat, "lon": self.lon,
        }

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> LeftOut:
        return cls(
            stop_id=raw.get("stop_id"), community_id=raw["community_id"], community_name=raw.get("community_name"),
            order_ids=tuple(raw["order_ids"]), reason_code=raw["reason_code"], reason=raw["reason"],
            lat=raw.get("lat"), lon=raw.get("lon"),
        )


#: order id -> (vehicle, stop across re-plans, arrival)
Assignment = tuple[str, str, datetime]


@dataclass(frozen=True)
class PlanResult:
    """A plan's solve and what happened to it since. An unsolved (solving, failed) plan has
    the empty result; ``superseded_by`` is set when a re-plan is dispatched in its place,
    ``skipped_at_dispatch`` (the orders no longer reserved by then) when it is dispatched."""

    routes: tuple[PlannedRoute, ...] = ()
    unassigned: tuple[LeftOut, ...] = ()
    #: The plan's figures as ``planning.kpis`` computes them (shown, never reasoned on).
    kpis: Mapping[str, Any] = field(default_factory=dict)
    feasible: bool | None = None
    cost: float | None = None
    solve_seconds: float | None = None
    superseded_by: str | None = None
    skipped_at_dispatch: tuple[str, ...] | None = None

    # --- queries -----------------------------------------------------------------------

    def visits(self) -> tuple[PlannedVisit, ...]:
        """Every visit, route by route."""
        return tuple(v for r in self.routes for v in r.visits)

    def visit(self, stop_id: str) -> PlannedVisit | None:
        return next((v for v in self.visits() if v.stop_id == stop_id), None)

    def order_ids(self) -> set[str]:
        """The orders on the routes (not those left out)."""
        return {o for v in self.visits() for o in v.order_ids}

    def vehicle_ids(self) -> set[str]:
        return {r.vehicle_id for r in self.routes}

    def completing_visits(self) -> dict[str, tuple[PlannedRoute, PlannedVisit]]:
        """order id -> the route and visit that complete it: an order split over an ambient
        and a cold stop is complete at its later one (the first listed, at equal times)."""
        out: dict[str, tuple[PlannedRoute, PlannedVisit]] = {}
        for route in self.routes:
            for visit in route.visits:
                for order_id in visit.order_ids:
                    current = out.get(order_id)
                    if current is None or visit.arrival > current[1].arrival:
                        out[order_id] = (route, visit)
        return out

    def assignments(self) -> dict[str, Assignment]:
        """order id -> (vehicle, stop across re-plans, arrival); for an order over two stops,
        the last one listed."""
        return {
            order_id: (route.vehicle_id, visit.origin_id, visit.arrival)
            for route in self.routes for visit in route.visits for order_id in visit.order_ids
        }

    # --- JSON, at the edge -----------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "routes": [r.to_json() for r in self.routes],
            "unassigned": [u.to_json() for u in self.unassigned],
            "kpis": dict(self.kpis),
        }
        optional = {
            "feasible": self.feasible, "cost": self.cost, "solve_seconds": self.solve_seconds,
            "superseded_by": self.superseded_by,
            "skipped_at_dispatch": None if self.skipped_at_dispatch is None else list(self.skipped_at_dispatch),
        }
        out.update((key, value) for key, value in optional.items() if value is not None)
        return out

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> PlanResult:
        """Reads any stored result: an unsolved plan's ``{}``, rows from before a key existed,
        and a plan as the API returns it (its other keys are ignored)."""
        skipped = raw.get("skipped_at_dispatch")
        return cls(
            routes=tuple(PlannedRoute.from_json(r) for r in raw.get("routes", ())),
            unassigned=tuple(LeftOut.from_json(u) for u in raw.get("unassigned", ())),
            kpis=dict(raw.get("kpis", {})),
            feasible=raw.get("feasible"), cost=raw.get("cost"), solve_seconds=raw.get("solve_seconds"),
            superseded_by=raw.get("superseded_by"),
            skipped_at_dispatch=None if skipped is None else tuple(skipped),
        )


def changed_assignments(parent: PlanResult, child: PlanResult) -> dict[str, Assignment]:
    """order id -> assignment, for the orders whose assignment is new or moved in ``child``."""
    before, after = parent.assignments(), child.assignments()
    return {o: a for o, a in after.items() if before.get(o) != a}
