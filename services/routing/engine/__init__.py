"""Lifeline routing engine: a pure library (no web, no database).

Typical use::

    problem = Problem(depots=(...), vehicles=(...), stops=(...))
    solution = solve(problem, SolveParams(time_limit_s=10, seed=0), on_progress=print)
    assert check_solution(problem, solution).ok

See ``STATUS.md`` in this folder for units, conventions and what is implemented.
"""

from .api import RELOAD_TOKEN, reoptimize, solve
from .checker import check_solution
from .jsonio import problem_from_json, problem_to_json, solution_from_json, solution_to_json
from .matrix import haversine_matrix
from .model import (
    Depot,
    Location,
    Problem,
    Progress,
    SolveParams,
    Stop,
    TimeWindow,
    TravelMatrix,
    Vehicle,
    derived_penalty,
)
from .osrm import OsrmError, OsrmTableProvider
from .solution import REASON_CODES, CheckReport, Route, Solution, Unassigned, Visit

__all__ = [
    "REASON_CODES",
    "RELOAD_TOKEN",
    "CheckReport",
    "Depot",
    "Location",
    "OsrmError",
    "OsrmTableProvider",
    "Problem",
    "Progress",
    "Route",
    "Solution",
    "SolveParams",
    "Stop",
    "TimeWindow",
    "TravelMatrix",
    "Unassigned",
    "Vehicle",
    "Visit",
    "check_solution",
    "derived_penalty",
    "haversine_matrix",
    "problem_from_json",
    "problem_to_json",
    "reoptimize",
    "solution_from_json",
    "solution_to_json",
    "solve",
]
