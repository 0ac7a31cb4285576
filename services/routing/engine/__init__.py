"""Lifeline routing engine: a pure library (no web, no database).

Typical use::

    problem = Problem(depots=(...), vehicles=(...), stops=(...))
    solution = solve(problem, SolveParams(time_limit_s=10, seed=0), on_progress=print)
    assert check_solution(problem, solution).ok

See ``STATUS.md`` in this folder for units, conventions and what is implemented.
"""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

# Attributes are imported on first use (PEP 562): the engine's worker processes
# start with ``python -m <package>.worker`` and must not pay for pydantic,
# httpx and both solver libraries when they need only one of them.
_LAZY = {
    "RELOAD_TOKEN": "api",
    "reoptimize": "api",
    "solve": "api",
    "check_solution": "checker",
    "problem_from_json": "jsonio",
    "problem_to_json": "jsonio",
    "solution_from_json": "jsonio",
    "solution_to_json": "jsonio",
    "haversine_matrix": "matrix",
    "Depot": "model",
    "Location": "model",
    "Problem": "model",
    "Progress": "model",
    "SolveParams": "model",
    "Stop": "model",
    "TimeWindow": "model",
    "TravelMatrix": "model",
    "Vehicle": "model",
    "derived_penalty": "model",
    "OsrmError": "osrm",
    "OsrmTableProvider": "osrm",
    "REASON_CODES": "solution",
    "CheckReport": "solution",
    "Route": "solution",
    "Solution": "solution",
    "Unassigned": "solution",
    "Visit": "solution",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


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
