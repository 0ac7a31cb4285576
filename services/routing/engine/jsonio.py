"""JSON (plain dict) conversion of problems and solutions."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from pydantic import ValidationError

from .model import Depot, Location, Problem, Stop, TimeWindow, TravelMatrix, Vehicle
from .schema import ProblemIn, SolutionOut
from .solution import Route, Solution, Unassigned, Visit

T = TypeVar("T")


def _path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "body"


def _at(path: str, make: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run a dataclass constructor, prefixing its error with where it sits."""
    try:
        return make(*args, **kwargs)
    except ValueError as e:
        raise ValueError(f"{path}.{e}") from None


def problem_from_json(data: Any) -> Problem:
    """Validate and convert; raises ``ValueError("stops[2].windows[0].end_s: ...")`` on bad input."""
    try:
        p = ProblemIn.model_validate(data)
    except ValidationError as e:
        err = e.errors()[0]
        raise ValueError(f"{_path(tuple(err['loc']))}: {err['msg']}") from None
    depots = tuple(
        _at(f"depots[{k}]", Depot, d.id, Location(d.location.lat, d.location.lon), d.load_s)
        for k, d in enumerate(p.depots)
    )
    vehicles = tuple(
        _at(
            f"vehicles[{k}]",
            Vehicle,
            id=v.id,
            depot_id=v.depot_id,
            capacity_kg=v.capacity_kg,
            capacity_l=v.capacity_l,
            refrigerated=v.refrigerated,
            closed_loop=v.closed_loop,
            shift_start_s=v.shift_start_s,
            shift_end_s=v.shift_end_s,
            max_duration_s=v.max_duration_s,
            fixed_cost=v.fixed_cost,
            max_trips=v.max_trips,
        )
        for k, v in enumerate(p.vehicles)
    )
    stops: list[Stop] = []
    for k, s in enumerate(p.stops):
        windows = tuple(
            _at(f"stops[{k}].windows[{j}]", TimeWindow, w.start_s, w.end_s) for j, w in enumerate(s.windows)
        )
        stops.append(
            _at(
                f"stops[{k}]",
                Stop,
                id=s.id,
                location=Location(s.location.lat, s.location.lon),
                depot_id=s.depot_id,
                demand_kg=s.demand_kg,
                demand_l=s.demand_l,
                windows=windows,
                service_s=s.service_s,
                refrigerated=s.refrigerated,
                sealed=s.sealed,
                priority=s.priority,
                drop_penalty=s.drop_penalty,
                waiting_s=s.waiting_s,
                deadline_s=s.deadline_s,
                order_ids=tuple(s.order_ids),
            )
        )
    matrix = None
    if p.matrix is not None:
        m = p.matrix
        n = len(depots) + len(stops)
        for name, rows in (("distance_m", m.distance_m), ("duration_s", m.duration_s)):
            if len(rows) != n or any(len(r) != n for r in rows):
                raise ValueError(f"matrix.{name}: must be {n}x{n} (depots then stops)")
        matrix = TravelMatrix(m.distance_m, m.duration_s)  # type: ignore[arg-type]
    return Problem(depots=depots, vehicles=vehicles, stops=tuple(stops), matrix=matrix)


def _loc(loc: Location) -> dict[str, float]:
    return {"lat": loc.lat, "lon": loc.lon}


def _win(w: TimeWindow) -> dict[str, int]:
    return {"start_s": w.start_s, "end_s": w.end_s}


def problem_to_json(problem: Problem, *, include_matrix: bool = True) -> dict[str, Any]:
    out: dict[str, Any] = {
        "depots": [{"id": d.id, "location": _loc(d.location), "load_s": d.load_s} for d in problem.depots],
        "vehicles": [
            {
                "id": v.id,
                "depot_id": v.depot_id,
                "capacity_kg": v.capacity_kg,
                "capacity_l": v.capacity_l,
                "refrigerated": v.refrigerated,
                "closed_loop": v.closed_loop,
                "shift_start_s": v.shift_start_s,
                "shift_end_s": v.shift_end_s,
                "max_duration_s": v.max_duration_s,
                "fixed_cost": v.fixed_cost,
                "max_trips": v.max_trips,
            }
            for v in problem.vehicles
        ],
        "stops": [
            {
                "id": s.id,
                "location": _loc(s.location),
                "depot_id": s.depot_id,
                "demand_kg": s.demand_kg,
                "demand_l": s.demand_l,
                "windows": [_win(w) for w in s.windows],
                "service_s": s.service_s,
                "refrigerated": s.refrigerated,
                "sealed": s.sealed,
                "priority": s.priority,
                "drop_penalty": s.drop_penalty,
                "waiting_s": s.waiting_s,
                "deadline_s": s.deadline_s,
                "order_ids": list(s.order_ids),
            }
            for s in problem.stops
        ],
        "matrix": None,
    }
    if include_matrix:
        out["matrix"] = {
            "distance_m": problem.travel.distance_m.tolist(),
            "duration_s": problem.travel.duration_s.tolist(),
        }
    return out


def solution_to_json(solution: Solution) -> dict[str, Any]:
    return {
        "feasible": solution.is_feasible(),
        "cost": solution.cost,
        "distance_m": solution.distance_m,
        "duration_s": solution.duration_s,
        "travel_s": solution.travel_s,
        "fixed_cost": solution.fixed_cost,
        "penalty": solution.penalty,
        "source": solution.source,
        "vehicles_used": len(solution.routes),
        "routes": [
            {
                "vehicle_id": r.vehicle_id,
                "visits": [
                    {
                        "stop_id": v.stop_id,
                        "trip": v.trip,
                        "arrival_s": v.arrival_s,
                        "start_s": v.start_s,
                        "departure_s": v.departure_s,
                        "window": _win(v.window),
                        "load_kg": v.load_kg,
                        "load_l": v.load_l,
                        "onboard_kg": v.onboard_kg,
                        "onboard_l": v.onboard_l,
                        "order_ids": list(v.order_ids),
                        "part": v.part,
                        "parts": v.parts,
                    }
                    for v in r.visits
                ],
                "distance_m": r.distance_m,
                "duration_s": r.duration_s,
                "travel_s": r.travel_s,
                "start_s": r.start_s,
                "end_s": r.end_s,
                "trips": r.trips,
                "trip_departures_s": list(r.trip_departures_s),
            }
            for r in solution.routes
        ],
        "unassigned": [
            {
                "stop_id": u.stop_id,
                "order_ids": list(u.order_ids),
                "reason_code": u.reason_code,
                "reason": u.reason,
                "part": u.part,
                "parts": u.parts,
            }
            for u in solution.unassigned
        ],
    }


def solution_from_json(data: Any, problem: Problem | None = None) -> Solution:
    """Inverse of :func:`solution_to_json` (feasibility is re-checked when ``problem`` is given)."""
    s = SolutionOut.model_validate(data)
    routes = tuple(
        Route(
            vehicle_id=r.vehicle_id,
            visits=tuple(
                Visit(
                    stop_id=v.stop_id,
                    trip=v.trip,
                    arrival_s=v.arrival_s,
                    start_s=v.start_s,
                    departure_s=v.departure_s,
                    window=TimeWindow(v.window.start_s, v.window.end_s),
                    load_kg=v.load_kg,
                    load_l=v.load_l,
                    order_ids=tuple(v.order_ids),
                    part=v.part,
                    parts=v.parts,
                    onboard_kg=v.onboard_kg,
                    onboard_l=v.onboard_l,
                )
                for v in r.visits
            ),
            distance_m=r.distance_m,
            duration_s=r.duration_s,
            start_s=r.start_s,
            end_s=r.end_s,
            travel_s=r.travel_s,
            trips=r.trips,
            trip_departures_s=tuple(r.trip_departures_s),
        )
        for r in s.routes
    )
    unassigned = tuple(
        Unassigned(u.stop_id, tuple(u.order_ids), u.reason_code, u.reason, u.part, u.parts) for u in s.unassigned
    )
    if problem is not None:
        from .build import finish

        return finish(problem, routes, unassigned, source=s.source)
    return Solution(
        routes=routes,
        unassigned=unassigned,
        cost=s.cost,
        distance_m=s.distance_m,
        duration_s=s.duration_s,
        travel_s=s.travel_s,
        fixed_cost=s.fixed_cost,
        penalty=s.penalty,
        source=s.source,
        _violations=() if s.feasible else ("reported infeasible",),
    )
