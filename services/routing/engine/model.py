"""Immutable, validated problem data.

Units used everywhere in the engine:

* time: integer seconds since midnight of the service date (values above 86 400
  are allowed so that a shift may run past midnight);
* distance: integer metres;
* loads: floats, kilograms and litres (the solvers scale them to integer grams
  and millilitres, rounding demands up and capacities down so that a plan the
  solver accepts never overloads a vehicle).

Validation happens at construction: a bad value raises ``ValueError`` whose
message starts with the offending field path (``stops[3].windows[0]: ...``) so
the HTTP layer can hand it straight back to the caller.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Literal

from shared.priority import Priority

from .checks import check_id as _check_id
from .checks import check_int as _check_int
from .checks import check_num as _check_num
from .checks import fail as _fail
from .matrix import haversine_matrix
from .travel import Location, MatrixFactory, TravelMatrix

PRIORITIES: tuple[str, ...] = tuple(p.value for p in Priority)

#: Drop penalty of one order (one household's delivery) per priority, before the
#: waiting-age bonus.  The objective is in seconds of travel; a stop's penalty is the sum
#: over its orders (:func:`orders_penalty`), or one order's worth when a stop is given
#: without orders (:func:`derived_penalty`).
#:
#: * standard: ~11.5 days of driving, and at least the largest vehicle ``fixed_cost`` the
#:   routing API accepts (1e6): a household is left out only when it truly cannot be served.
#: * vulnerable: 10 standard households of the same waiting age (5 at the worst ages).
#: * medical: the bound.  A medical stop can only displace stops of its own depot (vehicles
#:   never leave their depot), so one medical order must outweigh every standard order a
#:   depot's plan can hold, each at the maximum age bonus (x2), with room to spare for the
#:   travel and fixed costs the displaced routes would save:
#:
#:       MEDICAL > MAX_ORDERS_PER_DEPOT x STANDARD x 2 = 10,000 x 1e6 x 2 = 2e10
#:
#:   2.5e10 leaves 5e9 (~160 years of driving) for those costs.  Then the solver never gives
#:   up a medical order, even a fresh one, to serve standard ones.  Orders of a stop the
#:   engine splits count once per piece (each piece carries the stop's whole penalty).
#:   Vulnerable orders are not bounded this way: one medical order = 2,500 vulnerable ones
#:   of the same age (1,250 at the worst ages).
#:
#: Integer limits: a stop's sum is capped at :data:`MAX_DROP_PENALTY` (1e12, reached from
#: 20 medical orders at the maximum age bonus; a capped stop still outweighs every standard
#: order of a depot).  3,000 stops at the cap sum to 3e15: inside int64 (OR-Tools, PyVRP),
#: far below PyVRP's infeasible-cost sentinel (2**60), and exact as a JSON number (< 2**53).
BASE_PENALTY: dict[Priority, int] = {
    Priority.STANDARD: 1_000_000,
    Priority.VULNERABLE: 10_000_000,
    Priority.MEDICAL: 25_000_000_000,
}
#: The bound MEDICAL is chosen for: standard orders (counted once per piece) on one depot's
#: plan.  The demo city's whole day is ~3,000 orders over ten depots.
MAX_ORDERS_PER_DEPOT = 10_000
#: Largest drop penalty of one stop (``Stop.drop_penalty`` is validated against it).
MAX_DROP_PENALTY = 10**12
#: Waiting age at which the age bonus saturates (the penalty is then doubled).
AGE_SATURATION_S = 3 * 86_400

#: Upper bound for any time value (two days) - keeps the solvers' integer
#: arithmetic far away from overflow.
MAX_TIME_S = 2 * 86_400


@dataclass(frozen=True, slots=True)
class TimeWindow:
    """Service must *start* inside ``[start_s, end_s]`` (both inclusive)."""

    start_s: int
    end_s: int

    def __post_init__(self) -> None:
        _check_int("start_s", self.start_s, lo=0, hi=MAX_TIME_S)
        _check_int("end_s", self.end_s, lo=0, hi=MAX_TIME_S)
        if self.end_s < self.start_s:
            raise _fail("end_s", f"window is empty ({self.start_s} > {self.end_s})")

    def contains(self, t: int) -> bool:
        return self.start_s <= t <= self.end_s


@dataclass(frozen=True, slots=True)
class Depot:
    id: str
    location: Location
    #: Loading time at the depot before every trip (the first one included).
    load_s: int = 0

    def __post_init__(self) -> None:
        _check_id("id", self.id)
        if not isinstance(self.location, Location):
            raise _fail("location", "must be a Location")
        _check_int("load_s", self.load_s, lo=0, hi=MAX_TIME_S)


@dataclass(frozen=True, slots=True)
class Vehicle:
    id: str
    depot_id: str
    capacity_kg: float
    capacity_l: float
    refrigerated: bool = False
    closed_loop: bool = False
    shift_start_s: int = 0
    shift_end_s: int = 86_400
    #: Upper bound on end - start of the whole route (all trips); None = shift only.
    max_duration_s: int | None = None
    fixed_cost: int = 0
    #: Trips per shift; trips are separated by a return to the depot to reload.
    max_trips: int = 1

    def __post_init__(self) -> None:
        _check_id("id", self.id)
        _check_id("depot_id", self.depot_id)
        _check_num("capacity_kg", self.capacity_kg, positive=True)
        _check_num("capacity_l", self.capacity_l, positive=True)
        _check_int("shift_start_s", self.shift_start_s, lo=0, hi=MAX_TIME_S)
        _check_int("shift_end_s", self.shift_end_s, lo=0, hi=MAX_TIME_S)
        if self.shift_end_s < self.shift_start_s:
            raise _fail("shift_end_s", "must be >= shift_start_s")
        if self.max_duration_s is not None:
            _check_int("max_duration_s", self.max_duration_s, lo=0, hi=MAX_TIME_S)
        _check_int("fixed_cost", self.fixed_cost, lo=0, hi=10**12)
        _check_int("max_trips", self.max_trips, lo=1, hi=20)

    @property
    def duration_limit_s(self) -> int:
        shift = self.shift_end_s - self.shift_start_s
        return shift if self.max_duration_s is None else min(shift, self.max_duration_s)


@dataclass(frozen=True, slots=True)
class Stop:
    """One delivery point: the consolidated orders of one community from one depot."""

    id: str
    location: Location
    depot_id: str
    demand_kg: float
    demand_l: float
    windows: tuple[TimeWindow, ...]
    service_s: int = 0
    refrigerated: bool = False
    sealed: bool = False
    priority: Priority = Priority.STANDARD
    #: None: derived from priority and waiting age (see :func:`derived_penalty`).
    drop_penalty: int | None = None
    #: How long the oldest order of the stop has been waiting (raises the penalty).
    waiting_s: int = 0
    #: Latest service start (e.g. medicine placed time + SLA); None = no deadline.
    deadline_s: int | None = None
    order_ids: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _check_id("id", self.id)
        if not isinstance(self.location, Location):
            raise _fail("location", "must be a Location")
        _check_id("depot_id", self.depot_id)
        _check_num("demand_kg", self.demand_kg)
        _check_num("demand_l", self.demand_l)
        if not isinstance(self.windows, tuple) or not self.windows:
            raise _fail("windows", "must be a non-empty tuple of TimeWindow")
        prev_end = -1
        for k, w in enumerate(self.windows):
            if not isinstance(w, TimeWindow):
                raise _fail(f"windows[{k}]", "must be a TimeWindow")
            if w.start_s <= prev_end:
                raise _fail(f"windows[{k}]", "windows must be sorted and must not overlap")
            prev_end = w.end_s
        _check_int("service_s", self.service_s, lo=0, hi=MAX_TIME_S)
        if self.priority not in PRIORITIES:
            raise _fail("priority", f"must be one of {PRIORITIES}, got {self.priority!r}")
        object.__setattr__(self, "priority", Priority(self.priority))
        if self.drop_penalty is not None:
            _check_int("drop_penalty", self.drop_penalty, lo=0, hi=MAX_DROP_PENALTY)
        _check_int("waiting_s", self.waiting_s, lo=0)
        if self.deadline_s is not None:
            _check_int("deadline_s", self.deadline_s, lo=0, hi=MAX_TIME_S)
        if not isinstance(self.order_ids, tuple) or not all(isinstance(o, str) for o in self.order_ids):
            raise _fail("order_ids", "must be a tuple of strings")

    @property
    def penalty(self) -> int:
        return self.drop_penalty if self.drop_penalty is not None else derived_penalty(self.priority, self.waiting_s)

    def effective_windows(self) -> tuple[TimeWindow, ...]:
        """Windows cut at the deadline (a deadline is just a late end for every window)."""
        if self.deadline_s is None:
            return self.windows
        d = self.deadline_s
        return tuple(TimeWindow(w.start_s, min(w.end_s, d)) for w in self.windows if w.start_s <= d)


def derived_penalty(priority: Priority | str, waiting_s: int) -> int:
    """Drop penalty of one order of ``priority`` that has waited ``waiting_s``."""
    base = BASE_PENALTY[Priority(priority)]
    age = min(max(waiting_s, 0), AGE_SATURATION_S)
    return base + base * age // AGE_SATURATION_S


def orders_penalty(orders: Iterable[tuple[Priority | str, int]]) -> int:
    """Drop penalty of a stop: the sum over its ``(priority, waiting_s)`` orders of each
    order's :func:`derived_penalty`, capped at :data:`MAX_DROP_PENALTY`."""
    return summed_penalty(derived_penalty(p, w) for p, w in orders)


def summed_penalty(penalties: Iterable[int]) -> int:
    """The drop penalty of a stop made of parts (orders, or stops merged again): their sum,
    capped at :data:`MAX_DROP_PENALTY`."""
    return min(MAX_DROP_PENALTY, sum(penalties))


@dataclass(frozen=True, eq=False)
class Problem:
    depots: tuple[Depot, ...]
    vehicles: tuple[Vehicle, ...]
    stops: tuple[Stop, ...]
    #: A matrix over depots then stops, or a provider called with those
    #: locations (e.g. an ``OsrmTableProvider``); None = haversine estimate.
    matrix: TravelMatrix | MatrixFactory | None = None
    _depot_index: dict[str, int] = field(init=False, repr=False)
    _vehicle_index: dict[str, int] = field(init=False, repr=False)
    _stop_index: dict[str, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        for name, typ in (("depots", Depot), ("vehicles", Vehicle), ("stops", Stop)):
            seq = getattr(self, name)
            if not isinstance(seq, tuple):
                seq = tuple(seq)
                object.__setattr__(self, name, seq)
            for k, item in enumerate(seq):
                if not isinstance(item, typ):
                    raise _fail(f"{name}[{k}]", f"must be a {typ.__name__}")
        if not self.depots:
            raise _fail("depots", "at least one depot is required")
        depot_index = _unique("depots", (d.id for d in self.depots))
        vehicle_index = _unique("vehicles", (v.id for v in self.vehicles))
        stop_index = _unique("stops", (s.id for s in self.stops))
        for k, v in enumerate(self.vehicles):
            if v.depot_id not in depot_index:
                raise _fail(f"vehicles[{k}].depot_id", f"unknown depot {v.depot_id!r}")
        for k, s in enumerate(self.stops):
            if s.depot_id not in depot_index:
                raise _fail(f"stops[{k}].depot_id", f"unknown depot {s.depot_id!r}")
        object.__setattr__(self, "_depot_index", depot_index)
        object.__setattr__(self, "_vehicle_index", vehicle_index)
        object.__setattr__(self, "_stop_index", stop_index)
        n = len(self.depots) + len(self.stops)
        if self.matrix is None:
            object.__setattr__(self, "matrix", haversine_matrix(self.locations()))
        elif not isinstance(self.matrix, TravelMatrix) and callable(self.matrix):
            object.__setattr__(self, "matrix", self.matrix(self.locations()))
        if not isinstance(self.matrix, TravelMatrix):
            raise _fail("matrix", "must be a TravelMatrix")
        elif self.matrix.size != n:
            raise _fail("matrix", f"must be {n}x{n} (depots then stops), got {self.matrix.size}x{self.matrix.size}")

    # -- lookups -----------------------------------------------------------------
    def locations(self) -> list[Location]:
        return [d.location for d in self.depots] + [s.location for s in self.stops]

    @property
    def travel(self) -> TravelMatrix:
        assert isinstance(self.matrix, TravelMatrix)  # resolved in __post_init__
        return self.matrix

    def depot_index(self, depot_id: str) -> int:
        return self._depot_index[depot_id]

    def depot(self, depot_id: str) -> Depot:
        return self.depots[self._depot_index[depot_id]]

    def vehicle_index(self, vehicle_id: str) -> int:
        return self._vehicle_index[vehicle_id]

    def vehicle(self, vehicle_id: str) -> Vehicle:
        return self.vehicles[self._vehicle_index[vehicle_id]]

    def has_vehicle(self, vehicle_id: str) -> bool:
        return vehicle_id in self._vehicle_index

    def stop_index(self, stop_id: str) -> int:
        return self._stop_index[stop_id]

    def stop(self, stop_id: str) -> Stop:
        return self.stops[self._stop_index[stop_id]]

    def has_stop(self, stop_id: str) -> bool:
        return stop_id in self._stop_index

    def depot_location_index(self, depot_id: str) -> int:
        return self._depot_index[depot_id]

    def stop_location_index(self, stop_id: str) -> int:
        return len(self.depots) + self._stop_index[stop_id]


def _unique(path: str, ids: Iterable[str]) -> dict[str, int]:
    index: dict[str, int] = {}
    for k, i in enumerate(ids):
        if i in index:
            raise _fail(f"{path}[{k}].id", f"duplicate id {i!r}")
        index[i] = k
    return index


Strategy = Literal["auto", "ortools", "pyvrp", "portfolio", "sequential"]
FirstSolution = Literal["parallel_cheapest_insertion", "local_cheapest_insertion", "path_cheapest_arc", "savings"]


@dataclass(frozen=True, slots=True)
class SolveParams:
    time_limit_s: float = 10.0
    seed: int = 0
    #: ``auto``: ``portfolio`` with >= 2 cores and >= 3 s, else ``sequential``;
    #: ``portfolio``: OR-Tools and PyVRP in two worker processes;
    #: ``sequential``: OR-Tools then PyVRP in this process;
    #: ``ortools`` / ``pyvrp``: one engine only, in this process.
    strategy: Strategy = "auto"
    first_solution: FirstSolution = "parallel_cheapest_insertion"
    #: Split a stop that no eligible vehicle can carry into equal pieces.
    split_oversized: bool = True
    #: 0 = never start worker processes (``auto`` then solves in this process).
    workers: int = 1
    #: Reproducible mode: stop each engine after this many iterations (PyVRP ILS
    #: iterations; OR-Tools, whose steps cost more, after one solution per
    #: ``ortools_solver.ITERATIONS_PER_SOLUTION`` of them) instead of by the clock.
    #: The time limit stays as a safety cap; while it does not bind, the same input
    #: and seed give the same plan however loaded the machine is (STATUS.md).
    iterations: int | None = None

    def __post_init__(self) -> None:
        _check_num("time_limit_s", self.time_limit_s, positive=True)
        _check_int("seed", self.seed, lo=0, hi=2**31 - 1)
        if self.strategy not in ("auto", "ortools", "pyvrp", "portfolio", "sequential"):
            raise _fail("strategy", f"unknown strategy {self.strategy!r}")
        if self.first_solution not in (
            "parallel_cheapest_insertion",
            "local_cheapest_insertion",
            "path_cheapest_arc",
            "savings",
        ):
            raise _fail("first_solution", f"unknown strategy {self.first_solution!r}")
        _check_int("workers", self.workers, lo=0, hi=64)
        if self.iterations is not None:
            _check_int("iterations", self.iterations, lo=1)


@dataclass(frozen=True, slots=True)
class Progress:
    elapsed_s: float
    best_cost: int | None
    solutions_found: int
    #: Which engine produced the current best ("ortools" / "pyvrp").
    source: str = ""


ProgressCallback = Callable[[Progress], None]
