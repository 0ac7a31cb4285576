"""Result objects returned by :func:`solve` (immutable)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from .model import TimeWindow

ReasonCode = Literal[
    "no_eligible_vehicle",
    "exceeds_vehicle_capacity",
    "window_unreachable",
    "deadline_unreachable",
    "fleet_capacity_exhausted",
]
REASON_CODES: tuple[ReasonCode, ...] = (
    "no_eligible_vehicle",
    "exceeds_vehicle_capacity",
    "window_unreachable",
    "deadline_unreachable",
    "fleet_capacity_exhausted",
)


@dataclass(frozen=True, slots=True)
class Visit:
    stop_id: str
    #: 0-based trip of the vehicle (a trip ends with a return to the depot).
    trip: int
    arrival_s: int
    start_s: int
    departure_s: int
    #: The receiving window the service starts in.
    window: TimeWindow
    #: Delivered here (for a split stop: this piece only).
    load_kg: float
    load_l: float
    order_ids: tuple[str, ...]
    #: Piece index / piece count when the stop was split (0 / 1 otherwise).
    part: int = 0
    parts: int = 1
    #: On board when arriving (before unloading here).
    onboard_kg: float = 0.0
    onboard_l: float = 0.0


@dataclass(frozen=True, slots=True)
class Route:
    vehicle_id: str
    visits: tuple[Visit, ...]
    distance_m: int
    duration_s: int
    #: Shift begins at the depot (loading for the first trip starts here).
    start_s: int
    #: Back at the depot after the last trip.
    end_s: int
    #: Pure driving time (the objective's travel term for this route).
    travel_s: int = 0
    trips: int = 1
    #: Departure from the depot of each trip.
    trip_departures_s: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class Unassigned:
    stop_id: str
    order_ids: tuple[str, ...]
    reason_code: ReasonCode
    reason: str
    part: int = 0
    parts: int = 1


@dataclass(frozen=True, slots=True)
class Solution:
    routes: tuple[Route, ...]
    unassigned: tuple[Unassigned, ...]
    #: travel seconds + fixed vehicle costs + drop penalties.
    cost: int
    distance_m: int
    duration_s: int
    travel_s: int = 0
    fixed_cost: int = 0
    penalty: int = 0
    #: Engine that found this plan ("ortools", "pyvrp", "none").
    source: str = ""
    #: Whether every solver that ran passed the checker; empty routes are not listed.
    stats: dict[str, object] = field(default_factory=dict, compare=False)
    _violations: tuple[str, ...] = field(default=(), repr=False, compare=False)

    def is_feasible(self) -> bool:
        """True when the plan respects every hard constraint (dropped stops are allowed)."""
        return not self._violations

    @property
    def num_vehicles(self) -> int:
        return len(self.routes)


@dataclass(frozen=True, slots=True)
class CheckReport:
    violations: list[str]
    cost: int
    travel_s: int
    distance_m: int

    @property
    def ok(self) -> bool:
        return not self.violations
