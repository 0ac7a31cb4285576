from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response, status
from pydantic import BaseModel, ConfigDict, Field

from services.routing.adapters.orm import Plan
from services.routing.entrypoints.http.deps import Dispatcher, PlannerDep, UowDep
from services.routing.entrypoints.http.map_svg import render_plan_svg
from services.routing.entrypoints.http.schemas import PlanPublic, PlanRequest, PlanSummary
from services.routing.service_layer.access import visible_plan
from services.routing.service_layer.dispatch import dispatch
from services.routing.service_layer.planner import RequestPlan
from services.routing.service_layer.unit_of_work import RoutingUnitOfWork
from services.routing.service_layer.views import depots_of, plans_of
from shared.auth import Principal
from shared.http import BODY_ERRORS, error_responses
from shared.jsontypes import JsonDate, JsonFloat, JsonInt
from shared.text import NO_NUL

router = APIRouter(prefix="/v1/plans", tags=["plans"], responses=error_responses(401, 403, 422))

# Any id that is not a plan is a 404; only NUL, which PostgreSQL cannot take in a query, is a 422.
PlanId = Annotated[str, Path(pattern=NO_NUL)]


def plan_public(plan: Plan) -> dict[str, Any]:
    result = plan.outcome
    return {
        "id": plan.id, "status": plan.status, "depot_ids": plan.depot_ids,
        "date": plan.service_date, "time_limit_s": plan.time_limit_s, "seed": plan.seed,
        "progress": plan.progress, "routes": [r.to_json() for r in result.routes],
        "unassigned": [u.to_json() for u in result.unassigned], "kpis": dict(result.kpis),
        "error": plan.error, "parent_plan_id": plan.parent_plan_id, "requested_by": plan.requested_by,
        "created_at": plan.created_at, "dispatched_at": plan.dispatched_at,
    }


def get_visible_plan(uow: RoutingUnitOfWork, plan_id: str, principal: Principal) -> Plan:
    with uow:
        return visible_plan(uow, plan_id, principal)


# 404: a depot routing does not know (yet); 422 with a code: a time limit over the service's.
@router.post("", status_code=status.HTTP_202_ACCEPTED, response_model=PlanPublic,
             responses=error_responses(*BODY_ERRORS, 404))
async def request_plan(body: PlanRequest, planner: PlannerDep, principal: Dispatcher) -> dict[str, Any]:
    """Start solving in the background; poll ``GET /v1/plans/{id}`` for progress."""
    command = RequestPlan(
        depot_ids=sorted(set(body.depot_ids)), service_date=body.date,
        time_limit_s=body.time_limit_s, seed=body.seed,
    )
    plan = await planner.request(command, principal)
    return plan_public(plan)


@router.get("", response_model=list[PlanSummary])
def list_plans(
    uow: UowDep, principal: Dispatcher,
    depot_id: Annotated[str | None, Query(pattern=NO_NUL, max_length=64)] = None,
    service_date: Annotated[JsonDate | None, Query(alias="date")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[dict[str, Any]]:
    """The depots' plans, newest first: today's, dispatched ones, history."""
    with uow:
        return [
            {"id": p.id, "status": p.status, "depot_ids": p.depot_ids, "date": p.service_date,
             "requested_by": p.requested_by, "created_at": p.created_at, "dispatched_at": p.dispatched_at,
             "parent_plan_id": p.parent_plan_id, "kpis": dict(p.outcome.kpis)}
            for p in plans_of(uow, principal, depot_id, service_date, limit)
        ]


@router.get("/{plan_id}", response_model=PlanPublic, responses=error_responses(404))
def get_plan(plan_id: PlanId, uow: UowDep, principal: Dispatcher) -> dict[str, Any]:
    return plan_public(get_visible_plan(uow, plan_id, principal))


@router.post("/{plan_id}/dispatch", response_model=PlanPublic, responses=error_responses(404, 409))
def dispatch_plan(plan_id: PlanId, uow: UowDep, principal: Dispatcher) -> dict[str, Any]:
    get_visible_plan(uow, plan_id, principal)
    with uow:
        plan = dispatch(uow, plan_id, principal)
    return plan_public(plan)



class ReoptimizeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    time_limit_s: JsonFloat = Field(default=10, gt=0, le=600)
    seed: JsonInt = Field(default=0, ge=0, le=2**31 - 1)


@router.post("/{plan_id}/reoptimize", status_code=status.HTTP_202_ACCEPTED, response_model=PlanPublic,
             responses=error_responses(*BODY_ERRORS, 404, 409))
async def reoptimize_plan(
    plan_id: PlanId, planner: PlannerDep, principal: Dispatcher, body: ReoptimizeRequest | None = None
) -> dict[str, Any]:
    """Insert newly reserved orders into a dispatched plan; delivered stops and the stop each
    vehicle is heading to stay fixed. Dispatching the new plan publishes only the changes."""
    body = body or ReoptimizeRequest()
    plan = await planner.reoptimize(plan_id, principal, body.time_limit_s, body.seed)
    return plan_public(plan)


@router.get("/{plan_id}/map.svg", response_class=Response,
            responses={200: {"content": {"image/svg+xml": {}}}, **error_responses(404)})
def plan_map(plan_id: PlanId, uow: UowDep, principal: Dispatcher) -> Response:
    plan = get_visible_plan(uow, plan_id, principal)
    with uow:
        depots = depots_of(uow, plan.depot_ids)
    svg = render_plan_svg(plan.id, plan.status, plan.outcome, depots)
    return Response(svg, media_type="image/svg+xml")
