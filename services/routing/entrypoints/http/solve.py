from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from services.routing.engine import SolveParams, problem_from_json, solution_to_json
from services.routing.engine.schema import SolveRequest
from services.routing.entrypoints.http.deps import Dispatcher
from services.routing.service_layer.solver_process import solve_in_child
from shared.errors import DomainError
from shared.http import BODY_ERRORS, error_responses

router = APIRouter(prefix="/v1/solve", tags=["solve"], responses=error_responses(401, 403, 422))

MAX_STOPS = 2_000
MAX_VEHICLES = 300
MAX_TIME_S = 60


class ProblemTooLarge(DomainError):
    status_code = 413
    code = "problem_too_large"


# 413 also for a problem over the size limits below; 422 names the field at fault.
@router.post("", responses=error_responses(*BODY_ERRORS))
async def solve(body: SolveRequest, _principal: Dispatcher) -> dict[str, Any]:
    """Stateless: a whole problem in, a checked solution out. The engine on its own."""
    if len(body.problem.stops) > MAX_STOPS or len(body.problem.vehicles) > MAX_VEHICLES:
        raise ProblemTooLarge(f"at most {MAX_STOPS} stops and {MAX_VEHICLES} vehicles per request")
    if body.params.time_limit_s > MAX_TIME_S:
        raise DomainError(f"params.time_limit_s: at most {MAX_TIME_S} s here", code="invalid_time_limit")
    try:
        problem = problem_from_json(body.problem.model_dump(mode="json", exclude_none=True))
    except ValueError as exc:
        raise DomainError(f"problem.{exc}", code="invalid_problem") from exc
    params = SolveParams(
        time_limit_s=body.params.time_limit_s, seed=body.params.seed, strategy=body.params.strategy,
        iterations=body.params.iterations,
    )
    solution = await solve_in_child(problem, params, lambda _progress: None)
    return solution_to_json(solution)
