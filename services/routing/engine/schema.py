"""Wire schema of a routing problem and its solution (pydantic v2).

Used by :func:`problem_from_json` for validation and by the routing service for
the ``POST /v1/solve`` body and response in its OpenAPI docs.  Field names and
units are those of the engine dataclasses (times: seconds since midnight of the
service date; distances: metres; loads: kg and litres).

Numbers and booleans of a problem mean what the schema says (``true`` is not a seed or
a capacity, ``0`` is not ``false``; ``3.0`` is the integer 3): the strict JSON types of
the services' HTTP edge (``shared.jsontypes``), so that ``POST /v1/solve`` reads a problem
as every other body is read.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, Strict

from shared.jsontypes import JSON_INTEGER, JsonBool, JsonFloat, JsonInt

# Optional integers with their bound inside the type, where OpenAPI tools read it.
OptionalCount = Annotated[int, Field(ge=0), JSON_INTEGER, Strict()] | None
OptionalPositive = Annotated[int, Field(ge=1), JSON_INTEGER, Strict()] | None


class _Strict(BaseModel):
    # Unknown fields are rejected: a typo such as "capacity_kgs" must not be
    # silently ignored and turn into a default.
    model_config = ConfigDict(extra="forbid")


class LocationIn(_Strict):
    lat: JsonFloat = Field(ge=-90, le=90)
    lon: JsonFloat = Field(ge=-180, le=180)


class TimeWindowIn(_Strict):
    start_s: JsonInt = Field(ge=0, description="Earliest service start, s since midnight")
    end_s: JsonInt = Field(ge=0, description="Latest service start, s since midnight")


class DepotIn(_Strict):
    id: str = Field(min_length=1)
    location: LocationIn
    load_s: JsonInt = Field(0, ge=0, description="Loading time before every trip")


class VehicleIn(_Strict):
    id: str = Field(min_length=1)
    depot_id: str = Field(min_length=1)
    capacity_kg: JsonFloat = Field(gt=0)
    capacity_l: JsonFloat = Field(gt=0)
    refrigerated: JsonBool = False
    closed_loop: JsonBool = Field(False, description="May enter sealed communities")
    shift_start_s: JsonInt = Field(0, ge=0)
    shift_end_s: JsonInt = Field(86_400, ge=0)
    max_duration_s: OptionalCount = None
    fixed_cost: JsonInt = Field(0, ge=0, description="Cost of using the vehicle, in seconds of travel")
    max_trips: JsonInt = Field(1, ge=1, le=20)


class StopIn(_Strict):
    id: str = Field(min_length=1)
    location: LocationIn
    depot_id: str = Field(min_length=1)
    demand_kg: JsonFloat = Field(ge=0)
    demand_l: JsonFloat = Field(ge=0)
    windows: list[TimeWindowIn] = Field(min_length=1, description="Receiving windows, sorted, disjoint")
    service_s: JsonInt = Field(0, ge=0)
    refrigerated: JsonBool = False
    sealed: JsonBool = False
    priority: Literal["standard", "vulnerable", "medical"] = "standard"
    drop_penalty: OptionalCount = Field(None, description="Default: derived from priority and waiting_s")
    waiting_s: JsonInt = Field(0, ge=0)
    deadline_s: OptionalCount = Field(None, description="Latest service start (medicine SLA)")
    order_ids: list[str] = Field(default_factory=list)


class MatrixIn(_Strict):
    distance_m: list[list[JsonInt]]
    duration_s: list[list[JsonInt]]


class ProblemIn(_Strict):
    depots: list[DepotIn] = Field(min_length=1)
    vehicles: list[VehicleIn]
    stops: list[StopIn]
    matrix: MatrixIn | None = Field(
        None, description="Over depots then stops, in the given order; default: haversine x detour / speed"
    )


class SolveParamsIn(_Strict):
    time_limit_s: JsonFloat = Field(10.0, gt=0, le=3600)
    seed: JsonInt = Field(0, ge=0, le=2**31 - 1)
    strategy: Literal["auto", "ortools", "pyvrp", "portfolio", "sequential"] = "auto"
    iterations: OptionalPositive = Field(
        None, description="Reproducible mode: stop engines by iterations, not time"
    )


class SolveRequest(_Strict):
    problem: ProblemIn
    params: SolveParamsIn = Field(default_factory=SolveParamsIn)

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "problem": {
                        "depots": [{"id": "DC-CY-1", "location": {"lat": 39.92, "lon": 116.44}}],
                        "vehicles": [
                            {
                                "id": "VAN-1",
                                "depot_id": "DC-CY-1",
                                "capacity_kg": 1500,
                                "capacity_l": 8000,
                                "refrigerated": True,
                                "closed_loop": True,
                                "shift_start_s": 21600,
                                "shift_end_s": 64800,
                            }
                        ],
                        "stops": [
                            {
                                "id": "C-101",
                                "location": {"lat": 39.93, "lon": 116.46},
                                "depot_id": "DC-CY-1",
                                "demand_kg": 320,
                                "demand_l": 900,
                                "windows": [{"start_s": 25200, "end_s": 32400}, {"start_s": 54000, "end_s": 61200}],
                                "service_s": 900,
                                "sealed": True,
                                "priority": "vulnerable",
                                "order_ids": ["O-1", "O-2"],
                            },
                            {
                                "id": "C-102-cold",
                                "location": {"lat": 39.91, "lon": 116.47},
                                "depot_id": "DC-CY-1",
                                "demand_kg": 40,
                                "demand_l": 120,
                                "windows": [{"start_s": 25200, "end_s": 32400}],
                                "service_s": 600,
                                "refrigerated": True,
                                "priority": "medical",
                                "deadline_s": 36000,
                                "order_ids": ["O-3"],
                            },
                        ],
                    },
                    "params": {"time_limit_s": 5, "seed": 0},
                }
            ]
        },
    )


# -- response ------------------------------------------------------------------


class TimeWindowOut(BaseModel):
    # Not TimeWindowIn: what the engine answers is read back as it is (numpy integers
    # included); strictness is for what clients send.
    start_s: int
    end_s: int


class VisitOut(BaseModel):
    stop_id: str
    trip: int
    arrival_s: int
    start_s: int
    departure_s: int
    window: TimeWindowOut
    load_kg: float
    load_l: float
    onboard_kg: float
    onboard_l: float
    order_ids: list[str]
    part: int
    parts: int


class RouteOut(BaseModel):
    vehicle_id: str
    visits: list[VisitOut]
    distance_m: int
    duration_s: int
    travel_s: int
    start_s: int
    end_s: int
    trips: int
    trip_departures_s: list[int]


class UnassignedOut(BaseModel):
    stop_id: str
    order_ids: list[str]
    reason_code: Literal[
        "no_eligible_vehicle",
        "exceeds_vehicle_capacity",
        "window_unreachable",
        "deadline_unreachable",
        "fleet_capacity_exhausted",
    ]
    reason: str
    part: int
    parts: int


class SolutionOut(BaseModel):
    feasible: bool
    cost: int
    distance_m: int
    duration_s: int
    travel_s: int
    fixed_cost: int
    penalty: int
    source: str
    vehicles_used: int
    routes: list[RouteOut]
    unassigned: list[UnassignedOut]
