"""Tiny problem builders for the engine tests (straight-line matrices, 1 km = 60 s)."""

from __future__ import annotations

import numpy as np

from services.routing.engine import Depot, Location, Problem, SolveParams, Stop, TimeWindow, TravelMatrix, Vehicle

H = 3600
FAST = SolveParams(time_limit_s=0.5, strategy="ortools")


def line_matrix(xs_km: list[float]) -> TravelMatrix:
    """Locations on a line at ``xs_km``; 1 km takes 60 s."""
    x = np.array(xs_km, dtype=float)
    km = np.abs(x[:, None] - x[None, :])
    return TravelMatrix(np.rint(km * 1000).astype(np.int64), np.rint(km * 60).astype(np.int64))


def depot(id_: str = "D") -> Depot:
    return Depot(id_, Location(0.0, 0.0))


def vehicle(id_: str = "V1", **kw: object) -> Vehicle:
    args: dict[str, object] = dict(
        depot_id="D", capacity_kg=1000, capacity_l=1000, shift_start_s=6 * H, shift_end_s=20 * H
    )
    args.update(kw)
    return Vehicle(id_, **args)  # type: ignore[arg-type]


def stop(id_: str, **kw: object) -> Stop:
    args: dict[str, object] = dict(
        location=Location(0.0, 0.0),
        depot_id="D",
        demand_kg=100,
        demand_l=100,
        windows=(TimeWindow(7 * H, 18 * H),),
        service_s=600,
        order_ids=(f"O-{id_}",),
    )
    args.update(kw)
    return Stop(id_, **args)  # type: ignore[arg-type]


def problem(vehicles: list[Vehicle], stops: list[Stop], xs_km: list[float] | None = None) -> Problem:
    """One depot at x=0; stop k at ``xs_km[k]`` (default 10 km * (k+1))."""
    xs = xs_km if xs_km is not None else [10.0 * (k + 1) for k in range(len(stops))]
    return Problem((depot(),), tuple(vehicles), tuple(stops), line_matrix([0.0, *xs]))


def route_of(solution: object, vehicle_id: str) -> list[str]:
    for r in solution.routes:  # type: ignore[attr-defined]
        if r.vehicle_id == vehicle_id:
            return [v.stop_id for v in r.visits]
    return []


def reasons(solution: object) -> dict[str, str]:
    return {u.stop_id: u.reason_code for u in solution.unassigned}  # type: ignore[attr-defined]
