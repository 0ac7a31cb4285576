"""Route timing shared by the plan builder and the checker.

Both sides simulate a route the same way, so a plan built from a solver's node
sequence is checked against exactly the timing rules it was built with:

* the shift starts at the depot at ``start_s``; every trip begins with the
  depot's ``load_s`` of loading, then the vehicle drives;
* on arrival the vehicle waits for the next receiving window if it is early; it
  may not start service after the end of the last window (the stop is missed);
* after the last stop of a trip it drives back to the depot; the next trip then
  loads again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from .model import TimeWindow


@dataclass(frozen=True, slots=True)
class Leg:
    loc: int
    windows: tuple[TimeWindow, ...]
    service_s: int
    trip: int


@dataclass(frozen=True, slots=True)
class Timeline:
    arrivals: list[int]
    starts: list[int]
    #: index into the leg's windows, or -1 when the window was missed.
    window_idx: list[int]
    departures: list[int]
    trip_departures: list[int]
    end_s: int
    travel_s: int
    distance_m: int

    @property
    def missed(self) -> list[int]:
        return [i for i, w in enumerate(self.window_idx) if w < 0]


def _window_for(windows: Sequence[TimeWindow], t: int) -> tuple[int, int]:
    """(service start, window index) for arrival ``t``; index -1 when all are missed."""
    for k, w in enumerate(windows):
        if t <= w.end_s:
            return max(t, w.start_s), k
    return t, -1


def simulate(
    duration: npt.NDArray[np.int64],
    distance: npt.NDArray[np.int64] | None,
    depot_loc: int,
    load_s: int,
    legs: Sequence[Leg],
    start_s: int,
) -> Timeline:
    arrivals: list[int] = []
    starts: list[int] = []
    widx: list[int] = []
    departures: list[int] = []
    trip_departures: list[int] = []
    travel = dist = 0
    t = start_s
    here = depot_loc
    trip = None
    for leg in legs:
        if trip is not None and leg.trip != trip:
            # Back to the depot to reload before the next trip.
            travel += int(duration[here, depot_loc])
            dist += int(distance[here, depot_loc]) if distance is not None else 0
            t += int(duration[here, depot_loc])
            here = depot_loc
        if here == depot_loc and (trip is None or leg.trip != trip):
            t += load_s
            trip_departures.append(t)
        trip = leg.trip
        d = int(duration[here, leg.loc])
        travel += d
        dist += int(distance[here, leg.loc]) if distance is not None else 0
        t += d
        arrivals.append(t)
        s, k = _window_for(leg.windows, t)
        starts.append(s)
        widx.append(k)
        t = s + leg.service_s
        departures.append(t)
        here = leg.loc
    if legs:
        travel += int(duration[here, depot_loc])
        dist += int(distance[here, depot_loc]) if distance is not None else 0
        t += int(duration[here, depot_loc])
    return Timeline(arrivals, starts, widx, departures, trip_departures, t, travel, dist)


def prompt_start(
    duration: npt.NDArray[np.int64],
    depot_loc: int,
    load_s: int,
    legs: Sequence[Leg],
    earliest_start: int,
) -> int:
    """The shift start that reaches the first stop as its window opens and delays no service.

    Every service then starts as early as the earliest schedule allows, so the ETA a
    resident is given is the earliest the goods can be at the gate (and any delay on the
    road still has the rest of the window), while waiting at the depot replaces waiting
    at the first gate."""
    if not legs:
        return earliest_start
    tl = simulate(duration, None, depot_loc, load_s, legs[:1], earliest_start)
    return earliest_start + max(0, tl.starts[0] - tl.arrivals[0])


def latest_feasible_start(
    duration: npt.NDArray[np.int64],
    depot_loc: int,
    load_s: int,
    legs: Sequence[Leg],
    earliest_start: int,
    shift_end: int,
) -> int:
    """Latest shift start that keeps every service in the window the earliest schedule used.

    Starting late removes idle waiting along the route, the shortest duty: what a
    max-duration limit may need (services move towards their windows' ends).
    Returns ``earliest_start`` when the earliest schedule itself is infeasible.
    """
    if not legs:
        return earliest_start
    tl = simulate(duration, None, depot_loc, load_s, legs, earliest_start)
    if tl.missed or tl.end_s > shift_end:
        return earliest_start
    n = len(legs)
    latest = [0] * n
    for i in range(n - 1, -1, -1):
        leg = legs[i]
        w_end = leg.windows[tl.window_idx[i]].end_s
        if i == n - 1:
            bound = shift_end - int(duration[leg.loc, depot_loc]) - leg.service_s
        else:
            nxt = legs[i + 1]
            if nxt.trip != leg.trip:
                gap = int(duration[leg.loc, depot_loc]) + load_s + int(duration[depot_loc, nxt.loc])
            else:
                gap = int(duration[leg.loc, nxt.loc])
            bound = latest[i + 1] - gap - leg.service_s
        latest[i] = min(w_end, bound)
    start = latest[0] - int(duration[depot_loc, legs[0].loc]) - load_s
    return max(earliest_start, start)
