"""Communities and households: the registry orders validate against."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response, status

from services.orders.adapters.orm import Community, Household
from services.orders.domain.commands import RegisterCommunity, RegisterHousehold
from services.orders.entrypoints.http.deps import (
    AdminUser,
    AnyUser,
    HouseholdEditor,
    HouseholdReader,
    UowDep,
)
from services.orders.entrypoints.http.schemas import (
    ID_PATTERN,
    CommunityPublic,
    CommunityUpsert,
    HouseholdPublic,
    HouseholdUpsert,
    RiskLevel,
)
from services.orders.service_layer import handlers
from shared.http import error_responses
from shared.text import NO_NUL

router = APIRouter(prefix="/v1", tags=["communities"], responses=error_responses(401, 403, 422))

PathId = Annotated[str, Path(pattern=ID_PATTERN, max_length=64)]


def community_public(community: Community) -> CommunityPublic:
    return CommunityPublic.model_validate(community, from_attributes=True)


def household_public(household: Household) -> HouseholdPublic:
    return HouseholdPublic.model_validate(household, from_attributes=True)


@router.put(
    "/communities/{community_id}",
    responses={201: {"model": CommunityPublic, "description": "registered"}, **error_responses(400, 413)},
)
def put_community(
    community_id: PathId, body: CommunityUpsert, _admin: AdminUser, uow: UowDep, response: Response
) -> CommunityPublic:
    """Register a community (201, publishes `community.registered`) or update it (200,
    publishes `community.updated` only when something changed)."""
    command = RegisterCommunity(
        community_id=community_id, name=body.name, district=body.district, lat=body.lat,
        lon=body.lon, risk_level=body.risk_level,
        receiving_windows=tuple((start, end) for start, end in body.receiving_windows),
        gate_service_min=body.gate_service_min,
    )
    community, created = handlers.register_community(command, uow)
    if created:
        response.status_code = status.HTTP_201_CREATED
    return community_public(community)


@router.get("/communities")
def list_communities(
    _user: AnyUser,
    uow: UowDep,
    district: Annotated[str | None, Query(max_length=100, pattern=NO_NUL)] = None,
    risk_level: RiskLevel | None = None,
) -> list[CommunityPublic]:
    return [
        community_public(c)
        for c in handlers.list_communities(uow, district=district, risk_level=risk_level)
    ]


@router.get("/communities/{community_id}", responses=error_responses(404))
def get_community(community_id: PathId, _user: AnyUser, uow: UowDep) -> CommunityPublic:
    return community_public(handlers.get_community(community_id, uow))


@router.put(
    "/households/{household_id}",
    tags=["households"],
    responses={201: {"model": HouseholdPublic, "description": "registered"}, **error_responses(400, 413)},
)
def put_household(
    household_id: PathId,
    body: HouseholdUpsert,
    principal: HouseholdEditor,
    uow: UowDep,
    response: Response,
) -> HouseholdPublic:
    """Admins anywhere; community workers for households of their communities."""
    command = RegisterHousehold(
        household_id=household_id, community_id=body.community_id, members=body.members,
        flags=frozenset(flag.value for flag in body.flags),
    )
    household, created = handlers.register_household(command, principal, uow)
    if created:
        response.status_code = status.HTTP_201_CREATED
    return household_public(household)


@router.get("/households/{household_id}", tags=["households"], responses=error_responses(404))
def get_household(household_id: PathId, principal: HouseholdReader, uow: UowDep) -> HouseholdPublic:
    """Admins, the household's community workers, and the resident himself; others 404."""
    return household_public(handlers.get_household(household_id, principal, uow))
